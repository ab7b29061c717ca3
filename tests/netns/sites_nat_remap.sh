#!/usr/bin/env bash
# sites_nat_remap.sh - host a's NAT mapping changes in the middle of a TCP transfer (its NAT
# router gets a new public address: MASQUERADE drops every mapping of the old one), and the
# transfer survives: a notices its path stalled, registers again with the lighthouse (which
# now sees it at the new address), asks for a punch, re-initiates; b roams to the new
# endpoint on the first authenticated packet.
#
#   site A                NAT na                 "internet"               NAT nb                site B
#   a 198.18.1.2 --lan0-- 198.18.1.1 | ul0 198.18.0.1 -- bridge -- 198.18.0.2 ul0 | 198.18.2.1 --lan0-- b 198.18.2.2
#                           (then 198.18.0.11)     |
#                                      l 198.18.0.10 (lighthouse, km0 100.64.0.1/10)
#
# The NAT routers drop unsolicited inbound datagrams (as in sites_nat.sh): after the change,
# b's NAT lets a's new public endpoint in only once b has sent towards it (the punch).
# Checks:
# 1. a reaches b through both NATs (as in sites_nat.sh);
# 2. with a ping at 10/s and a TCP transfer running, na's public address changes from
#    198.18.0.1 to 198.18.0.11: a logs the stall and its new public endpoint, b roams to
#    198.18.0.11, the longest gap between ping replies is under 15 s, and the transfer
#    completes with the right sha256.
KM_DEADLINE=${KM_DEADLINE:-100}
source "$(dirname "$0")/lib.sh"
need ping python3 iptables

source "$(dirname "$0")/sites_nat_setup.sh"

# 1. a -> b through both NATs
wait_for "on a ping -c1 -W1 100.64.2.1" 20 || fail "1. a cannot reach b (100.64.2.1) through the NATs"
log "1. a reaches b through both NATs"

# 2. a's public mapping changes mid-transfer
spawn a "$KM_TMP/ping.log" ping -D -i 0.1 -W1 -w 40 100.64.2.1
ping_pid=$KM_LAST_PID
make_random_file "$KM_TMP/blob" 4
transfer_start a b 100.64.2.1 "$KM_TMP/blob" 400000 50 5201   # ~10 s at 400 kB/s
sleep 3
transfer_running || fail "2. the transfer ended before the NAT change"
on na ip addr del 198.18.0.1/24 dev ul0
on na ip addr add 198.18.0.11/24 dev ul0
t_change=$EPOCHREALTIME
log "2. na's public address is now 198.18.0.11 (mappings of 198.18.0.1 dropped)"
wait_for "grep -q 'roaming: peer a .*-> 198.18.0.11:' '$KM_TMP/b.log'" 20 0.1 ||
  fail "2. b did not roam to a's new public endpoint"
t_roam=$(awk -v a="$EPOCHREALTIME" -v b="$t_change" 'BEGIN{printf "%.1f", a-b}')
transfer_finish || fail "2. the TCP transfer across the NAT change failed"
stop_pid "$ping_pid" INT || true
gap=$(awk -F'[][]' '/bytes from/ { t = $2 + 0; if (p && t - p > g) g = t - p; p = t } END { printf "%.1f", g }' "$KM_TMP/ping.log")
grep -q 'stalled: no answer for' "$KM_TMP/a.log" || fail "2. a logged no stalled path"
wait_for "grep -q 'sees this node at 198.18.0.11:51820' '$KM_TMP/a.log'" 5 ||
  fail "2. a did not learn its new public endpoint"
log "2. b roamed to a's new endpoint $t_roam s after the change; longest gap between ping replies $gap s"
awk -v g="$gap" 'BEGIN{exit !(g > 0 && g < 15.0)}' || fail "2. stall across the NAT change: $gap s (want < 15 s)"
