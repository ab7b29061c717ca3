#!/usr/bin/env bash
# sites_gateway.sh - two sites linked through keymesh gateways: a LAN host in site A reaches a
# LAN host in site B through the gateways, encrypted between them, under policy that selects
# by the site label and by CIDR.
#
#   site A LAN                gateway ga                     gateway gb               site B LAN
#   la 198.19.1.10 --lan0-- 198.19.1.1 | ul0 198.18.0.1 -- 198.18.0.2 ul0 | 198.19.2.1 --lan0-- lb 198.19.2.10
#                           km0 100.64.1.1/10                 km0 100.64.2.1/10
#
# Each gateway holds its host certificate (100.64.N.1/32) and a gateway certificate
# (kind gateway, networks = its LAN, label site=a|b) issued by a site CA whose
# allowed_networks is that LAN. The other gateway is in `directory:`. ip_forward is switched
# on by the test (the operator's job on a real gateway). Policy: site a -> 198.19.2.0/24 may
# use icmp and tcp/5201; nothing is granted from site b.
#
# Checks:
# 1. each gateway installed a kernel route for the other site's subnet via km0 (from the
#    remote gateway identity; no route was configured);
# 2. la pings lb and sends a 2 MiB file over TCP to lb:5201 (sha256 checked); on the
#    underlay between the gateways only keymesh UDP is seen, no 198.19.x packet in clear;
# 3. refused: la -> lb tcp/5202 (port not granted), lb -> la ping and tcp/5201 (direction
#    not granted); each is audited as denied by policy on the sending gateway;
# 4. gw-b revoked on ga (its revocation list file changes): ga's route to site B goes away
#    within 2 s, and la no longer reaches lb.
KM_DEADLINE=${KM_DEADLINE:-150}
source "$(dirname "$0")/lib.sh"
need ping python3 tcpdump
PROBE="$KM_LIB_DIR/netprobe.py"

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
declare -A N=([ga]=1 [gb]=2) SITE=([ga]=a [gb]=b)
for g in ga gb; do
  pki_host "$KM_TMP" "$g" "${N[$g]}"
  s=${SITE[$g]}
  km_cli cert sign --ca "$KM_TMP/root.crt" --ca-key "$KM_TMP/root.key" --kind ca \
    --name "site-$s-ca" --lifetime 48h --allowed-networks "198.19.${N[$g]}.0/24" \
    --name-pattern "gw-$s*" --max-lifetime 48h --key-out "$KM_TMP/site-$s-ca.key" \
    --out "$KM_TMP/site-$s-ca.crt" >/dev/null || fail "site CA $s"
  km_cli cert sign --ca "$KM_TMP/site-$s-ca.crt" --ca-key "$KM_TMP/site-$s-ca.key" \
    --kind gateway --name "gw-$s" --networks "198.19.${N[$g]}.0/24" --groups gateways \
    --labels "site=$s" --lifetime 12h --key-out "$KM_TMP/gw-$s.key" \
    --out "$KM_TMP/gw-$s.crt" >/dev/null || fail "gateway certificate gw-$s"
  cat "$KM_TMP/gw-$s.crt" "$KM_TMP/site-$s-ca.crt" >"$KM_TMP/gw-$s.chain"
done
cat >"$KM_TMP/policy.yaml" <<'POLICY'
rules:
  - name: site-a-to-b-web
    from: { labels: { site: a } }
    to: { cidr: [198.19.2.0/24] }
    allow: [icmp, tcp/5201]
POLICY
km_cert_config "$KM_TMP/ga.yaml" ga 1
km_cert_finish "$KM_TMP/ga.yaml" gw-a -- gw-b@198.18.0.2
km_cert_config "$KM_TMP/gb.yaml" gb 2
km_cert_finish "$KM_TMP/gb.yaml" gw-b -- gw-a@198.18.0.1
start_keymeshd ga "$KM_TMP/ga.yaml" "$KM_TMP/ga.log"
start_keymeshd gb "$KM_TMP/gb.yaml" "$KM_TMP/gb.log"

# 1. site routes from the remote gateway identities
wait_for "on ga ip route show dev km0 | grep -q '^198.19.2.0/24'" 5 ||
  fail "1. ga has no route to site B via km0: $(on ga ip route show dev km0)"
wait_for "on gb ip route show dev km0 | grep -q '^198.19.1.0/24'" 5 ||
  fail "1. gb has no route to site A via km0: $(on gb ip route show dev km0)"
on ga ip route show dev km0 | grep -q '^198.19.1.0/24' && fail "1. ga routes its own LAN into km0"
log "1. site routes installed: ga: $(on ga ip route show dev km0 | grep 198.19 | tr '\n' ' ')"

# 2. la -> lb through the gateways, encrypted between them
capture_start ga ul0 "$KM_TMP/ul0.pcap"
cap=$KM_LAST_PID
wait_for "on la ping -c1 -W1 198.19.2.10" 15 || fail "2. la cannot ping lb through the gateways"
make_random_file "$KM_TMP/blob" 2
transfer la lb 198.19.2.10 "$KM_TMP/blob" 0 60 5201 || fail "2. TCP la -> lb:5201 failed"
capture_stop "$cap"
clear=$(pcap_count "$KM_TMP/ul0.pcap" net 198.19.0.0/16)
sealed=$(pcap_count "$KM_TMP/ul0.pcap" udp port 51820)
((clear == 0)) || fail "2. $clear packets of the sites seen in clear between the gateways"
((sealed > 1000)) || fail "2. only $sealed keymesh datagrams between the gateways for 2 MiB"
log "2. la -> lb: ping and 2 MiB over TCP; underlay: $sealed keymesh datagrams, 0 in clear"

# 3. what the policy refuses
spawn lb "$KM_TMP/lb-5202.log" "$KM_PY" "$PROBE" serve-tcp 198.19.2.10 5202
wait_for "grep -q LISTENING '$KM_TMP/lb-5202.log'" 5 || fail "probe server on lb"
spawn la "$KM_TMP/la-5201.log" "$KM_PY" "$PROBE" serve-tcp 198.19.1.10 5201
wait_for "grep -q LISTENING '$KM_TMP/la-5201.log'" 5 || fail "probe server on la"
on la "$KM_PY" "$PROBE" connect 198.19.1.10 198.19.2.10 5202 3 >/dev/null 2>&1 &&
  fail "3. la reached lb on tcp/5202, which no rule grants"
on lb ping -c2 -W1 198.19.1.10 >/dev/null 2>&1 && fail "3. lb pinged la (site b -> a not granted)"
on lb "$KM_PY" "$PROBE" connect 198.19.2.10 198.19.1.10 5201 3 >/dev/null 2>&1 &&
  fail "3. lb reached la on tcp/5201 (site b -> a not granted)"
# Still fine the granted way after the refusals.
on la ping -c1 -W2 198.19.2.10 >/dev/null || fail "3. la -> lb ping stopped working"
# Refused by policy on the sending gateway (not lost on the way): its audit log says why.
grep -q '"local":{"name":"gw-a".*"reason":"no rule grants tcp/5202 from gw-a to ' "$KM_TMP/ga-audit.jsonl" ||
  fail "3. ga audited no policy denial of tcp/5202"
for what in icmp tcp/5201; do
  grep -q "\"local\":{\"name\":\"gw-b\".*\"reason\":\"no rule grants $what from gw-b to " "$KM_TMP/gb-audit.jsonl" ||
    fail "3. gb audited no policy denial of $what towards site A"
done
log "3. refused by policy and audited: la -> lb tcp/5202 (on ga), lb -> la icmp and tcp/5201 (on gb)"

# 4. a revoked gateway loses its site route
fp=$(km_cli cert show --json "$KM_TMP/gw-b.crt" | python3 -c 'import json,sys; print(json.load(sys.stdin)["fingerprint"])')
km_cli crl sign --ca "$KM_TMP/root.crt" --ca-key "$KM_TMP/root.key" --revoke "$fp" \
  --out "$KM_TMP/crl-new.pem" >/dev/null || fail "4. crl sign"
mv "$KM_TMP/crl-new.pem" "$KM_TMP/ga-crl.pem"
wait_for "! on ga ip route show dev km0 | grep -q '^198.19.2.0/24'" 2 0.05 ||
  fail "4. ga still routes site B via km0 after revoking gw-b"
grep -q 'site route 198.19.2.0/24 via km0 removed' "$KM_TMP/ga.log" || fail "4. no removal in ga's log"
on la ping -c2 -W1 198.19.2.10 >/dev/null 2>&1 && fail "4. la still reaches lb after gw-b was revoked"
log "4. gw-b revoked on ga: the route to 198.19.2.0/24 is gone and lb is unreachable"
