# `keymesh policy check` and `keymesh audit tail`, run as an operator runs them: certificates
# issued with the built keymesh binary, decisions and exit codes, audit lines (also followed).
km_unit_test(NAME policy_cli_test
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/policy_cli_test.cpp
             LIBS km_identity
             LABELS policy)
target_compile_definitions(policy_cli_test PRIVATE KEYMESH_CLI="$<TARGET_FILE:keymesh>")
add_dependencies(policy_cli_test keymesh)
