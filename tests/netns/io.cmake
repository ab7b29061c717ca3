# Real-kernel test of tun::LinuxTun and tun/netlink.cpp (root, own network namespace).
add_executable(tun_probe ${CMAKE_CURRENT_LIST_DIR}/tun_probe.cpp)
target_link_libraries(tun_probe PRIVATE km_tun)
set_target_properties(tun_probe PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/netns)
km_netns_test(NAME io_tun_netlink SCRIPT ${CMAKE_CURRENT_LIST_DIR}/tun_netlink.sh TIMEOUT 120)
# The script exits 77 when it cannot run here (not root, no /dev/net/tun, no `ip`).
set_tests_properties(io_tun_netlink PROPERTIES SKIP_RETURN_CODE 77)
# TUN offloads (tun/offload.h) with the real kernel: two keymeshd with km0 in vnet_hdr/TSO mode,
# TCP both ways with checksums, super-packets seen on km0 in both directions.
km_netns_test(NAME netns_tun_offload SCRIPT ${CMAKE_CURRENT_LIST_DIR}/tun_offload.sh TIMEOUT 240)
# UDP GSO/GRO (udp/socket_offload.cpp) with the real kernel: two keymeshd with offload on,
# off (udp_offload: off) and mixed, 20 MB each way with sha256, GSO packets seen on the
# wire only when on; then against the sid wireguard-go when scripts/bench-peers.sh cached it.
km_netns_test(NAME netns_udp_offload SCRIPT ${CMAKE_CURRENT_LIST_DIR}/udp_offload.sh
              LABELS interop TIMEOUT 240)
