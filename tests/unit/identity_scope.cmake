# What CAs may say below them (issue 15, sections 2 and 5): allowed groups, labels and kinds,
# context labels carried by chains, and policy subjects matched by context and issuer.
km_unit_test(NAME identity_scope_test
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/identity_scope_test.cpp
             LIBS km_identity
             LABELS identity)
# Context labels and issuer pins from real validated chains (needs identity/).
km_unit_test(NAME policy_origin
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/policy_origin_test.cpp
             LIBS km_policy_identity
             LABELS policy identity)
# A node CA bound to one node (issue 15, section 1): chain rule and keymeshd's start check.
km_unit_test(NAME identity_node_binding_test
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/identity_node_binding_test.cpp
             LIBS km_node_state
             LABELS identity)
# People as identities (issue 19, section 1): the user kind and the access CA's constraints.
km_unit_test(NAME identity_user_test
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/identity_user_test.cpp
             LIBS km_identity
             LABELS identity)
# `keymesh user issue` and `keymesh access export --wg-quick` as an administrator runs them.
km_unit_test(NAME access_cli_test
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/access_cli_test.cpp
             LIBS km_identity
             LABELS identity)
target_compile_definitions(access_cli_test PRIVATE KEYMESH_CLI="$<TARGET_FILE:keymesh>")
add_dependencies(access_cli_test keymesh)
# Users as policy subjects and audit parties, from validated chains (issue 19, sections 1, 4).
km_unit_test(NAME policy_user_test
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/policy_user_test.cpp
             LIBS km_policy_identity
             LABELS policy identity)
