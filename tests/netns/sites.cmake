# Site linking (issue 8): gateways for whole subnets, NAT traversal through the lighthouse.
km_netns_test(NAME netns_sites_gateway SCRIPT ${CMAKE_CURRENT_LIST_DIR}/sites_gateway.sh
              LABELS discovery TIMEOUT 180)
km_netns_test(NAME netns_sites_nat SCRIPT ${CMAKE_CURRENT_LIST_DIR}/sites_nat.sh
              LABELS discovery TIMEOUT 180)
