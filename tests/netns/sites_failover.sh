#!/usr/bin/env bash
# sites_failover.sh - site B has two gateways for its subnet; when the one carrying the traffic
# dies mid-stream, site A's gateway moves to the other within a few seconds, and a TCP
# transfer running across the failover completes intact.
#
#   site A                         underlay bridge                    site B
#   la 198.19.1.10 --lan0-- ga 198.19.1.1 | ul0 198.18.0.1 --+-- 198.18.0.2 ul0 | gb1 198.19.12.1 --lan1--+
#                                                            |                                          lb (198.19.2.10/32 on lo)
#                                                            +-- 198.18.0.3 ul0 | gb2 198.19.13.1 --lan2--+
#
# gw-b1 and gw-b2 both hold a gateway certificate for 198.19.2.0/24 (label site=b); ga knows
# both from `directory:` (both records are kept, candidates in name order). lb routes site A
# via gb1 (metric 10) and via gb2 (metric 20). Policy: site a -> 198.19.2.0/24 icmp, tcp/5201.
# Killing gb1 = SIGKILL its keymeshd and delete its namespace (its links vanish, so lb's route
# through it goes too, as when a machine dies).
# Checks:
# 1. ga lists 198.19.2.0/24 with candidates gw-b1, gw-b2, via gw-b1; la reaches lb and the
#    traffic flows through gw-b1 (ga's path counters; no path to gw-b2 yet);
# 2. with a ping at 10/s and a TCP transfer running, gb1 dies: ga logs and audits
#    `site failover: 198.19.2.0/24 gw-b1 -> gw-b2`, status says via gw-b2, the longest gap
#    between ping replies is under 6 s, and the transfer completes with the right sha256.
KM_DEADLINE=${KM_DEADLINE:-100}
source "$(dirname "$0")/lib.sh"
need ping python3

make_host ga 198.18.0.1
make_host gb1 198.18.0.2
make_host gb2 198.18.0.3
make_host la 198.19.1.10
make_host lb 198.19.2.10
link_hosts ga gb1 gb2
veth() {  # veth A IF_A ADDR_A B IF_B ADDR_B
  ip -n "$(nsname "$1")" link add "$2" type veth peer name "$5" netns "$(nsname "$4")"
  on "$1" ip addr add "$3/24" dev "$2"
  on "$4" ip addr add "$6/24" dev "$5"
  on "$1" ip link set "$2" up
  on "$4" ip link set "$5" up
}
veth la lan0 198.19.1.10 ga lan0 198.19.1.1
on la ip route add default via 198.19.1.1
veth lb lan1 198.19.12.10 gb1 lan0 198.19.12.1
veth lb lan2 198.19.13.10 gb2 lan0 198.19.13.1
on lb ip addr add 198.19.2.10/32 dev lo
on lb sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
  net.ipv4.conf.lan1.rp_filter=0 net.ipv4.conf.lan2.rp_filter=0
on lb ip route add 198.19.1.0/24 via 198.19.12.1 metric 10
on lb ip route add 198.19.1.0/24 via 198.19.13.1 metric 20
for g in ga gb1 gb2; do on "$g" sysctl -qw net.ipv4.ip_forward=1; done
on gb1 ip route add 198.19.2.0/24 via 198.19.12.10
on gb2 ip route add 198.19.2.0/24 via 198.19.13.10

pki_root "$KM_TMP"
declare -A N=([ga]=1 [gb1]=2 [gb2]=3) NAME=([ga]=gw-a [gb1]=gw-b1 [gb2]=gw-b2)
declare -A SITE=([ga]=a [gb1]=b [gb2]=b) NET=([ga]=198.19.1.0/24 [gb1]=198.19.2.0/24 [gb2]=198.19.2.0/24)
for s in a b; do
  [[ $s == a ]] && net=198.19.1.0/24 || net=198.19.2.0/24
  km_cli cert sign --ca "$KM_TMP/root.crt" --ca-key "$KM_TMP/root.key" --kind ca \
    --name "site-$s-ca" --lifetime 48h --allowed-networks "$net" --name-pattern "gw-$s*" \
    --max-lifetime 48h --key-out "$KM_TMP/site-$s-ca.key" --out "$KM_TMP/site-$s-ca.crt" \
    >/dev/null || fail "site CA $s"
done
for g in ga gb1 gb2; do
  pki_host "$KM_TMP" "$g" "${N[$g]}"
  s=${SITE[$g]} n=${NAME[$g]}
  km_cli cert sign --ca "$KM_TMP/site-$s-ca.crt" --ca-key "$KM_TMP/site-$s-ca.key" \
    --kind gateway --name "$n" --networks "${NET[$g]}" --labels "site=$s" --lifetime 12h \
    --key-out "$KM_TMP/$n.key" --out "$KM_TMP/$n.crt" >/dev/null || fail "gateway certificate $n"
  cat "$KM_TMP/$n.crt" "$KM_TMP/site-$s-ca.crt" >"$KM_TMP/$n.chain"
done
cat >"$KM_TMP/policy.yaml" <<'POLICY'
rules:
  - name: site-a-to-b
    from: { labels: { site: a } }
    to: { cidr: [198.19.2.0/24] }
    allow: [icmp, tcp/5201]
POLICY
for g in ga gb1 gb2; do km_cert_config "$KM_TMP/$g.yaml" "$g" "${N[$g]}"; done
km_cert_finish "$KM_TMP/ga.yaml" gw-a -- gw-b1@198.18.0.2 gw-b2@198.18.0.3
km_cert_finish "$KM_TMP/gb1.yaml" gw-b1 -- gw-a@198.18.0.1
km_cert_finish "$KM_TMP/gb2.yaml" gw-b2 -- gw-a@198.18.0.1
for g in ga gb1 gb2; do start_keymeshd "$g" "$KM_TMP/$g.yaml" "$KM_TMP/$g.log"; done

status() { km_cli status --socket "$KM_TMP/ga.sock" --json; }
# site_field FIELD : a field of ga's status entry for 198.19.2.0/24
site_field() {
  status | python3 -c '
import json, sys
s = [x for x in json.load(sys.stdin).get("sites", []) if x.get("network") == "198.19.2.0/24"]
v = s[0].get(sys.argv[1], "") if s else ""
print(",".join(v) if isinstance(v, list) else v)' "$1"
}
# path_tx NAME : bytes ga sent on its path to NAME (0 when there is none)
path_tx() {
  status | python3 -c '
import json, sys
print(sum(int(p.get("tx_bytes", 0)) for p in json.load(sys.stdin).get("peers", []) if p.get("name") == sys.argv[1]))' "$1"
}

# 1. both gateways are candidates; traffic goes via gw-b1
wait_for "[[ \$(site_field candidates) == gw-b1,gw-b2 ]]" 5 ||
  fail "1. ga does not list both gateways for 198.19.2.0/24: $(status | head -c 2000)"
[[ $(site_field via) == gw-b1 ]] || fail "1. ga routes 198.19.2.0/24 via '$(site_field via)', want gw-b1"
wait_for "on ga ip route show dev km0 | grep -q '^198.19.2.0/24'" 5 || fail "1. ga has no route to site B"
wait_for "on gb1 ip route show dev km0 | grep -q '^198.19.1.0/24'" 5 || fail "1. gb1 has no route to site A"
wait_for "on gb2 ip route show dev km0 | grep -q '^198.19.1.0/24'" 5 || fail "1. gb2 has no route to site A"
wait_for "on la ping -c1 -W1 198.19.2.10" 15 || fail "1. la cannot ping lb"
on la ping -c5 -i 0.1 -W1 198.19.2.10 >/dev/null || fail "1. la -> lb pings lost"
tx1=$(path_tx gw-b1) tx2=$(path_tx gw-b2)
((tx1 > 0 && tx2 == 0)) || fail "1. ga sent $tx1 bytes to gw-b1 and $tx2 to gw-b2 (want all via gw-b1)"
log "1. 198.19.2.0/24: candidates gw-b1, gw-b2, via gw-b1 ($tx1 bytes sent there, none to gw-b2)"

# 2. gb1 dies mid-stream
spawn la "$KM_TMP/ping.log" ping -D -i 0.1 -W1 -w 30 198.19.2.10
ping_pid=$KM_LAST_PID
make_random_file "$KM_TMP/blob" 4
transfer_start la lb 198.19.2.10 "$KM_TMP/blob" 400000 40 5201   # ~10 s at 400 kB/s
sleep 3
transfer_running || fail "2. the transfer ended before the failover"
kill -KILL "${KM_DAEMON_PID[gb1]}"
wait "${KM_DAEMON_PID[gb1]}" 2>/dev/null || true
ip netns del "$(nsname gb1)"
t_kill=$EPOCHREALTIME
log "2. gb1 killed (keymeshd SIGKILLed, namespace deleted)"
wait_for "grep -q 'site failover: 198.19.2.0/24 gw-b1 -> gw-b2' '$KM_TMP/ga.log'" 10 0.1 ||
  fail "2. no failover in ga's log"
t_switch=$(awk -v a="$EPOCHREALTIME" -v b="$t_kill" 'BEGIN{printf "%.1f", a-b}')
transfer_finish || fail "2. the TCP transfer across the failover failed"
stop_pid "$ping_pid" INT || true
gap=$(awk -F'[][]' '/bytes from/ { t = $2 + 0; if (p && t - p > g) g = t - p; p = t } END { printf "%.1f", g }' "$KM_TMP/ping.log")
replies_after=$(awk -F'[][]' -v k="${t_kill/,/.}" '/bytes from/ && $2 + 0 > k { n++ } END { print n + 0 }' "$KM_TMP/ping.log")
log "2. failover logged $t_switch s after the kill; longest gap between ping replies $gap s; $replies_after replies after the kill"
awk -v g="$gap" 'BEGIN{exit !(g > 0 && g < 6.0)}' || fail "2. ping gap across the failover: $gap s (want < 6 s)"
((replies_after > 20)) || fail "2. only $replies_after ping replies after gb1 died"
[[ $(site_field via) == gw-b2 ]] || fail "2. ga still routes via '$(site_field via)'"
tx2=$(path_tx gw-b2)
((tx2 > 1000000)) || fail "2. only $tx2 bytes went to gw-b2 after the failover"
grep -q '"event":"site_failover".*"remote":{"name":"gw-b2".*198.19.2.0/24 gw-b1 -> gw-b2 (no answer for' "$KM_TMP/ga-audit.jsonl" ||
  fail "2. no site_failover audit line on ga"
log "2. $(grep -o 'site failover: .*' "$KM_TMP/ga.log" | head -1); $tx2 bytes via gw-b2; audited"
