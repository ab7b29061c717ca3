#!/usr/bin/env bash
# tunnel_pair.sh - two keymeshd daemons carry traffic over a veth, encrypted.
#
#   ns km-tunnel_pair-<pid>-a                      ns km-tunnel_pair-<pid>-b
#   +----------------------------+                 +----------------------------+
#   | km0 100.64.3.1/24 (TUN)    |                 | km0 100.64.3.2/24 (TUN)    |
#   |   keymeshd  udp :51820     |                 |   keymeshd  udp :51820     |
#   | ul0 198.18.0.1/24          |=== veth pair ===| ul0 198.18.0.2/24          |
#   +----------------------------+                 +----------------------------+
#
# Scenarios:
# 1. `keymeshd --check` accepts the generated config (exit 0) and rejects the same config
#    whose private key file is mode 0644 (exit 1, error on stderr).
# 2. ping a->b and b->a over the overlay; each side logs "handshake complete: peer <other>".
# 3. 50 MB of random data over TCP a->b through the overlay; the receiver's sha256 matches.
# 4. confidentiality: while a TCP stream full of a random marker string flows a->b, tcpdump on
#    a's underlay (ul0) sees UDP datagrams but never the marker; a parallel capture on km0 does
#    see it (so the search would have found plaintext had it leaked).
# 5. wire format: every UDP datagram captured in 4 starts with a WireGuard message type 1-4
#    followed by three zero bytes; initiations are 148 bytes, responses 92 bytes, and
#    transport messages 32 + 16n bytes (payload padded to 16) or 32 + 1420 (full MTU).
# 6. SIGTERM: both daemons exit 0 and their km0 disappears.
KM_DEADLINE=${KM_DEADLINE:-240}
source "$(dirname "$0")/lib.sh"
need ping tcpdump sha256sum

make_host a 198.18.0.1
make_host b 198.18.0.2
link_hosts a b
km_pair_configs

# 1. --check
kmd=$(binary keymeshd) || fail "keymeshd not built"
timeout 10 "$kmd" --config "$KM_TMP/a.yaml" --check >"$KM_TMP/check.out" 2>&1 ||
  { cat "$KM_TMP/check.out" >&2; fail "--check rejected a valid config"; }
cp "$KM_TMP/a.key" "$KM_TMP/a-open.key"
chmod 0644 "$KM_TMP/a-open.key"
sed "s#^private_key_file: .*#private_key_file: $KM_TMP/a-open.key#" "$KM_TMP/a.yaml" >"$KM_TMP/a-open.yaml"
rc=0
timeout 10 "$kmd" --config "$KM_TMP/a-open.yaml" --check >"$KM_TMP/check-open.out" 2>"$KM_TMP/check-open.err" || rc=$?
[[ $rc == 1 ]] || fail "--check with a 0644 key file: exit $rc, want 1"
[[ -s $KM_TMP/check-open.err ]] || fail "--check with a 0644 key file: nothing on stderr"
log "1. --check ok (0644 key refused: $(head -c 200 "$KM_TMP/check-open.err"))"

start_keymeshd a "$KM_TMP/a.yaml" "$KM_TMP/a.log"
start_keymeshd b "$KM_TMP/b.yaml" "$KM_TMP/b.log"

# 2. ping both ways
wait_ping a "$(ov_ip b)" 15 || fail "a cannot ping b over the overlay"
on a ping -c 3 -i 0.2 -W 2 "$(ov_ip b)" >/dev/null || fail "ping a->b lost packets"
on b ping -c 3 -i 0.2 -W 2 "$(ov_ip a)" >/dev/null || fail "ping b->a lost packets"
grep -q "handshake complete: peer b" "$KM_TMP/a.log" || fail "a did not log 'handshake complete: peer b'"
grep -q "handshake complete: peer a" "$KM_TMP/b.log" || fail "b did not log 'handshake complete: peer a'"
log "2. ping both ways ok, handshake logged on both sides"

# 3. 50 MB TCP with checksum
make_random_file "$KM_TMP/big" 50
transfer a b "$(ov_ip b)" "$KM_TMP/big" 0 120 5201 || fail "50 MB transfer a->b failed"
rm -f "$KM_TMP/big"
log "3. 50 MB transfer ok"

# 4. + 5. captures while a marker stream flows
marker="KMPLAIN-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
yes "$marker" | head -c $((2 * 1024 * 1024)) >"$KM_TMP/marker" || true
capture_start a ul0 "$KM_TMP/ul0.pcap" udp
cap_ul=$KM_LAST_PID
capture_start a km0 "$KM_TMP/km0.pcap" tcp
cap_km=$KM_LAST_PID
transfer a b "$(ov_ip b)" "$KM_TMP/marker" 0 60 5202 || fail "marker transfer failed"
sleep 0.5
capture_stop "$cap_ul"
capture_stop "$cap_km"
udp_pkts=$(pcap_count "$KM_TMP/ul0.pcap" udp)
dropped=$(awk '/dropped by kernel/{print $1}' "$KM_TMP/ul0.pcap.log")
[[ ${dropped:-0} == 0 ]] || log "warning: tcpdump dropped $dropped packets on ul0; they were not checked"
leaks=$(grep -c -a -F "$marker" "$KM_TMP/ul0.pcap" || true)
seen_inside=$(grep -c -a -F "$marker" "$KM_TMP/km0.pcap" || true)
log "4. underlay: $udp_pkts UDP datagrams, marker lines in underlay capture: $leaks, on km0: $seen_inside"
((udp_pkts >= 1000)) || fail "expected >= 1000 UDP datagrams on the underlay during 2 MB, saw $udp_pkts"
((seen_inside > 0)) || fail "control capture on km0 did not see the marker (capture broken?)"
((leaks == 0)) || fail "plaintext marker visible on the underlay ($leaks hits)"

wg_types='(udp[8:4]=0x01000000 or udp[8:4]=0x02000000 or udp[8:4]=0x03000000 or udp[8:4]=0x04000000)'
bad=$(pcap_count "$KM_TMP/ul0.pcap" "udp and not $wg_types")
bad_init=$(pcap_count "$KM_TMP/ul0.pcap" "udp and udp[8:4]=0x01000000 and udp[4:2]!=156")
bad_resp=$(pcap_count "$KM_TMP/ul0.pcap" "udp and udp[8:4]=0x02000000 and udp[4:2]!=100")
# transport: 16-byte header + payload padded to 16 (but never past the MTU, 1420) + 16-byte tag
bad_data=$(pcap_count "$KM_TMP/ul0.pcap" "udp and udp[8:4]=0x04000000 and (udp[4:2] < 40 or udp[4:2] > 1460 or ((udp[4:2] - 40) % 16 != 0 and udp[4:2] != 1460))")
((bad == 0)) || fail "$bad underlay datagrams are not WireGuard messages (type 1-4 + 3 zero bytes)"
((bad_init == 0 && bad_resp == 0)) || fail "handshake messages of the wrong size: $bad_init initiations, $bad_resp responses"
((bad_data == 0)) || fail "$bad_data transport messages whose length is not 32 + 16n (or 32 + MTU)"
log "5. all $udp_pkts underlay datagrams are well-formed WireGuard messages"

# status is informational only (its output format is not final)
if km=$(binary keymesh 2>/dev/null); then
  timeout 5 "$km" status --socket "$KM_TMP/a.sock" >"$KM_TMP/status-a.txt" 2>&1 ||
    log "warning: keymesh status --socket a.sock failed: $(head -c 300 "$KM_TMP/status-a.txt")"
fi

# 6. clean shutdown
for h in a b; do
  rc=0
  stop_keymeshd "$h" || rc=$?
  [[ $rc == 0 ]] || fail "keymeshd on $h exited $rc on SIGTERM, want 0"
  if on "$h" ip link show km0 >/dev/null 2>&1; then fail "km0 still exists on $h after keymeshd exited"; fi
done
log "6. SIGTERM: both daemons exited 0, km0 removed"
