#!/usr/bin/env bash
# roaming.sh - a peer whose underlay address changes keeps its tunnel: the latest
# authenticated packet's source becomes the endpoint (docs/architecture.md, as in WireGuard).
#
#   ns km-roaming-<pid>-a                          ns km-roaming-<pid>-b
#   +----------------------------+                 +-------------------------------------+
#   | km0 100.64.3.1/24 (TUN)    |                 | km0 100.64.3.2/24 (TUN)             |
#   |   keymeshd  udp :51820     |                 |   keymeshd  udp :51820, keepalive 1s|
#   |   peer b at 198.18.0.2     |                 |                                     |
#   | ul0 198.18.0.1/24          |=== veth pair ===| ul0 198.18.0.2 -> .12 -> .22 /24    |
#   +----------------------------+                 +-------------------------------------+
#   a's config keeps pointing at b's first address (198.18.0.2) throughout.
#
# Scenarios:
# 1. while a sends 6 MB over TCP to b (~12 s, rate limited), b's underlay address moves from
#    198.18.0.2 to 198.18.0.12: the transfer completes with a matching sha256 and a logs
#    "roaming: peer b endpoint 198.18.0.2:51820 -> 198.18.0.12:51820".
# 2. idle except for b's persistent keepalives, b moves again to 198.18.0.22: within 5 s a
#    logs roaming to .22 (keepalives alone move the endpoint) and a can ping b.
# 3. after the moves a underlay capture on a shows a sends to b's current address only.
KM_DEADLINE=${KM_DEADLINE:-200}
source "$(dirname "$0")/lib.sh"
need ping sha256sum tcpdump

make_host a 198.18.0.1
make_host b 198.18.0.2
link_hosts a b
km_pair_configs 0 1
start_keymeshd a "$KM_TMP/a.yaml" "$KM_TMP/a.log"
start_keymeshd b "$KM_TMP/b.yaml" "$KM_TMP/b.log"
wait_ping a "$(ov_ip b)" 15 || fail "a cannot ping b"

# 1. move during a transfer
make_random_file "$KM_TMP/data" 6
transfer_start a b "$(ov_ip b)" "$KM_TMP/data" $((512 * 1024)) 90 5201
sleep 3
transfer_running || fail "transfer ended before the move"
set_underlay_ip b 198.18.0.12
log "b moved to 198.18.0.12 mid-transfer"
transfer_finish || fail "transfer did not survive b's address change"
wait_for "grep -q 'roaming: peer b .*198.18.0.12' '$KM_TMP/a.log'" 5 ||
  fail "a did not log 'roaming: peer b ... -> 198.18.0.12'"
log "1. $(grep -m1 'roaming: peer b' "$KM_TMP/a.log" | sed 's/.*roaming:/roaming:/')"

# 2. move while idle: b's keepalives alone update a
set_underlay_ip b 198.18.0.22
wait_for "grep -q 'roaming: peer b .*198.18.0.22' '$KM_TMP/a.log'" 5 ||
  fail "a did not learn b's address 198.18.0.22 from keepalives within 5 s"
capture_start a ul0 "$KM_TMP/ul0.pcap" udp
cap=$KM_LAST_PID
on a ping -c 3 -i 0.2 -W 2 "$(ov_ip b)" >/dev/null || fail "a cannot ping b after the second move"
capture_stop "$cap"
log "2. idle move to .22 picked up from keepalives, ping ok"

# 3. a sends only to b's current address
stale=$(pcap_count "$KM_TMP/ul0.pcap" "udp and src host 198.18.0.1 and not dst host 198.18.0.22")
current=$(pcap_count "$KM_TMP/ul0.pcap" "udp and src host 198.18.0.1 and dst host 198.18.0.22")
((current >= 3)) || fail "a sent only $current datagrams to b's current address"
((stale == 0)) || fail "a still sent $stale datagrams to b's old addresses"
log "3. a sends to b's current address only ($current datagrams)"

for h in a b; do
  rc=0
  stop_keymeshd "$h" || rc=$?
  [[ $rc == 0 ]] || fail "keymeshd on $h exited $rc on SIGTERM"
done
