# The Docker network and IPAM driver (docker/docker_*): the protocol replayed from the JSON
# dockerd sends (recorded in docs/docker.md, "What dockerd sends"), and the HTTP transport on a libuv loop. The
# real-dockerd test is tests/netns/docker.cmake, the body fuzzer tests/fuzz/docker.cmake.
km_unit_test(NAME docker_protocol_test
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/docker_protocol_test.cpp
             LIBS km_daemon km_node_state
             LABELS docker)
km_unit_test(NAME docker_http_test
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/docker_http_test.cpp
             LIBS km_daemon
             LABELS docker)
km_unit_test(NAME docker_config_test
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/docker_config_test.cpp
             LIBS km_control
             LABELS docker)
