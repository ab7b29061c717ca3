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
# scale_bench: one node's memory per identity and path and its handshakes per CPU-second, at
# 1,000 identities and 100,000 paths (bench/scale-bench.sh runs it; not a test). The test
# runs it small: every path opened and every packet delivered, and an idle path within
# 1,800 B at this size (1,496 B measured; 2,631 B when each path held its own handshake state
# and compiled policies).
add_executable(scale_bench ${CMAKE_CURRENT_LIST_DIR}/scale_bench.cpp)
target_link_libraries(scale_bench PRIVATE km_daemon km_policy)
add_test(NAME scale_bench_small COMMAND scale_bench --locals 40 --remotes 5 --rate 50
                                 --max-idle-path-bytes 1800)
set_tests_properties(scale_bench_small PROPERTIES LABELS "unit;identity;policy" TIMEOUT 120)
