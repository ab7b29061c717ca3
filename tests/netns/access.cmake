# People as identities (issue 19, section 1): a laptop with a user certificate from an access
# CA in client mode behind NAT, refusals of what the access CA may not issue, and the
# wg-quick export for stock WireGuard clients (wireguard-go + wg).
km_netns_test(NAME netns_access_laptop SCRIPT ${CMAKE_CURRENT_LIST_DIR}/access_laptop.sh
              LABELS identity policy TIMEOUT 150)
km_netns_test(NAME netns_access_wg_quick SCRIPT ${CMAKE_CURRENT_LIST_DIR}/access_wg_quick.sh
              LABELS identity interop TIMEOUT 150)
