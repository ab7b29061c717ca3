#!/usr/bin/env bash
# sites_wireguard.sh - a stock WireGuard endpoint (wireguard-go + wg) linked as a site by its
# raw public key (config `peers:`), carrying traffic to the LAN behind a keymesh gateway.
#
#   site A LAN                 keymesh gateway ga                          wireguard-go w
#   la 198.19.1.10 --lan0-- 198.19.1.1 | ul0 198.18.0.1 ------------- 198.18.0.3 ul0
#                           km0 100.64.1.1/10 (gateway cert gw-a:            wg0 100.64.9.1/32
#                           198.19.1.0/24; peer w: 100.64.9.1/32)            allowed-ips 198.19.1.0/24, 100.64.1.1/32
#
# Policy grants cloud-x (w's label) -> site A icmp and tcp/5201, site a -> raw peers icmp.
# Checks: w pings la (198.19.1.10) and la pings w (100.64.9.1) through the gateway; 1 MiB over
# TCP from w to la (sha256 checked); the underlay between ga and w carries only WireGuard
# UDP (no 198.19.x in clear), and w's `wg show` reports a handshake with ga's key.
KM_DEADLINE=${KM_DEADLINE:-120}
source "$(dirname "$0")/lib.sh"
need ping python3 tcpdump wireguard-go wg

make_host ga 198.18.0.1
make_host w 198.18.0.3
make_host la 198.19.1.10
link_hosts ga w
ip -n "$(nsname la)" link add lan0 type veth peer name lan0 netns "$(nsname ga)"
on ga ip addr add 198.19.1.1/24 dev lan0
on la ip addr add 198.19.1.10/24 dev lan0
on ga ip link set lan0 up
on la ip link set lan0 up
on la ip route add default via 198.19.1.1
on ga sysctl -qw net.ipv4.ip_forward=1
wait_for "on la ping -c1 -W1 198.19.1.1" 10 || fail "la cannot reach its gateway"

pki_root "$KM_TMP"
pki_host "$KM_TMP" ga 1
km_cli cert sign --ca "$KM_TMP/root.crt" --ca-key "$KM_TMP/root.key" --kind ca --name site-a-ca \
  --lifetime 48h --allowed-networks 198.19.1.0/24 --name-pattern 'gw-a*' --max-lifetime 48h \
  --key-out "$KM_TMP/site-a-ca.key" --out "$KM_TMP/site-a-ca.crt" >/dev/null || fail "site CA"
km_cli cert sign --ca "$KM_TMP/site-a-ca.crt" --ca-key "$KM_TMP/site-a-ca.key" --kind gateway \
  --name gw-a --networks 198.19.1.0/24 --labels site=a --lifetime 12h \
  --key-out "$KM_TMP/gw-a.key" --out "$KM_TMP/gw-a.crt" >/dev/null || fail "gateway certificate"
cat "$KM_TMP/gw-a.crt" "$KM_TMP/site-a-ca.crt" >"$KM_TMP/gw-a.chain"
# With a policy file, the raw-key peer is a policy subject (sites_wireguard_policy.sh tests
# the refusals): grant what this test sends, selecting w by the label in its peer entry.
cat >"$KM_TMP/policy.yaml" <<'POLICY'
rules:
  - name: cloud-x-to-site-a
    from: { labels: { site: cloud-x } }
    to: { cidr: [198.19.1.0/24] }
    allow: [icmp, tcp/5201]
  - name: site-a-pings-wireguard-sites
    from: { labels: { site: a } }
    to: { kind: raw }
    allow: [icmp]
POLICY
gen_keypair "$KM_TMP" w
km_cli key pub <"$KM_TMP/ga.key" >"$KM_TMP/ga.pub" || fail "public key of ga"
km_cert_config "$KM_TMP/ga.yaml" ga 1
km_cert_finish "$KM_TMP/ga.yaml" gw-a
echo "peers:" >>"$KM_TMP/ga.yaml"
km_peer "$KM_TMP/ga.yaml" w "$(cat "$KM_TMP/w.pub")" 198.18.0.3:51820 100.64.9.1/32
echo "    labels: { site: cloud-x }" >>"$KM_TMP/ga.yaml"
start_keymeshd ga "$KM_TMP/ga.yaml" "$KM_TMP/ga.log"

wif="kmw${KM_RUN}"
start_wggo w "$wif" "$KM_TMP/w.log"
on w wg set "$wif" private-key "$KM_TMP/w.key" listen-port 51820 \
  peer "$(cat "$KM_TMP/ga.pub")" allowed-ips 198.19.1.0/24,100.64.1.1/32 endpoint 198.18.0.1:51820
on w ip addr add 100.64.9.1/32 dev "$wif"
on w ip link set "$wif" mtu 1420 up
on w ip route add 198.19.1.0/24 dev "$wif"

capture_start ga ul0 "$KM_TMP/ul0.pcap"
cap=$KM_LAST_PID
wait_for "on w ping -c1 -W1 198.19.1.10" 15 || fail "w cannot ping la behind the gateway"
on la ping -c2 -W1 100.64.9.1 >/dev/null || fail "la cannot ping w (100.64.9.1)"
make_random_file "$KM_TMP/blob" 1
transfer w la 198.19.1.10 "$KM_TMP/blob" 0 60 5201 || fail "TCP w -> la failed"
capture_stop "$cap"
clear=$(pcap_count "$KM_TMP/ul0.pcap" net 198.19.0.0/16)
sealed=$(pcap_count "$KM_TMP/ul0.pcap" udp port 51820)
((clear == 0)) || fail "$clear LAN packets in clear on the underlay"
((sealed > 500)) || fail "only $sealed WireGuard datagrams for 1 MiB"
hs=$(on w wg show "$wif" latest-handshakes | awk -v k="$(cat "$KM_TMP/ga.pub")" '$1 == k && $2 > 0' | wc -l)
((hs == 1)) || fail "wireguard-go reports no handshake with ga's key"
log "wireguard-go site <-> LAN behind keymesh gateway: ping both ways, 1 MiB TCP, $sealed sealed datagrams, 0 in clear"
