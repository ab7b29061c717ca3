# Site linking (issue 8): gateways for whole subnets, NAT traversal through the lighthouse,
# a stock WireGuard endpoint as a site.
km_netns_test(NAME netns_sites_gateway SCRIPT ${CMAKE_CURRENT_LIST_DIR}/sites_gateway.sh
              LABELS sites TIMEOUT 180)
km_netns_test(NAME netns_sites_nat SCRIPT ${CMAKE_CURRENT_LIST_DIR}/sites_nat.sh
              LABELS sites discovery TIMEOUT 180)
km_netns_test(NAME netns_sites_wireguard SCRIPT ${CMAKE_CURRENT_LIST_DIR}/sites_wireguard.sh
              LABELS sites interop TIMEOUT 150)
# Raw-key peers as policy subjects, and optional masquerade on a gateway.
km_netns_test(NAME netns_sites_wireguard_policy
              SCRIPT ${CMAKE_CURRENT_LIST_DIR}/sites_wireguard_policy.sh
              LABELS sites interop TIMEOUT 150)
km_netns_test(NAME netns_sites_masquerade SCRIPT ${CMAKE_CURRENT_LIST_DIR}/sites_masquerade.sh
              LABELS sites TIMEOUT 150)
km_netns_test(NAME netns_sites_failover SCRIPT ${CMAKE_CURRENT_LIST_DIR}/sites_failover.sh
              LABELS sites discovery TIMEOUT 120)
km_netns_test(NAME netns_sites_nat_remap SCRIPT ${CMAKE_CURRENT_LIST_DIR}/sites_nat_remap.sh
              LABELS sites discovery TIMEOUT 120)
km_netns_test(NAME netns_sites_mesh SCRIPT ${CMAKE_CURRENT_LIST_DIR}/sites_mesh.sh
              LABELS sites discovery TIMEOUT 150)
