# Site linking (issue 8): gateways for whole subnets, NAT traversal through the lighthouse,
# a stock WireGuard endpoint as a site.
km_netns_test(NAME netns_sites_gateway SCRIPT ${CMAKE_CURRENT_LIST_DIR}/sites_gateway.sh
              LABELS sites TIMEOUT 180)
km_netns_test(NAME netns_sites_nat SCRIPT ${CMAKE_CURRENT_LIST_DIR}/sites_nat.sh
              LABELS sites discovery TIMEOUT 180)
km_netns_test(NAME netns_sites_wireguard SCRIPT ${CMAKE_CURRENT_LIST_DIR}/sites_wireguard.sh
              LABELS sites interop TIMEOUT 150)
km_netns_test(NAME netns_sites_mesh SCRIPT ${CMAKE_CURRENT_LIST_DIR}/sites_mesh.sh
              LABELS sites discovery TIMEOUT 150)
