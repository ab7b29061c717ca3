# Issuers bounded in what they may say, and context asserted by node CAs (issue 15, sections 2
# and 5). cert_forge plays a compromised node CA (signs without the issuer's rules).
add_executable(cert_forge ${CMAKE_CURRENT_LIST_DIR}/cert_forge.cpp)
target_link_libraries(cert_forge PRIVATE km_identity)
set_target_properties(cert_forge PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/netns)
km_netns_test(NAME netns_ca_scope SCRIPT ${CMAKE_CURRENT_LIST_DIR}/ca_scope.sh
              LABELS identity TIMEOUT 120)
km_netns_test(NAME netns_context_sites SCRIPT ${CMAKE_CURRENT_LIST_DIR}/context_sites.sh
              LABELS identity policy sites TIMEOUT 120)
# A node CA is for one node (issue 15, section 1): binding checked at start, and a second host
# claiming the same node CA refused through the lighthouse and through etcd.
km_netns_test(NAME netns_node_ca_one_node SCRIPT ${CMAKE_CURRENT_LIST_DIR}/node_ca_one_node.sh
              LABELS identity discovery TIMEOUT 120)
km_netns_test(NAME netns_node_ca_one_node_etcd SCRIPT ${CMAKE_CURRENT_LIST_DIR}/node_ca_one_node_etcd.sh
              LABELS identity discovery TIMEOUT 120)
# Handshakes cannot be used to burn the host (issue 15, section 3): a flood of valid-mac1
# initiations over real UDP (tests/netns/handshake_flood.cpp) while a legitimate peer
# handshakes, an existing path carries traffic and the audit log stays small.
add_executable(handshake_flood ${CMAKE_CURRENT_LIST_DIR}/handshake_flood.cpp)
target_link_libraries(handshake_flood PRIVATE km_control km_identity)
set_target_properties(handshake_flood PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/netns)
km_netns_test(NAME netns_handshake_flood SCRIPT ${CMAKE_CURRENT_LIST_DIR}/handshake_flood.sh
              LABELS identity TIMEOUT 180)
