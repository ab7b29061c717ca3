#!/usr/bin/env bash
# Real-kernel test of tun::LinuxTun and tun/netlink.cpp, in a namespace of its own.
#
#   netns kmt-tun-<pid>
#   ┌────────────────────────────────────────────────────────────┐
#   │  ping 100.64.10.5 ──▶ route 100.64.10.0/24 dev kmtun0      │
#   │                          │                 ▲               │
#   │                          ▼ echo request    │ echo reply    │
#   │  kmtun0 (TUN, mtu 1380) 100.64.9.1/24, fd00:6b6d::1/64     │
#   │                          │                 │               │
#   │                          ▼ read()          │ write()       │
#   │                       tun_probe ───────────┘               │
#   │  kmtun0-mq (TUN, multi-queue, 2 queues)                    │
#   └────────────────────────────────────────────────────────────┘
# Only 100.64.0.0/10 and fd00:6b6d::/64 are used, and only inside the namespace.
set -euo pipefail

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; echo "--- probe output:"; cat "$OUT" 2>/dev/null || true; exit 1; }

[[ $(id -u) -eq 0 ]] || skip "needs root"
[[ -c /dev/net/tun ]] || skip "no /dev/net/tun"
command -v ip >/dev/null || skip "no ip(8)"
BUILD=${KEYMESH_BUILD_DIR:?KEYMESH_BUILD_DIR must point at the build directory}
PROBE=$BUILD/tests/netns/tun_probe
[[ -x $PROBE ]] || fail "$PROBE not built (ninja tun_probe)"
if command -v ping >/dev/null; then PING=(ping); else PING=(busybox ping); fi

NS=kmt-tun-$$
OUT=$(mktemp)
PROBE_PID=
cleanup() {
  if [[ -n $PROBE_PID ]] && kill -0 "$PROBE_PID" 2>/dev/null; then
    kill "$PROBE_PID" 2>/dev/null || true
    wait "$PROBE_PID" 2>/dev/null || true
  fi
  ip netns del "$NS" 2>/dev/null || true
  rm -f "$OUT"
}
trap cleanup EXIT
nsx() { timeout 10 ip netns exec "$NS" "$@"; }

ip netns add "$NS"
ip -n "$NS" link set lo up

# Scenario 1: the probe creates and configures the interfaces, then waits for packets.
timeout 60 ip netns exec "$NS" "$PROBE" kmtun0 1380 >"$OUT" 2>&1 &
PROBE_PID=$!
for _ in $(seq 100); do
  grep -q '^ready$' "$OUT" && break
  kill -0 "$PROBE_PID" 2>/dev/null || fail "probe exited before it was ready"
  sleep 0.1
done
grep -q '^ready$' "$OUT" || fail "probe not ready after 10 s"

# Scenario 2: what the kernel reports matches what netlink.cpp asked for.
link=$(nsx ip -d link show kmtun0) || fail "kmtun0 does not exist"
grep -q 'mtu 1380' <<<"$link" || fail "kmtun0 MTU is not 1380: $link"
grep -q 'tun type tun pi off' <<<"$link" || fail "kmtun0 is not a TUN without PI: $link"
grep -q '[<,]UP[,>]' <<<"$link" || fail "kmtun0 is not up: $link"
grep -q 'multi_queue' <<<"$link" && fail "kmtun0 should be single-queue: $link"
mq=$(nsx ip -d link show kmtun0-mq) || fail "kmtun0-mq does not exist"
grep -q 'multi_queue' <<<"$mq" || fail "kmtun0-mq is not multi-queue: $mq"

addr=$(nsx ip addr show dev kmtun0) || fail "ip addr failed"
[[ $(grep -c 'inet 100.64.9.1/24' <<<"$addr") -eq 1 ]] || fail "IPv4 address missing or doubled: $addr"
[[ $(grep -c 'inet6 fd00:6b6d::1/64' <<<"$addr") -eq 1 ]] || fail "IPv6 address missing or doubled: $addr"

routes=$(nsx ip route show dev kmtun0) || fail "ip route failed"
grep -q '^100.64.10.0/24 .*scope link' <<<"$routes" || fail "route 100.64.10.0/24 missing: $routes"
grep -q '100.64.11.0/24' <<<"$routes" && fail "deleted route 100.64.11.0/24 still there: $routes"
routes6=$(nsx ip -6 route show dev kmtun0) || fail "ip -6 route failed"
grep -q '^fd00:6b6d::/64' <<<"$routes6" || fail "IPv6 prefix route missing: $routes6"

# Scenario 3: errors name the operation, the interface and the kernel's reason.
grep -q '^expected failure: netlink: add address 100.64.9.1/24 to kmt-missing0: No such device$' "$OUT" \
  || fail "missing-interface error message has the wrong shape"
grep -q '^expected failure: netlink: set mtu 100000 on link kmtun0: ' "$OUT" \
  || fail "bad-MTU error message missing"

# Scenario 4: a ping leaves through the TUN (probe reads it) and is answered through it
# (probe writes the reply): the ping succeeds only if both directions work.
pinged=0
for _ in 1 2 3 4 5; do
  if nsx "${PING[@]}" -c 1 -W 2 100.64.10.5 >/dev/null 2>&1; then pinged=1; break; fi
  kill -0 "$PROBE_PID" 2>/dev/null || break
done
rc=0
wait "$PROBE_PID" || rc=$?
PROBE_PID=
[[ $rc -eq 0 ]] || fail "probe exited with $rc"
grep -q '^oversized packet reported as EMSGSIZE$' "$OUT" || fail "oversized read not reported"
grep -Eq '^packet len=[0-9]+ src=100\.64\.9\.1 dst=100\.64\.10\.5$' "$OUT" \
  || fail "probe did not print the echo request"
grep -q '^replied$' "$OUT" || fail "probe did not reply"
[[ $pinged -eq 1 ]] || fail "ping got no reply through the TUN"

# Scenario 5: closing the TUN removes the (non-persistent) interfaces.
nsx ip link show kmtun0 >/dev/null 2>&1 && fail "kmtun0 outlived its fd"

echo "--- probe output:"
cat "$OUT"
echo "PASS"
