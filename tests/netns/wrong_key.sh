#!/usr/bin/env bash
# wrong_key.sh - keymeshd stays silent towards anyone it does not know: no handshake response,
# no cookie reply, no ICMP, for unknown initiators, wrong responder keys, replays and garbage.
#
#                          ns km-wrong_key-<pid>-sw (bridge br0)
#                 +--------------------+--------------------+
#                 |                    |                    |
#   ns ...-a  ul0 198.18.0.1   ns ...-b  ul0 198.18.0.2   ns ...-c  ul0 198.18.0.3
#   keymeshd, km0 100.64.3.1   keymeshd, km0 100.64.3.2   wireguard-go kmw<pid>N 100.64.3.3
#   peers: b only              peers: a                   the stranger; python raw UDP too
#   (tcpdump on a's ul0 in every case)
#
# Scenarios:
# 0. b pings a (b initiates); b's initiation is captured for scenario 3.
# 1. unknown initiator, correct responder key: c runs wireguard-go with its own key (a has
#    never heard of it) and a's real public key, so mac1 is valid; c pings a for ~6 s.
#    The capture shows >= 2 initiations from c and nothing at all from a to c.
# 2. wrong responder key (mac1 invalid): c's wireguard-go is configured with a random public
#    key for a's endpoint. >= 2 initiations from c, nothing from a to c.
# 3. replay: b's captured initiation (valid mac1, known static key, old timestamp) is resent
#    from c three times; a sends nothing to c, and b's session still carries pings.
# 4. garbage: random datagrams shaped like each message type (and truncated ones) from c;
#    a sends nothing to c and keeps working.
# Throughout: a logs "handshake complete" only for peer b, stays up, exits 0 on SIGTERM.
KM_DEADLINE=${KM_DEADLINE:-200}
source "$(dirname "$0")/lib.sh"
need ping tcpdump wireguard-go wg

make_host a 198.18.0.1
make_host b 198.18.0.2
make_host c 198.18.0.3
link_hosts a b c
km_pair_configs
gen_keypair "$KM_TMP" c
gen_keypair "$KM_TMP" nobody
start_keymeshd a "$KM_TMP/a.yaml" "$KM_TMP/a.log"
start_keymeshd b "$KM_TMP/b.yaml" "$KM_TMP/b.log"
A_IP=$(host_ip a)
C_IP=$(host_ip c)
WGPKT="$KM_LIB_DIR/wgpkt.py"

# 0. legitimate handshake from b, captured
capture_start a ul0 "$KM_TMP/s0.pcap" udp
cap=$KM_LAST_PID
wait_ping b "$(ov_ip a)" 15 || fail "b cannot ping a"
capture_stop "$cap"
"$KM_PY" "$WGPKT" extract "$KM_TMP/s0.pcap" "$KM_TMP/b-init.bin" --type 1 --src "$(host_ip b)" >/dev/null ||
  fail "no initiation from b captured"
log "0. b -> a handshake ok, b's initiation captured"

start_stranger() {  # start_stranger N PEER_PUBKEY : wireguard-go on c aiming at a
  local ifn="kmw${KM_RUN}$1"
  start_wggo c "$ifn" "$KM_TMP/c-$1.log"
  on c wg set "$ifn" private-key "$KM_TMP/c.key" listen-port 51820 \
    peer "$2" allowed-ips "$(ov_ip a)/32" endpoint "$A_IP:51820"
  on c ip addr add "$(ov_ip c)/24" dev "$ifn"
  on c ip link set "$ifn" up
  STRANGER_IF=$ifn
}

assert_silent() {  # assert_silent PCAP WHAT : a sent nothing (udp/icmp) to c
  local n
  n=$(pcap_count "$1" "dst host $C_IP")
  ((n == 0)) || {
    tcpdump -n -r "$1" "dst host $C_IP" 2>/dev/null | head -5 >&2
    fail "$2: a sent $n packets to c"
  }
}

stranger_case() {  # stranger_case N PEER_PUBKEY WHAT
  local n=$1 pub=$2 what=$3 pcap="$KM_TMP/s$1.pcap" cap inits
  capture_start a ul0 "$pcap" udp or icmp
  cap=$KM_LAST_PID
  start_stranger "$n" "$pub"
  spawn c "$KM_TMP/c-ping-$n.log" timeout 15 ping -c 14 -i 1 -W 1 "$(ov_ip a)"
  wait_for "(( \$(pcap_count '$pcap' 'src host $C_IP and udp[8:4]=0x01000000') >= 2 ))" 15 ||
    fail "$what: c's wireguard-go did not send 2 initiations"
  sleep 1.5
  capture_stop "$cap"
  inits=$(pcap_count "$pcap" "src host $C_IP and udp[8:4]=0x01000000")
  assert_silent "$pcap" "$what"
  (($(on c wg show "$STRANGER_IF" latest-handshakes | awk '$2 > 0' | wc -l) == 0)) ||
    fail "$what: c completed a handshake"
  stop_keymeshd c || true # the stranger's wireguard-go
  log "$n. $what: $inits initiations from c, nothing back"
}

# 1. unknown initiator with a's real public key (valid mac1)
stranger_case 1 "$(cat "$KM_TMP/a.pub")" "unknown initiator"

# 2. wrong responder public key (invalid mac1)
stranger_case 2 "$(cat "$KM_TMP/nobody.pub")" "wrong responder key"

# 3. replayed initiation
capture_start a ul0 "$KM_TMP/s3.pcap" udp or icmp
cap=$KM_LAST_PID
on c timeout 10 "$KM_PY" "$WGPKT" send "$A_IP" 51820 "$KM_TMP/b-init.bin" --count 3 --interval 0.3 >/dev/null ||
  fail "could not send the replay"
sleep 1.5
capture_stop "$cap"
assert_silent "$KM_TMP/s3.pcap" "replayed initiation"
on b ping -c 2 -W 2 "$(ov_ip a)" >/dev/null || fail "b's session broke after the replay"
log "3. replayed initiation: nothing back, b still connected"

# 4. garbage
capture_start a ul0 "$KM_TMP/s4.pcap" udp or icmp
cap=$KM_LAST_PID
for spec in "1 148" "1 147" "1 149" "1 40" "2 92" "2 91" "3 64" "3 63" "4 32" "4 64" "4 1452" "4 31" "5 148" "0 148" "1 4"; do
  read -r t l <<<"$spec"
  on c timeout 10 "$KM_PY" "$WGPKT" random "$A_IP" 51820 --type "$t" --len "$l" --count 10 --interval 0.01 >/dev/null ||
    fail "could not send garbage $spec"
done
sleep 1
capture_stop "$cap"
assert_silent "$KM_TMP/s4.pcap" "garbage"
daemon_alive a || fail "keymeshd on a died from garbage"
on b ping -c 2 -W 2 "$(ov_ip a)" >/dev/null || fail "b's session broke after the garbage"
log "4. garbage: nothing back, a alive, b still connected"

others=$(grep "handshake complete" "$KM_TMP/a.log" | grep -vc "handshake complete: peer b" || true)
((others == 0)) || fail "a logged $others handshakes with someone other than b"
rc=0
stop_keymeshd a || rc=$?
[[ $rc == 0 ]] || fail "keymeshd on a exited $rc on SIGTERM"
stop_keymeshd b || true
