# I/O edges: udp::Endpoint, MemoryNetwork/MemoryBind, SocketBind (127.0.0.1 loopback only),
# tun::MemoryDevice. Real TUN and netlink are covered by tests/netns/tun_netlink.sh.
km_unit_test(NAME io_endpoint_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/io_endpoint_test.cpp
             LIBS km_udp)
km_unit_test(NAME io_memory_bind_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/io_memory_bind_test.cpp
             LIBS km_udp)
km_unit_test(NAME io_socket_bind_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/io_socket_bind_test.cpp
             LIBS km_udp)
km_unit_test(NAME io_memory_device_test
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/io_memory_device_test.cpp LIBS km_tun)
km_unit_test(NAME io_udp_offload_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/io_udp_offload_test.cpp
             LIBS km_udp)
