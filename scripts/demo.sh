#!/usr/bin/env bash
# demo.sh - see keymesh work in a minute: `bash scripts/demo.sh [--keep]` (as root, or via sudo)
#
# Installs the build dependencies and builds into build/ if needed, then, inside network
# namespaces only (nothing touches the host's own network), brings up three keymesh hosts:
#
#   ns km-demo-<pid>-lh            ns km-demo-<pid>-a              ns km-demo-<pid>-b
#   lighthouse 100.64.0.1          node CA 100.64.1.0/24           node CA 100.64.2.0/24
#                                  container "web" [group web]     container "db" [group db]
#   ul0 198.18.0.10 ------------ bridge ------------ 198.18.0.1 ------------ 198.18.0.2
#
# 1. an operator's PKI: a root CA, a node CA per host (keymesh ca init / cert sign);
# 2. keymeshd on each host: a and b find each other through the embedded lighthouse;
# 3. two containers (network namespaces) attached by the CNI plugin keymesh-cni, exactly as
#    podman or containerd would call it: each gets an overlay address and its own workload
#    certificate minted by its host's node CA;
# 4. the policy "web may reach db on tcp/5432 (and ping it)": web reaches db:5432 across
#    the encrypted overlay; web -> db:22 and db -> web are refused, and the audit log says so;
# 5. kill -9 keymeshd on a: web's packets are dropped by the kernel, not sent around it; a's
#    keymeshd started again: web -> db:5432 connects again, web -> db:22 is still refused;
# 6. prints keymesh status and the audit lines, then removes everything (unless --keep).
set -euo pipefail

KEEP=0
for arg in "$@"; do
  case $arg in
    --keep) KEEP=1 ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "usage: bash $0 [--keep]" >&2; exit 2 ;;
  esac
done

REPO=$(cd "$(dirname "$0")/.." && pwd)
export KEYMESH_BUILD_DIR=${KEYMESH_BUILD_DIR:-$REPO/build}
source "$REPO/scripts/lib/root.sh"
need_root "$@"

# ---- build if needed
# KEYMESH_BIN_DIR=/usr/sbin:/usr/bin:/usr/lib/cni runs the installed binaries instead (the
# .deb's; docs/operations.md), and nothing is built.
if [[ -z ${KEYMESH_BIN_DIR:-} ]] &&
   [[ ! -x $KEYMESH_BUILD_DIR/daemon/keymeshd || ! -x $KEYMESH_BUILD_DIR/tools/keymesh ||
      ! -x $KEYMESH_BUILD_DIR/cni/keymesh-cni ]]; then
  echo "== keymeshd is not built yet: installing dependencies and building into $KEYMESH_BUILD_DIR"
  bash "$REPO/scripts/install-deps.sh"
  cmake -S "$REPO" -B "$KEYMESH_BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
  cmake --build "$KEYMESH_BUILD_DIR" -j"${KM_JOBS:-2}" --target keymeshd keymesh keymesh-cni
fi
for t in ip nft ping python3 sha256sum timeout; do
  command -v "$t" >/dev/null || { echo "missing $t: run bash scripts/install-deps.sh as root" >&2; exit 1; }
done

KM_TEST=demo KM_DEADLINE=${KM_DEADLINE:-600}
source "$REPO/tests/netns/lib.sh"
KM=$(binary keymesh)
say() { printf '\n== %s\n' "$*"; }

CNI=$(binary cni/keymesh-cni)
echo "binaries: $(binary keymeshd) $KM $CNI"
PROBE="$REPO/tests/netns/netprobe.py"
declare -A N=([lh]=0 [a]=1 [b]=2) UL=([lh]=198.18.0.10 [a]=198.18.0.1 [b]=198.18.0.2)
NAMES=(lh a b)

say "three hosts in network namespaces, one underlay bridge"
for h in "${NAMES[@]}"; do
  make_host "$h" "${UL[$h]}"
  echo "   host $h: namespace $(nsname "$h"), underlay ${UL[$h]}/24"
done
link_hosts "${NAMES[@]}"

say "PKI: root CA, a node CA per host constrained to its /24, host certificates"
export KM_PKI_PATTERN='*'
pki_root "$KM_TMP"
for h in "${NAMES[@]}"; do
  pki_host "$KM_TMP" "$h" "${N[$h]}"
  echo "   $h: node CA for 100.64.${N[$h]}.0/24, host certificate 100.64.${N[$h]}.1"
done
"$KM" cert verify --ca "$KM_TMP/root.crt" "$KM_TMP/a.chain" | sed 's/^/   /'

say "policy: web may reach db on tcp/5432 and ping it; nothing else"
cat >"$KM_TMP/policy.yaml" <<'POLICY'
rules:
  - name: web-to-db
    from: { groups: [web] }
    to: { groups: [db] }
    allow: [tcp/5432, icmp]
POLICY
sed 's/^/   /' "$KM_TMP/policy.yaml"

say "starting keymeshd: lh is the lighthouse, a and b use it"
for h in "${NAMES[@]}"; do
  km_cert_config "$KM_TMP/$h.yaml" "$h" "${N[$h]}"
  if [[ $h == lh ]]; then
    echo "lighthouse: true" >>"$KM_TMP/$h.yaml"
  else
    echo "lighthouses: [ { address: 100.64.0.1, certificate: $KM_TMP/lh.chain, endpoints: [\"198.18.0.10:51820\"] } ]" >>"$KM_TMP/$h.yaml"
  fi
  start_keymeshd "$h" "$KM_TMP/$h.yaml" "$KM_TMP/$h.log"
done
echo "   config of a ($KM_TMP/a.yaml):"
sed 's/^/      /' "$KM_TMP/a.yaml"

say "containers attached by keymesh-cni (as a runtime calls it)"
declare -A CTR_IP=()
attach() {  # attach HOST CONTAINER GROUP
  local h=$1 c=$2 g=$3 ns="km-demo-$KM_RUN-ctr-$2" out
  ip netns add "$ns"
  KM_EXTRA_NS+=("$ns")
  ip -n "$ns" link set lo up
  out=$(printf '{"cniVersion":"1.0.0","name":"keymesh","type":"keymesh","socket":"%s","identity":"%s","groups":["%s"]}' \
      "$KM_TMP/$h.sock" "$c" "$g" |
    ip netns exec "$(nsname "$h")" env CNI_COMMAND=ADD CNI_CONTAINERID="demo-$c" \
      CNI_NETNS="/run/netns/$ns" CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni "$CNI") ||
    fail "keymesh-cni ADD for $c failed: $out"
  CTR_IP[$c]=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["ips"][0]["address"].split("/")[0])' <<<"$out")
  echo "   container $c on host $h: namespace $ns, eth0 ${CTR_IP[$c]}, groups [$g]"
}
attach a web web
attach b db db
in_ctr() { local c=$1; shift; ip netns exec "km-demo-$KM_RUN-ctr-$c" "$@"; }

say "traffic"
spawn b "$KM_TMP/db-5432.log" ip netns exec "km-demo-$KM_RUN-ctr-db" "$KM_PY" "$PROBE" serve-tcp "${CTR_IP[db]}" 5432
spawn b "$KM_TMP/db-22.log" ip netns exec "km-demo-$KM_RUN-ctr-db" "$KM_PY" "$PROBE" serve-tcp "${CTR_IP[db]}" 22
wait_for "grep -q LISTENING '$KM_TMP/db-5432.log' && grep -q LISTENING '$KM_TMP/db-22.log'" 10 0.1 ||
  fail "db's listeners did not start"
wait_for "in_ctr web ping -c1 -W1 ${CTR_IP[db]}" 15 || fail "web cannot ping db"
echo "   web -> db ping:        answered (a found db through the lighthouse)"
in_ctr web "$KM_PY" "$PROBE" connect "${CTR_IP[web]}" "${CTR_IP[db]}" 5432 5 >/dev/null ||
  fail "web -> db tcp/5432 failed"
echo "   web -> db tcp/5432:    connected"
if in_ctr web "$KM_PY" "$PROBE" connect "${CTR_IP[web]}" "${CTR_IP[db]}" 22 3 >/dev/null; then
  fail "web -> db tcp/22 connected, but policy does not grant it"
fi
echo "   web -> db tcp/22:      refused by policy (no packet left host a)"
if in_ctr db ping -c2 -W1 "${CTR_IP[web]}" >/dev/null 2>&1; then
  fail "db -> web ping was answered, but policy does not grant it"
fi
echo "   db -> web ping:        refused by policy"

say "kill -9 keymeshd on a: the refused stays refused (docs/guarantees.md)"
# A default route, as real hosts have: without the edge filter, web's packets would now
# fall through to it and leave a in clear.
on a ip route add default via "${UL[lh]}" dev ul0
stop_pid "${KM_DAEMON_PID[a]}" KILL 2>/dev/null || true
unset "KM_DAEMON_PID[a]"
wait_for "! on a ip link show km0" 5 0.05 || fail "km0 on a outlived its keymeshd"
echo "   keymeshd on a killed; km0 went with it"
for port in 22 5432; do
  if in_ctr web "$KM_PY" "$PROBE" connect "${CTR_IP[web]}" "${CTR_IP[db]}" "$port" 2 >/dev/null; then
    fail "web -> db tcp/$port connected while a's keymeshd was dead"
  fi
done
dropped=$(on a nft list counter inet keymesh_edge fail_closed | awk '/packets/{print $2}')
echo "   web -> db tcp/22 and tcp/5432: $dropped packets dropped by the kernel on a (counter fail_closed)"
rm -f "$KM_TMP/a.sock"
start_keymeshd a "$KM_TMP/a.yaml" "$KM_TMP/a-restarted.log"
wait_for "in_ctr web $KM_PY $PROBE connect ${CTR_IP[web]} ${CTR_IP[db]} 5432 2" 20 0.2 ||
  fail "web -> db tcp/5432 did not come back after a's keymeshd restarted"
echo "   keymeshd on a started again: web -> db tcp/5432 connects, nothing re-attached"
if in_ctr web "$KM_PY" "$PROBE" connect "${CTR_IP[web]}" "${CTR_IP[db]}" 22 2 >/dev/null; then
  fail "web -> db tcp/22 connected after the restart"
fi
echo "   web -> db tcp/22:      still refused"

say "keymesh status on a"
timeout 5 "$KM" status --socket "$KM_TMP/a.sock" 2>&1 | sed 's/^/   /' || echo "   (status failed)"

say "audit lines (a: $KM_TMP/a-audit.jsonl, b: $KM_TMP/b-audit.jsonl)"
for h in a b; do
  grep -E '"event":"(path_opened|packet_denied|path_refused)"' "$KM_TMP/$h-audit.jsonl" | head -3 |
    cut -c1-220 | sed "s/^/   $h: /"
done

say "what this showed"
echo "   - a and b had no peer list: they registered with the lighthouse and found each other"
echo "   - each container got its own workload certificate from its host's node CA"
echo "   - web reached db on tcp/5432 across the encrypted overlay; tcp/22 and db -> web were"
echo "     refused, and every decision is an audit line naming both identities"
echo "   - with keymeshd on a killed, the kernel dropped web's packets (nftables edge filter"
echo "     installed by keymesh-cni); restarted, the granted came back and tcp/22 stayed refused"
echo "   - look around (with --keep): keymesh status, keymesh identity list, keymesh audit tail"

if ((KEEP)); then
  {
    echo "#!/usr/bin/env bash"
    echo "# removes what demo.sh --keep left running"
    for n in "${NAMES[@]}"; do
      pid=${KM_DAEMON_PID[$n]}
      echo "grep -q keymeshd /proc/$pid/cmdline 2>/dev/null && kill $pid"
    done
    echo "sleep 1"
    for n in "${NAMES[@]}"; do echo "ip netns del $(nsname "$n") 2>/dev/null"; done
    for n in "${KM_EXTRA_NS[@]}"; do echo "ip netns del $n 2>/dev/null"; done
    echo "rm -rf $KM_TMP"
  } >"$KM_TMP/cleanup.sh"
  say "left running (--keep); try:"
  echo "   ip netns exec km-demo-$KM_RUN-ctr-web ping ${CTR_IP[db]}"
  echo "   ip netns exec $(nsname a) tcpdump -ni ul0 udp port 51820   # ciphertext only"
  echo "   $KM status --socket $KM_TMP/a.sock"
  echo "   $KM identity list --socket $KM_TMP/a.sock"
  echo "   $KM audit tail --follow --file $KM_TMP/a-audit.jsonl"
  echo "   less $KM_TMP/a.log                                   # daemon log"
  echo "   configs and keys: $KM_TMP"
  echo "clean up with:"
  echo "   bash $KM_TMP/cleanup.sh      (the next demo.sh run also removes it)"
  # Hand everything over to cleanup.sh: stop the watchdog, forget the PIDs, skip the trap.
  pkill -TERM -P "$KM_WATCHDOG" 2>/dev/null || true
  kill -TERM "$KM_WATCHDOG" 2>/dev/null || true
  trap - EXIT
  exit 0
fi
say "cleaning up (use --keep to leave it running)"
