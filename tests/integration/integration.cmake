km_unit_test(NAME tunnel_pair_test
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/tunnel_pair_test.cpp
             LIBS km_daemon
             LABELS crypto)
km_unit_test(NAME identity_paths_test
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/identity_paths_test.cpp
             LIBS km_daemon km_policy
             LABELS identity policy)
km_unit_test(NAME raw_policy_test
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/raw_policy_test.cpp
             LIBS km_daemon km_policy
             LABELS policy sites)
km_unit_test(NAME site_failover_test
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/site_failover_test.cpp
             LIBS km_daemon km_policy
             LABELS sites)
km_unit_test(NAME relay_paths_test
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/relay_paths_test.cpp
             LIBS km_daemon km_policy
             LABELS sites)
