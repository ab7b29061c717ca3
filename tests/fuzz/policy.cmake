# Fuzz target for policy/: the YAML loader on arbitrary text, plus the same bytes as an inside
# packet through the packet parser and connection tracking. Seeds in corpus/policy.
km_fuzz_target(NAME fuzz_policy
               SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_policy.cpp
               LIBS km_policy
               LABELS policy
               CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/policy)
