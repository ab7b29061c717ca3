# Control path: config loading, control-socket framing, server and client, the keymesh CLI.
# km_control is defined in daemon/CMakeLists.txt, km_control_client in ctl/.
km_unit_test(NAME config_test
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/config_test.cpp
             LIBS km_control)
km_unit_test(NAME control_framing_test
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/control_framing_test.cpp
             LIBS km_proto)
km_unit_test(NAME control_server_test
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/control_server_test.cpp
             LIBS km_control km_control_client)
km_unit_test(NAME control_cli_test
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/control_cli_test.cpp
             LIBS km_control km_control_client)
target_compile_definitions(control_cli_test PRIVATE KEYMESH_CLI="$<TARGET_FILE:keymesh>")
add_dependencies(control_cli_test keymesh)
# The control socket's request deadline and slot eviction (a hung or hostile client must not
# lock out the CLI and the CNI plugin), and the client's reconnect.
km_unit_test(NAME control_limits_test
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/control_limits_test.cpp
             LIBS km_control km_control_client
             LABELS cni)
