# The etcd discovery backend against a real etcd-server in its own network namespace.
add_executable(discovery_etcd_probe ${CMAKE_CURRENT_LIST_DIR}/discovery_etcd_probe.cpp)
target_link_libraries(discovery_etcd_probe PRIVATE km_discovery)
set_target_properties(discovery_etcd_probe PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/netns)
km_netns_test(NAME netns_discovery_etcd SCRIPT ${CMAKE_CURRENT_LIST_DIR}/discovery_etcd.sh
              LABELS discovery TIMEOUT 180)
# Revocation that travels (docs/identity.md): through the lighthouse, and through etcd.
km_netns_test(NAME netns_revocation_lighthouse SCRIPT ${CMAKE_CURRENT_LIST_DIR}/revocation_travels.sh
              LABELS discovery identity TIMEOUT 180)
km_netns_test(NAME netns_revocation_etcd SCRIPT ${CMAKE_CURRENT_LIST_DIR}/revocation_travels_etcd.sh
              LABELS discovery identity TIMEOUT 180)
