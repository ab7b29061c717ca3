#!/usr/bin/env bash
# sites_wireguard_policy.sh - a stock WireGuard endpoint (wireguard-go) linked as a site by its
# raw key is a policy subject: rules select it by its config labels and by CIDR, every packet
# to and from it goes through policy and connection tracking, refusals are counted and
# audited naming the raw peer.
#
#   site A LAN                 keymesh gateway ga                          wireguard-go w
#   la 198.19.1.10 --lan0-- 198.19.1.1 | ul0 198.18.0.1 ------------- 198.18.0.3 ul0
#                           km0 100.64.1.1/10 (gateway cert gw-a,            wg0 100.64.9.1/32
#                           198.19.1.0/24, site=a; raw peer cloud-x-vpn:
#                           100.64.9.1/32, labels site=cloud-x)
#
# Policy on ga:
#   cloud-x-in:       from { labels: site=cloud-x }   to { labels: site=a }        icmp, tcp/8080
#   lan-to-cloud-x:   from { cidr: 198.19.1.0/24 }    to { cidr: 100.64.9.0/24 }   tcp/2222
#
# Checks:
# 1. w pings la and sends 1 MiB to la:8080 over TCP (sha256 checked): the replies pass as
#    replies of allowed flows (nothing grants site a -> cloud-x icmp or tcp from 8080);
# 2. w -> la tcp/9999 gets no answer; ga counts policy_denied and audits a packet_denied
#    line whose remote is the raw peer cloud-x-vpn; la -> w ping (not granted that way) fails;
# 3. the CIDR rule: la reaches w on tcp/2222, not on tcp/2223;
# 4. `keymesh policy check` names the raw peer: cloud-x-vpn -> gw-a tcp/8080 allowed by
#    cloud-x-in, tcp/9999 denied.
KM_TEST=${KM_TEST:-kmrp-wgpol}
KM_DEADLINE=${KM_DEADLINE:-120}
source "$(dirname "$0")/lib.sh"
need ping python3 wireguard-go wg
PROBE="$KM_LIB_DIR/netprobe.py"

make_host ga 198.18.0.1
make_host w 198.18.0.3
make_host la 198.19.1.10
link_hosts ga w
ip -n "$(nsname la)" link add lan0 type veth peer name lan0 netns "$(nsname ga)"
on ga ip addr add 198.19.1.1/24 dev lan0
on la ip addr add 198.19.1.10/24 dev lan0
on ga ip link set lan0 up
on la ip link set lan0 up
on la ip route add default via 198.19.1.1
on ga sysctl -qw net.ipv4.ip_forward=1
wait_for "on la ping -c1 -W1 198.19.1.1" 10 || fail "la cannot reach its gateway"

pki_root "$KM_TMP"
pki_host "$KM_TMP" ga 1
km_cli cert sign --ca "$KM_TMP/root.crt" --ca-key "$KM_TMP/root.key" --kind ca --name site-a-ca \
  --lifetime 48h --allowed-networks 198.19.1.0/24 --name-pattern 'gw-a*' --max-lifetime 48h \
  --key-out "$KM_TMP/site-a-ca.key" --out "$KM_TMP/site-a-ca.crt" >/dev/null || fail "site CA"
km_cli cert sign --ca "$KM_TMP/site-a-ca.crt" --ca-key "$KM_TMP/site-a-ca.key" --kind gateway \
  --name gw-a --networks 198.19.1.0/24 --labels site=a --lifetime 12h \
  --key-out "$KM_TMP/gw-a.key" --out "$KM_TMP/gw-a.crt" >/dev/null || fail "gateway certificate"
cat "$KM_TMP/gw-a.crt" "$KM_TMP/site-a-ca.crt" >"$KM_TMP/gw-a.chain"
cat >"$KM_TMP/policy.yaml" <<'POLICY'
rules:
  - name: cloud-x-in
    from: { labels: { site: cloud-x } }
    to: { labels: { site: a } }
    allow: [icmp, tcp/8080]
  - name: lan-to-cloud-x
    from: { cidr: [198.19.1.0/24] }
    to: { cidr: [100.64.9.0/24] }
    allow: [tcp/2222]
POLICY
gen_keypair "$KM_TMP" w
km_cli key pub <"$KM_TMP/ga.key" >"$KM_TMP/ga.pub" || fail "public key of ga"
km_cert_config "$KM_TMP/ga.yaml" ga 1
km_cert_finish "$KM_TMP/ga.yaml" gw-a
echo "peers:" >>"$KM_TMP/ga.yaml"
km_peer "$KM_TMP/ga.yaml" cloud-x-vpn "$(cat "$KM_TMP/w.pub")" 198.18.0.3:51820 100.64.9.1/32
echo "    labels: { site: cloud-x }" >>"$KM_TMP/ga.yaml"
echo "    groups: [partners]" >>"$KM_TMP/ga.yaml"
start_keymeshd ga "$KM_TMP/ga.yaml" "$KM_TMP/ga.log"

wif="kmw${KM_RUN}"
start_wggo w "$wif" "$KM_TMP/w.log"
on w wg set "$wif" private-key "$KM_TMP/w.key" listen-port 51820 \
  peer "$(cat "$KM_TMP/ga.pub")" allowed-ips 198.19.1.0/24,100.64.1.1/32 endpoint 198.18.0.1:51820
on w ip addr add 100.64.9.1/32 dev "$wif"
on w ip link set "$wif" mtu 1420 up
on w ip route add 198.19.1.0/24 dev "$wif"

denied() {  # policy_denied drops counted by ga
  km_cli status --socket "$KM_TMP/ga.sock" --json | python3 -c '
import json,sys; d={x["reason"]:int(x["count"]) for x in json.load(sys.stdin)["drops"]}; print(d["policy_denied"])'
}

# 1. granted: cloud-x -> site a, icmp and tcp/8080; the replies pass as replies
wait_for "on w ping -c1 -W1 198.19.1.10" 15 || fail "1. w cannot ping la behind the gateway"
make_random_file "$KM_TMP/blob" 1
transfer w la 198.19.1.10 "$KM_TMP/blob" 0 60 8080 || fail "1. TCP w -> la:8080 failed"
denied0=$(denied)
log "1. w -> la: ping and 1 MiB over tcp/8080 (replies passed; policy_denied so far: $denied0)"

# 2. refused: a port no rule grants, and the direction no rule grants
spawn la "$KM_TMP/la-9999.log" "$KM_PY" "$PROBE" serve-tcp 198.19.1.10 9999
wait_for "grep -q LISTENING '$KM_TMP/la-9999.log'" 5 || fail "probe server on la"
on w "$KM_PY" "$PROBE" connect 100.64.9.1 198.19.1.10 9999 3 >/dev/null 2>&1 &&
  fail "2. w reached la on tcp/9999, which no rule grants"
after=$(denied)
((after > denied0)) || fail "2. ga counted no policy_denied for w -> la tcp/9999 ($denied0 -> $after)"
wait_for "grep -q '\"event\":\"packet_denied\".*\"remote\":{\"name\":\"cloud-x-vpn\".*no rule grants tcp/9999 from cloud-x-vpn to ' '$KM_TMP/ga-audit.jsonl'" 3 ||
  fail "2. no packet_denied audit line naming cloud-x-vpn and tcp/9999: $(tail -n3 "$KM_TMP/ga-audit.jsonl")"
sleep 1.5  # past the per-peer audit interval, so the next denial gets a line of its own
on la ping -c2 -W1 100.64.9.1 >/dev/null 2>&1 && fail "2. la pinged w (site a -> cloud-x icmp not granted)"
wait_for "grep -q 'no rule grants icmp from [^ ]* to cloud-x-vpn' '$KM_TMP/ga-audit.jsonl'" 3 ||
  fail "2. no audit line for la -> w icmp"
on w ping -c1 -W2 198.19.1.10 >/dev/null || fail "2. w -> la ping stopped working after the refusals"
log "2. refused and audited: w -> la tcp/9999, la -> w icmp (policy_denied $denied0 -> $(denied))"

# 3. a rule that selects the raw peer by CIDR
spawn w "$KM_TMP/w-2222.log" "$KM_PY" "$PROBE" serve-tcp 100.64.9.1 2222
spawn w "$KM_TMP/w-2223.log" "$KM_PY" "$PROBE" serve-tcp 100.64.9.1 2223
wait_for "grep -q LISTENING '$KM_TMP/w-2222.log' && grep -q LISTENING '$KM_TMP/w-2223.log'" 5 ||
  fail "probe servers on w"
out=$(on la "$KM_PY" "$PROBE" connect 198.19.1.10 100.64.9.1 2222 5 2>&1) ||
  fail "3. la could not reach w on tcp/2222 (granted by CIDR): $out"
on la "$KM_PY" "$PROBE" connect 198.19.1.10 100.64.9.1 2223 3 >/dev/null 2>&1 &&
  fail "3. la reached w on tcp/2223, which no rule grants"
log "3. CIDR rule: la -> w tcp/2222 connected, tcp/2223 refused"

# 4. policy check names the raw peer
out=$(km_cli policy check --socket "$KM_TMP/ga.sock" --from cloud-x-vpn --to gw-a --port tcp/8080) ||
  fail "4. policy check cloud-x-vpn -> gw-a tcp/8080: $out"
[[ $out == "allow (rule cloud-x-in)" ]] || fail "4. unexpected answer: $out"
rc=0
out=$(km_cli policy check --socket "$KM_TMP/ga.sock" --from cloud-x-vpn --to gw-a --port tcp/9999) || rc=$?
((rc == 1)) || fail "4. policy check tcp/9999 exit $rc: $out"
log "4. keymesh policy check: cloud-x-vpn -> gw-a tcp/8080 allow (cloud-x-in), tcp/9999 deny"
