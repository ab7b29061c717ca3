# Unit tests of policy/: selectors and services, the loader's errors, schedules across DST,
# evaluation (with a differential test against a naive evaluator), shared compiled pairs,
# connection tracking, and audit lines. policy_bench is a micro-benchmark, built but not run as a test.
foreach(concept selector loader schedule evaluator conntrack audit flow_log pair_cache)
  km_unit_test(NAME policy_${concept}
               SOURCES ${CMAKE_CURRENT_LIST_DIR}/policy_${concept}_test.cpp
               LIBS km_policy
               LABELS policy)
endforeach()
# The evaluator test names date::time_zone; the audit test parses lines back as JSON.
find_package(nlohmann_json 3 REQUIRED)
target_link_libraries(policy_audit PRIVATE nlohmann_json::nlohmann_json)
target_link_libraries(policy_flow_log PRIVATE nlohmann_json::nlohmann_json)

add_executable(policy_bench ${CMAKE_CURRENT_LIST_DIR}/policy_bench.cpp)
target_link_libraries(policy_bench PRIVATE km_policy)
