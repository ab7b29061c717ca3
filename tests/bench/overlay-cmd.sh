#!/usr/bin/env bash
# overlay-cmd.sh - keymeshd as the `cmd` overlay of shared/bench/overlay-bench.sh (the contract
# is in that script's header). One file is the setup command and both sides:
#   overlay-bench.sh --modes raw,wireguard-go,nebula,cmd --cmd-name keymesh \
#     --cmd-setup "$PWD/tests/bench/overlay-cmd.sh" \
#     --cmd-a "exec $PWD/tests/bench/overlay-cmd.sh" --cmd-b "exec $PWD/tests/bench/overlay-cmd.sh"
# (scripts/bench.sh does exactly that.) Binaries come from $KEYMESH_BUILD_DIR, else the
# repo's build/ relative to this file. KEYMESH_BENCH_LOG_LEVEL sets log_level (default info).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=${KEYMESH_BUILD_DIR:-$HERE/../../build}
KEYMESHD=$BUILD/daemon/keymeshd
KEYMESH=$BUILD/tools/keymesh

case "${BENCH_SIDE:?run me from overlay-bench.sh}" in
  setup)  # once per round, no network: keys for both sides
    [[ -x $KEYMESH ]] || { echo "keymesh not built at $KEYMESH" >&2; exit 1; }
    umask 077
    for s in a b; do
      "$KEYMESH" key gen >"$BENCH_SHARED_DIR/$s.key"
      "$KEYMESH" key pub <"$BENCH_SHARED_DIR/$s.key" >"$BENCH_SHARED_DIR/$s.pub"
    done
    exit 0 ;;
  a) me=a peer=b ;;
  b) me=b peer=a ;;
  *) echo "unknown BENCH_SIDE=$BENCH_SIDE" >&2; exit 2 ;;
esac

[[ -x $KEYMESHD ]] || { echo "keymeshd not built at $KEYMESHD" >&2; exit 1; }
cfg=$BENCH_WORKDIR/keymesh-$me.yaml
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
