#!/usr/bin/env bash
# cni_plugin.sh - keymesh-cni run the way a container runtime runs it (CNI_* environment,
# config on stdin, result on stdout) against real namespaces, with a fake keymeshd
# (cni_fake_daemon) answering the workload requests from 100.64.7.0/24.
#
#   ns ...-c1, -c2, ... (containers)     ns ...-node (the host)                 ns ...-remote
#   +------------------------+          +-------------------------------+      +----------------+
#   | eth0 100.64.7.x/32     |   veth   | km<hash> proxy_arp rp_filter=1 |      |                |
#   | default via 169.254.1.1|==========| rule 7300 from 100.64.7.x iif  |      |                |
#   |   dev eth0 onlink      |          |   km<hash> lookup 7300         | veth | km0p           |
#   +------------------------+          | table 7300: default dev km0 ===|======| 100.64.9.9/32  |
#                                       | (km0 stands in for keymeshd's  |      | (the "overlay")|
#                                       |  TUN; 100.64.0.0/10 dev km0)   |      +----------------+
#                                       | cni_fake_daemon on a socket    |
#                                       +-------------------------------+
#
# Scenarios:
#  1. STATUS with no daemon: code 50. With the daemon: exit 0.
#  2. ADD: result JSON (1.1.0) names the host veth and eth0 in the sandbox with 100.64.7.2/32;
#     the container has the address and the onlink default route; the node has the rule, the
#     table and the sysctls; ping from the container to 100.64.9.9 goes through km0 and back;
#     the container resolved 169.254.1.1 to the host veth's MAC (proxy ARP).
#  3. A second source address in the container is dropped by rp_filter: nothing reaches km0p.
#  4. ADD again with the same CNI_IFNAME fails (code 100) and the first attachment still works.
#  5. CHECK passes, then fails with code 102 naming the route once the default route is gone.
#  6. DEL removes the veth and the rule and tells the daemon; a second DEL succeeds too.
#  7. DEL after the netns was deleted, and DEL with CNI_NETNS="" (containerd): exit 0, rule gone.
#  8. GC with only one of two attachments valid removes the other (veth, rule, daemon) and
#     leaves another network's attachment alone; GC without the list is refused (code 7).
#  9. KEYMESH_CNI_FAIL_AT=daemon|veth|container|host|result: ADD fails and leaves nothing: no
#     veth, no rule, no eth0 in the container, and the daemon got WorkloadDel.
# 10. Daemon not ready: STATUS 50, ADD 11. Daemon refuses: ADD 101. Daemon gone: DEL removes
#     the plumbing, records the release in the queue (release_dir) and succeeds; keymeshd
#     applying the queue is cni_crash.sh's scenario 5.
# 11. Chained with Debian's portmap and bandwidth (CNI 1.0.0, containerd-style capitalised
#     portMappings): they accept keymesh's result as prevResult; HTTP to 127.0.0.1:18082 on the
#     node reaches the container's port 8080; DEL in reverse order removes their state.
KM_DEADLINE=${KM_DEADLINE:-200}
source "$(dirname "$0")/lib.sh"
need jq ping

PLUGIN=$(binary cni/keymesh-cni) || fail "keymesh-cni is not built"
FAKE=$(binary tests/netns/cni_fake_daemon) || fail "cni_fake_daemon is not built"
CNI_BIN="$KM_TMP/cni-bin"
mkdir -p "$CNI_BIN"
ln -s "$PLUGIN" "$CNI_BIN/keymesh"   # conflists say "type": "keymesh"
SOCK="$KM_TMP/keymesh.sock"
DLOG="$KM_TMP/daemon-requests.log"
NET=kmtest

make_host node 198.18.50.1
make_host remote 198.18.50.2
ip -n "$(nsname node)" link add km0 type veth peer name km0p netns "$(nsname remote)"
on node ip link set km0 up
on node ip route add 100.64.0.0/10 dev km0
on node sysctl -qw net.ipv4.conf.km0.proxy_arp=1   # a TUN needs no ARP; this veth does
on remote ip addr add 100.64.9.9/32 dev km0p
on remote ip link set km0p up
on remote ip route add 100.64.7.0/24 dev km0p
# A host address, as every real node has one (portmap's masquerade picks it in 11).
on node ip addr add 198.18.50.1/32 dev lo

CTR_N=0
new_ctr() {  # new_ctr VAR : a fresh container namespace; its /run/netns path in VAR
  CTR_N=$((CTR_N + 1))
  make_host "c$CTR_N" "198.18.51.$CTR_N"
  printf -v "$1" '%s' "/run/netns/$(nsname "c$CTR_N")"
}
ctr_ns() { basename "$1"; }

conf() {  # conf [VERSION] [EXTRA_JSON_MEMBERS]
  printf '{"cniVersion":"%s","name":"%s","type":"keymesh","socket":"%s","release_dir":"%s","logLevel":"info"%s}' \
    "${1:-1.1.0}" "$NET" "$SOCK" "$KM_TMP/cni-releases" "${2:+,$2}"
}

# cni CMD ID NETNS IFNAME CONFIG [VAR=VALUE...] : runs the plugin in the node namespace.
# Sets OUT (stdout) and RC (exit status); stderr goes to $KM_TMP/plugin.log.
cni() {
  local cmd=$1 id=$2 netns=$3 ifn=$4 cfg=$5
  shift 5
  RC=0
  OUT=$(printf '%s' "$cfg" | on node timeout 30 env -i PATH="$PATH" CNI_COMMAND="$cmd" \
    CNI_CONTAINERID="$id" CNI_NETNS="$netns" CNI_IFNAME="$ifn" CNI_PATH="$CNI_BIN:/usr/lib/cni" \
    CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod-$id" \
    "$@" "$CNI_BIN/keymesh" 2>>"$KM_TMP/plugin.log") || RC=$?
}
# shows OUTPUT_OF_CMD PATTERN : grep on captured text (a `cmd | grep -q` pipeline can fail
# under pipefail when grep exits early and cmd gets SIGPIPE).
shows() { grep -q -- "$2" <<<"$1"; }
expect_ok() { ((RC == 0)) || fail "$1: exit $RC, output: $OUT"; }
expect_code() {  # expect_code WHAT CODE [MSG_SUBSTRING]
  ((RC != 0)) || fail "$1: succeeded, want code $2"
  local code msg
  code=$(jq -r .code <<<"$OUT" 2>/dev/null) || fail "$1: output is not JSON: $OUT"
  msg=$(jq -r .msg <<<"$OUT")
  [[ $code == "$2" ]] || fail "$1: code $code, want $2 (msg: $msg)"
  [[ -z ${3:-} || $msg == *"$3"* ]] || fail "$1: msg \"$msg\" lacks \"$3\""
}

start_daemon() {  # start_daemon [--not-ready]
  rm -f "$SOCK"
  spawn node "$KM_TMP/daemon.out" "$FAKE" "$SOCK" "$DLOG" "$@"
  DAEMON_PID=$KM_LAST_PID
  wait_for "[[ -S $SOCK ]]" 10 0.05 || fail "cni_fake_daemon did not create $SOCK"
}
stop_daemon() { stop_pid "$DAEMON_PID" TERM || true; }
daemon_saw() { grep -qxF -- "$1" "$DLOG" 2>/dev/null; }

# What the node holds for an attachment, found by the tag on the host veth.
veth_of() {  # veth_of ID IFNAME : host veth name, "" when none
  on node ip -j -d link show | jq -r --arg t "keymesh/cni/$NET/$1/$2" '.[] | select(.ifalias == $t) | .ifname'
}
rules_of() {  # rules_of VETH : number of rules with that iif
  on node ip -j rule show | jq --arg v "$1" '[.[] | select(.iif == $v)] | length'
}
rx_remote() { on remote ip -s -j link show km0p | jq '.[0].stats64.rx.packets'; }

# ------------------------------------------------------------------ 1. STATUS
cni STATUS "" "" "" "$(conf)"
expect_code "STATUS without a daemon" 50 "cannot reach keymeshd"
start_daemon
cni STATUS "" "" "" "$(conf)"
expect_ok "STATUS with the daemon"
log "1. STATUS: 50 without keymeshd, 0 with it"

# ------------------------------------------------------------------ 2. ADD
new_ctr NS1
ID1=c1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
cni ADD "$ID1" "$NS1" eth0 "$(conf)"
expect_ok "ADD"
RESULT1=$OUT
jq -e '.cniVersion == "1.1.0"' <<<"$OUT" >/dev/null || fail "ADD: result version: $OUT"
HOST1=$(jq -r '.interfaces[0].name' <<<"$OUT")
[[ $HOST1 =~ ^km[0-9a-f]{13}$ ]] || fail "ADD: host veth name \"$HOST1\""
[[ $HOST1 == "km$(printf '%s' "$ID1/eth0" | b2sum -l 128 | cut -c1-13)" ]] ||
  fail "ADD: host veth $HOST1 is not km + BLAKE2b-128(id/ifname)[:13]"
jq -e --arg ns "$NS1" '.interfaces[1] == (.interfaces[1] | {name: "eth0", mac, mtu: 1400, sandbox: $ns})' \
  <<<"$OUT" >/dev/null || fail "ADD: container interface in result: $OUT"
jq -e '.ips == [{"address":"100.64.7.2/32","gateway":"169.254.1.1","interface":1}]' <<<"$OUT" >/dev/null ||
  fail "ADD: ips in result: $OUT"
jq -e '.routes == [{"dst":"0.0.0.0/0","gw":"169.254.1.1"}]' <<<"$OUT" >/dev/null || fail "ADD: routes: $OUT"
daemon_saw "add $ID1/eth0 identity=default.pod-$ID1" || fail "daemon did not get WorkloadAdd with the identity"
[[ $(veth_of "$ID1" eth0) == "$HOST1" ]] || fail "ADD: $HOST1 does not carry its tag"
shows "$(on "$(ctr_ns "$NS1")" ip -4 -o addr show dev eth0)" "inet 100.64.7.2/32" ||
  fail "ADD: container lacks 100.64.7.2/32"
shows "$(on "$(ctr_ns "$NS1")" ip route show default)" "default via 169.254.1.1 dev eth0 .*onlink" ||
  fail "ADD: container default route: $(on "$(ctr_ns "$NS1")" ip route)"
shows "$(on node ip rule show)" "^7300:.*from 100.64.7.2 iif $HOST1 lookup 7300" ||
  fail "ADD: rule missing: $(on node ip rule show)"
shows "$(on node ip route show table 7300)" "^default dev km0" || fail "ADD: table 7300 has no default dev km0"
shows "$(on node ip route show 100.64.7.2/32)" "dev $HOST1" || fail "ADD: no /32 route to the workload"
for kv in conf.$HOST1.rp_filter=1 conf.$HOST1.proxy_arp=1 conf.$HOST1.forwarding=1 conf.km0.forwarding=1; do
  [[ $(on node sysctl -n "net.ipv4.${kv%=*}") == "${kv#*=}" ]] || fail "ADD: net.ipv4.${kv%=*} != ${kv#*=}"
done
before=$(rx_remote)
on "$(ctr_ns "$NS1")" ping -c 2 -i 0.2 -W 2 100.64.9.9 >/dev/null || fail "ADD: container cannot ping 100.64.9.9 through km0"
(($(rx_remote) >= before + 2)) || fail "ADD: the pings did not pass km0"
host_mac=$(on node ip -j link show "$HOST1" | jq -r '.[0].address')
shows "$(on "$(ctr_ns "$NS1")" ip neigh show 169.254.1.1 dev eth0)" "lladdr $host_mac" ||
  fail "ADD: 169.254.1.1 did not resolve to the host veth ($host_mac): $(on "$(ctr_ns "$NS1")" ip neigh)"
log "2. ADD: veth $HOST1, 100.64.7.2/32, rule+table+sysctls, ping through km0, gateway ARP by proxy"

# ------------------------------------------------------------------ 3. anti-spoofing
on "$(ctr_ns "$NS1")" ip addr add 100.64.7.77/32 dev eth0
before=$(rx_remote)
on "$(ctr_ns "$NS1")" ping -c 3 -i 0.2 -W 1 -I 100.64.7.77 100.64.9.9 >/dev/null 2>&1 || true
after=$(rx_remote)
on "$(ctr_ns "$NS1")" ip addr del 100.64.7.77/32 dev eth0
((after == before)) || fail "3. packets from a spoofed source reached km0 ($before -> $after)"
log "3. spoofed source 100.64.7.77 dropped by rp_filter (km0p rx stays $after)"

# ------------------------------------------------------------------ 4. ADD twice
cni ADD "$ID1" "$NS1" eth0 "$(conf)"
expect_code "second ADD with the same CNI_IFNAME" 100 "already exists"
on "$(ctr_ns "$NS1")" ping -c 1 -W 2 100.64.9.9 >/dev/null || fail "4. the failed second ADD broke the first"
log "4. second ADD for eth0: code 100, first attachment intact"

# ------------------------------------------------------------------ 5. CHECK
cni CHECK "$ID1" "$NS1" eth0 "$(conf 1.1.0 "\"prevResult\":$RESULT1")"
expect_ok "CHECK"
daemon_saw list || fail "CHECK did not ask the daemon"
on "$(ctr_ns "$NS1")" ip route del default
cni CHECK "$ID1" "$NS1" eth0 "$(conf 1.1.0 "\"prevResult\":$RESULT1")"
expect_code "CHECK without the default route" 102 "default route via 169.254.1.1"
log "5. CHECK: ok, then code 102 once the route is gone"

# ------------------------------------------------------------------ 6. DEL, twice
cni DEL "$ID1" "$NS1" eth0 "$(conf 1.1.0 "\"prevResult\":$RESULT1")"
expect_ok "DEL"
[[ -z $(veth_of "$ID1" eth0) ]] || fail "DEL: veth still there"
(($(rules_of "$HOST1") == 0)) || fail "DEL: rule still there"
on "$(ctr_ns "$NS1")" ip link show eth0 >/dev/null 2>&1 && fail "DEL: eth0 still in the container"
daemon_saw "del $ID1/eth0" || fail "DEL: daemon not told"
cni DEL "$ID1" "$NS1" eth0 "$(conf)"
expect_ok "second DEL"
log "6. DEL removes veth, rule, eth0 and tells the daemon; second DEL ok"

# ------------------------------------------------------------------ 7. DEL without a netns
new_ctr NS2
ID2=c2bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
cni ADD "$ID2" "$NS2" eth0 "$(conf)"
expect_ok "ADD c2"
HOST2=$(veth_of "$ID2" eth0)
ip netns del "$(ctr_ns "$NS2")"
wait_for "[[ -z \$(veth_of $ID2 eth0) ]]" 5 0.1 || fail "7. veth outlived its netns"
(($(rules_of "$HOST2") == 1)) || fail "7. the rule should outlive the veth until DEL"
cni DEL "$ID2" "$NS2" eth0 "$(conf)"
expect_ok "DEL after the netns was deleted"
(($(rules_of "$HOST2") == 0)) || fail "7. DEL left the rule of a deleted netns"
daemon_saw "del $ID2/eth0" || fail "7. daemon not told"
new_ctr NS3
ID3=c3cccccccccccccccccccccccccccccc
cni ADD "$ID3" "$NS3" eth0 "$(conf)"
expect_ok "ADD c3"
HOST3=$(veth_of "$ID3" eth0)
cni DEL "$ID3" "" eth0 "$(conf)"
expect_ok "DEL with CNI_NETNS empty"
[[ -z $(veth_of "$ID3" eth0) ]] || fail "7. DEL with empty CNI_NETNS left the veth"
(($(rules_of "$HOST3") == 0)) || fail "7. DEL with empty CNI_NETNS left the rule"
log "7. DEL with the netns deleted and with CNI_NETNS=\"\": exit 0, nothing left"

# ------------------------------------------------------------------ 8. GC
new_ctr NSA
new_ctr NSB
IDA=caaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
IDB=cbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
cni ADD "$IDA" "$NSA" eth0 "$(conf)"
expect_ok "ADD A"
cni ADD "$IDB" "$NSB" eth0 "$(conf)"
expect_ok "ADD B"
HOSTB=$(veth_of "$IDB" eth0)
# Another network's attachment (same plugin, other "name") must survive this network's GC.
new_ctr NSO
IDO=coooooooooooooooooooooooooooooooo
cni ADD "$IDO" "$NSO" eth0 "$(conf | sed "s/\"name\":\"$NET\"/\"name\":\"othernet\"/")"
expect_ok "ADD on network othernet"
HOSTO=$(on node ip -j -d link show | jq -r --arg t "keymesh/cni/othernet/$IDO/eth0" '.[] | select(.ifalias == $t) | .ifname')
[[ -n $HOSTO ]] || fail "8. no tagged veth for network othernet"
cni GC "" "" "" "$(conf 1.1.0 "\"cni.dev/valid-attachments\":[{\"containerID\":\"$IDA\",\"ifname\":\"eth0\"}]")"
expect_ok "GC"
[[ -n $(veth_of "$IDA" eth0) ]] || fail "8. GC removed the valid attachment"
[[ -z $(veth_of "$IDB" eth0) ]] || fail "8. GC left the attachment not listed"
(($(rules_of "$HOSTB") == 0)) || fail "8. GC left the rule of the removed attachment"
on node ip link show "$HOSTO" >/dev/null 2>&1 || fail "8. GC of $NET removed network othernet's veth"
(($(rules_of "$HOSTO") == 1)) || fail "8. GC of $NET removed network othernet's rule"
daemon_saw "gc keep=1" || fail "8. daemon did not get WorkloadGc"
on "$(ctr_ns "$NSA")" ping -c 1 -W 2 100.64.9.9 >/dev/null || fail "8. the kept attachment stopped working"
cni GC "" "" "" "$(conf)"
expect_code "GC without cni.dev/valid-attachments" 7 "cni.dev/valid-attachments"
[[ -n $(veth_of "$IDA" eth0) ]] || fail "8. a GC without the list removed something"
log "8. GC removes only what is not listed; without the list it refuses (code 7)"

# ------------------------------------------------------------------ 9. injected failures
for step in daemon veth container host result; do
  new_ctr NSF
  IDF="cf$step"
  cni ADD "$IDF" "$NSF" eth0 "$(conf)" KEYMESH_CNI_FAIL_AT="$step"
  expect_code "ADD failing after $step" 100 "injected failure"
  [[ -z $(veth_of "$IDF" eth0) ]] || fail "9. failure after $step left the veth"
  hostf="km$(printf '%s' "$IDF/eth0" | b2sum -l 128 | cut -c1-13)"
  on node ip link show "$hostf" >/dev/null 2>&1 && fail "9. failure after $step left $hostf"
  (($(rules_of "$hostf") == 0)) || fail "9. failure after $step left the rule"
  on "$(ctr_ns "$NSF")" ip link show eth0 >/dev/null 2>&1 && fail "9. failure after $step left eth0"
  grep -qxF "del $IDF/eth0" <<<"$(grep -A1 -xF "add $IDF/eth0 identity=default.pod-$IDF" "$DLOG")" ||
    fail "9. failure after $step: daemon did not get WorkloadDel right after the add"
done
log "9. injected failure after each step (daemon veth container host result) leaves nothing behind"

# ------------------------------------------------------------------ 10. daemon not ready / gone
stop_daemon
start_daemon --not-ready
cni STATUS "" "" "" "$(conf)"
expect_code "STATUS, daemon not ready" 50 "not ready"
new_ctr NS4
cni ADD c4dddd "$NS4" eth0 "$(conf)"
expect_code "ADD, daemon not ready" 11 "not ready"
on "$(ctr_ns "$NS4")" ip link show eth0 >/dev/null 2>&1 && fail "10. ADD while not ready left eth0"
stop_daemon
start_daemon --refuse "no addresses left in 100.64.7.0/24"
cni ADD c4dddd "$NS4" eth0 "$(conf)"
expect_code "ADD, daemon refuses" 101 "no addresses left"
on "$(ctr_ns "$NS4")" ip link show eth0 >/dev/null 2>&1 && fail "10. ADD refused by the daemon left eth0"
stop_daemon
HOSTA=$(veth_of "$IDA" eth0)
cni DEL "$IDA" "$NSA" eth0 "$(conf)"
expect_ok "DEL, daemon gone"
[[ -z $(veth_of "$IDA" eth0) ]] || fail "10. DEL with the daemon gone kept the veth"
(($(rules_of "$HOSTA") == 0)) || fail "10. DEL with the daemon gone kept the rule"
[[ $(ls "$KM_TMP/cni-releases" | wc -l) == 1 ]] || fail "10. DEL with the daemon gone queued no release"
grep -q "release queued in $KM_TMP/cni-releases" "$KM_TMP/plugin.log" ||
  fail "10. DEL with the daemon gone did not say it queued the release"
start_daemon
log "10. not ready: STATUS 50, ADD 11; refused: ADD 101; daemon gone: DEL cleans up locally, queues the release, succeeds"

# ------------------------------------------------------------------ 11. chained portmap + bandwidth
if [[ -x /usr/lib/cni/portmap && -x /usr/lib/cni/bandwidth ]] && command -v iptables >/dev/null; then
  new_ctr NS5
  ID5=c5eeeeeeeeeeeeeeeeeeeeeeeeeeeeee
  PM_RT='"runtimeConfig":{"portMappings":[{"HostPort":18082,"ContainerPort":8080,"Protocol":"tcp","HostIP":"127.0.0.1"}]}'
  cni ADD "$ID5" "$NS5" eth0 "$(conf 1.0.0 "$PM_RT")"
  expect_ok "ADD (1.0.0, with portMappings)"
  R5=$OUT
  jq -e '.interfaces[1] | has("mtu") | not' <<<"$R5" >/dev/null || fail "11. a 1.0.0 result carries interface mtu"
  portmap_conf() {
    printf '{"cniVersion":"1.0.0","name":"%s","type":"portmap","capabilities":{"portMappings":true},%s,"prevResult":%s}' \
      "$NET" "$PM_RT" "$1"
  }
  bw_conf() {
    printf '{"cniVersion":"1.0.0","name":"%s","type":"bandwidth","egressRate":100000000,"egressBurst":1000000,"prevResult":%s}' \
      "$NET" "$1"
  }
  chained() {  # chained PLUGIN CMD CONFIG
    RC=0
    OUT=$(printf '%s' "$3" | on node timeout 30 env -i PATH="$PATH" CNI_COMMAND="$2" CNI_CONTAINERID="$ID5" \
      CNI_NETNS="$NS5" CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni "/usr/lib/cni/$1" 2>>"$KM_TMP/plugin.log") || RC=$?
  }
  chained portmap ADD "$(portmap_conf "$R5")"
  expect_ok "portmap ADD after keymesh"
  R5=$OUT
  chained bandwidth ADD "$(bw_conf "$R5")"
  expect_ok "bandwidth ADD after portmap"
  R5=$OUT
  shows "$(on node iptables -t nat -S)" "--to-destination $(jq -r '.ips[0].address' <<<"$R5" | cut -d/ -f1):8080" ||
    fail "11. portmap did not DNAT to the workload: $(on node iptables -t nat -S)"
  spawn "$(ctr_ns "$NS5")" "$KM_TMP/http.log" timeout 60 "$KM_PY" -m http.server 8080 --bind 0.0.0.0
  wait_for "shows \"\$(on $(ctr_ns "$NS5") ss -ltn)\" :8080" 10 0.1 || fail "11. http server did not start"
  body=$(on node timeout 10 "$KM_PY" -c 'import urllib.request as u; print(u.urlopen("http://127.0.0.1:18082/", timeout=5).status)') ||
    fail "11. HTTP through the port mapping failed"
  [[ $body == 200 ]] || fail "11. HTTP through the port mapping: $body"
  chained bandwidth DEL "$(bw_conf "$R5")"
  expect_ok "bandwidth DEL"
  chained portmap DEL "$(portmap_conf "$R5")"
  expect_ok "portmap DEL"
  cni DEL "$ID5" "$NS5" eth0 "$(conf 1.0.0 "$PM_RT,\"prevResult\":$R5")"
  expect_ok "keymesh DEL after the chain"
  shows "$(on node iptables -t nat -S)" "--dport 18082" && fail "11. portmap DEL left its DNAT"
  [[ -z $(veth_of "$ID5" eth0) ]] || fail "11. keymesh DEL left the veth"
  log "11. portmap + bandwidth chained after keymesh: DNAT to the workload, HTTP via 127.0.0.1:18082, clean DEL"
else
  log "11. SKIPPED: /usr/lib/cni/portmap, bandwidth or iptables missing (apt-get install containernetworking-plugins iptables)"
fi
