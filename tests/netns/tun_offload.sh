#!/usr/bin/env bash
# tun_offload.sh - TUN offloads (IFF_VNET_HDR + TSO/checksum, tun/offload.h) against the real
# kernel, with two keymeshd daemons (daemon.cpp opens km0 with offload on).
#
#   ns km-tun_offload-<pid>-a                      ns km-tun_offload-<pid>-b
#   +----------------------------+                 +----------------------------+
#   | km0 100.64.3.1/24 (TUN,    |                 | km0 100.64.3.2/24 (TUN,    |
#   |      vnet_hdr, TSO)        |                 |      vnet_hdr, TSO)        |
#   | ul0 198.18.0.1/24          |=== veth pair ===| ul0 198.18.0.2/24          |
#   +----------------------------+                 +----------------------------+
#
# Scenarios:
# 1. Both km0 report `vnet_hdr on` and neither daemon fell back to plain mode.
# 2. 30 MB TCP a->b and 30 MB b->a at the same time, sha256 checked: segmentation of the
#    kernel's super-packets (read side) and coalescing (write side) both directions, with
#    ACKs interleaved with data.
# 3. On b's km0 the capture sees TCP packets longer than the MTU in both directions: the
#    kernel handed keymesh super-packets (TSO, b->a data) and took super-packets from it
#    (GRO by keymesh, a->b data). Segments on the underlay stay <= the MTU + overhead.
# 4. Non-TCP still works: ping with a payload that needs IP fragmentation, and small pings.
KM_DEADLINE=${KM_DEADLINE:-200}
source "$(dirname "$0")/lib.sh"
need ping tcpdump sha256sum

km_pair

# 1. offload mode is on
for h in a b; do
  link=$(on "$h" ip -d link show km0) || fail "$h: km0 missing"
  grep -q 'vnet_hdr on' <<<"$link" || fail "$h: km0 is not in vnet_hdr mode: $link"
  grep -qi 'plain mode' "$KM_TMP/$h.log" && fail "$h: keymeshd fell back to plain mode"
done
log "1. km0 in vnet_hdr mode on both sides"

wait_ping a "$(ov_ip b)" 15 || fail "a cannot ping b over the overlay"

# 2. + 3. both directions at once, captured (headers only) on b's km0
KM_SNAPLEN=96 capture_start b km0 "$KM_TMP/km0.pcap" tcp
cap=$KM_LAST_PID
make_random_file "$KM_TMP/ab" 30
make_random_file "$KM_TMP/ba" 30
transfer_start a b "$(ov_ip b)" "$KM_TMP/ab" 0 90 5301
ab=("$KM_XFER_SENDER" "$KM_XFER_SERVER" "$KM_XFER_OUT" "$KM_XFER_FILE" "$KM_XFER_DESC")
transfer_start b a "$(ov_ip a)" "$KM_TMP/ba" 0 90 5302
transfer_finish || fail "30 MB b->a failed"
KM_XFER_SENDER=${ab[0]} KM_XFER_SERVER=${ab[1]} KM_XFER_OUT=${ab[2]} KM_XFER_FILE=${ab[3]}
KM_XFER_DESC=${ab[4]}
transfer_finish || fail "30 MB a->b failed"
log "2. 30 MB each way at once ok"
sleep 0.3
capture_stop "$cap"
mtu=$(on b cat /sys/class/net/km0/mtu)
# tcpdump prints "IP a.port > b.port: ... length N" (N = TCP payload); a super-packet's is > MTU.
count_big() {  # count_big FILTER : TCP packets in the capture with more payload than the MTU
  tcpdump -n -r "$KM_TMP/km0.pcap" "$1" 2>/dev/null | awk -v m="$mtu" '
    { for (i = 1; i < NF; i++) if ($i == "length" && $(i + 1) + 0 > m) { n++; break } }
    END { print n + 0 }'
}
big_in=$(count_big "dst host $(ov_ip b) and tcp")
big_out=$(count_big "src host $(ov_ip b) and tcp")
log "3. on b's km0 (mtu $mtu): $big_in coalesced packets from keymeshd," \
  "$big_out super-packets from the kernel"
((big_in > 0)) || fail "no coalesced (GRO) packets reached b's kernel"
((big_out > 0)) || fail "the kernel never handed b's keymeshd a TSO super-packet"

# 4. non-TCP: fragmented and small ICMP
on a ping -c 3 -i 0.2 -W 2 -s 3000 "$(ov_ip b)" >/dev/null || fail "ping -s 3000 a->b lost packets"
on b ping -c 3 -i 0.2 -W 2 "$(ov_ip a)" >/dev/null || fail "ping b->a lost packets"
log "4. ICMP ok (3000-byte echo fragmented, small echo)"

stop_keymeshd a || fail "keymeshd a exited non-zero"
stop_keymeshd b || fail "keymeshd b exited non-zero"
