# overlays.sh - how bench/overlay-bench.sh brings each overlay up between its two
# namespaces. Sourced by the harness; not a program of its own.
#
# Every start_<base> function gets the mode's binary (the part after `@`, or the default)
# and the round's variables set by the harness:
#   NS_A NS_B          the two namespaces        UL_A UL_B   underlay addresses (veth)
#   OV_A OV_B          overlay addresses (/24)   MTU         tun MTU for every overlay
#   WORK               scratch directory of this round and mode (removed afterwards)
# and must set OV_PID_A and OV_PID_B to the overlay process of each side. Those two PIDs
# are what CPU time and peak RSS are read from, so each one must be the overlay itself,
# not a wrapper: every launcher below ends in exec (ip netns exec, env and bash all exec).
# The harness then waits until A pings B over the overlay.

PORT=51820   # the underlay UDP port of every overlay (one overlay runs at a time)

# spawn_in NS LOG CMD... : start CMD in the background inside NS, a child of the harness
# (so it can be waited for), and record its PID in SPAWNED and in the round's stop list.
spawn_in() {
  local ns=$1 log=$2
  shift 2
  ip netns exec "$ns" "$@" </dev/null >>"$log" 2>&1 &
  SPAWNED=$!
  track_pid "$SPAWNED"
}

start_raw() {  # no overlay: iperf3 and ping run straight over the veth
  OV_A=$UL_A OV_B=$UL_B OV_PID_A="" OV_PID_B=""
}

# wireguard-go in each namespace on a tun named after the harness's PID (its UAPI socket
# lives in the global /var/run/wireguard/, so the name must be unique on the machine),
# configured with `wg` through that socket.
start_wireguard_go() {
  local bin=$1 s ifn ns ov peer_pub peer_ov peer_ul
  (umask 077
   for s in a b; do
     "$WG" genkey >"$WORK/$s.key" && "$WG" pubkey <"$WORK/$s.key" >"$WORK/$s.pub" || exit 1
   done) || return 1
  for s in a b; do
    ifn=kmb$$$s
    WG_SOCKETS+=("/var/run/wireguard/$ifn.sock")
    if [[ $s == a ]]; then ns=$NS_A; else ns=$NS_B; fi
    spawn_in "$ns" "$WORK/wireguard-go-$s.log" env WG_PROCESS_FOREGROUND=1 "$bin" -f "$ifn"
    if [[ $s == a ]]; then OV_PID_A=$SPAWNED; else OV_PID_B=$SPAWNED; fi
  done
  wait_for 5 "wireguard-go UAPI sockets" \
    test -S "/var/run/wireguard/kmb$$a.sock" -a -S "/var/run/wireguard/kmb$$b.sock" || return 1
  for s in a b; do
    ifn=kmb$$$s
    if [[ $s == a ]]; then ns=$NS_A peer_pub=$WORK/b.pub peer_ov=$OV_B peer_ul=$UL_B ov=$OV_A
    else ns=$NS_B peer_pub=$WORK/a.pub peer_ov=$OV_A peer_ul=$UL_A ov=$OV_B; fi
    ip netns exec "$ns" "$WG" set "$ifn" private-key "$WORK/$s.key" listen-port "$PORT" \
      peer "$(cat "$peer_pub")" allowed-ips "$peer_ov/32" endpoint "$peer_ul:$PORT" || return 1
    ip -n "$ns" addr add "$ov/24" dev "$ifn" || return 1
    ip -n "$ns" link set "$ifn" mtu "$MTU" up || return 1
  done
}

# nebula in each namespace: a CA and one host certificate per side from the nebula-cert
# that belongs to the binary, a firewall that passes everything, the peer in
# static_host_map and no lighthouse.
start_nebula() {
  local bin=$1 cert s ns me_ul peer_ov peer_ul
  cert=$(nebula_cert_for "$bin")
  (cd "$WORK" && umask 077 &&
   "$cert" ca -name keymesh-bench -duration 24h -out-crt ca.crt -out-key ca.key &&
   "$cert" sign -ca-crt ca.crt -ca-key ca.key -name a -ip "$OV_A/24" -out-crt a.crt -out-key a.key &&
   "$cert" sign -ca-crt ca.crt -ca-key ca.key -name b -ip "$OV_B/24" -out-crt b.crt -out-key b.key
  ) >"$WORK/nebula-cert.log" 2>&1 || { tail -5 "$WORK/nebula-cert.log" >&2; return 1; }
  for s in a b; do
    if [[ $s == a ]]; then ns=$NS_A me_ul=$UL_A peer_ov=$OV_B peer_ul=$UL_B
    else ns=$NS_B me_ul=$UL_B peer_ov=$OV_A peer_ul=$UL_A; fi
    cat >"$WORK/nebula-$s.yml" <<YAML
pki: { ca: $WORK/ca.crt, cert: $WORK/$s.crt, key: $WORK/$s.key }
static_host_map: { "$peer_ov": ["$peer_ul:$PORT"] }
lighthouse: { am_lighthouse: false, hosts: [] }
listen: { host: $me_ul, port: $PORT }
punchy: { punch: false }
tun: { disabled: false, dev: nebula1, mtu: $MTU }
logging: { level: info }
firewall:
  outbound: [ { port: any, proto: any, host: any } ]
  inbound: [ { port: any, proto: any, host: any } ]
YAML
    spawn_in "$ns" "$WORK/nebula-$s.log" "$bin" -config "$WORK/nebula-$s.yml"
    if [[ $s == a ]]; then OV_PID_A=$SPAWNED; else OV_PID_B=$SPAWNED; fi
  done
}

# keymeshd from a build directory, configured by tests/bench/overlay-cmd.sh (the one place
# that says how keymesh is benchmarked: certificate identities, policy and connection
# tracking on every packet). The script reads the BENCH_* variables below; its setup step
# (keys, certificates, policy) runs once per round in a namespace without any network.
start_keymesh() {
  local build=$1 s ns
  mkdir -p "$WORK/shared" "$WORK/work-setup" "$WORK/work-a" "$WORK/work-b" || return 1
  local common=(KEYMESH_BUILD_DIR="$build" BENCH_SHARED_DIR="$WORK/shared"
    BENCH_OVERLAY_IP_A="$OV_A" BENCH_OVERLAY_IP_B="$OV_B" BENCH_OVERLAY_MTU="$MTU" BENCH_PORT="$PORT")
  (cd "$WORK/work-setup" &&
   exec timeout -k 2 20 unshare -n env "${common[@]}" BENCH_SIDE=setup BENCH_WORKDIR="$WORK/work-setup" \
     bash "$KEYMESH_SIDE") </dev/null >"$WORK/keymesh-setup.log" 2>&1 ||
    { tail -5 "$WORK/keymesh-setup.log" >&2; return 1; }
  for s in a b; do
    local side_env
    if [[ $s == a ]]; then
      ns=$NS_A side_env=(BENCH_OVERLAY_IP="$OV_A" BENCH_PEER_OVERLAY_IP="$OV_B"
        BENCH_OVERLAY_CIDR="$OV_A/24" BENCH_UNDERLAY_IP="$UL_A" BENCH_PEER_UNDERLAY_IP="$UL_B")
    else
      ns=$NS_B side_env=(BENCH_OVERLAY_IP="$OV_B" BENCH_PEER_OVERLAY_IP="$OV_A"
        BENCH_OVERLAY_CIDR="$OV_B/24" BENCH_UNDERLAY_IP="$UL_B" BENCH_PEER_UNDERLAY_IP="$UL_A")
    fi
    spawn_in "$ns" "$WORK/keymesh-$s.log" env "${common[@]}" "${side_env[@]}" \
      BENCH_SIDE="$s" BENCH_WORKDIR="$WORK/work-$s" bash "$KEYMESH_SIDE"
    if [[ $s == a ]]; then OV_PID_A=$SPAWNED; else OV_PID_B=$SPAWNED; fi
  done
}

# The nebula-cert next to a nebula binary, else the one given with --nebula-cert.
nebula_cert_for() {
  local dir
  dir=$(dirname "$1")
  if [[ $1 != "$NEBULA" && -x $dir/nebula-cert ]]; then echo "$dir/nebula-cert"; else echo "$NEBULA_CERT"; fi
}

# One line naming the version of a mode's binary, for the JSON rows.
overlay_version() {
  local base=$1 bin=$2 src
  case $base in
    raw) echo "kernel $(uname -r)" ;;
    wireguard-go) "$bin" --version 2>&1 | awk 'NF { print; exit }' ;;
    nebula) "$bin" -version 2>&1 | awk '/Version/ { print "nebula " $2; exit }' ;;
    keymesh)
      src=$(awk -F= '/^CMAKE_HOME_DIRECTORY:/ { print $2 }' "$bin/CMakeCache.txt" 2>/dev/null)
      printf '%s %s%s\n' "$("$bin/daemon/keymeshd" --version 2>/dev/null)" \
        "$(git -C "${src:-.}" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
        "$([[ -n $(git -C "${src:-.}" status --porcelain --untracked-files=no 2>/dev/null) ]] && echo -dirty)" ;;
  esac
}
