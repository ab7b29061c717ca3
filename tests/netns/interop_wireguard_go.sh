#!/usr/bin/env bash
# interop_wireguard_go.sh - keymeshd and Debian's stock wireguard-go complete handshakes and
# carry traffic in both roles (the acceptance test for the crypto, docs/architecture.md).
#
#   ns km-interop_wireguard_go-<pid>-a              ns km-interop_wireguard_go-<pid>-b
#   +-----------------------------+                 +--------------------------------+
#   | km0 100.64.3.1/24 (TUN)     |                 | kmi<pid>N 100.64.3.2/24 (TUN)  |
#   |   keymeshd  udp :51820      |                 |   wireguard-go + `wg set` :51820|
#   | ul0 198.18.0.1/24           |=== veth pair ===| ul0 198.18.0.2/24              |
#   +-----------------------------+                 +--------------------------------+
#   (keys for both sides are made by `keymesh key gen/pub`; wireguard-go reads them as is)
#
# Scenarios:
# 1. keymeshd initiates: ping from a first; the first handshake initiation on the wire comes
#    from a; wg on b reports a handshake; a logs "handshake complete: peer b"; 20 MB TCP a->b
#    with matching sha256.
# 2. wireguard-go initiates: both restarted fresh, ping from b first; the first initiation on
#    the wire comes from b; a logs the handshake; 20 MB TCP b->a with matching sha256.
# 3. preshared key on both sides (Noise IKpsk2 with a non-zero psk): keymeshd initiates,
#    ping both ways works.
# 4. mismatched preshared key: no handshake completes, no ping gets through.
# keymeshd must exit 0 on SIGTERM after each case.
KM_DEADLINE=${KM_DEADLINE:-240}
source "$(dirname "$0")/lib.sh"
need ping tcpdump wireguard-go wg sha256sum

make_host a 198.18.0.1
make_host b 198.18.0.2
link_hosts a b
gen_keypair "$KM_TMP" a
gen_keypair "$KM_TMP" b
gen_psk "$KM_TMP/psk"
gen_psk "$KM_TMP/psk-other"
make_random_file "$KM_TMP/data" 20

case_n=0
b_if=""

start_a() {  # start_a [PSK_FILE]
  km_config "$KM_TMP/a.yaml" "$KM_TMP/a.key" 51820 km0 "$(ov_ip a)/24" "$KM_TMP/a.sock"
  km_peer "$KM_TMP/a.yaml" b "$(cat "$KM_TMP/b.pub")" "$(host_ip b):51820" "$(ov_ip b)/32" 0 "${1:-}"
  start_keymeshd a "$KM_TMP/a.yaml" "$KM_TMP/a-$case_n.log"
}

start_b() {  # start_b [PSK_FILE] : wireguard-go on a fresh interface name
  b_if="kmi${KM_RUN}${case_n}"
  start_wggo b "$b_if" "$KM_TMP/b-$case_n.log"
  local psk=()
  [[ -n ${1:-} ]] && psk=(preshared-key "$1")
  on b wg set "$b_if" private-key "$KM_TMP/b.key" listen-port 51820 \
    peer "$(cat "$KM_TMP/a.pub")" "${psk[@]}" allowed-ips "$(ov_ip a)/32" \
    endpoint "$(host_ip a):51820"
  on b ip addr add "$(ov_ip b)/24" dev "$b_if"
  on b ip link set "$b_if" mtu 1420 up
}

stop_both() {
  local rc=0
  stop_keymeshd a || rc=$?
  [[ $rc == 0 ]] || fail "case $case_n: keymeshd exited $rc on SIGTERM"
  stop_keymeshd b || true # wireguard-go
}

first_initiator() {  # source address of the first handshake initiation in PCAP
  tcpdump -n -r "$1" 'udp and udp[8:4]=0x01000000' 2>/dev/null | awk 'NR==1{print $3}'
}

wg_handshakes() {  # number of peers on b with a non-zero latest handshake
  on b wg show "$b_if" latest-handshakes | awk '$2 > 0' | wc -l
}

# ---- 1. keymeshd initiates
case_n=1
start_b
start_a
capture_start a ul0 "$KM_TMP/c1.pcap" udp
cap=$KM_LAST_PID
wait_ping a "$(ov_ip b)" 15 || fail "case 1: a cannot ping b (keymeshd -> wireguard-go)"
on b ping -c 2 -W 2 "$(ov_ip a)" >/dev/null || fail "case 1: b cannot ping a back"
capture_stop "$cap"
init_src=$(first_initiator "$KM_TMP/c1.pcap")
[[ $init_src == "$(host_ip a).51820" ]] || fail "case 1: first initiation came from '$init_src', want a"
(($(wg_handshakes) == 1)) || fail "case 1: wg show on b reports no handshake"
grep -q "handshake complete: peer b" "$KM_TMP/a-1.log" || fail "case 1: a did not log the handshake"
transfer a b "$(ov_ip b)" "$KM_TMP/data" 0 90 5201 || fail "case 1: 20 MB a->b failed"
log "1. keymeshd initiator: ok"
stop_both

# ---- 2. wireguard-go initiates
case_n=2
start_a
start_b
capture_start a ul0 "$KM_TMP/c2.pcap" udp
cap=$KM_LAST_PID
wait_ping b "$(ov_ip a)" 15 || fail "case 2: b cannot ping a (wireguard-go -> keymeshd)"
on a ping -c 2 -W 2 "$(ov_ip b)" >/dev/null || fail "case 2: a cannot ping b back"
capture_stop "$cap"
init_src=$(first_initiator "$KM_TMP/c2.pcap")
[[ $init_src == "$(host_ip b).51820" ]] || fail "case 2: first initiation came from '$init_src', want b"
grep -q "handshake complete: peer b" "$KM_TMP/a-2.log" || fail "case 2: a did not log the handshake"
transfer b a "$(ov_ip a)" "$KM_TMP/data" 0 90 5202 || fail "case 2: 20 MB b->a failed"
log "2. wireguard-go initiator: ok"
stop_both

# ---- 3. preshared key
case_n=3
start_b "$KM_TMP/psk"
start_a "$KM_TMP/psk"
wait_ping a "$(ov_ip b)" 15 || fail "case 3: no ping a->b with a preshared key"
on b ping -c 2 -W 2 "$(ov_ip a)" >/dev/null || fail "case 3: no ping b->a with a preshared key"
grep -q "handshake complete: peer b" "$KM_TMP/a-3.log" || fail "case 3: a did not log the handshake"
log "3. preshared key: ok"
stop_both

# ---- 4. preshared keys differ
case_n=4
start_b "$KM_TMP/psk-other"
start_a "$KM_TMP/psk"
if on a ping -c 3 -i 1 -W 2 "$(ov_ip b)" >/dev/null 2>&1; then fail "case 4: ping worked with different preshared keys"; fi
if grep -q "handshake complete" "$KM_TMP/a-4.log"; then fail "case 4: a logged a handshake with a wrong psk"; fi
(($(wg_handshakes) == 0)) || fail "case 4: wireguard-go completed a handshake with a wrong psk"
log "4. mismatched preshared key: refused"
stop_both
