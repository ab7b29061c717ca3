#!/usr/bin/env bash
# access_wg_quick.sh - a person without keymesh (issue 19, section 1): `keymesh access export
# --wg-quick` writes a config for a stock WireGuard client bound to a raw-key identity with
# the person's name and groups; Debian's wireguard-go, configured from that file with
# `wg-quick strip` + `wg setconf` (what wg-quick does with a userspace implementation), reaches
# the database on tcp/5432 and nothing else. PKI and d: tests/netns/access_setup.sh.
#
#   wireguard-go w                                         d (keymeshd)
#   198.18.0.3 ul0 ---------------------------------- ul0 198.18.0.10
#   kmq<pid> 100.64.21.1/32 (raw peer alice-wg, [oncall])  km0 100.64.2.1/10, db-1 100.64.2.10
#
# Scenarios:
# 1. The export: a 0600 wg-quick file that `wg-quick strip` accepts, and a peers: entry for d
#    naming alice-wg with alice's groups (from her user certificate) and subject.
# 2. w connects to db-1 tcp/5432 (policy rule oncall-db-wireguard selects the raw peer by
#    group); `wg show` has a handshake.
# 3. Nothing else: tcp/22 gets nowhere, and d audits packet_denied naming alice-wg, her group
#    and "no rule grants tcp/22 from alice-wg to db-1".
KM_DEADLINE=${KM_DEADLINE:-120}
source "$(dirname "$0")/lib.sh"
need python3 wireguard-go wg wg-quick

make_host d 198.18.0.10
make_host w 198.18.0.3
link_hosts d w
source "$(dirname "$0")/access_setup.sh"

# 1. the export
km_cli key pub <"$KM_TMP/d.key" >"$KM_TMP/d.pub" || fail "public key of d"
conf="$KM_TMP/kmwq.conf"
km_cli access export --wg-quick --cert "$KM_TMP/alice.chain" --name alice-wg \
  --address 100.64.21.1 --server-public-key "$(cat "$KM_TMP/d.pub")" \
  --endpoint 198.18.0.10:51820 --allowed-ips 100.64.2.10/32 --out "$conf" \
  >"$KM_TMP/peer.yaml" || fail "1. access export: $(cat "$KM_TMP/peer.yaml")"
[[ $(stat -c %a "$conf") == 600 ]] || fail "1. $conf is not 0600"
grep -q '^  - name: alice-wg$' "$KM_TMP/peer.yaml" && grep -q 'groups: \[oncall\]' "$KM_TMP/peer.yaml" &&
  grep -q 'subject: "alice@example.com"' "$KM_TMP/peer.yaml" ||
  fail "1. the peers: entry lacks name, groups or subject: $(cat "$KM_TMP/peer.yaml")"
wg-quick strip "$conf" >"$KM_TMP/kmwq.wg" 2>"$KM_TMP/strip.err" ||
  fail "1. wg-quick strip refused the export: $(cat "$KM_TMP/strip.err")"
{ echo "peers:"; grep -v '^#' "$KM_TMP/peer.yaml"; } >>"$KM_TMP/d.yaml"
access_start_d
log "1. exported: $(grep -c . "$KM_TMP/kmwq.wg") wg lines; d has raw peer alice-wg [oncall]"

# 2. the stock client, set up from the file as wg-quick would
wif="kmq${KM_RUN}"
wif=${wif:0:15}
start_wggo w "$wif" "$KM_TMP/w.log"
on w wg setconf "$wif" "$KM_TMP/kmwq.wg" || fail "2. wg setconf"
addr=$(awk -F' = ' '$1 == "Address" {print $2}' "$conf")
mtu=$(awk -F' = ' '$1 == "MTU" {print $2}' "$conf")
on w ip addr add "$addr" dev "$wif"
on w ip link set "$wif" mtu "$mtu" up
for net in $(awk -F' = ' '$1 == "AllowedIPs" {gsub(/,/, " ", $2); print $2}' "$conf"); do
  on w ip route add "$net" dev "$wif"
done
probe() { local h=$1; shift; on "$h" "$KM_PY" "$PROBE" "$@"; }
wait_for "probe w connect 100.64.21.1 $DB 5432 2" 15 || fail "2. w -> db-1 tcp/5432 did not connect"
hs=$(on w wg show "$wif" latest-handshakes | awk '{print $2}')
((hs > 0)) || fail "2. wireguard-go has no handshake"
log "2. wireguard-go w -> db-1 tcp/5432 connected (raw peer alice-wg, rule oncall-db-wireguard)"

# 3. and nothing else
probe w connect 100.64.21.1 "$DB" 22 3 >/dev/null 2>&1 && fail "3. w reached db-1 on tcp/22"
wait_for "grep '\"event\":\"packet_denied\"' '$KM_TMP/d-audit.jsonl' | grep -q '\"remote\":{\"name\":\"alice-wg\",\"fingerprint\":\"\",\"groups\":\[\"oncall\"\]}.*no rule grants tcp/22 from alice-wg to db-1'" 3 ||
  fail "3. no packet_denied naming alice-wg: $(tail -n3 "$KM_TMP/d-audit.jsonl")"
probe w connect 100.64.21.1 "$DB" 5432 3 >/dev/null || fail "3. tcp/5432 stopped working"
log "3. tcp/22 from the stock client refused and audited naming alice-wg [oncall]"
daemon_alive d || fail "d died"
