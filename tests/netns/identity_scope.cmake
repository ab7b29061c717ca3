# Issuers bounded in what they may say, and context asserted by node CAs (issue 15, sections 2
# and 5). cert_forge plays a compromised node CA (signs without the issuer's rules).
add_executable(cert_forge ${CMAKE_CURRENT_LIST_DIR}/cert_forge.cpp)
target_link_libraries(cert_forge PRIVATE km_identity)
set_target_properties(cert_forge PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/netns)
km_netns_test(NAME netns_ca_scope SCRIPT ${CMAKE_CURRENT_LIST_DIR}/ca_scope.sh
              LABELS identity TIMEOUT 120)
km_netns_test(NAME netns_context_sites SCRIPT ${CMAKE_CURRENT_LIST_DIR}/context_sites.sh
              LABELS identity policy sites TIMEOUT 120)
