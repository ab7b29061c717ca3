# lib.sh - shared helpers for keymesh netns tests. Source it first thing:
#
#   KM_DEADLINE=240                     # optional: watchdog seconds (below the ctest TIMEOUT)
#   source "$(dirname "$0")/lib.sh"
#
# What it gives a test:
#   make_host NAME UNDERLAY_IP        new namespace km-<test>-<pid>-NAME with lo up
#   link_hosts A B [C ...]            underlay: 2 hosts -> one veth pair (ul0 in each);
#                                     3+ hosts -> a switch namespace with a bridge; each host
#                                     gets UNDERLAY_IP/24 on ul0 (MTU 1500)
#   nsname HOST / host_ip HOST        namespace name / underlay address of a host
#   on HOST CMD...                    run CMD inside the host's namespace
#   gen_keypair DIR NAME              DIR/NAME.key (0600) + DIR/NAME.pub
#   km_config FILE ...                write a keymeshd config (see the function)
#   km_peer FILE ...                  append one peer to it
#   start_keymeshd HOST CONFIG LOG    background keymeshd in HOST's namespace, PID recorded
#   stop_keymeshd HOST                SIGTERM, returns the daemon's exit status
#   start_wggo HOST IFNAME LOG        wireguard-go in HOST's namespace (foreground mode)
#   spawn HOST LOG CMD...             any background command in a namespace, PID recorded
#   capture_start HOST IF PCAP [FILTER]  / capture_stop PID   tcpdump to a pcap file
#   wait_for 'CMD' TIMEOUT            poll CMD (eval'd, must itself be bounded) until it succeeds
#   fail MSG                          print MSG and the tail of every log, exit 1
#   stop_all                          stop every recorded PID
#   binary keymeshd|keymesh           path in $KEYMESH_BUILD_DIR (default <repo>/build), or
#                                     found in $KEYMESH_BIN_DIR (installed binaries)
# Cleanup runs on EXIT always: recorded PIDs, then anything left inside our own namespaces,
# then the namespaces, wireguard-go UAPI sockets we created, and the scratch dir
# (kept when KM_KEEP=1). Only 198.18.0.0/15 (underlay) and 100.64.0.0/10 (overlay) are used,
# only inside namespaces made here. A watchdog SIGTERMs the test after KM_DEADLINE seconds.

set -euo pipefail

KM_TEST=${KM_TEST:-$(basename "${0%.sh}")}
KM_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KM_REPO=$(cd "$KM_LIB_DIR/../.." && pwd)
KM_BUILD_DIR=${KEYMESH_BUILD_DIR:-$KM_REPO/build}
KM_DEADLINE=${KM_DEADLINE:-240}
KM_KEEP=${KM_KEEP:-0}
KM_RUN="$$"
if [[ -x /usr/bin/python3 ]]; then KM_PY=${KM_PY:-/usr/bin/python3}; else KM_PY=${KM_PY:-python3}; fi

declare -gA KM_HOST_NS=() KM_HOST_IP=() KM_DAEMON_PID=() KM_PID_DESC=()
declare -ga KM_HOSTS=() KM_PIDS=() KM_LOGS=() KM_EXTRA_NS=() KM_WG_SOCKS=()
KM_LAST_PID=""
KM_WATCHDOG=""
KM_SWITCH=""

KM_T0=$EPOCHREALTIME
log() {
  printf '[%s %ss] %s\n' "$KM_TEST" "$(awk -v a="$EPOCHREALTIME" -v b="$KM_T0" 'BEGIN{printf "%.1f", a-b}')" "$*" >&2
}

if [[ $(id -u) -ne 0 ]]; then
  echo "$KM_TEST: netns tests must run as root" >&2
  exit 1
fi
for _t in ip timeout; do
  command -v "$_t" >/dev/null || { echo "$KM_TEST: missing tool $_t" >&2; exit 1; }
done

KM_TMP=$(mktemp -d "/tmp/km-${KM_TEST}.XXXXXX")
chmod 700 "$KM_TMP"

# ------------------------------------------------------------------ binaries
binary() {
  local p d
  # KEYMESH_BIN_DIR (colon-separated, e.g. /usr/sbin:/usr/bin:/usr/lib/cni): installed
  # binaries, looked up by name, instead of the build tree.
  if [[ -n ${KEYMESH_BIN_DIR:-} ]]; then
    IFS=: read -ra _km_dirs <<<"$KEYMESH_BIN_DIR"
    for d in "${_km_dirs[@]}"; do
      if [[ -x $d/$(basename "$1") ]]; then echo "$d/$(basename "$1")"; return 0; fi
    done
    echo "$KM_TEST: binary $(basename "$1") not found in KEYMESH_BIN_DIR=$KEYMESH_BIN_DIR" >&2
    return 1
  fi
  case "$1" in
    keymeshd) p="$KM_BUILD_DIR/daemon/keymeshd" ;;
    keymesh) p="$KM_BUILD_DIR/tools/keymesh" ;;
    *) p="$KM_BUILD_DIR/$1" ;;
  esac
  if [[ ! -x $p ]]; then
    echo "$KM_TEST: binary $1 not found at $p (build first, or set KEYMESH_BUILD_DIR)" >&2
    return 1
  fi
  echo "$p"
}

need() {  # need TOOL... : fail early with a clear message
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null 2>&1 || fail "missing tool: $t (run scripts/install-deps.sh)"
  done
}

# ------------------------------------------------------------------ processes
# Our processes are direct children of this shell (spawn forks them from here). Checking the
# parent before signalling means a PID recycled by the kernel after we reaped ours is never hit.
pid_alive() {  # PID is our child, running and not a zombie
  local stat rest state ppid
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  rest=${stat##*) }
  read -r state ppid _ <<<"$rest"
  [[ $ppid == "$KM_RUN" && $state != Z && $state != X ]]
}

record_pid() {  # record_pid PID DESC [LOG]
  KM_PIDS+=("$1")
  KM_PID_DESC[$1]=$2
  [[ -n ${3:-} ]] && KM_LOGS+=("$3")
  return 0
}

stop_pid() {  # stop_pid PID [SIGNAL] : signal, wait up to 5 s, then SIGKILL; returns exit status
  local pid=$1 sig=${2:-TERM} i rc=0
  [[ -n $pid ]] || return 0
  if pid_alive "$pid"; then
    kill "-$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do pid_alive "$pid" || break; sleep 0.1; done
    if pid_alive "$pid"; then
      log "pid $pid (${KM_PID_DESC[$pid]:-?}) ignored SIG$sig for 5 s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || rc=$?
  return $rc
}

stop_all() {
  local pid
  for pid in "${KM_PIDS[@]}"; do
    stop_pid "$pid" TERM || true
  done
  KM_PIDS=()
}

spawn() {  # spawn HOST LOG CMD... : background CMD in HOST's namespace; PID in KM_LAST_PID
  local host=$1 logf=$2 ns
  shift 2
  ns=$(nsname "$host")
  ip netns exec "$ns" "$@" >"$logf" 2>&1 </dev/null &
  KM_LAST_PID=$!
  record_pid "$KM_LAST_PID" "$host: $*" "$logf"
}

# ------------------------------------------------------------------ failure / waiting
dump_logs() {
  local f
  for f in "${KM_LOGS[@]}"; do
    [[ -f $f ]] || continue
    echo "----- last 40 lines of $f" >&2
    tail -n 40 "$f" >&2 || true
  done
}

fail() {
  echo "FAIL [$KM_TEST]: $*" >&2
  dump_logs
  exit 1
}

wait_for() {  # wait_for 'CMD' TIMEOUT_SECONDS [INTERVAL]
  local cmd=$1 to=${2:-10} iv=${3:-0.2} end
  end=$(($(date +%s) + to))
  while true; do
    if eval "$cmd" >/dev/null 2>&1; then return 0; fi
    (($(date +%s) >= end)) && return 1
    sleep "$iv"
  done
}

# ------------------------------------------------------------------ namespaces
nsname() {
  if [[ -n ${KM_HOST_NS[$1]:-} ]]; then echo "${KM_HOST_NS[$1]}"; else echo "$1"; fi
}
host_ip() { echo "${KM_HOST_IP[$1]:?unknown host $1}"; }
on() {  # on HOST CMD...
  local ns
  ns=$(nsname "$1")
  shift
  ip netns exec "$ns" "$@"
}

check_addr() {  # only 198.18.0.0/15 (underlay) or 100.64.0.0/10 (overlay)
  local ip=${1%/*} a b
  IFS=. read -r a b _ _ <<<"$ip"
  if [[ $a == 198 && ($b == 18 || $b == 19) ]]; then return 0; fi
  if [[ $a == 100 && $b -ge 64 && $b -le 127 ]]; then return 0; fi
  fail "address $1 outside 198.18.0.0/15 and 100.64.0.0/10"
}

make_host() {  # make_host NAME UNDERLAY_IP
  local name=$1 ip=$2 ns="km-${KM_TEST}-${KM_RUN}-$1"
  check_addr "$ip"
  ip netns add "$ns"
  KM_HOSTS+=("$name")
  KM_HOST_NS[$name]=$ns
  KM_HOST_IP[$name]=$ip
  ip -n "$ns" link set lo up
  # No IPv6 chatter (router solicitations, MLD) from the TUNs: tests count packets.
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
}

link_hosts() {  # link_hosts A B [C...]
  local h ns
  if (($# < 2)); then fail "link_hosts needs 2+ hosts"; fi
  if (($# == 2)); then
    ip -n "$(nsname "$1")" link add ul0 type veth peer name ul0 netns "$(nsname "$2")"
  else
    local sw="km-${KM_TEST}-${KM_RUN}-sw"
    if [[ -z ${KM_SWITCH:-} ]]; then
      ip netns add "$sw"
      KM_SWITCH=$sw
      KM_EXTRA_NS+=("$sw")
      ip -n "$sw" link add br0 type bridge
      ip -n "$sw" link set br0 up
    fi
    for h in "$@"; do
      ip -n "$sw" link add "p-$h" type veth peer name ul0 netns "$(nsname "$h")"
      ip -n "$sw" link set "p-$h" master br0 up
    done
  fi
  for h in "$@"; do
    ns=$(nsname "$h")
    ip -n "$ns" addr add "$(host_ip "$h")/24" dev ul0
    ip -n "$ns" link set ul0 mtu 1500 up
    wire_datagrams "$h"
  done
  # The links come up asynchronously; wait until each host reaches the first one.
  for h in "${@:2}"; do
    wait_for "on $h ping -c1 -W1 $(host_ip "$1")" 10 ||
      fail "underlay: $h cannot reach $1 at $(host_ip "$1")"
  done
}

# A host's ul0 cuts GSO packets (keymeshd's UDP_SEGMENT sends) into datagrams itself, as a
# NIC without UDP segmentation offload does: captures then show what the peer receives, one
# WireGuard message per datagram, and packet counts mean datagrams. udp_offload.sh turns it
# back on to see GSO packets cross the veth whole.
wire_datagrams() {  # wire_datagrams HOST
  on "$1" ethtool -K ul0 tx-udp-segmentation off >/dev/null 2>&1 || true
}

set_underlay_ip() {  # set_underlay_ip HOST NEW_IP : move a host's underlay address (roaming)
  local h=$1 new=$2 ns
  check_addr "$new"
  ns=$(nsname "$h")
  ip -n "$ns" addr del "$(host_ip "$h")/24" dev ul0
  ip -n "$ns" addr add "$new/24" dev ul0
  KM_HOST_IP[$h]=$new
}

# ------------------------------------------------------------------ keys and configs
behind_nat() {  # behind_nat ROUTER HOST N : HOST (198.18.N.2) reaches the internet only through
  # ROUTER (198.18.N.1 inside), which masquerades out of its ul0 and, as NAT gateways' own
  # firewalls do, drops unsolicited inbound datagrams (which also keeps conntrack from
  # remembering one: a remembered one would make MASQUERADE move a later punch to another port).
  local r=$1 h=$2 n=$3
  ip -n "$(nsname "$h")" link add ul0 type veth peer name lan0 netns "$(nsname "$r")"
  on "$r" ip addr add "198.18.$n.1/24" dev lan0
  on "$h" ip addr add "198.18.$n.2/24" dev ul0
  on "$r" ip link set lan0 up
  on "$h" ip link set ul0 mtu 1500 up
  wire_datagrams "$h"
  on "$h" ip route add default via "198.18.$n.1"
  on "$r" sysctl -qw net.ipv4.ip_forward=1
  on "$r" iptables -t nat -A POSTROUTING -o ul0 -j MASQUERADE
  on "$r" iptables -A INPUT -i ul0 -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
  on "$r" iptables -A INPUT -i ul0 -j DROP
  wait_for "on $h ping -c1 -W1 198.18.0.10" 10 || fail "$h cannot reach the internet through $r"
}

km_lighthouse_configs() {  # km_lighthouse_configs DIR HOST:N... : certified configs; the first
  # host is the lighthouse (underlay 198.18.0.10, overlay 100.64.0.1), the others point at it
  local dir=$1 lh="" spec h n
  shift
  for spec in "$@"; do
    h=${spec%%:*} n=${spec#*:}
    pki_host "$dir" "$h" "$n"
    km_cert_config "$dir/$h.yaml" "$h" "$n"
    if [[ -z $lh ]]; then
      echo "lighthouse: true" >>"$dir/$h.yaml"
      lh=$h
    else
      echo "lighthouses: [ { address: 100.64.0.1, certificate: $dir/$lh.chain, endpoints: [\"198.18.0.10:51820\"] } ]" >>"$dir/$h.yaml"
    fi
  done
}

gen_keypair() {  # gen_keypair DIR NAME -> DIR/NAME.key (0600), DIR/NAME.pub
  local dir=$1 name=$2 km
  mkdir -p "$dir"
  if km=$(binary keymesh 2>/dev/null); then
    (umask 077 && "$km" key gen >"$dir/$name.key")
    "$km" key pub <"$dir/$name.key" >"$dir/$name.pub"
  else
    (umask 077 && wg genkey >"$dir/$name.key")
    wg pubkey <"$dir/$name.key" >"$dir/$name.pub"
  fi
  [[ -s $dir/$name.key && -s $dir/$name.pub ]] || fail "gen_keypair $name produced empty keys"
}

gen_psk() {  # gen_psk FILE
  (umask 077 && wg genpsk >"$1")
}

# km_config FILE KEYFILE PORT IFNAME ADDR_CIDR SOCKET [MTU]
# Environment knobs: KM_TIMERS="rekey_after_time_ms: 4000, ..." adds a testing: section
# (flow-style inner text); KM_LOG_LEVEL (default info). Peers are appended with km_peer.
km_config() {
  local f=$1 key=$2 port=$3 ifn=$4 addr=$5 sock=$6 mtu=${7:-1420}
  check_addr "$addr"
  {
    echo "private_key_file: $key"
    echo "listen_port: $port"
    echo "interface: { name: $ifn, addresses: [$addr], mtu: $mtu }"
    echo "control_socket: $sock"
    echo "log_level: ${KM_LOG_LEVEL:-info}"
    if [[ -n ${KM_TIMERS:-} ]]; then echo "testing: { $KM_TIMERS }"; fi
    echo "peers:"
  } >"$f"
}

# km_peer FILE NAME PUBKEY ENDPOINT(or -) ALLOWED_IPS(comma list) [KEEPALIVE] [PSK_FILE]
km_peer() {
  local f=$1 name=$2 pub=$3 ep=$4 allowed=$5 ka=${6:-0} psk=${7:-}
  {
    echo "  - name: $name"
    echo "    public_key: $pub"
    [[ $ep != - ]] && echo "    endpoint: $ep"
    echo "    allowed_ips: [$allowed]"
    echo "    persistent_keepalive: $ka"
    [[ -n $psk ]] && echo "    preshared_key_file: $psk"
  } >>"$f"
  return 0
}

# ------------------------------------------------------------------ certificates
# A PKI as an operator builds one (docs/identity.md): one root, a node CA per host constrained
# to that host's /24, certificates for the host key and for workloads.
km_cli() { "$(binary keymesh)" "$@"; }

pki_root() {  # pki_root DIR -> DIR/root.crt, DIR/root.key, DIR/crl.pem (empty list)
  local d=$1
  km_cli ca init --name root --out "$d/root.crt" --key-out "$d/root.key" >/dev/null ||
    fail "ca init failed"
  km_cli crl sign --ca "$d/root.crt" --ca-key "$d/root.key" --out "$d/crl.pem" >/dev/null ||
    fail "crl sign failed"
}

# pki_host DIR HOST N [CA_ARGS...] : node CA for 100.64.N.0/24 (names HOST*; CA_ARGS such as
# --context site=onprem or --allow-groups 'x-*' go to its `cert sign`), and the host's key and
# certificate chain for 100.64.N.1/32: DIR/HOST-ca.{crt,key}, DIR/HOST.key, DIR/HOST.chain
pki_host() {
  local d=$1 h=$2 n=$3
  shift 3
  km_cli cert sign --ca "$d/root.crt" --ca-key "$d/root.key" --kind ca --name "$h-ca" \
    --lifetime "${KM_PKI_LIFETIME:-48h}" \
    --allowed-networks "100.64.$n.0/24" --name-pattern "${KM_PKI_PATTERN:-$h*}" --max-lifetime "${KM_PKI_LIFETIME:-48h}" \
    "$@" --key-out "$d/$h-ca.key" --out "$d/$h-ca.crt" >/dev/null || fail "node CA for $h"
  pki_leaf "$d" "$h" "$h" node "100.64.$n.1/32" node
}

# pki_leaf DIR HOST NAME KIND CIDR GROUPS [LIFETIME] : DIR/NAME.key and DIR/NAME.chain (leaf
# then node CA), issued by HOST's node CA
pki_leaf() {
  local d=$1 h=$2 name=$3 kind=$4 cidr=$5 groups=$6 life=${7:-${KM_PKI_LEAF_LIFETIME:-12h}}
  km_cli cert sign --ca "$d/$h-ca.crt" --ca-key "$d/$h-ca.key" --kind "$kind" --name "$name" \
    --networks "$cidr" --groups "$groups" --lifetime "$life" --key-out "$d/$name.key" \
    --out "$d/$name.crt" >/dev/null || fail "cert sign $name"
  cat "$d/$name.crt" "$d/$h-ca.crt" >"$d/$name.chain"
}

# km_cert_config FILE HOST N : keymeshd config for HOST (overlay 100.64.N.1/10 on km0) with
# its certificate, the root, the CRL, DIR/policy.yaml, an audit log and the node CA.
# Then km_cert_finish appends its `identities:` and `directory:` entries.
km_cert_config() {
  local f=$1 h=$2 n=$3 d=$KM_TMP
  cp "$d/crl.pem" "$d/$h-crl.pem"
  {
    echo "private_key_file: $d/$h.key"
    echo "certificate: $d/$h.chain"
    echo "listen_port: 51820"
    echo "interface: { name: km0, addresses: [100.64.$n.1/10], mtu: 1420 }"
    echo "control_socket: $d/$h.sock"
    echo "log_level: ${KM_LOG_LEVEL:-info}"
    echo "trust: { roots: [$d/root.crt], revocation_list: $d/$h-crl.pem }"
    echo "policy: $d/policy.yaml"
    echo "audit_log: $d/$h-audit.jsonl"
    echo "state_dir: $d/$h-state"
    echo "node_ca: { certificate: $d/$h-ca.crt, key: $d/$h-ca.key, ${KM_NODE_CA_EXTRA:-} }"
  } >"$f"
}

# km_cert_finish FILE IDS... -- DIR_ENTRIES... : appends identities NAME and directory
# entries NAME@IP (chain DIR/NAME.chain, endpoint IP:51820)
km_cert_finish() {
  local f=$1 x; shift
  local section=identities
  echo "identities:" >>"$f"
  for x in "$@"; do
    if [[ $x == -- ]]; then echo "directory:" >>"$f"; section=directory; continue; fi
    if [[ $section == identities ]]; then
      echo "  - { certificate: $KM_TMP/$x.chain, key: $KM_TMP/$x.key }" >>"$f"
    else
      echo "  - { certificate: $KM_TMP/${x%@*}.chain, endpoints: [\"${x#*@}:51820\"] }" >>"$f"
    fi
  done
}

# ------------------------------------------------------------------ daemons
start_keymeshd() {  # start_keymeshd HOST CONFIG LOG : waits for its control socket
  local host=$1 cfg=$2 logf=$3 bin sock i
  bin=$(binary keymeshd) || fail "keymeshd is not built"
  spawn "$host" "$logf" "$bin" --config "$cfg"
  KM_DAEMON_PID[$host]=$KM_LAST_PID
  sock=$(awk '/^control_socket:/{print $2}' "$cfg")
  for ((i = 0; i < 100; i++)); do
    pid_alive "$KM_LAST_PID" || fail "keymeshd on $host exited during startup (log $logf)"
    if [[ -z $sock || -S $sock ]]; then break; fi
    sleep 0.1
  done
  [[ -z $sock || -S $sock ]] || fail "keymeshd on $host: no control socket $sock after 10 s"
  log "keymeshd on $host up (pid $KM_LAST_PID)"
}

stop_keymeshd() {  # stop_keymeshd HOST : SIGTERM; returns keymeshd's exit status
  local host=$1 pid rc=0
  pid=${KM_DAEMON_PID[$host]:-}
  [[ -n $pid ]] || return 0
  stop_pid "$pid" TERM || rc=$?
  unset "KM_DAEMON_PID[$host]"
  return $rc
}

daemon_alive() { pid_alive "${KM_DAEMON_PID[$1]:-0}"; }

start_wggo() {  # start_wggo HOST IFNAME LOG : wireguard-go in the foreground, UAPI ready
  local host=$1 ifn=$2 logf=$3
  need wireguard-go wg
  ((${#ifn} <= 15)) || fail "interface name $ifn too long"
  KM_WG_SOCKS+=("/var/run/wireguard/$ifn.sock")
  spawn "$host" "$logf" env WG_PROCESS_FOREGROUND=1 LOG_LEVEL=${WG_LOG_LEVEL:-verbose} wireguard-go -f "$ifn"
  KM_DAEMON_PID[$host]=$KM_LAST_PID
  wait_for "[[ -S /var/run/wireguard/$ifn.sock ]]" 10 0.05 ||
    fail "wireguard-go $ifn on $host: no UAPI socket"
}

# ------------------------------------------------------------------ captures
capture_start() {  # capture_start HOST IFACE PCAP [FILTER...] ; PID in KM_LAST_PID
  local host=$1 ifn=$2 pcap=$3 pid
  shift 3
  need tcpdump
  spawn "$host" "$pcap.log" tcpdump -n -U --immediate-mode -B 32768 -s "${KM_SNAPLEN:-0}" -i "$ifn" -w "$pcap" "$@"
  pid=$KM_LAST_PID
  wait_for "grep -q 'listening on' '$pcap.log'" 10 0.05 ||
    fail "tcpdump on $host/$ifn did not start"
  KM_LAST_PID=$pid
}

capture_stop() {  # capture_stop PID : SIGINT so tcpdump flushes its file
  stop_pid "$1" INT || true
}

pcap_count() {  # pcap_count PCAP [FILTER...] : number of packets matching FILTER
  local pcap=$1
  shift
  tcpdump -n -r "$pcap" "$@" 2>/dev/null | wc -l
}

# ------------------------------------------------------------------ traffic
XFER="$KM_LIB_DIR/xfer.py"

make_random_file() {  # make_random_file FILE MEGABYTES
  head -c "$(($2 * 1024 * 1024))" /dev/urandom >"$1"
}

# transfer FROM_HOST TO_HOST TO_IP FILE [RATE_BYTES_PER_S] [TIMEOUT] [PORT]
# Sends FILE over TCP from FROM_HOST to TO_IP (a listener in TO_HOST), checks the
# received copy's sha256 against the original. Returns nonzero on any mismatch.
# transfer_start (same arguments) + transfer_finish split it, to act while data flows.
transfer() {
  transfer_start "$@" && transfer_finish
}

transfer_start() {
  local from=$1 to=$2 ip=$3 file=$4 rate=${5:-0} to_s=${6:-120} port=${7:-5201}
  KM_XFER_OUT="$KM_TMP/recv.$port.$RANDOM"
  KM_XFER_FILE=$file
  KM_XFER_DESC="$from -> $to"
  spawn "$to" "$KM_XFER_OUT.log" timeout "$to_s" "$KM_PY" "$XFER" serve --bind "$ip" --port "$port" \
    --out "$KM_XFER_OUT" --timeout "$to_s"
  KM_XFER_SERVER=$KM_LAST_PID
  wait_for "grep -q LISTENING '$KM_XFER_OUT.log'" 10 0.05 || fail "xfer server on $to did not start"
  spawn "$from" "$KM_XFER_OUT.send.log" timeout "$to_s" "$KM_PY" "$XFER" send --host "$ip" \
    --port "$port" --file "$file" --rate "$rate" --timeout "$to_s" --source "${KM_XFER_SOURCE:-}"
  KM_XFER_SENDER=$KM_LAST_PID
}

transfer_running() { pid_alive "$KM_XFER_SENDER"; }

transfer_finish() {
  local rc=0 want got
  wait "$KM_XFER_SENDER" || rc=$?
  stop_pid "$KM_XFER_SERVER" TERM || true
  if ((rc != 0)); then
    log "transfer $KM_XFER_DESC failed (sender exit $rc)"
    cat "$KM_XFER_OUT.send.log" "$KM_XFER_OUT.log" >&2 || true
    return 1
  fi
  want=$(sha256sum <"$KM_XFER_FILE" | cut -d' ' -f1)
  got=$(sha256sum <"$KM_XFER_OUT" | cut -d' ' -f1)
  if [[ $want != "$got" ]]; then
    log "transfer $KM_XFER_DESC: sha256 mismatch ($want vs $got, $(stat -c %s "$KM_XFER_OUT") bytes)"
    return 1
  fi
  log "transfer $KM_XFER_DESC ok: $(stat -c %s "$KM_XFER_FILE") bytes, sha256 ${want:0:16}... ($(tail -n1 "$KM_XFER_OUT.send.log"))"
  rm -f "$KM_XFER_OUT"
}

count_lines() {  # count_lines FILE PATTERN : grep -c that never fails
  grep -c -- "$2" "$1" 2>/dev/null || true
}

# ------------------------------------------------------------------ cleanup
cleanup() {
  local rc=$? ns pid s
  trap - EXIT INT TERM
  set +e
  if [[ -n $KM_WATCHDOG ]]; then
    pkill -TERM -P "$KM_WATCHDOG" 2>/dev/null
    kill -TERM "$KM_WATCHDOG" 2>/dev/null
  fi
  stop_all
  # Anything still running inside our own namespaces was started by this test.
  for ns in "${KM_HOST_NS[@]}" "${KM_EXTRA_NS[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
  done
  for ns in "${KM_HOST_NS[@]}" "${KM_EXTRA_NS[@]}"; do
    ip netns del "$ns" 2>/dev/null
  done
  for s in "${KM_WG_SOCKS[@]}"; do rm -f "$s"; done
  if [[ $KM_KEEP == 1 ]]; then
    echo "$KM_TEST: kept scratch dir $KM_TMP" >&2
  else
    rm -rf "$KM_TMP"
  fi
  if ((rc == 0)); then log "PASS"; else log "exit status $rc"; fi
  exit $rc
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

# Namespaces left by an earlier run of this same test that was SIGKILLed (its PID is gone).
for _ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^km-${KM_TEST}-[0-9]+-" || true); do
  _p=${_ns#km-"${KM_TEST}"-}
  _p=${_p%%-*}
  if [[ $_p != "$KM_RUN" ]] && ! kill -0 "$_p" 2>/dev/null; then
    for _q in $(ip netns pids "$_ns" 2>/dev/null); do kill -KILL "$_q" 2>/dev/null || true; done
    ip netns del "$_ns" 2>/dev/null || true
  fi
done

# Watchdog: a hung step must not outlive the ctest TIMEOUT (which would skip cleanup).
# (Its stderr is /dev/null so that stopping it prints no "Terminated"; fd 3 is the real one.)
(
  sleep "$KM_DEADLINE"
  echo "[$KM_TEST] watchdog: still running after ${KM_DEADLINE}s, terminating" >&3
  kill -TERM "$KM_RUN"
) 3>&2 2>/dev/null &
KM_WATCHDOG=$!
disown "$KM_WATCHDOG"

# ------------------------------------------------------------------ common topology
# km_pair [KEEPALIVE_A] [KEEPALIVE_B]
# Hosts a (198.18.0.1) and b (198.18.0.2) on one veth; keys in $KM_TMP; keymeshd on each with
# km0 = 100.64.3.1/24 | 100.64.3.2/24, port 51820, the other side as peer (endpoint set),
# configs $KM_TMP/{a,b}.yaml, logs $KM_TMP/{a,b}.log, control sockets $KM_TMP/{a,b}.sock.
# KM_TIMERS (see km_config) applies to both. Returns once both daemons are up (not handshaken).
declare -gA KM_OVERLAY_IP=([a]=100.64.3.1 [b]=100.64.3.2 [c]=100.64.3.3 [d]=100.64.3.4)
ov_ip() { echo "${KM_OVERLAY_IP[$1]:?no overlay ip for $1}"; }

km_pair_configs() {  # writes keys + configs for a and b (hosts must exist)
  local ka_a=${1:-0} ka_b=${2:-0} h p ka
  gen_keypair "$KM_TMP" a
  gen_keypair "$KM_TMP" b
  for h in a b; do
    if [[ $h == a ]]; then p=b ka=$ka_a; else p=a ka=$ka_b; fi
    km_config "$KM_TMP/$h.yaml" "$KM_TMP/$h.key" 51820 km0 "$(ov_ip "$h")/24" "$KM_TMP/$h.sock"
    km_peer "$KM_TMP/$h.yaml" "$p" "$(cat "$KM_TMP/$p.pub")" "$(host_ip "$p"):51820" \
      "$(ov_ip "$p")/32" "$ka"
  done
}

km_pair() {
  make_host a 198.18.0.1
  make_host b 198.18.0.2
  link_hosts a b
  km_pair_configs "$@"
  start_keymeshd a "$KM_TMP/a.yaml" "$KM_TMP/a.log"
  start_keymeshd b "$KM_TMP/b.yaml" "$KM_TMP/b.log"
}

wait_ping() {  # wait_ping FROM_HOST TO_IP [TIMEOUT] : until one echo is answered
  wait_for "on $1 ping -c1 -W1 $2" "${3:-15}"
}
