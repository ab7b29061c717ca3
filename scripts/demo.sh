#!/usr/bin/env bash
# demo.sh - see keymesh work in a minute: `sudo bash scripts/demo.sh [--keep]`
#
# Installs the build dependencies if keymeshd is not built yet, builds keymeshd + keymesh into
# build/ if needed, then on this machine (inside network namespaces only; nothing touches the
# host's own network):
#
#   ns km-demo-<pid>-a                              ns km-demo-<pid>-b
#   km0 100.64.3.1/24  keymeshd :51820              km0 100.64.3.2/24  keymeshd :51820
#   ul0 198.18.0.1/24  ========= veth ============= ul0 198.18.0.2/24
#
# makes a key pair per host (`keymesh key gen | keymesh key pub`), writes each host's config
# with every other host as a peer, starts keymeshd on each, pings every pair over the overlay,
# copies 5 MB over TCP a -> b and compares checksums, prints `keymesh status` of each host,
# and removes everything again. With --keep it leaves it running and tells you how to look
# around and how to clean up.
#
# Hosts are listed once in HOSTS below (name, underlay address, overlay address); with three
# or more, link_hosts puts them on a bridge instead of a veth pair, and every host gets every
# other one as a peer.
set -euo pipefail

KEEP=0
for arg in "$@"; do
  case $arg in
    --keep) KEEP=1 ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "usage: sudo bash $0 [--keep]" >&2; exit 2 ;;
  esac
done

REPO=$(cd "$(dirname "$0")/.." && pwd)
export KEYMESH_BUILD_DIR=${KEYMESH_BUILD_DIR:-$REPO/build}
if [[ $(id -u) -ne 0 ]]; then
  echo "demo.sh needs root for network namespaces: sudo bash $0 $*" >&2
  exit 1
fi

HOSTS=(
  # name  underlay     overlay
  "a      198.18.0.1   100.64.3.1"
  "b      198.18.0.2   100.64.3.2"
)
PORT=51820

# ---- build if needed
if [[ ! -x $KEYMESH_BUILD_DIR/daemon/keymeshd || ! -x $KEYMESH_BUILD_DIR/tools/keymesh ]]; then
  echo "== keymeshd is not built yet: installing dependencies and building into $KEYMESH_BUILD_DIR"
  bash "$REPO/scripts/install-deps.sh"
  cmake -S "$REPO" -B "$KEYMESH_BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
  cmake --build "$KEYMESH_BUILD_DIR" -j"${KM_JOBS:-2}" --target keymeshd keymesh
fi
for t in ip ping python3 sha256sum timeout; do
  command -v "$t" >/dev/null || { echo "missing $t: run sudo bash scripts/install-deps.sh" >&2; exit 1; }
done

KM_TEST=demo KM_DEADLINE=${KM_DEADLINE:-600}
source "$REPO/tests/netns/lib.sh"
KM=$(binary keymesh)
say() { printf '\n== %s\n' "$*"; }

declare -a NAMES=()
declare -A OVERLAY=()
for h in "${HOSTS[@]}"; do
  read -r name ul ov <<<"$h"
  NAMES+=("$name")
  OVERLAY[$name]=$ov
done

say "network namespaces and underlay links"
for h in "${HOSTS[@]}"; do
  read -r name ul ov <<<"$h"
  make_host "$name" "$ul"
  echo "   host $name: namespace $(nsname "$name"), underlay $ul/24 on ul0"
done
link_hosts "${NAMES[@]}"

say "keys (keymesh key gen | keymesh key pub) and configs"
for n in "${NAMES[@]}"; do
  (umask 077 && "$KM" key gen >"$KM_TMP/$n.key")
  "$KM" key pub <"$KM_TMP/$n.key" >"$KM_TMP/$n.pub"
  echo "   $n: public key $(cat "$KM_TMP/$n.pub")"
done
for n in "${NAMES[@]}"; do
  km_config "$KM_TMP/$n.yaml" "$KM_TMP/$n.key" "$PORT" km0 "${OVERLAY[$n]}/24" "$KM_TMP/$n.sock"
  for p in "${NAMES[@]}"; do
    [[ $p == "$n" ]] && continue
    km_peer "$KM_TMP/$n.yaml" "$p" "$(cat "$KM_TMP/$p.pub")" "$(host_ip "$p"):$PORT" "${OVERLAY[$p]}/32"
  done
done
echo "   config of ${NAMES[0]} ($KM_TMP/${NAMES[0]}.yaml):"
sed 's/^/      /' "$KM_TMP/${NAMES[0]}.yaml"

say "starting keymeshd on each host"
for n in "${NAMES[@]}"; do
  start_keymeshd "$n" "$KM_TMP/$n.yaml" "$KM_TMP/$n.log"
done

say "ping over the overlay"
for n in "${NAMES[@]}"; do
  for p in "${NAMES[@]}"; do
    [[ $p == "$n" ]] && continue
    wait_ping "$n" "${OVERLAY[$p]}" 15 || fail "$n cannot reach $p at ${OVERLAY[$p]}"
    rtt=$(on "$n" ping -c 3 -i 0.2 -W 2 "${OVERLAY[$p]}" | awk -F/ '/^rtt/{print $5}')
    echo "   $n -> $p (${OVERLAY[$p]}): ok, avg rtt ${rtt} ms"
  done
done

say "5 MB over TCP ${NAMES[0]} -> ${NAMES[1]}, checksum compared"
make_random_file "$KM_TMP/data" 5
cap=""
if command -v tcpdump >/dev/null; then
  capture_start "${NAMES[0]}" ul0 "$KM_TMP/ul0.pcap" not arp
  cap=$KM_LAST_PID
fi
transfer "${NAMES[0]}" "${NAMES[1]}" "${OVERLAY[${NAMES[1]}]}" "$KM_TMP/data" 0 60 5201 ||
  fail "transfer failed"
if [[ -n $cap ]]; then
  capture_stop "$cap"
  all=$(pcap_count "$KM_TMP/ul0.pcap")
  wgp=$(pcap_count "$KM_TMP/ul0.pcap" udp port "$PORT")
  echo "   ${NAMES[0]}'s ul0 carried $all packets during the copy, $wgp of them UDP port $PORT"
fi

say "keymesh status"
for n in "${NAMES[@]}"; do
  echo "   --- $n: keymesh status --socket $KM_TMP/$n.sock"
  timeout 5 "$KM" status --socket "$KM_TMP/$n.sock" 2>&1 | sed 's/^/      /' || echo "      (status failed)"
done

say "what this showed"
echo "   - each host has only its own private key and the others' public keys (WireGuard-style)"
echo "   - keymeshd brought up km0 and completed a Noise IK handshake with every peer:"
for n in "${NAMES[@]}"; do
  echo "       $n: $(grep -c 'handshake complete' "$KM_TMP/$n.log" || true) handshake(s) logged"
done
echo "   - ICMP and TCP crossed the overlay; the copy's sha256 matched the original"
if [[ -n $cap ]]; then
  echo "   - on the underlay (ul0), $wgp of the $all packets seen during the copy were UDP port $PORT (WireGuard messages)"
fi

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
    echo "rm -rf $KM_TMP"
  } >"$KM_TMP/cleanup.sh"
  say "left running (--keep); try:"
  a=${NAMES[0]} b=${NAMES[1]}
  echo "   sudo ip netns exec $(nsname "$a") ping ${OVERLAY[$b]}"
  echo "   sudo ip netns exec $(nsname "$a") tcpdump -ni ul0 udp port $PORT     # ciphertext only"
  echo "   sudo ip netns exec $(nsname "$a") tcpdump -ni km0                    # plaintext"
  echo "   sudo $KM status --socket $KM_TMP/$a.sock"
  echo "   less $KM_TMP/$a.log                                   # daemon log"
  echo "   configs and keys: $KM_TMP"
  echo "clean up with:"
  echo "   sudo bash $KM_TMP/cleanup.sh      (the next demo.sh run also removes it)"
  # Hand everything over to cleanup.sh: stop the watchdog, forget the PIDs, skip the trap.
  pkill -TERM -P "$KM_WATCHDOG" 2>/dev/null || true
  kill -TERM "$KM_WATCHDOG" 2>/dev/null || true
  trap - EXIT
  exit 0
fi
say "cleaning up (use --keep to leave it running)"
