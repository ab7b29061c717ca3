# tun/offload.h: userspace GSO (splitting the kernel's TCP super-packets) and GRO
# (coalescing the tunnel's TCP segments). The real-kernel side is tests/netns/tun_offload.sh.
km_unit_test(NAME tun_offload_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/tun_offload_test.cpp
             LIBS km_tun)
# tun/icmp_too_big.h: the ICMP "fragmentation needed" / "packet too big" answers into km0.
km_unit_test(NAME icmp_too_big SOURCES ${CMAKE_CURRENT_LIST_DIR}/icmp_too_big_test.cpp
             LIBS km_tun LABELS interop)
