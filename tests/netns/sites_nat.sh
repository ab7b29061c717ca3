#!/usr/bin/env bash
# sites_nat.sh - two hosts, each behind its own NAT router (iptables MASQUERADE), reach each
# other directly after the lighthouse tells them where the other's NAT is and has the target
# punch its NAT open. No relay: the packets flow between the two NAT routers' public addresses.
#
#   site A                NAT na                 "internet"               NAT nb                site B
#   a 198.18.1.2 --lan0-- 198.18.1.1 | ul0 198.18.0.1 -- bridge -- 198.18.0.2 ul0 | 198.18.2.1 --lan0-- b 198.18.2.2
#   km0 100.64.1.1/10                                  |                                            km0 100.64.2.1/10
#                                          l 198.18.0.10 (lighthouse, km0 100.64.0.1/10)
#
# The NAT routers have no route into the other site and drop unsolicited inbound datagrams:
# the only way in is through a mapping.
# Checks:
# 1. a and b each learn their public endpoint (the NAT's address) from the lighthouse;
# 2. a pings b's overlay address (nothing configured about b on a: the lighthouse answers,
#    asks b to punch) within 3 s and sends 1 MiB over TCP; the punch is in b's log;
# 3. direct: on na's public side the keymesh packets of the transfer go 198.18.0.1 <->
#    198.18.0.2 (not via the lighthouse 198.18.0.10);
# 4. both NAT'd nodes keep their paths alive (persistent keepalive is on: log line).
KM_DEADLINE=${KM_DEADLINE:-150}
source "$(dirname "$0")/lib.sh"
need ping python3 tcpdump iptables

source "$(dirname "$0")/sites_nat_setup.sh"
log "1. a and b know their public endpoints (198.18.0.1 / 198.18.0.2) from the lighthouse"

# 2. a -> b directly after punching
capture_start na ul0 "$KM_TMP/na.pcap" udp
cap=$KM_LAST_PID
t0=$EPOCHREALTIME
wait_for "on a ping -c1 -W1 100.64.2.1" 20 || fail "2. a cannot reach b (100.64.2.1) through the NATs"
took=$(awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN{printf "%.1f", a-b}')
grep -q 'punch: ' "$KM_TMP/b.log" || fail "2. b got no punch request"
# The initiation goes again right after the punch, not only at the 5 s retransmit.
awk -v t="$took" 'BEGIN{exit !(t < 3.0)}' || fail "2. the path through the NATs took $took s (want < 3 s)"
make_random_file "$KM_TMP/blob" 1
transfer a b 100.64.2.1 "$KM_TMP/blob" 0 60 5201 || fail "2. TCP a -> b failed"
capture_stop "$cap"
log "2. a reached b through both NATs after $took s (punch in b's log), 1 MiB over TCP"

# 3. direct, not relayed
direct=$(pcap_count "$KM_TMP/na.pcap" src host 198.18.0.1 and dst host 198.18.0.2)
back=$(pcap_count "$KM_TMP/na.pcap" src host 198.18.0.2 and dst host 198.18.0.1)
via_l=$(pcap_count "$KM_TMP/na.pcap" host 198.18.0.10)
((direct > 100 && back > 20)) ||
  fail "3. only $direct/$back datagrams between the NATs' public addresses (via l: $via_l)"
log "3. direct: $direct datagrams na -> nb, $back nb -> na on the public side ($via_l with the lighthouse)"

# 4. keepalive on NAT'd paths
grep -q 'paths keep alive every 25 s' "$KM_TMP/a.log" || fail "4. a has no keepalive for NAT"
log "4. persistent keepalive on for paths of NAT'd nodes"
