#!/usr/bin/env bash
# udp_offload.sh - UDP GSO (UDP_SEGMENT) on send and GRO (UDP_GRO) on receive in keymeshd's
# socket (udp/socket_offload.cpp), against the real kernel, on and forced off.
#
#   ns km-udp_offload-<pid>-a                       ns km-udp_offload-<pid>-b
#   +----------------------------+                  +----------------------------+
#   | km0 100.64.3.1/24          |                  | km0 100.64.3.2/24          |
#   |   keymeshd udp :51820      |                  |   keymeshd / wireguard-go  |
#   | ul0 198.18.0.1/24          |=== veth pair ====| ul0 198.18.0.2/24          |
#   +----------------------------+                  +----------------------------+
#
# Scenarios (each: 20 MB TCP a->b and 20 MB b->a at once, sha256 checked):
# 1. offload on at both ends: both log "GSO on, GRO on", and the capture on a's ul0 holds
#    UDP datagrams longer than the underlay MTU (GSO packets the veth carries whole).
# 2. `udp_offload: off` at both ends: both log "GSO off, GRO off"; no datagram on the wire
#    is longer than the MTU.
# 3. a on, b off: the kernel cuts a's GSO packets for b's plain socket, b's one-by-one
#    datagrams reach a's GRO socket.
# 4. a on against the sid wireguard-go (v0.0.20250522, which does GSO/GRO itself) when
#    scripts/bench-peers.sh has cached it; skipped (logged) otherwise. The Debian 12 one is
#    covered by interop_wireguard_go.sh.
KM_DEADLINE=${KM_DEADLINE:-200}
source "$(dirname "$0")/lib.sh"
need tcpdump sha256sum

make_host a 198.18.0.1
make_host b 198.18.0.2
link_hosts a b
# lib.sh has ul0 cut GSO packets into datagrams (as a NIC without UDP segmentation offload);
# here the veth carries them whole, so that the capture sees whether keymeshd sent any.
for h in a b; do on "$h" ethtool -K ul0 tx-udp-segmentation on; done
km_pair_configs
cp "$KM_TMP/a.yaml" "$KM_TMP/a-on.yaml"
cp "$KM_TMP/b.yaml" "$KM_TMP/b-on.yaml"
for h in a b; do sed 's/^peers:/udp_offload: off\npeers:/' "$KM_TMP/$h.yaml" >"$KM_TMP/$h-off.yaml"; done
make_random_file "$KM_TMP/ab" 20
make_random_file "$KM_TMP/ba" 20
ul_mtu=$(on a cat /sys/class/net/ul0/mtu)

both_ways() {  # both_ways WHAT : 20 MB each way at once, sha256 checked
  transfer_start a b "$(ov_ip b)" "$KM_TMP/ab" 0 60 5301
  local ab=("$KM_XFER_SENDER" "$KM_XFER_SERVER" "$KM_XFER_OUT" "$KM_XFER_FILE" "$KM_XFER_DESC")
  transfer_start b a "$(ov_ip a)" "$KM_TMP/ba" 0 60 5302
  transfer_finish || fail "$1: 20 MB b->a failed"
  KM_XFER_SENDER=${ab[0]} KM_XFER_SERVER=${ab[1]} KM_XFER_OUT=${ab[2]} KM_XFER_FILE=${ab[3]}
  KM_XFER_DESC=${ab[4]}
  transfer_finish || fail "$1: 20 MB a->b failed"
}

big_datagrams() {  # big_datagrams PCAP : UDP datagrams on the capture longer than the MTU
  tcpdump -n -r "$1" udp 2>/dev/null | awk -v m="$ul_mtu" '
    { for (i = 1; i < NF; i++) if ($i == "length" && $(i + 1) + 28 > m) { n++; break } }
    END { print n + 0 }'
}

run_case() {  # run_case N CONFIG_A CONFIG_B WANT_A WANT_B BIG(yes|no)
  local n=$1 big
  start_keymeshd a "$2" "$KM_TMP/a-$n.log"
  start_keymeshd b "$3" "$KM_TMP/b-$n.log"
  grep -q "udp: .*$4" "$KM_TMP/a-$n.log" || fail "case $n: a did not log '$4': $(grep 'udp:' "$KM_TMP/a-$n.log")"
  grep -q "udp: .*$5" "$KM_TMP/b-$n.log" || fail "case $n: b did not log '$5': $(grep 'udp:' "$KM_TMP/b-$n.log")"
  wait_ping a "$(ov_ip b)" 15 || fail "case $n: a cannot ping b"
  KM_SNAPLEN=96 capture_start a ul0 "$KM_TMP/ul-$n.pcap" udp
  local cap=$KM_LAST_PID
  both_ways "case $n"
  sleep 0.2
  capture_stop "$cap"
  big=$(big_datagrams "$KM_TMP/ul-$n.pcap")
  log "case $n: $(pcap_count "$KM_TMP/ul-$n.pcap") datagrams on a's ul0, $big longer than the MTU ($ul_mtu)"
  if [[ $6 == yes ]]; then ((big > 0)) || fail "case $n: no GSO packet on the wire"
  else ((big == 0)) || fail "case $n: $big datagrams over the MTU with offload off at the sender"; fi
  stop_keymeshd a || fail "case $n: keymeshd a exited non-zero"
  stop_keymeshd b || fail "case $n: keymeshd b exited non-zero"
}

run_case 1 "$KM_TMP/a-on.yaml" "$KM_TMP/b-on.yaml" "GSO on, GRO on" "GSO on, GRO on" yes
log "1. offload on at both ends: ok"
run_case 2 "$KM_TMP/a-off.yaml" "$KM_TMP/b-off.yaml" "GSO off, GRO off" "GSO off, GRO off" no
log "2. udp_offload: off at both ends: ok"
run_case 3 "$KM_TMP/a-on.yaml" "$KM_TMP/b-off.yaml" "GSO on, GRO on" "GSO off, GRO off" yes
log "3. on against off: ok"

sid_wg=$(compgen -G "/var/cache/keymesh/bench-peers/wireguard-go-*/usr/bin/wireguard-go" | head -1 || true)
if [[ -z $sid_wg ]] || ! command -v wg >/dev/null; then
  log "4. skipped: no sid wireguard-go cached (bash scripts/bench-peers.sh fetches it)"
else
  start_keymeshd a "$KM_TMP/a-on.yaml" "$KM_TMP/a-4.log"
  b_if="kmo${KM_RUN}"
  PATH=$(dirname "$sid_wg"):$PATH start_wggo b "$b_if" "$KM_TMP/b-4.log"
  on b wg set "$b_if" private-key "$KM_TMP/b.key" listen-port 51820 \
    peer "$(cat "$KM_TMP/a.pub")" allowed-ips "$(ov_ip a)/32" endpoint "$(host_ip a):51820"
  on b ip addr add "$(ov_ip b)/24" dev "$b_if"
  on b ip link set "$b_if" mtu 1420 up
  wait_ping a "$(ov_ip b)" 15 || fail "case 4: a cannot ping the sid wireguard-go"
  both_ways "case 4 ($("$sid_wg" --version | head -1))"
  stop_keymeshd a || fail "case 4: keymeshd a exited non-zero"
  log "4. against $("$sid_wg" --version | head -1): ok"
fi
