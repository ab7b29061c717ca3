# netns tests of the tunnel itself: keymeshd <-> keymeshd and keymeshd <-> wireguard-go in
# network namespaces (root). Helpers in lib.sh; each script's header shows its topology.
# Each script has its own watchdog (KM_DEADLINE) below the TIMEOUT here, so it always cleans up.
km_netns_test(NAME netns_tunnel_pair SCRIPT ${CMAKE_CURRENT_LIST_DIR}/tunnel_pair.sh
              LABELS crypto TIMEOUT 300)
km_netns_test(NAME netns_interop_wireguard_go SCRIPT ${CMAKE_CURRENT_LIST_DIR}/interop_wireguard_go.sh
              LABELS interop TIMEOUT 300)
km_netns_test(NAME netns_rekey SCRIPT ${CMAKE_CURRENT_LIST_DIR}/rekey.sh
              LABELS crypto TIMEOUT 300)
km_netns_test(NAME netns_roaming SCRIPT ${CMAKE_CURRENT_LIST_DIR}/roaming.sh
              LABELS crypto TIMEOUT 240)
km_netns_test(NAME netns_wrong_key SCRIPT ${CMAKE_CURRENT_LIST_DIR}/wrong_key.sh
              LABELS crypto TIMEOUT 240)
km_netns_test(NAME netns_identities SCRIPT ${CMAKE_CURRENT_LIST_DIR}/identities.sh
              LABELS identity TIMEOUT 240)
add_executable(handshake_probe ${CMAKE_CURRENT_LIST_DIR}/handshake_probe.cpp)
target_link_libraries(handshake_probe PRIVATE km_control km_identity)
set_target_properties(handshake_probe PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/netns)
km_netns_test(NAME netns_policy SCRIPT ${CMAKE_CURRENT_LIST_DIR}/policy.sh
              LABELS policy TIMEOUT 240)
km_netns_test(NAME netns_discovery_lighthouse SCRIPT ${CMAKE_CURRENT_LIST_DIR}/discovery_lighthouse.sh
              LABELS discovery TIMEOUT 200)
# A workload minted on one host, reachable from another within 1 s: lookup first and
# registration first, 20 trials each.
km_netns_test(NAME netns_discovery_race SCRIPT ${CMAKE_CURRENT_LIST_DIR}/discovery_race.sh
              LABELS discovery TIMEOUT 100)
# The README's first command, as a newcomer runs it (build already done by the suite).
km_netns_test(NAME netns_demo SCRIPT ${CMAKE_SOURCE_DIR}/scripts/demo.sh
              LABELS discovery cni TIMEOUT 180)
km_netns_test(NAME netns_discovery_etcd_daemons SCRIPT ${CMAKE_CURRENT_LIST_DIR}/discovery_etcd_daemons.sh
              LABELS discovery TIMEOUT 150)
km_netns_test(NAME netns_flow_records SCRIPT ${CMAKE_CURRENT_LIST_DIR}/flow_records.sh
              LABELS policy TIMEOUT 180)
# Installs the .deb on this machine (and purges it): a disposable test machine only.
km_netns_test(NAME netns_install_deb SCRIPT ${CMAKE_CURRENT_LIST_DIR}/install_deb.sh
              LABELS runtime TIMEOUT 240)
km_netns_test(NAME netns_image SCRIPT ${CMAKE_CURRENT_LIST_DIR}/image.sh
              LABELS runtime TIMEOUT 240)
# Path MTU: the underlay shrinks mid-transfer, keymeshd answers with ICMP too-big through km0.
km_netns_test(NAME netns_path_mtu SCRIPT ${CMAKE_CURRENT_LIST_DIR}/path_mtu.sh
              LABELS interop TIMEOUT 180)
