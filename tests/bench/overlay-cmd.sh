#!/usr/bin/env bash
# overlay-cmd.sh - how keymeshd is run in the benchmark: mode `keymesh` of
# bench/overlay-bench.sh runs this file once per round as the setup step and then once per
# side (scripts/bench.sh runs that harness). The harness passes:
#   BENCH_SIDE              setup | a | b
#   BENCH_SHARED_DIR        scratch directory of the round, shared by setup, a and b
#   BENCH_WORKDIR           scratch directory of this side
#   BENCH_OVERLAY_IP_A/_B   overlay address of each side (/24)
#   BENCH_OVERLAY_IP, BENCH_PEER_OVERLAY_IP, BENCH_OVERLAY_CIDR   this side's view of them
#   BENCH_UNDERLAY_IP, BENCH_PEER_UNDERLAY_IP                     underlay (veth) addresses
#   BENCH_OVERLAY_MTU       tun MTU, the same for every overlay in the run
#   BENCH_PORT              underlay UDP port of both sides
# Setup runs without any network (unshare -n); each side runs inside its namespace and
# must stay in the foreground (it execs keymeshd, whose PID the harness measures) until
# SIGTERM. Binaries come from $KEYMESH_BUILD_DIR, else the repo's build/ relative to this
# file. KEYMESH_BENCH_LOG_LEVEL sets log_level (default info).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=${KEYMESH_BUILD_DIR:-$HERE/../../build}
KEYMESHD=$BUILD/daemon/keymeshd
KEYMESH=$BUILD/tools/keymesh

# KEYMESH_BENCH_MODE: `cert` (default) measures keymesh as it is meant to run: each side a
# certificate identity, the keymesh handshake variant, and every packet through policy and
# connection tracking (a rule granting everything between the two). `raw` measures the plain
# WireGuard mode (raw-key peers, no policy).
MODE=${KEYMESH_BENCH_MODE:-cert}
case "${BENCH_SIDE:?run me from bench/overlay-bench.sh}" in
  setup)  # once per round, no network: keys (and certificates) for both sides
    [[ -x $KEYMESH ]] || { echo "keymesh not built at $KEYMESH" >&2; exit 1; }
    umask 077
    d=$BENCH_SHARED_DIR
    if [[ $MODE == raw ]]; then
      for s in a b; do
        "$KEYMESH" key gen >"$d/$s.key"
        "$KEYMESH" key pub <"$d/$s.key" >"$d/$s.pub"
      done
      exit 0
    fi
    "$KEYMESH" ca init --name bench-root --out "$d/root.crt" --key-out "$d/root.key" >/dev/null
    "$KEYMESH" cert sign --ca "$d/root.crt" --ca-key "$d/root.key" --kind node --name bench-a \
      --networks "$BENCH_OVERLAY_IP_A/32" --key-out "$d/a.key" --out "$d/a.crt" >/dev/null
    "$KEYMESH" cert sign --ca "$d/root.crt" --ca-key "$d/root.key" --kind node --name bench-b \
      --networks "$BENCH_OVERLAY_IP_B/32" --key-out "$d/b.key" --out "$d/b.crt" >/dev/null
    printf 'rules:\n  - { name: bench, from: { kind: node }, to: { kind: node }, allow: [any] }\n' \
      >"$d/policy.yaml"
    exit 0 ;;
  a) me=a peer=b ;;
  b) me=b peer=a ;;
  *) echo "unknown BENCH_SIDE=$BENCH_SIDE" >&2; exit 2 ;;
esac

[[ -x $KEYMESHD ]] || { echo "keymeshd not built at $KEYMESHD" >&2; exit 1; }
cfg=$BENCH_WORKDIR/keymesh-$me.yaml
if [[ $MODE == cert ]]; then
  d=$BENCH_SHARED_DIR
  cat >"$cfg" <<YAML
private_key_file: $d/$me.key
certificate: $d/$me.crt
trust: { roots: [$d/root.crt] }
policy: $d/policy.yaml
listen_port: $BENCH_PORT
interface: { name: km0, addresses: [$BENCH_OVERLAY_CIDR], mtu: $BENCH_OVERLAY_MTU }
control_socket: $BENCH_WORKDIR/keymesh.sock
log_level: ${KEYMESH_BENCH_LOG_LEVEL:-info}
directory:
  - { certificate: $d/$peer.crt, endpoints: ["$BENCH_PEER_UNDERLAY_IP:$BENCH_PORT"] }
YAML
  exec "$KEYMESHD" --config "$cfg"
fi
cat >"$cfg" <<YAML
private_key_file: $BENCH_SHARED_DIR/$me.key
listen_port: $BENCH_PORT
interface: { name: km0, addresses: [$BENCH_OVERLAY_CIDR], mtu: $BENCH_OVERLAY_MTU }
control_socket: $BENCH_WORKDIR/keymesh.sock
log_level: ${KEYMESH_BENCH_LOG_LEVEL:-info}
peers:
  - name: $peer
    public_key: $(cat "$BENCH_SHARED_DIR/$peer.pub")
    endpoint: $BENCH_PEER_UNDERLAY_IP:$BENCH_PORT
    allowed_ips: [$BENCH_PEER_OVERLAY_IP/32]
    persistent_keepalive: 0
YAML
# Foreground; SIGTERM from the harness ends keymeshd cleanly (exit 0).
exec "$KEYMESHD" --config "$cfg"
