# Identity: certificates, CA chains and constraints, revocation, and the `keymesh ca|cert|crl`
# commands. km_identity is defined in identity/CMakeLists.txt.
km_unit_test(NAME identity_certificate_test
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/identity_certificate_test.cpp
             LIBS km_identity
             LABELS identity)
km_unit_test(NAME identity_chain_test
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/identity_chain_test.cpp
             LIBS km_identity
             LABELS identity)
km_unit_test(NAME identity_cli_test
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/identity_cli_test.cpp
             LIBS km_identity
             LABELS identity)
target_compile_definitions(identity_cli_test PRIVATE KEYMESH_CLI="$<TARGET_FILE:keymesh>")
add_dependencies(identity_cli_test keymesh)
km_unit_test(NAME identity_revocation_scope_test
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/identity_revocation_scope_test.cpp
             LIBS km_identity
             LABELS identity)
