#!/usr/bin/env bash
# scale-bench.sh - how big one keymeshd gets, measured on this machine and printed beside the
# targets (bench/README.md, "Scale and memory"):
#
#   1. idle RSS: keymeshd with a certificate identity, a policy and km0, in a network
#      namespace of its own with no other interface, 5 s after it answers on its control
#      socket; VmRSS, and how much of it is private (RssAnon) or library pages (RssFile)
#   2. tests/scale_bench: one node with 1,000 local identities and 100,000 paths (100 remote
#      nodes x 1,000 workloads, each path after a certificate-chain handshake and with one
#      tracked flow): bytes per identity and per path, handshakes per CPU-second
#   3. tests/policy_bench: 10,000 rules and 10,000 identities, the per-packet decision on a
#      conntrack hit and on a miss
#
#   sudo bench/scale-bench.sh [--build DIR] [--out FILE.jsonl] [--locals L] [--remotes R]
#                             [--no-rss]
# Needs a build with KEYMESH_TESTS=ON (scale_bench and policy_bench). Step 1 needs root;
# --no-rss skips it. The namespace and scratch directory are removed on any exit, and only
# the keymeshd it started is stopped (by PID). About 3 minutes on a 2-core machine.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
BUILD=${KEYMESH_BUILD_DIR:-$REPO/build}
OUT=""
LOCALS=1000
REMOTES=100
RSS=1
while (($#)); do
  case $1 in
    --build) BUILD=${2:?--build needs a directory}; shift ;;
    --out) OUT=${2:?--out needs a file}; shift ;;
    --locals) LOCALS=${2:?}; shift ;;
    --remotes) REMOTES=${2:?}; shift ;;
    --no-rss) RSS=0 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "scale-bench.sh: unknown option $1 (--help)" >&2; exit 2 ;;
  esac
  shift
done
for b in daemon/keymeshd tools/keymesh tests/scale_bench tests/policy_bench; do
  [[ -x $BUILD/$b ]] || { echo "scale-bench.sh: $BUILD/$b not built (cmake -DKEYMESH_TESTS=ON)" >&2; exit 1; }
done

NS=kmsb-$$
TMP=$(mktemp -d /tmp/km-scale.XXXXXX)
DPID=""
cleanup() {
  [[ -n $DPID ]] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
  ip netns del "$NS" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

rss_json='{}'
if ((RSS)); then
  [[ $(id -u) == 0 ]] || { echo "scale-bench.sh: step 1 needs root (or --no-rss)" >&2; exit 1; }
  echo "== 1. idle RSS of keymeshd"
  K=$BUILD/tools/keymesh
  (umask 077
   "$K" ca init --name scale-root --out "$TMP/root.crt" --key-out "$TMP/root.key" >/dev/null
   "$K" cert sign --ca "$TMP/root.crt" --ca-key "$TMP/root.key" --kind node --name scale-a \
     --networks 100.64.77.1/32 --key-out "$TMP/a.key" --out "$TMP/a.crt" >/dev/null)
  printf 'rules:\n  - { name: nodes, from: { kind: node }, to: { kind: node }, allow: [any] }\n' >"$TMP/policy.yaml"
  cat >"$TMP/a.yaml" <<YAML
private_key_file: $TMP/a.key
certificate: $TMP/a.crt
trust: { roots: [$TMP/root.crt] }
policy: $TMP/policy.yaml
listen_port: 51820
interface: { name: km0, addresses: [100.64.77.1/24], mtu: 1420 }
control_socket: $TMP/a.sock
log_level: warn
YAML
  ip netns add "$NS"
  ip -n "$NS" link set lo up
  ip netns exec "$NS" "$BUILD/daemon/keymeshd" --config "$TMP/a.yaml" >"$TMP/keymeshd.log" 2>&1 &
  DPID=$!
  for _ in $(seq 100); do
    "$K" status --socket "$TMP/a.sock" >/dev/null 2>&1 && break
    kill -0 "$DPID" 2>/dev/null || { cat "$TMP/keymeshd.log" >&2; exit 1; }
    sleep 0.1
  done
  "$K" status --socket "$TMP/a.sock" >/dev/null || { echo "keymeshd does not answer" >&2; exit 1; }
  sleep 5
  rss_json=$(python3 - "$DPID" <<'EOF'
import json, sys
pid = sys.argv[1]
st = {}
for line in open(f"/proc/{pid}/status"):
    k, _, v = line.partition(":")
    if k in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "Threads"):
        st[k] = int(v.split()[0])
maps, name = {}, None
for line in open(f"/proc/{pid}/smaps"):
    f = line.split()
    if "-" in f[0] and len(f) >= 5 and not f[0].endswith(":"):
        name = f[5] if len(f) > 5 else "[anonymous]"
    elif f[0] == "Rss:":
        maps[name] = maps.get(name, 0) + int(f[1])
top = sorted(maps.items(), key=lambda kv: -kv[1])[:6]
print(json.dumps({"rss_kib": st["VmRSS"], "rss_anon_kib": st["RssAnon"],
                  "rss_file_kib": st["RssFile"], "threads": st["Threads"],
                  "rss_top": [[n.rsplit("/", 1)[-1], k] for n, k in top]}))
EOF
)
  kill "$DPID"; wait "$DPID" 2>/dev/null || true; DPID=""
  ip netns del "$NS"
fi

echo "== 2. scale_bench: $LOCALS local identities, $((LOCALS * REMOTES)) paths"
scale_json=$("$BUILD/tests/scale_bench" --locals "$LOCALS" --remotes "$REMOTES" --json)

echo "== 3. policy_bench: 10,000 rules, 10,000 identities"
"$BUILD/tests/policy_bench" 10000 10000 >"$TMP/policy.txt"
cat "$TMP/policy.txt"

python3 - "$rss_json" "$scale_json" "$TMP/policy.txt" "$OUT" <<'EOF'
import json, re, sys, time
rss, scale, policy_txt, out = json.loads(sys.argv[1]), json.loads(sys.argv[2]), open(sys.argv[3]).read(), sys.argv[4]
def ns(label):
    m = re.search(re.escape(label) + r"[^:]*: ([0-9.]+) ns/packet", policy_txt)
    return float(m.group(1)) if m else None
row = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **rss, **scale,
       "conntrack_hit_ns": ns("conntrack reply"), "conntrack_miss_deny_ns": ns("conntrack unsolicited")}
def line(what, value, target, ok):
    mark = "" if ok is None else ("meets" if ok else "MISSES")
    print(f"  {what:<58} {value:>16}   {target:<12} {mark}")
print("\n== scale and memory, one node (targets: bench/README.md)")
print(f"  {'':<58} {'measured':>16}   {'target':<12}")
if "rss_kib" in rss:
    mib = rss["rss_kib"] / 1024
    line("idle RSS, MiB", f"{mib:.1f}", "<= 16", mib <= 16)
    line("  of which private (RssAnon), MiB", f"{rss['rss_anon_kib']/1024:.1f}", "", None)
    line("  of which library pages (RssFile), MiB", f"{rss['rss_file_kib']/1024:.1f}", "", None)
    print("   largest mappings (KiB): " + ", ".join(f"{n} {k}" for n, k in rss["rss_top"]))
line(f"paths opened / handshakes ({scale['locals']} identities)", f"{scale['paths']} / {scale['handshakes']}", "", None)
line("bytes per local identity", f"{scale['bytes_per_identity']:.0f}", "", None)
line("bytes per established path, responder side", f"{scale['bytes_per_path_responder']:.0f}", "<= 1024", scale['bytes_per_path_responder'] <= 1024)
line("bytes per established path, initiator side", f"{scale['bytes_per_path_initiator']:.0f}", "<= 1024", scale['bytes_per_path_initiator'] <= 1024)
line("bytes per path after 10 idle minutes, responder", f"{scale['bytes_per_idle_path_responder']:.0f}", "<= 1024", scale['bytes_per_idle_path_responder'] <= 1024)
line("handshakes per CPU-second, responder half", f"{scale['handshakes_per_core_second_responder']:.0f}", ">= 5000", scale['handshakes_per_core_second_responder'] >= 5000)
line("handshakes per CPU-second, initiator half", f"{scale['handshakes_per_core_second_initiator']:.0f}", ">= 5000", scale['handshakes_per_core_second_initiator'] >= 5000)
line("handshakes per CPU-second, both halves on one core", f"{scale['handshakes_per_core_second_both']:.0f}", "", None)
if row["conntrack_hit_ns"] is not None:
    line("decision on a conntrack hit, 10,000 rules, ns", f"{row['conntrack_hit_ns']:.1f}", "", None)
    line("decision on a miss (policy deny), 10,000 rules, ns", f"{row['conntrack_miss_deny_ns']:.1f}", "", None)
if out:
    with open(out, "a") as f:
        f.write(json.dumps(row) + "\n")
    print(f"\n== row appended to {out}")
EOF
