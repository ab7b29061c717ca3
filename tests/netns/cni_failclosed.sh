#!/usr/bin/env bash
# cni_failclosed.sh - the edge filter (plumbing/edge_filter.h, docs/guarantees.md): whatever
# keymeshd is doing, a workload's packet is handled by keymeshd or dropped by the kernel.
#
#   ns ...-c1 p1        ns ...-c2 p2        ns ...-c3 p3
#   eth0 100.64.1.x     eth0 100.64.1.y     eth0 100.64.1.z
#        \ veth              | veth              / veth
#   ns ...-a: keymeshd, km0 100.64.1.1/10, node CA 100.64.1.0/24, ip_forward=1,
#             default via 198.18.0.2 (the underlay neighbour), table inet keymesh_edge,
#             gateway.lan_interfaces [lan0]
#   ul0 198.18.0.1 ------------------------------- ul0 198.18.0.2  ns ...-nb (underlay neighbour)
#   lan0 198.19.5.1 ------------------------------ eth0 198.19.5.2 ns ...-lan (a LAN host)
#
# Policy: group p1 may reach group p2 on udp/7000; later also the node (`to: {kind: node}`)
# on tcp/8080.
#
# Scenarios:
#  1. Baseline: p1 -> p2 udp/7000 delivered, p1 -> p3 udp/7000 refused.
#  2. kill -9 keymeshd while p1 sends to p2, p3 and 100.64.9.9 (a remote overlay address):
#     for 5 s nothing reaches p2's or p3's veth, nothing with an overlay address appears on
#     the underlay, and the fail_closed counter grew.
#  3. keymeshd started again, nothing re-attached: p1 -> p2 delivered within 2 s, p1 -> p3
#     still refused.
#  4. With net.ipv4.conf.all.rp_filter=2, then =0 (and the veth's own 0): a raw-socket spoofer
#     in p1 sending with p2's source reaches neither p3 nor the underlay, and the counter named
#     for p1's veth grows. Both ends of every veth have IPv6 disabled.
#  5. The underlay neighbour sends with p1's source (rp_filter 0 on ul0): nothing reaches p2
#     or km0, and underlay_spoofed grows. With the host's own overlay address, or any other
#     overlay address, as source: nothing enters km0 either.
#  5b. Gateway LAN interfaces: the LAN host behind lan0 reaches km0 (its packets to an overlay
#     address are forwarded in); the underlay neighbour sending with the same LAN source does
#     not (counter not_lan); the LAN host sending with an overlay source does not either.
#  6. TCP and UDP services on the host's 0.0.0.0 (as the lighthouse port is): p1 reaches
#     neither (at the underlay address nor km0's); each attempt is counted (to_host, and
#     edge_to_host in `keymesh status`) and audited as packet_denied naming p1 and "(own
#     host)". A policy rule p1 -> {kind: node} tcp/8080 opens tcp/8080 to p1 within 1 s of
#     the reload, not to p2; a pod added to group p1 afterwards reaches it within 1 s of its
#     ADD; removing the rule closes it again within 1 s. The operator's host_services set
#     still grants udp/7000 to all; the host can still ping p1 (replies pass).
#  7. IPv6 from a pod: p1 turns IPv6 on inside its netns, takes fd00::1 and sends UDP to
#     fd00::2 and ff02::1, and raw Ethernet frames with ethertype 0x86dd: nothing appears on
#     p2's veth, on km0 or on the underlay, and the host veth's Ip6InDiscards
#     (edge_workload_ipv6 in `keymesh status`) grew by what was sent.
#  8. `nft flush ruleset` by someone else: within 1.5 s keymeshd has the table back (its
#     log says so), p1 -> p3 stays refused, p1 -> p2 and the policy's host grant work again.
#  9. CHECK passes, and fails (code 102, naming nftables) once p1's chain is flushed; DEL of
#     p3 removes its chain, counter and elements; GC removes those of p2 once its veth
#     vanished without a DEL, and keeps p1's.
KM_DEADLINE=${KM_DEADLINE:-170}
source "$(dirname "$0")/lib.sh"
need jq tcpdump nft ping

PLUGIN=$(binary cni/keymesh-cni) || fail "keymesh-cni is not built"
PROBE="$KM_LIB_DIR/netprobe.py"
V6FRAMES="$KM_LIB_DIR/ipv6_frames.py"
SPOOF="$KM_LIB_DIR/spoof.py"
NET=kmnet
T="inet keymesh_edge"

make_host a 198.18.0.1
make_host nb 198.18.0.2
link_hosts a nb
on a sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.default.disable_ipv6=0
on a ip route add default via 198.18.0.2 dev ul0
on nb sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.ul0.rp_filter=0

# The LAN behind lan0 (a gateway's LAN side).
make_host lan 198.19.5.2
on a ip link add lan0 type veth peer name eth0 netns "$(nsname lan)"
on a ip addr add 198.19.5.1/24 dev lan0
on a ip link set lan0 up
on lan ip addr add 198.19.5.2/24 dev eth0
on lan ip link set eth0 up
on lan ip route add default via 198.19.5.1

pki_root "$KM_TMP"
pki_host "$KM_TMP" a 1
cat >"$KM_TMP/policy.yaml" <<'POLICY'
rules:
  - name: p1-to-p2
    from: { groups: [p1] }
    to: { groups: [p2] }
    allow: [udp/7000]
POLICY
write_policy() {  # write_policy [EXTRA RULE TEXT]
  cat >"$KM_TMP/policy.yaml.new" <<POLICY
rules:
  - name: p1-to-p2
    from: { groups: [p1] }
    to: { groups: [p2] }
    allow: [udp/7000]
${1:-}
POLICY
  mv "$KM_TMP/policy.yaml.new" "$KM_TMP/policy.yaml"
  km_cli policy reload --socket "$KM_TMP/a.sock" >/dev/null || bad "policy reload refused"
}
km_cert_config "$KM_TMP/a.yaml" a 1
echo "gateway: { lan_interfaces: [lan0] }" >>"$KM_TMP/a.yaml"

ctr_n=0
new_ctr() {  # new_ctr VAR : a fresh "container" namespace; its /run/netns path in VAR
  local ns
  ctr_n=$((ctr_n + 1))
  ns="km-${KM_TEST}-${KM_RUN}-c$ctr_n"
  ip netns add "$ns"
  KM_EXTRA_NS+=("$ns")
  printf -v "$1" '%s' "/run/netns/$ns"
}
in_ctr() { local p=$1; shift; ip netns exec "$(basename "$p")" "$@"; }
conf() {  # conf GROUP
  printf '{"cniVersion":"1.0.0","name":"%s","type":"keymesh","socket":"%s","release_dir":"%s","logLevel":"info","identity":"a/${K8S_POD_NAME}","groups":["%s"]}' \
    "$NET" "$KM_TMP/a.sock" "$KM_TMP/a-state/cni-releases" "$1"
}
cni() {  # cni CMD ID NETNS CONFIG NAME : sets OUT and RC
  RC=0
  OUT=$(printf '%s' "$4" | on a timeout 30 env -i PATH="$PATH" CNI_COMMAND="$1" \
    CNI_CONTAINERID="$2" CNI_NETNS="$3" CNI_IFNAME=eth0 CNI_PATH=/nonexistent \
    CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAME=$5" "$PLUGIN" 2>>"$KM_TMP/plugin.log") || RC=$?
}
veth_of() {
  on a ip -j -d link show | jq -r --arg t "keymesh/cni/$NET/$1/eth0" '.[] | select(.ifalias == $t) | .ifname'
}
counter() {  # counter NAME : packets of the named counter
  on a nft -j list counter $T "$1" 2>/dev/null | jq '[.nftables[] | select(.counter) | .counter.packets][0]' ||
    echo 0
}
received() { [[ -f $1 ]] && wc -l <"$1" || echo 0; }
# bad MSG : a guarantee does not hold. KM_SOFT=1 logs it and carries on, to see every
# scenario fail against a build without the edge filter (KEYMESH_BUILD_DIR=<older build>).
BAD=0
bad() {
  if [[ ${KM_SOFT:-0} == 1 ]]; then log "WOULD FAIL: $*"; BAD=$((BAD + 1)); else fail "$*"; fi
}

start_keymeshd a "$KM_TMP/a.yaml" "$KM_TMP/a.log"
declare -A NS ID IP VETH RES
for p in p1 p2 p3; do
  new_ctr "NS[$p]"
  ID[$p]=$(printf '%s%062d' "$p" 0)
  cni ADD "${ID[$p]}" "${NS[$p]}" "$(conf "$p")" "$p"
  ((RC == 0)) || fail "ADD $p: exit $RC, $OUT"
  RES[$p]=$OUT
  IP[$p]=$(jq -r '.ips[0].address | sub("/32$"; "")' <<<"$OUT")
  VETH[$p]=$(veth_of "${ID[$p]}")
  [[ -n ${VETH[$p]} ]] || fail "no veth for $p"
done
log "pods: p1 ${IP[p1]} (${VETH[p1]}), p2 ${IP[p2]} (${VETH[p2]}), p3 ${IP[p3]} (${VETH[p3]})"
for p in p2 p3; do
  ip netns exec "$(basename "${NS[$p]}")" "$KM_PY" "$PROBE" serve-udp "${IP[$p]}" 7000 "$KM_TMP/$p.rx" \
    >"$KM_TMP/$p.srv" 2>&1 </dev/null &
  record_pid $! "udp server $p" "$KM_TMP/$p.srv"
  wait_for "grep -q LISTENING '$KM_TMP/$p.srv'" 10 0.05 || fail "udp server $p did not start"
done
send() {  # send SRC DST COUNT [TEXT] : datagrams to DST:7000 from p1, SRC as their source
  in_ctr "${NS[p1]}" "$KM_PY" "$SPOOF" "$1" "$2" 7000 "$3" "${4:-x}" >/dev/null 2>>"$KM_TMP/spoof.log"
}

# ------------------------------------------------------------------ 1. baseline
wait_for "send ${IP[p1]} ${IP[p2]} 1 warmup; grep -q warmup '$KM_TMP/p2.rx'" 10 0.3 ||
  bad "1. p1 -> p2 udp/7000 (granted) never arrived"
send "${IP[p1]}" "${IP[p3]}" 10 base
sleep 0.3
(($(received "$KM_TMP/p3.rx") == 0)) || bad "1. p1 -> p3 (not granted) was delivered"
log "1. baseline: p1 -> p2 delivered, p1 -> p3 refused"

# ------------------------------------------------------------------ 2. kill -9 keymeshd
capture_start a "${VETH[p2]}" "$KM_TMP/p2.pcap" udp
CAP2=$KM_LAST_PID
capture_start a "${VETH[p3]}" "$KM_TMP/p3.pcap" udp
CAP3=$KM_LAST_PID
capture_start a ul0 "$KM_TMP/ul.pcap" net 100.64.0.0/10
CAPU=$KM_LAST_PID
: >"$KM_TMP/p2.rx"
fc_before=$(counter fail_closed)
stop_pid "${KM_DAEMON_PID[a]}" KILL || true
unset "KM_DAEMON_PID[a]"
wait_for "! on a ip link show km0" 5 0.05 || bad "2. km0 is still there after kill -9"
t_end=$(($(date +%s%N) + 5000000000))
n=0
while (($(date +%s%N) < t_end)); do
  send "${IP[p1]}" "${IP[p2]}" 5 crash &
  s1=$!
  send "${IP[p1]}" "${IP[p3]}" 5 crash &
  s2=$!
  send "${IP[p1]}" 100.64.9.9 5 crash
  wait "$s1" "$s2" || true
  n=$((n + 15))
done
sleep 0.2
for c in "$CAP2" "$CAP3" "$CAPU"; do capture_stop "$c"; done
got2=$(pcap_count "$KM_TMP/p2.pcap") got3=$(pcap_count "$KM_TMP/p3.pcap") gotu=$(pcap_count "$KM_TMP/ul.pcap")
fc_after=$(counter fail_closed)
log "2. keymeshd killed: $n datagrams sent in 5 s; on p2's veth $got2, on p3's veth $got3, overlay on the underlay $gotu; fail_closed $fc_before -> $fc_after"
((got2 == 0 && got3 == 0)) || bad "2. with keymeshd dead, $got2 datagrams reached p2 and $got3 reached p3"
((gotu == 0)) || bad "2. with keymeshd dead, $gotu packets with overlay addresses left on the underlay"
((fc_after > fc_before)) || bad "2. fail_closed counter did not grow"

# ------------------------------------------------------------------ 3. restart
rm -f "$KM_TMP/a.sock"
: >"$KM_TMP/p2.rx"
: >"$KM_TMP/p3.rx"
start_keymeshd a "$KM_TMP/a.yaml" "$KM_TMP/a-2.log"
t0=$(date +%s%N)
ok=0
while (($(date +%s%N) - t0 < 4000000000)); do
  send "${IP[p1]}" "${IP[p2]}" 1 back
  if grep -q back "$KM_TMP/p2.rx"; then ok=1; break; fi
done
ms=$((($(date +%s%N) - t0) / 1000000))
((ok == 1)) || bad "3. p1 -> p2 not delivered within 4 s of keymeshd's restart"
((ms <= 2000)) || bad "3. p1 -> p2 took $ms ms after keymeshd's restart (want <= 2000)"
send "${IP[p1]}" "${IP[p3]}" 10 after
sleep 0.3
(($(received "$KM_TMP/p3.rx") == 0)) || bad "3. p1 -> p3 delivered after the restart"
log "3. keymeshd restarted: p1 -> p2 delivered after $ms ms, p1 -> p3 still refused"

# ------------------------------------------------------------------ 4. spoofing from a pod
for v in p1 p2 p3; do
  [[ $(on a sysctl -n "net.ipv6.conf.${VETH[$v]}.disable_ipv6") == 1 ]] ||
    bad "4. IPv6 is enabled on ${VETH[$v]}"
  [[ $(in_ctr "${NS[$v]}" sysctl -n net.ipv6.conf.eth0.disable_ipv6) == 1 ]] ||
    bad "4. IPv6 is enabled on $v's eth0"
done
for rp in 2 0; do
  on a sysctl -qw net.ipv4.conf.all.rp_filter=$rp
  [[ $rp == 0 ]] && on a sysctl -qw "net.ipv4.conf.${VETH[p1]}.rp_filter=0"
  capture_start a ul0 "$KM_TMP/ul-$rp.pcap" net 100.64.0.0/10
  CAPU=$KM_LAST_PID
  before=$(counter "${VETH[p1]}")
  send "${IP[p2]}" "${IP[p3]}" 20 "spoof$rp"
  send "${IP[p2]}" 100.64.9.9 20 "spoof$rp"
  sleep 0.3
  capture_stop "$CAPU"
  after=$(counter "${VETH[p1]}")
  gotu=$(pcap_count "$KM_TMP/ul-$rp.pcap")
  log "4. all.rp_filter=$rp: p1 spoofing p2: p3 got $(grep -c "spoof$rp" "$KM_TMP/p3.rx" 2>/dev/null || true), underlay $gotu, counter ${VETH[p1]} $before -> $after"
  ! grep -q "spoof$rp" "$KM_TMP/p3.rx" 2>/dev/null || bad "4. rp_filter=$rp: spoofed datagrams reached p3"
  ((gotu == 0)) || bad "4. rp_filter=$rp: spoofed packets on the underlay"
  ((after >= before + 40)) || bad "4. rp_filter=$rp: counter ${VETH[p1]} went $before -> $after, want +40"
done
on a sysctl -qw net.ipv4.conf.all.rp_filter=0 "net.ipv4.conf.${VETH[p1]}.rp_filter=1"

# ------------------------------------------------------------------ 5. spoofing from the underlay
on a sysctl -qw net.ipv4.conf.ul0.rp_filter=0
capture_start a km0 "$KM_TMP/km0.pcap" udp port 7000 and src net 100.64.0.0/10
CAPK=$KM_LAST_PID
before=$(counter underlay_spoofed)
on nb ip route add 100.64.0.0/10 via 198.18.0.1 dev ul0
on nb "$KM_PY" "$SPOOF" "${IP[p1]}" "${IP[p2]}" 7000 20 under >/dev/null
on nb "$KM_PY" "$SPOOF" "${IP[p1]}" 100.64.9.9 7000 20 under >/dev/null
on nb "$KM_PY" "$SPOOF" 100.64.1.1 100.64.9.9 7000 20 under >/dev/null  # the host's own (martian)
on nb "$KM_PY" "$SPOOF" 100.64.77.7 100.64.9.9 7000 20 under >/dev/null  # some other overlay source
sleep 0.3
capture_stop "$CAPK"
after=$(counter underlay_spoofed)
gotk=$(pcap_count "$KM_TMP/km0.pcap")
log "5. underlay sending as p1: p2 got $(grep -c under "$KM_TMP/p2.rx" || true), km0 saw $gotk, underlay_spoofed $before -> $after"
! grep -q under "$KM_TMP/p2.rx" || bad "5. datagrams from the underlay with p1's source reached p2"
((gotk == 0)) || bad "5. $gotk datagrams from the underlay with an overlay source (p1's, the host's, 100.64.77.7) entered km0"
((after >= before + 60)) || bad "5. underlay_spoofed went $before -> $after, want +60"

# ------------------------------------------------------------------ 5b. gateway LAN interfaces
capture_start a km0 "$KM_TMP/km0-lan.pcap" udp port 7000 and src net 198.19.5.0/24
CAPK=$KM_LAST_PID
before=$(counter not_lan)
on lan "$KM_PY" "$SPOOF" 198.19.5.2 100.64.9.9 7000 10 lan >/dev/null
sleep 0.3
capture_stop "$CAPK"
got_lan=$(pcap_count "$KM_TMP/km0-lan.pcap")
capture_start a km0 "$KM_TMP/km0-ul-lan.pcap" udp port 7000 and src net 198.19.5.0/24
CAPK=$KM_LAST_PID
on nb "$KM_PY" "$SPOOF" 198.19.5.2 100.64.9.9 7000 20 fake-lan >/dev/null
sleep 0.3
capture_stop "$CAPK"
got_ul=$(pcap_count "$KM_TMP/km0-ul-lan.pcap")
after=$(counter not_lan)
log "5b. LAN source 198.19.5.2: from lan0 $got_lan of 10 entered km0, from the underlay $got_ul of 20; not_lan $before -> $after"
((got_lan >= 10)) || bad "5b. the LAN host behind lan0 (gateway.lan_interfaces) did not reach km0 ($got_lan of 10)"
((got_ul == 0)) || bad "5b. $got_ul datagrams with a LAN source from the underlay entered km0"
((after >= before + 20)) || bad "5b. not_lan went $before -> $after, want +20"
# Behind a LAN interface too, an overlay source is someone posing as the overlay.
capture_start a km0 "$KM_TMP/km0-lan-ov.pcap" udp port 7000 and src net 100.64.0.0/10
CAPK=$KM_LAST_PID
on lan "$KM_PY" "$SPOOF" 100.64.77.7 100.64.9.9 7000 10 lan-overlay >/dev/null
sleep 0.3
capture_stop "$CAPK"
got_ov=$(pcap_count "$KM_TMP/km0-lan-ov.pcap")
log "5b. LAN host sending with overlay source 100.64.77.7: $got_ov of 10 entered km0"
((got_ov == 0)) || bad "5b. $got_ov datagrams with an overlay source from lan0 entered km0"

# ------------------------------------------------------------------ 6. the host as a subject
status_drop() {  # status_drop REASON : its count in `keymesh status --json`
  km_cli status --json --socket "$KM_TMP/a.sock" | jq --arg r "$1" '[.drops[]? | select(.reason == $r) | .count | tonumber][0] // 0'
}
reaches_host() {  # reaches_host POD [TIMEOUT] : POD's tcp connect to the host's 198.18.0.1:8080
  in_ctr "${NS[$1]}" "$KM_PY" "$PROBE" connect "${IP[$1]}" 198.18.0.1 8080 "${2:-1}" >/dev/null 2>&1
}
spawn a "$KM_TMP/hostsrv.log" "$KM_PY" "$PROBE" serve-tcp 0.0.0.0 8080
wait_for "grep -q LISTENING '$KM_TMP/hostsrv.log'" 10 0.05 || bad "6. host service did not start"
to_host_before=$(status_drop edge_to_host)
for dst in 198.18.0.1 100.64.1.1; do
  if in_ctr "${NS[p1]}" "$KM_PY" "$PROBE" connect "${IP[p1]}" "$dst" 8080 1 >/dev/null; then
    bad "6. p1 reached the host's tcp/8080 on $dst without a grant"
  fi
done
spawn a "$KM_TMP/hostudp.log" "$KM_PY" "$PROBE" serve-udp 0.0.0.0 7000 "$KM_TMP/host.rx"
wait_for "grep -q LISTENING '$KM_TMP/hostudp.log'" 10 0.05 || fail "6. host udp service did not start"
send "${IP[p1]}" 198.18.0.1 10 tohost
send "${IP[p1]}" 100.64.1.1 10 tohost
sleep 0.3
(($(received "$KM_TMP/host.rx") == 0)) || bad "6. p1 reached the host's udp/7000 without a grant"
audit_re="\"event\":\"packet_denied\".*\"name\":\"a/p1\".*no rule grants tcp/8080 from a/p1 to a (own host)"
wait_for "grep -q '$audit_re' '$KM_TMP/a-audit.jsonl'" 3 0.1 ||
  bad "6. no packet_denied audit line for p1 -> host tcp/8080: $(grep -c packet_denied "$KM_TMP/a-audit.jsonl" || true) packet_denied lines"
to_host_after=$(status_drop edge_to_host)
((to_host_after >= to_host_before + 20)) ||
  bad "6. keymesh status edge_to_host went $to_host_before -> $to_host_after, want +20"
on a ping -c1 -W2 "${IP[p1]}" >/dev/null || bad "6. the host cannot ping p1 (replies to host-initiated traffic)"
# The grant, from policy: p1 -> the node identity on tcp/8080.
GRANT='  - name: p1-to-node
    from: { groups: [p1] }
    to: { kind: node }
    allow: [tcp/8080]'
# Timed until the kernel holds the grant (python's start-up under load would dominate a
# timing by connection attempts); then the connection itself is checked.
# Both read the set whole before looking (a failed or cut-short `nft list` is neither answer).
grants_text() { on a nft list set $T host_grants; }
granted() { local s; s=$(grants_text) && grep -q "$1 . tcp . 8080" <<<"$s"; }
ungranted() { local s; s=$(grants_text) && ! grep -q "$1 . tcp . 8080" <<<"$s"; }
write_policy "$GRANT"  # returns once keymeshd has reloaded
t0=$(date +%s%N)
wait_for "granted ${IP[p1]}" 3 0.02 || bad "6. no host grant for p1 in $T after the policy granted it"
ms=$((($(date +%s%N) - t0) / 1000000))
reaches_host p1 2 || bad "6. p1 cannot reach tcp/8080 after the policy granted it"
((ms <= 1000)) || bad "6. the policy grant took $ms ms to reach the kernel (want <= 1000)"
! reaches_host p2 || bad "6. p2 reached tcp/8080: the grant is for group p1 only"
# A pod that comes later, in group p1: granted as soon as it is attached.
new_ctr "NS[p4]"
ID[p4]=$(printf 'p4%062d' 0)
cni ADD "${ID[p4]}" "${NS[p4]}" "$(conf p1)" p4
((RC == 0)) || fail "ADD p4: exit $RC, $OUT"
t0=$(date +%s%N)
IP[p4]=$(jq -r '.ips[0].address | sub("/32$"; "")' <<<"$OUT")
wait_for "granted ${IP[p4]}" 3 0.02 || bad "6. no host grant for p4 (group p1, added later)"
ms_add=$((($(date +%s%N) - t0) / 1000000))
reaches_host p4 2 || bad "6. p4 (group p1, added later) cannot reach tcp/8080"
((ms_add <= 1000)) || bad "6. p4's grant took $ms_add ms after its ADD (want <= 1000)"
cni DEL "${ID[p4]}" "${NS[p4]}" "$(conf p1)" p4
wait_for "ungranted ${IP[p4]}" 2 0.05 || bad "6. p4's grant stayed after its DEL"
write_policy ""
t0=$(date +%s%N)
wait_for "ungranted ${IP[p1]}" 3 0.02 || bad "6. p1's host grant stayed after the rule was removed"
ms_off=$((($(date +%s%N) - t0) / 1000000))
! reaches_host p1 ||
  bad "6. p1 still reaches tcp/8080 after the rule was removed; host_grants now: $(grants_text | tr -s ' \n' ' '); input chain: $(on a nft list chain $T input | tr -s ' \n' ' ')"
((ms_off <= 1000)) || bad "6. revoking the grant took $ms_off ms (want <= 1000)"
# The operator's set still works (for every pod, no policy needed).
on a nft add element $T host_services "{ udp . 7000 }" || bad "6. no host_services set"
send "${IP[p1]}" 198.18.0.1 5 operator
sleep 0.3
grep -q operator "$KM_TMP/host.rx" || bad "6. host_services udp . 7000 did not let p1 reach udp/7000"
on a nft delete element $T host_services "{ udp . 7000 }"
log "6. host tcp/8080 refused (edge_to_host $to_host_before -> $to_host_after, audited); policy grant open in $ms ms, for p4 $ms_add ms after ADD, closed in $ms_off ms; host_services works; host -> p1 ping works"
write_policy "$GRANT"
wait_for "granted ${IP[p1]}" 3 0.02 && reaches_host p1 2 || bad "6. grant back: p1 cannot reach tcp/8080"

# ------------------------------------------------------------------ 7. IPv6 from a pod
v6_before=$(status_drop edge_workload_ipv6)
capture_start a "${VETH[p2]}" "$KM_TMP/v6-p2.pcap" ip6
CAP2=$KM_LAST_PID
capture_start a km0 "$KM_TMP/v6-km0.pcap" ip6
CAPK=$KM_LAST_PID
capture_start a ul0 "$KM_TMP/v6-ul.pcap" ip6
CAPU=$KM_LAST_PID
# A hostile pod (root in its netns) turns IPv6 back on and takes an fd00:: address.
in_ctr "${NS[p1]}" sysctl -qw net.ipv6.conf.eth0.disable_ipv6=0 || bad "7. cannot enable IPv6 in p1"
in_ctr "${NS[p1]}" ip -6 addr add fd00::1/64 dev eth0 nodad || bad "7. cannot add fd00::1 in p1"
in_ctr "${NS[p1]}" ip -6 neigh replace fd00::2 lladdr ff:ff:ff:ff:ff:ff dev eth0 nud permanent || true
for dst in fd00::2 ff02::1; do
  in_ctr "${NS[p1]}" "$KM_PY" -c "import socket,time
s=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6,socket.IPV6_MULTICAST_IF,socket.if_nametoindex('eth0'))
for i in range(10):
  try: s.sendto(b'v6-stack',('$dst',7000,0,socket.if_nametoindex('eth0')))
  except OSError: pass
  time.sleep(0.02)" || true
done
in_ctr "${NS[p1]}" "$KM_PY" "$V6FRAMES" eth0 fd00::1 fd00::2 7000 20 v6-raw >/dev/null ||
  bad "7. could not send raw IPv6 frames from p1"
sleep 0.3
for c in "$CAP2" "$CAPK" "$CAPU"; do capture_stop "$c"; done
got2=$(pcap_count "$KM_TMP/v6-p2.pcap") gotk=$(pcap_count "$KM_TMP/v6-km0.pcap") gotu=$(pcap_count "$KM_TMP/v6-ul.pcap")
v6_after=$(status_drop edge_workload_ipv6)
log "7. IPv6 from p1 (stack with fd00::1 and 20 raw 0x86dd frames): p2's veth $got2, km0 $gotk, underlay $gotu; edge_workload_ipv6 $v6_before -> $v6_after"
((got2 == 0 && gotk == 0 && gotu == 0)) || bad "7. IPv6 from a pod got through: p2 $got2, km0 $gotk, underlay $gotu"
((v6_after >= v6_before + 20)) || bad "7. edge_workload_ipv6 went $v6_before -> $v6_after, want +20"

# ------------------------------------------------------------------ 8. nft flush ruleset
: >"$KM_TMP/p2.rx"
: >"$KM_TMP/p3.rx"
t_flush=$(date -u +%s.%N)
on a nft flush ruleset
wait_for "on a nft list chain $T input 2>/dev/null | grep -q host_grants_proto && on a nft list set $T host_grants | grep -q 8080" 5 0.02 ||
  bad "8. keymeshd did not re-install $T after nft flush ruleset"
# Timed by keymeshd's own log line (local time), not by our polling under load.
fixed_line=$(grep "re-installed it for [1-9]" "$KM_TMP/a-2.log" | tail -1)
[[ -n $fixed_line ]] || bad "8. keymeshd's log does not say it re-installed the table"
ms_fix=$("$KM_PY" -c "import sys,datetime
t=datetime.datetime.strptime(sys.argv[1][:23],'%Y-%m-%dT%H:%M:%S.%f').timestamp()  # local time, as spdlog writes
print(int((t-float(sys.argv[2]))*1000))" "${fixed_line:-1970-01-01T00:00:00.000}" "$t_flush")
((ms_fix <= 1000)) || bad "8. the table came back after $ms_fix ms (want <= 1000)"
send "${IP[p1]}" "${IP[p3]}" 10 flushed
wait_for "send ${IP[p1]} ${IP[p2]} 1 flushed; grep -q flushed '$KM_TMP/p2.rx'" 5 0.2 ||
  bad "8. p1 -> p2 (granted) does not work after the repair"
(($(received "$KM_TMP/p3.rx") == 0)) || bad "8. p1 -> p3 delivered after the flush"
reaches_host p1 1 || bad "8. p1's policy grant to the host is gone after the repair"
! reaches_host p2 || bad "8. p2 reaches the host after the repair"
log "8. nft flush ruleset: table back after $ms_fix ms (logged); p1 -> p3 refused, p1 -> p2 and p1's host grant work"

# ------------------------------------------------------------------ 9. CHECK and DEL
with_prev() { jq -c --argjson r "$2" '. + {prevResult: $r}' <<<"$1"; }
cni CHECK "${ID[p1]}" "${NS[p1]}" "$(with_prev "$(conf p1)" "${RES[p1]}")" p1
((RC == 0)) || bad "9. CHECK p1: exit $RC, $OUT"
on a nft flush chain $T "${VETH[p1]}" || bad "9. p1 has no chain in $T"
cni CHECK "${ID[p1]}" "${NS[p1]}" "$(with_prev "$(conf p1)" "${RES[p1]}")" p1
[[ $(jq -r .code <<<"$OUT") == 102 && $OUT == *nftables* ]] || bad "9. CHECK with p1's chain flushed: $OUT"
cni DEL "${ID[p3]}" "${NS[p3]}" "$(conf p3)" p3
((RC == 0)) || bad "9. DEL p3: exit $RC, $OUT"
left=$(on a nft list table $T)
! grep -q "${VETH[p3]}" <<<"$left" || bad "9. DEL left ${VETH[p3]} in $T: $left"
# A veth that vanished without DEL (a crash between steps): GC removes its filter objects.
on a ip link del "${VETH[p2]}"
gc_conf=$(printf '{"cniVersion":"1.1.0","name":"%s","type":"keymesh","socket":"%s","cni.dev/valid-attachments":[{"containerID":"%s","ifname":"eth0"},{"containerID":"%s","ifname":"eth0"}]}' \
  "$NET" "$KM_TMP/a.sock" "${ID[p1]}" "${ID[p2]}")
cni GC "" "" "$gc_conf" gc
((RC == 0)) || bad "9. GC: exit $RC, $OUT"
left=$(on a nft list table $T)
! grep -q "${VETH[p2]}" <<<"$left" || bad "9. GC left the vanished ${VETH[p2]} in $T: $left"
grep -q "${VETH[p1]}" <<<"$left" || bad "9. GC removed p1's (valid, present) ${VETH[p1]} from $T"
log "9. CHECK sees a flushed chain (code 102); DEL removed ${VETH[p3]}'s chain, counter and elements; GC those of a vanished veth"
((BAD == 0)) || fail "$BAD guarantee(s) did not hold (KM_SOFT=1)"
