#!/usr/bin/env bash
# path_mtu.sh - path MTU that TCP can follow: when the underlay's MTU shrinks under a running
# transfer, keymeshd answers the inner sender with ICMP "fragmentation needed" through km0,
# and the transfer completes without anyone lowering interface.mtu.
#
#   ns ...-a: keymeshd, km0 100.64.3.1/24 (mtu 1420), ul0 198.18.0.1/24 ==veth== ns ...-b (.2)
#
# 1. A 40 MB TCP transfer a->b at 8 MB/s; 1 s in, a's underlay MTU drops 1500 -> 1280. The
#    transfer completes with the sha256 matching; a's keymeshd logs the learned path MTU and
#    counts too_big_for_path.
# 2. ping -M do -s 1300 (a 1328-byte packet, over the 1216-byte inner limit) learns mtu 1216
#    (from keymeshd's answer, or from the route the kernel already lowered in 1); -s 1100 passes.
KM_DEADLINE=${KM_DEADLINE:-150}
source "$(dirname "$0")/lib.sh"
need ping sha256sum

make_host a 198.18.0.1
make_host b 198.18.0.2
link_hosts a b
km_pair_configs
start_keymeshd a "$KM_TMP/a.yaml" "$KM_TMP/a.log"
start_keymeshd b "$KM_TMP/b.yaml" "$KM_TMP/b.log"
wait_ping a "$(ov_ip b)" 15 || fail "a cannot ping b over the overlay"

# 1. the underlay shrinks under a transfer
make_random_file "$KM_TMP/big" 40
transfer_start a b "$(ov_ip b)" "$KM_TMP/big" $((8 * 1024 * 1024)) 60 5301
sleep 1
transfer_running || fail "1. the transfer ended before the MTU changed; the test proves nothing"
on a ip link set ul0 mtu 1280
t0=$EPOCHREALTIME
transfer_finish || fail "1. the transfer did not complete after the underlay MTU dropped to 1280"
log "1. 40 MB transfer completed, sha256 matching, after the underlay MTU dropped to 1280 mid-transfer ($(echo "$EPOCHREALTIME - $t0" | bc) s after the change)"
grep -q "path MTU to 198.18.0.2:51820 is 1280: inner packets over 1216 bytes" "$KM_TMP/a.log" ||
  fail "1. keymeshd did not log the learned path MTU: $(grep -i 'path mtu' "$KM_TMP/a.log" | head -3)"
too_big=$(km_cli status --json --socket "$KM_TMP/a.sock" |
  jq '[.drops[]? | select(.reason == "too_big_for_path") | .count | tonumber][0] // 0')
((too_big > 0)) || fail "1. keymesh status counts no too_big_for_path drops"
log "1. keymeshd logged the path MTU (1280, inner limit 1216) and counted $too_big too_big_for_path drops"

# 2. what ping sees
out=$(on a ping -c 1 -W 2 -M do -s 1300 "$(ov_ip b)" 2>&1 || true)
grep -Eq "mtu ?= ?1216" <<<"$out" || fail "2. ping -M do -s 1300 did not learn mtu 1216: $out"
on a ping -c 2 -W 2 -M do -s 1100 "$(ov_ip b)" >/dev/null || fail "2. ping -s 1100 under the limit was lost"
log "2. ping -M do -s 1300: '$(grep -Eo '[^:]*mtu ?= ?1216' <<<"$out" | head -1)'; -s 1100 passes"
