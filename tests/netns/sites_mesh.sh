#!/usr/bin/env bash
# sites_mesh.sh - three sites, each behind its own NAT router, linked by keymesh gateways: two
# punch through their NATs and talk directly; the third, behind symmetric ("hard") NAT, is
# reached through a relay that sees only ciphertext and cannot alter it. Site B's NAT router
# then changes its public address mid-transfer, and site B's second gateway takes over when
# the first one dies mid-transfer.
#
#                                   "internet" (bridge, 198.18.0.0/24)
#        l 198.18.0.10 (lighthouse, 100.64.0.1)     r 198.18.0.20 (relay: true, 100.64.0.20)
#            |                  |                  |
#   na 198.18.0.1        nb 198.18.0.2        nc 198.18.0.3      NAT routers (iptables):
#   MASQUERADE            MASQUERADE           MASQUERADE --random-fully (symmetric)
#   198.18.1.1            198.18.2.1 198.18.4.1  198.18.3.1       (nb: 198.18.0.12 after e.)
#       |                     |        |           |
#   ga 198.18.1.2         gb 198.18.2.2  gb2 198.18.4.2 (port 51821)   gc 198.18.3.2
#   198.19.1.1            198.19.12.1    198.19.13.1                   198.19.3.1
#       |                     |        |                               |
#   la 198.19.1.10        lb: lan1 198.19.12.10, lan2 198.19.13.10,    lc 198.19.3.10
#      (+ 198.19.1.11)        service address 198.19.2.10/32 on lo
#
# Gateways: host cert 100.64.N.1 (gb2: 100.64.4.1), gateway cert gw-X for 198.19.N.0/24 (gw-b
# and gw-b2 both 198.19.2.0/24, label site=b, from site B's CA), relays: [100.64.0.20]. la and
# lc route by default via their gateway; lb routes 198.19.0.0/16 via gb (metric 10) and gb2
# (metric 20), and 198.19.1.11 via gb2 only. gb2's keymeshd starts only at f.
# The NAT routers drop unsolicited inbound datagrams. Gateways learn each other from the
# lighthouse (LAN traffic for 198.19.0.0/16 is routed into km0 by the operator's route).
# Policy: gateway <-> gateway icmp and tcp/5201; node <-> node icmp (the built-in discovery
# rule also grants the paths with the lighthouse and the relay).
#
# Checks:
# 0. the gateways' km0 MTU reserves the relay envelope: 1500 - 80 - 20 = 1400;
# a. la -> lb directly after punching: ping + 1 MiB TCP (sha256); on na's public side the
#    transfer's datagrams go 198.18.0.1 <-> 198.18.0.2; the relay forwarded nothing, and
#    `keymesh status` on ga says the path to gw-b is direct;
# b. lc -> la through the relay (nc's symmetric NAT cannot be punched): ping + 1 MiB TCP with a
#    marker string (sha256); the relay's counters for gc <-> ga grow; on the underlay nc talks
#    only to the relay and the lighthouse (no datagram over 100 bytes between na and nc), the
#    relay carries gc <-> ga, and neither the marker nor a 198.19.x packet appears in clear;
#    gc's status shows the path as relayed via 198.18.0.20;
# c. a relay that alters one byte of forwarded data (nftables payload rewrite on r): ga counts
#    data_auth_failed and no ping from lc reaches la; without the rule traffic resumes and
#    a second transfer is intact;
# d. path MTU: gc's uplink MTU drops to 1300, below what a full km0 packet needs; the first
#    large ping is refused by the kernel (EMSGSIZE, never fragmented): gc counts
#    path_mtu_exceeded and logs `path MTU:`, then answers the second with ICMP "fragmentation
#    needed" (too_big_for_path), which lc's ping reports; small pings still pass, and with the
#    MTU back large ones do too;
# e. NAT mapping change (as sites_nat_remap.sh): with a 10/s ping and a 4 MiB TCP transfer
#    la -> lb running, nb's public address changes from 198.18.0.2 to 198.18.0.12 (MASQUERADE
#    drops the old mappings): gb logs a stalled path and the lighthouse sees it at the new
#    address, ga roams gw-b to 198.18.0.12:51820 (log and status), the longest gap between ping
#    replies is under 15 s, the transfer's sha256 matches;
# f. failover (as sites_failover.sh): gb2 starts; lb -> 198.19.1.11 via gb2 opens gb2's path
#    (punched through both NATs), and ga, learning gw-b2 from its handshake, lists candidates
#    gw-b, gw-b2 via gw-b with a direct path to gw-b2; with a 10/s ping and a 4 MiB transfer
#    la -> lb running, gb dies (keymeshd SIGKILLed, namespace deleted): ga logs and audits
#    `site failover: 198.19.2.0/24 gw-b -> gw-b2` and asks the lighthouse to punch towards
#    gw-b2 (it may sit behind NAT), status says via gw-b2, over 1 MB went to
#    gw-b2, the longest gap between ping replies is under 6 s, the sha256 matches.
KM_TEST=${KM_TEST:-kmrl-mesh}
KM_DEADLINE=${KM_DEADLINE:-140}
source "$(dirname "$0")/lib.sh"
need ping python3 tcpdump iptables nft

make_host l 198.18.0.10
make_host r 198.18.0.20
make_host na 198.18.0.1
make_host nb 198.18.0.2
make_host nc 198.18.0.3
for nx in 1a 2b 3c; do
  make_host "g${nx:1}" "198.18.${nx:0:1}.2"
  make_host "l${nx:1}" "198.19.${nx:0:1}.10"
done
make_host gb2 198.18.4.2
link_hosts l r na nb nc

uplink() {  # uplink ROUTER IF GATEWAY N : GATEWAY's ul0 (198.18.N.2) to ROUTER's IF (198.18.N.1)
  local r=$1 rif=$2 g=$3 n=$4
  ip -n "$(nsname "$g")" link add ul0 type veth peer name "$rif" netns "$(nsname "$r")"
  on "$r" ip addr add "198.18.$n.1/24" dev "$rif"
  on "$g" ip addr add "198.18.$n.2/24" dev ul0
  on "$r" ip link set "$rif" up
  on "$g" ip link set ul0 mtu 1500 up
  on "$g" ip route add default via "198.18.$n.1"
  on "$g" sysctl -qw net.ipv4.ip_forward=1
}
nat() {  # nat ROUTER [MASQUERADE FLAGS] : forwards, masquerades out of ul0, drops unsolicited inbound
  local r=$1
  shift
  on "$r" sysctl -qw net.ipv4.ip_forward=1
  on "$r" iptables -t nat -A POSTROUTING -o ul0 -j MASQUERADE "$@"
  on "$r" iptables -A INPUT -i ul0 -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
  on "$r" iptables -A INPUT -i ul0 -j DROP
}
lan() {  # lan HOST IF GATEWAY NET : HOST's IF (NET.10/24) <-> GATEWAY's lan0 (NET.1/24)
  ip -n "$(nsname "$1")" link add "$2" type veth peer name lan0 netns "$(nsname "$3")"
  on "$3" ip addr add "$4.1/24" dev lan0
  on "$1" ip addr add "$4.10/24" dev "$2"
  on "$3" ip link set lan0 up
  on "$1" ip link set "$2" up
}
uplink na lan0 ga 1
uplink nb lan0 gb 2
uplink nb lan1 gb2 4
uplink nc lan0 gc 3
nat na
nat nb
nat nc --random-fully
lan la lan0 ga 198.19.1
lan lc lan0 gc 198.19.3
on la ip route add default via 198.19.1.1
on lc ip route add default via 198.19.3.1
# Site B: lb's service address 198.19.2.10 sits on lo, reachable through either gateway; lb
# routes the other sites via gb (metric 10) and gb2 (metric 20): when gb dies its link and
# route go. 198.19.1.11 (a second address of la) goes via gb2 only, to open gb2's path.
lan lb lan1 gb 198.19.12
lan lb lan2 gb2 198.19.13
on lb ip addr add 198.19.2.10/32 dev lo
on lb sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
  net.ipv4.conf.lan1.rp_filter=0 net.ipv4.conf.lan2.rp_filter=0
on lb ip route add 198.19.0.0/16 via 198.19.12.1 src 198.19.2.10 metric 10
on lb ip route add 198.19.0.0/16 via 198.19.13.1 src 198.19.2.10 metric 20
on lb ip route add 198.19.1.11/32 via 198.19.13.1 src 198.19.2.10
on la ip addr add 198.19.1.11/24 dev lan0
on gb ip route add 198.19.2.0/24 via 198.19.12.10
on gb2 ip route add 198.19.2.0/24 via 198.19.13.10
for g in ga gb gb2 gc; do
  wait_for "on $g ping -c1 -W1 198.18.0.10" 10 || fail "$g cannot reach the internet through its NAT"
done

pki_root "$KM_TMP"
declare -A N=([l]=0 [r]=0 [ga]=1 [gb]=2 [gc]=3 [gb2]=4)
KM_PKI_PATTERN='*' pki_host "$KM_TMP" l 0 >/dev/null
pki_leaf "$KM_TMP" l r node "100.64.0.20/32" node
for x in a b c; do
  g=g$x n=${N[g$x]}
  pki_host "$KM_TMP" "$g" "$n"
  km_cli cert sign --ca "$KM_TMP/root.crt" --ca-key "$KM_TMP/root.key" --kind ca \
    --name "site-$x-ca" --lifetime 48h --allowed-networks "198.19.$n.0/24" \
    --name-pattern "gw-$x*" --max-lifetime 48h --key-out "$KM_TMP/site-$x-ca.key" \
    --out "$KM_TMP/site-$x-ca.crt" >/dev/null || fail "site CA $x"
  km_cli cert sign --ca "$KM_TMP/site-$x-ca.crt" --ca-key "$KM_TMP/site-$x-ca.key" \
    --kind gateway --name "gw-$x" --networks "198.19.$n.0/24" --groups gateways \
    --labels "site=$x" --lifetime 12h --key-out "$KM_TMP/gw-$x.key" \
    --out "$KM_TMP/gw-$x.crt" >/dev/null || fail "gateway certificate gw-$x"
  cat "$KM_TMP/gw-$x.crt" "$KM_TMP/site-$x-ca.crt" >"$KM_TMP/gw-$x.chain"
done
# Site B's second gateway: another gateway certificate for the same subnet and label.
pki_host "$KM_TMP" gb2 4
km_cli cert sign --ca "$KM_TMP/site-b-ca.crt" --ca-key "$KM_TMP/site-b-ca.key" \
  --kind gateway --name gw-b2 --networks 198.19.2.0/24 --groups gateways --labels site=b \
  --lifetime 12h --key-out "$KM_TMP/gw-b2.key" --out "$KM_TMP/gw-b2.crt" >/dev/null ||
  fail "gateway certificate gw-b2"
cat "$KM_TMP/gw-b2.crt" "$KM_TMP/site-b-ca.crt" >"$KM_TMP/gw-b2.chain"
cat >"$KM_TMP/policy.yaml" <<'POLICY'
rules:
  - name: gateways
    from: { kind: gateway }
    to: { kind: gateway }
    allow: [icmp, tcp/5201]
  - name: nodes
    from: { kind: node }
    to: { kind: node }
    allow: [icmp]
POLICY
lh="lighthouses: [ { address: 100.64.0.1, certificate: $KM_TMP/l.chain, endpoints: [\"198.18.0.10:51820\"] } ]"
km_cert_config "$KM_TMP/l.yaml" l 0
echo "lighthouse: true" >>"$KM_TMP/l.yaml"
km_cert_config "$KM_TMP/r.yaml" r 0
sed -i 's|100.64.0.1/10|100.64.0.20/10|; /^node_ca:/d' "$KM_TMP/r.yaml"
{ echo "relay: true"; echo "$lh"; } >>"$KM_TMP/r.yaml"
for x in a b c; do
  g=g$x
  km_cert_config "$KM_TMP/$g.yaml" "$g" "${N[$g]}"
  # No fixed mtu: keymeshd computes it from the underlay and reserves the relay envelope.
  sed -i 's|, mtu: 1420 }| }|' "$KM_TMP/$g.yaml"
  { echo "relays: [100.64.0.20]"; echo "$lh"; } >>"$KM_TMP/$g.yaml"
  km_cert_finish "$KM_TMP/$g.yaml" "gw-$x"
done
km_cert_config "$KM_TMP/gb2.yaml" gb2 4
# Its own port: MASQUERADE keeps it, so nb maps gb2 independently of gb.
sed -i 's|, mtu: 1420 }| }|; s|^listen_port: 51820|listen_port: 51821|' "$KM_TMP/gb2.yaml"
{ echo "relays: [100.64.0.20]"; echo "$lh"; } >>"$KM_TMP/gb2.yaml"
km_cert_finish "$KM_TMP/gb2.yaml" gw-b2
for h in l r ga gb gc; do start_keymeshd "$h" "$KM_TMP/$h.yaml" "$KM_TMP/$h.log"; done
for x in a b c; do on "g$x" ip route add 198.19.0.0/16 dev km0; done

status() { km_cli status --json --socket "$KM_TMP/$1.sock"; }
# jq-free JSON reads: py EXPR on the status of HOST (s = the status object)
st() { status "$1" | "$KM_PY" -c "import json,sys; s=json.load(sys.stdin); print($2)"; }
drop_count() { st "$1" "sum(int(d['count']) for d in s['drops'] if d['reason']=='$2')"; }
forwarded() { st r "int(s['relay']['forwarded_packets'])"; }
pair_packets() {  # pair_packets FROM TO : packets the relay forwarded from FROM's host to TO's
  st r "sum(int(p['packets']) for p in s['relay']['pairs'] if p['from']=='$1' and p['to']=='$2')"
}
path_route() {  # path_route HOST REMOTE : "direct" or the relay endpoint of HOST's path to REMOTE
  st "$1" "[p['relay'] or 'direct' for p in s['peers'] if p['name']=='$2'][0] if any(p['name']=='$2' for p in s['peers']) else 'none'"
}

# 0. km0's MTU reserves the envelope
mtu=$(st ga "s['mtu']")
[[ $mtu == 1400 ]] || fail "0. ga's km0 mtu is $mtu, want 1400 (1500 - 80 - 20 for the relay envelope)"
wait_for "grep -q 'sees this node at 198.18.0.1:51820 (behind NAT' '$KM_TMP/ga.log'" 15 ||
  fail "0. ga did not learn its public endpoint"
wait_for "grep -q 'sees this node at 198.18.0.3:' '$KM_TMP/gc.log'" 15 || fail "0. gc did not learn its public endpoint"
# Every gateway holds a live path with the relay (it may send through it).
for x in a b c; do
  wait_for "[[ \$(path_route r g$x) == direct ]] && st r \"[p for p in s['peers'] if p['name']=='g$x'][0]['last_handshake_unix']\" | grep -qv '^0$'" 15 ||
    fail "0. the relay has no path with g$x"
done
sleep 1  # records with the public endpoints reach the lighthouse at its next tick
log "0. km0 mtu 1400 on the gateways; each gateway keeps a path with the relay"

# a. site A <-> site B directly after punching
capture_start na ul0 "$KM_TMP/na-a.pcap" udp
cap=$KM_LAST_PID
wait_for "on la ping -c1 -W1 198.19.2.10" 15 || fail "a. la cannot reach lb through the NATs"
make_random_file "$KM_TMP/blob-a" 1
transfer la lb 198.19.2.10 "$KM_TMP/blob-a" 0 30 5201 || fail "a. TCP la -> lb failed"
capture_stop "$cap"
direct=$(pcap_count "$KM_TMP/na-a.pcap" src host 198.18.0.1 and dst host 198.18.0.2)
back=$(pcap_count "$KM_TMP/na-a.pcap" src host 198.18.0.2 and dst host 198.18.0.1)
via_r=$(pcap_count "$KM_TMP/na-a.pcap" host 198.18.0.20 and greater 200)
# (TCP acknowledges many segments at once: few datagrams go back.)
((direct > 300 && back > 10)) || fail "a. only $direct/$back datagrams between na and nb (via relay: $via_r)"
fw=$(forwarded)
((fw == 0)) || fail "a. the relay forwarded $fw packets while only A and B talked"
route=$(path_route ga gw-b)
[[ $route == direct ]] || fail "a. ga's path to gw-b is '$route', want direct"
log "a. la -> lb direct: $direct/$back datagrams na <-> nb, relay forwarded 0, ga: path to gw-b direct"

# b. site C (symmetric NAT) -> site A through the relay
capture_start r ul0 "$KM_TMP/r.pcap" udp
cap_r=$KM_LAST_PID
capture_start nc ul0 "$KM_TMP/nc.pcap" udp
cap_c=$KM_LAST_PID
t0=$EPOCHREALTIME
wait_for "on lc ping -c1 -W1 198.19.1.10" 20 || fail "b. lc cannot reach la (through the relay)"
took=$(awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN{printf "%.1f", a-b}')
marker="KMRL-MARKER-$RANDOM$RANDOM-in-clear"
{ head -c 500000 /dev/urandom; for _ in $(seq 2000); do echo "$marker"; done; head -c 400000 /dev/urandom; } >"$KM_TMP/blob-c"
transfer lc la 198.19.1.10 "$KM_TMP/blob-c" 0 30 5201 || fail "b. TCP lc -> la through the relay failed"
capture_stop "$cap_r"
capture_stop "$cap_c"
c2a=$(pair_packets gc ga)
a2c=$(pair_packets ga gc)
((c2a > 300 && a2c > 10)) || fail "b. relay pair counters gc -> ga $c2a, ga -> gc $a2c (want > 300 / > 10)"
route=$(path_route gc gw-a)
[[ $route == 198.18.0.20:51820 ]] || fail "b. gc's path to gw-a is '$route', want relayed via 198.18.0.20:51820"
route=$(path_route ga gw-c)
[[ $route == 198.18.0.20:51820 ]] || fail "b. ga's path to gw-c is '$route', want relayed via 198.18.0.20:51820"
km_cli status --socket "$KM_TMP/gc.sock" | grep -q 'route: relayed via 198.18.0.20:51820 (r)' ||
  fail "b. \`keymesh status\` on gc does not show the path as relayed via r"
km_cli status --socket "$KM_TMP/r.sock" | grep -q '^  gc -> ga: ' ||
  fail "b. \`keymesh status\` on r shows no gc -> ga pair"
direct_ca=$(pcap_count "$KM_TMP/nc.pcap" host 198.18.0.1 and greater 100)
from_a=$(pcap_count "$KM_TMP/nc.pcap" src host 198.18.0.1 and greater 100)
c_r=$(pcap_count "$KM_TMP/nc.pcap" host 198.18.0.20)
r_a=$(pcap_count "$KM_TMP/r.pcap" host 198.18.0.20 and host 198.18.0.1 and greater 200)
# Only unanswered attempts go directly: gc's initiations (and at most one direct probe of ga).
((from_a <= 2 && direct_ca < 20)) || fail "b. $direct_ca datagrams between nc and na directly ($from_a from na)"
grep -a -q "$marker" "$KM_TMP/blob-c" || fail "b. test bug: marker not in the file"
for p in r nc; do
  if grep -a -q "KMRL-MARKER" "$KM_TMP/$p.pcap"; then fail "b. the marker appears in clear on $p's underlay"; fi
  clear=$(pcap_count "$KM_TMP/$p.pcap" net 198.19.0.0/16)
  ((clear == 0)) || fail "b. $clear site packets in clear on $p's underlay"
done
((c_r > 300 && r_a > 300)) || fail "b. only $c_r datagrams nc <-> relay, $r_a relay <-> na"
log "b. lc -> la via the relay after $took s: relay forwarded gc->ga $c2a, ga->gc $a2c; underlay nc<->r $c_r, r<->na $r_a, nc<->na direct $direct_ca (small: unanswered initiations); marker never in clear; gc path relayed via 198.18.0.20:51820"

# c. a relay that flips a byte: the receiver refuses it
auth0=$(drop_count ga data_auth_failed)
on r nft -f - <<'NFT'
table ip kmrl_flip {
  chain out {
    type filter hook output priority 0; policy accept;
    ip daddr 198.18.0.1 udp sport 51820 @th,64,8 0x13 @th,224,8 0x04 @th,384,8 set 0x5a udp checksum set 0
  }
}
NFT
ok=0
for _ in 1 2 3 4 5; do on lc ping -c1 -W1 198.19.1.10 >/dev/null 2>&1 && ok=$((ok + 1)); done
auth1=$(drop_count ga data_auth_failed)
# (A packet whose byte already was 0x5a passes unaltered: 1 in 256.)
((auth1 >= auth0 + 3)) || fail "c. ga counted $((auth1 - auth0)) data_auth_failed while the relay altered data (want >= 3)"
((ok <= 1)) || fail "c. $ok of 5 pings reached la through a relay that alters bytes"
on r nft delete table ip kmrl_flip
wait_for "on lc ping -c1 -W1 198.19.1.10" 20 || fail "c. lc does not reach la after the relay stopped altering"
make_random_file "$KM_TMP/blob-c2" 1
transfer lc la 198.19.1.10 "$KM_TMP/blob-c2" 0 30 5201 || fail "c. TCP lc -> la after the altering stopped"
log "c. altered relay: ga counted $((auth1 - auth0)) data_auth_failed, $ok/5 pings through; unaltered again: ping + 1 MiB intact"

# d. path MTU problems are counted and logged, not silent
mtu0=$(drop_count gc path_mtu_exceeded)
big0=$(drop_count gc too_big_for_path)
on gc ip link set ul0 mtu 1300
out=$(on lc ping -c2 -i 1 -W1 -s 1300 198.19.1.10 2>&1) && fail "d. a 1328-byte ping crossed a 1300-byte uplink (fragmented?)"
wait_for "grep -q 'path MTU: .* refused as too big' '$KM_TMP/gc.log'" 3 || fail "d. gc logged no path MTU problem"
mtu1=$(drop_count gc path_mtu_exceeded)
big1=$(drop_count gc too_big_for_path)
# The first oversize datagram is refused by the kernel; gc learns the path MTU from it and
# answers the second ping with ICMP "fragmentation needed" (docs/sites.md, "Path MTU").
((mtu1 >= mtu0 + 1)) || fail "d. gc counted no path_mtu_exceeded for the first oversize ping"
((big1 >= big0 + 1)) || fail "d. gc answered no oversize ping with ICMP too-big (too_big_for_path)"
grep -Eq "mtu ?= ?1[0-9]{3}" <<<"$out" || fail "d. lc's ping was told no path MTU: $out"
on lc ping -c1 -W2 198.19.1.10 >/dev/null || fail "d. a small ping did not pass with the lower uplink MTU"
on gc ip link set ul0 mtu 1500
wait_for "on lc ping -c1 -W1 -s 1300 198.19.1.10" 5 || fail "d. large pings do not pass with the MTU restored"
log "d. uplink MTU 1300: gc counted $((mtu1 - mtu0)) path_mtu_exceeded, answered $((big1 - big0)) with '$(grep -Eo 'mtu ?= ?[0-9]+' <<<"$out" | head -1)'; small pings pass; MTU back: large pings pass"

# Helpers for e and f: a ping at 10/s logged with timestamps, and its longest gap.
ping_gap() {  # ping_gap LOG : longest gap between two replies, seconds
  awk -F'[][]' '/bytes from/ { t = $2 + 0; if (p && t - p > g) g = t - p; p = t } END { printf "%.1f", g }' "$1"
}
peer_field() {  # peer_field HOST REMOTE FIELD : a field of HOST's path to REMOTE
  st "$1" "([p.get('$3', '') for p in s['peers'] if p['name']=='$2'] + [''])[0]"
}
site_field() {  # site_field FIELD : a field of ga's status entry for 198.19.2.0/24 (lists joined by ,)
  st ga "(lambda v: ','.join(v) if isinstance(v, list) else v)(([x.get('$1', '') for x in s.get('sites', []) if x.get('network')=='198.19.2.0/24'] + [''])[0])"
}

# e. site B's NAT mapping changes mid-transfer (its router gets a new public address)
on la ping -c3 -i 0.2 -W1 198.19.2.10 >/dev/null || fail "e. la does not reach lb before the NAT change"
spawn la "$KM_TMP/ping-e.log" ping -D -i 0.1 -W1 -w 40 198.19.2.10
ping_pid=$KM_LAST_PID
make_random_file "$KM_TMP/blob-e" 4
transfer_start la lb 198.19.2.10 "$KM_TMP/blob-e" 400000 50 5201   # ~10 s at 400 kB/s
sleep 3
transfer_running || fail "e. the transfer ended before the NAT change"
# 198.18.0.12: in the internet's /24 and unused. MASQUERADE drops every mapping of the old
# address when it goes away.
on nb ip addr del 198.18.0.2/24 dev ul0
on nb ip addr add 198.18.0.12/24 dev ul0
t_change=$EPOCHREALTIME
log "e. nb's public address is now 198.18.0.12 (mappings of 198.18.0.2 dropped)"
on nb ping -c1 -W2 198.18.0.10 >/dev/null || fail "e. nb does not reach the lighthouse from its new address"
wait_for "grep -q 'roaming: peer gw-b .*-> 198.18.0.12:51820' '$KM_TMP/ga.log'" 20 0.1 ||
  fail "e. ga did not roam its path to gw-b to the new endpoint 198.18.0.12:51820"
t_roam=$(awk -v a="$EPOCHREALTIME" -v b="$t_change" 'BEGIN{printf "%.1f", a-b}')
transfer_finish || fail "e. the TCP transfer across the NAT change failed"
stop_pid "$ping_pid" INT || true
gap=$(ping_gap "$KM_TMP/ping-e.log")
grep -q 'stalled: no answer for' "$KM_TMP/gb.log" || fail "e. gb logged no stalled path"
wait_for "grep -q 'sees this node at 198.18.0.12:51820' '$KM_TMP/gb.log'" 5 ||
  fail "e. the lighthouse does not see gb at its new public endpoint"
ep=$(peer_field ga gw-b endpoint)
[[ $ep == 198.18.0.12:51820 ]] || fail "e. ga's path to gw-b has endpoint '$ep', want 198.18.0.12:51820"
awk -v g="$gap" 'BEGIN{exit !(g > 0 && g < 15.0)}' || fail "e. stall across the NAT change: $gap s (want < 15 s)"
log "e. ga roamed gw-b to 198.18.0.12:51820 $t_roam s after the change (status agrees); longest gap between ping replies $gap s; 4 MiB intact"

# f. site B's second gateway; the one carrying A -> B traffic dies mid-transfer
start_keymeshd gb2 "$KM_TMP/gb2.yaml" "$KM_TMP/gb2.log"
on gb2 ip route add 198.19.0.0/16 dev km0
wait_for "grep -q 'sees this node at 198.18.0.12:51821 (behind NAT' '$KM_TMP/gb2.log'" 15 ||
  fail "f. gb2 did not learn its public endpoint 198.18.0.12:51821"
sleep 1  # its records reach the lighthouse at the next tick
# la's second address is routed via gb2: gb2 learns gw-a from the lighthouse, punches, and
# its handshake makes ga learn gw-b2 as a second candidate for 198.19.2.0/24.
wait_for "on lb ping -c1 -W1 -I 198.19.2.10 198.19.1.11" 20 || fail "f. lb cannot reach la through gb2"
wait_for "[[ \$(site_field candidates) == gw-b,gw-b2 ]]" 5 ||
  fail "f. ga does not list both gateways for 198.19.2.0/24: '$(site_field candidates)'"
[[ $(site_field via) == gw-b ]] || fail "f. ga routes 198.19.2.0/24 via '$(site_field via)', want gw-b"
route=$(path_route ga gw-b2)
[[ $route == direct ]] || fail "f. ga's path to gw-b2 is '$route', want direct"
log "f. 198.19.2.0/24 on ga: candidates gw-b, gw-b2, via gw-b; path to gw-b2 direct"
spawn la "$KM_TMP/ping-f.log" ping -D -i 0.1 -W1 -w 30 198.19.2.10
ping_pid=$KM_LAST_PID
make_random_file "$KM_TMP/blob-f" 4
transfer_start la lb 198.19.2.10 "$KM_TMP/blob-f" 400000 40 5201   # ~10 s at 400 kB/s
sleep 3
transfer_running || fail "f. the transfer ended before the failover"
tx1=$(peer_field ga gw-b2 tx_bytes)
kill -KILL "${KM_DAEMON_PID[gb]}"
wait "${KM_DAEMON_PID[gb]}" 2>/dev/null || true
ip netns del "$(nsname gb)"
t_kill=$EPOCHREALTIME
log "f. gb killed (keymeshd SIGKILLed, namespace deleted)"
wait_for "grep -q 'site failover: 198.19.2.0/24 gw-b -> gw-b2' '$KM_TMP/ga.log'" 10 0.1 ||
  fail "f. no failover in ga's log"
t_switch=$(awk -v a="$EPOCHREALTIME" -v b="$t_kill" 'BEGIN{printf "%.1f", a-b}')
grep -q 'site 198.19.2.0/24: asking the lighthouse for a punch towards gw-b2' "$KM_TMP/ga.log" ||
  fail "f. ga did not ask for a punch towards gw-b2, which took over"
transfer_finish || fail "f. the TCP transfer across the failover failed"
stop_pid "$ping_pid" INT || true
gap=$(ping_gap "$KM_TMP/ping-f.log")
replies_after=$(awk -F'[][]' -v k="${t_kill/,/.}" '/bytes from/ && $2 + 0 > k { n++ } END { print n + 0 }' "$KM_TMP/ping-f.log")
log "f. failover logged $t_switch s after the kill; longest gap between ping replies $gap s; $replies_after replies after the kill"
awk -v g="$gap" 'BEGIN{exit !(g > 0 && g < 6.0)}' || fail "f. ping gap across the failover: $gap s (want < 6 s)"
((replies_after > 20)) || fail "f. only $replies_after ping replies after gb died"
[[ $(site_field via) == gw-b2 ]] || fail "f. ga still routes via '$(site_field via)'"
tx2=$(peer_field ga gw-b2 tx_bytes)
((tx2 - tx1 > 1000000)) || fail "f. only $((tx2 - tx1)) bytes went to gw-b2 after the failover"
grep -q '"event":"site_failover".*"remote":{"name":"gw-b2".*198.19.2.0/24 gw-b -> gw-b2 (no answer for' "$KM_TMP/ga-audit.jsonl" ||
  fail "f. no site_failover audit line on ga"
log "f. $(grep -o 'site failover: .*' "$KM_TMP/ga.log" | head -1); $((tx2 - tx1)) bytes via gw-b2; audited"
