# ICMP errors on a path where `icmp` is granted both ways (issue 15 §6): only errors about a
# flow tracked on that path pass.
km_unit_test(NAME policy_icmp_related
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/policy_icmp_related_test.cpp
             LIBS km_policy
             LABELS policy)
