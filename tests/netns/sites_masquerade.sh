#!/usr/bin/env bash
# sites_masquerade.sh - optional masquerade on a gateway (config `masquerade:`): LAN hosts of a
# site that the overlay cannot route back to reach a remote site, their traffic rewritten to
# the gateway's overlay address as it enters km0 (nftables table `ip keymesh`).
#
#   site A LAN                gateway ga                      gateway gb               site B LAN
#   la 198.19.1.10 --lan0-- 198.19.1.1 | ul0 198.18.0.1 -- 198.18.0.2 ul0 | 198.19.2.1 --lan0-- lb 198.19.2.10
#                           km0 100.64.1.1/10                  km0 100.64.2.1/10
#                           host cert ga 100.64.1.1/32 only    host cert + gateway cert gw-b
#                           (no certificate names 198.19.1.0/24, 198.19.2.0/24, site=b
#                            so nobody routes back to site A)
#
# Policy (both daemons): ga -> 198.19.2.0/24 icmp and tcp/5201.
#
# Checks:
# 1. masquerade off (the default): no nftables table `ip keymesh` exists on ga, and la cannot
#    reach lb (ga counts no_local_identity: 198.19.1.10 is no identity's address);
# 2. masquerade: [198.19.1.0/24]: the table holds one snat rule to 100.64.1.1; la pings lb and
#    sends 1 MiB over TCP (sha256 checked); on site B's LAN every packet from site A has
#    source 100.64.1.1, none a 198.19.1.x source;
# 3. ga killed with SIGKILL leaves the table; the next start replaces it (still one rule) and
#    traffic flows again; SIGTERM deletes it.
KM_TEST=${KM_TEST:-kmrp-masq}
KM_DEADLINE=${KM_DEADLINE:-120}
source "$(dirname "$0")/lib.sh"
need ping python3 tcpdump nft

make_host ga 198.18.0.1
make_host gb 198.18.0.2
make_host la 198.19.1.10
make_host lb 198.19.2.10
link_hosts ga gb
lan() {  # lan GATEWAY LANHOST N
  local g=$1 h=$2 n=$3
  ip -n "$(nsname "$h")" link add lan0 type veth peer name lan0 netns "$(nsname "$g")"
  on "$g" ip addr add "198.19.$n.1/24" dev lan0
  on "$h" ip addr add "198.19.$n.10/24" dev lan0
  on "$g" ip link set lan0 up
  on "$h" ip link set lan0 up
  on "$h" ip route add default via "198.19.$n.1"
  on "$g" sysctl -qw net.ipv4.ip_forward=1
  wait_for "on $h ping -c1 -W1 198.19.$n.1" 10 || fail "LAN of $g: $h cannot reach its gateway"
}
lan ga la 1
lan gb lb 2

pki_root "$KM_TMP"
pki_host "$KM_TMP" ga 1
pki_host "$KM_TMP" gb 2
km_cli cert sign --ca "$KM_TMP/root.crt" --ca-key "$KM_TMP/root.key" --kind ca --name site-b-ca \
  --lifetime 48h --allowed-networks 198.19.2.0/24 --name-pattern 'gw-b*' --max-lifetime 48h \
  --key-out "$KM_TMP/site-b-ca.key" --out "$KM_TMP/site-b-ca.crt" >/dev/null || fail "site CA"
km_cli cert sign --ca "$KM_TMP/site-b-ca.crt" --ca-key "$KM_TMP/site-b-ca.key" --kind gateway \
  --name gw-b --networks 198.19.2.0/24 --labels site=b --lifetime 12h \
  --key-out "$KM_TMP/gw-b.key" --out "$KM_TMP/gw-b.crt" >/dev/null || fail "gateway certificate"
cat "$KM_TMP/gw-b.crt" "$KM_TMP/site-b-ca.crt" >"$KM_TMP/gw-b.chain"
cat >"$KM_TMP/policy.yaml" <<'POLICY'
rules:
  - name: ga-to-site-b
    from: { name: ga }
    to: { cidr: [198.19.2.0/24] }
    allow: [icmp, tcp/5201]
POLICY
km_cert_config "$KM_TMP/ga-off.yaml" ga 1
km_cert_finish "$KM_TMP/ga-off.yaml" -- gw-b@198.18.0.2
cp "$KM_TMP/ga-off.yaml" "$KM_TMP/ga-on.yaml"
echo "masquerade: [198.19.1.0/24]" >>"$KM_TMP/ga-on.yaml"
km_cert_config "$KM_TMP/gb.yaml" gb 2
km_cert_finish "$KM_TMP/gb.yaml" gw-b -- ga@198.18.0.1
start_keymeshd gb "$KM_TMP/gb.yaml" "$KM_TMP/gb.log"

no_local() {  # no_local_identity drops counted by ga
  km_cli status --socket "$KM_TMP/ga.sock" --json | python3 -c '
import json,sys; d={x["reason"]:int(x["count"]) for x in json.load(sys.stdin)["drops"]}; print(d["no_local_identity"])'
}
table_rules() {  # the snat rules in ga's table ip keymesh (fails when there is no table)
  on ga nft list table ip keymesh | grep -c 'snat to 100.64.1.1'
}

# 1. masquerade off: no table, and site A's LAN sources are no identity's
start_keymeshd ga "$KM_TMP/ga-off.yaml" "$KM_TMP/ga-off.log"
wait_for "on ga ip route show dev km0 | grep -q '^198.19.2.0/24'" 5 || fail "1. ga has no route to site B"
on ga nft list table ip keymesh >/dev/null 2>&1 && fail "1. table ip keymesh exists with masquerade off"
on la ping -c2 -W1 198.19.2.10 >/dev/null 2>&1 && fail "1. la reached lb without masquerade"
n=$(no_local)
((n >= 1)) || fail "1. ga counted no no_local_identity drop for la's packets"
stop_keymeshd ga || fail "1. ga did not stop cleanly"
log "1. masquerade off: no nft table, la -> lb dropped on ga (no_local_identity=$n)"

# 2. masquerade on: la reaches lb as 100.64.1.1
start_keymeshd ga "$KM_TMP/ga-on.yaml" "$KM_TMP/ga-on.log"
wait_for "grep -q 'keymeshd up' '$KM_TMP/ga-on.log'" 10 || fail "2. ga did not come up"
rules=$(table_rules) || fail "2. no table ip keymesh on ga: $(on ga nft list ruleset 2>&1 | head -20)"
((rules == 1)) || fail "2. expected one snat rule, found $rules"
capture_start gb lan0 "$KM_TMP/lan-b.pcap"
cap=$KM_LAST_PID
wait_for "on la ping -c1 -W1 198.19.2.10" 15 || fail "2. la cannot ping lb through the masquerading gateway"
make_random_file "$KM_TMP/blob" 1
transfer la lb 198.19.2.10 "$KM_TMP/blob" 0 60 5201 || fail "2. TCP la -> lb:5201 failed"
capture_stop "$cap"
masked=$(pcap_count "$KM_TMP/lan-b.pcap" src host 100.64.1.1 and dst host 198.19.2.10)
leaked=$(pcap_count "$KM_TMP/lan-b.pcap" net 198.19.1.0/24)
# (veth hands tcpdump GRO-merged segments, so 1 MiB is a few dozen packets, not 700)
((masked > 10)) || fail "2. only $masked packets from 100.64.1.1 reached site B's LAN"
((leaked == 0)) || fail "2. $leaked packets with site A addresses on site B's LAN"
log "2. masquerade on: ping and 1 MiB la -> lb; site B saw $masked packets from 100.64.1.1, 0 from 198.19.1.0/24"

# 3. a crash leaves the table; the next start replaces it; a clean stop deletes it
stop_pid "${KM_DAEMON_PID[ga]}" KILL || true
on ga nft list table ip keymesh >/dev/null 2>&1 || fail "3. the table vanished with SIGKILL (test premise)"
start_keymeshd ga "$KM_TMP/ga-on.yaml" "$KM_TMP/ga-on2.log"
# The dead daemon's control socket file is still there, so wait for the start itself.
wait_for "grep -q 'keymeshd up' '$KM_TMP/ga-on2.log'" 10 || fail "3. ga did not come up again"
rules=$(table_rules) || fail "3. no table after the restart"
((rules == 1)) || fail "3. $rules snat rules after the restart (stale table not replaced)"
wait_for "on la ping -c1 -W1 198.19.2.10" 15 || fail "3. la cannot ping lb after the restart"
stop_keymeshd ga || fail "3. ga did not stop cleanly"
on ga nft list table ip keymesh >/dev/null 2>&1 && fail "3. table ip keymesh left behind after SIGTERM"
grep -q 'masquerade: table ip keymesh deleted' "$KM_TMP/ga-on2.log" || fail "3. no deletion in ga's log"
log "3. restart after SIGKILL replaced the table (1 rule), SIGTERM deleted it"
