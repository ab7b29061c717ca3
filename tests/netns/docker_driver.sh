#!/usr/bin/env bash
# docker_driver.sh - keymeshd's Docker network + IPAM driver driven by a real dockerd (Debian's
# docker.io 20.10, started by tests/runtimes/dockerd.sh) running containers of a busybox
# image built here (tests/runtimes/busybox-image.sh).
#
#   ns km-docker_driver-<pid>-node (the "host"; dockerd and keymeshd share it)
#   +-----------------------------------------------------------------------------------+
#   | keymeshd  km0 100.64.21.1/10, node CA 100.64.21.0/24 (names node*), policy:        |
#   |           web -> db tcp/8080 + icmp, nothing else; driver on $D/plugins/          |
#   | dockerd   own data/exec roots and socket, --bridge none, vfs; its private mount    |
#   |           namespace shows $D/plugins as /run/docker/plugins (D=$KM_TMP/docker)   |
#   |                                                                                   |
#   |   web1 (network webnet, group web)  eth0 100.64.21.x/32 == veth km<h> --+         |
#   |   db1  (network dbnet,  group db)   eth0 100.64.21.y/32 == veth km<h> --+-> km0   |
#   |                                     (rule 7300 from <addr> iif km<h> -> table 7300)|
#   +-----------------------------------------------------------------------------------+
#
# Scenarios:
#  1. docker network create -d keymesh --ipam-driver keymesh -o keymesh.groups=... for web
#     and db; containers get addresses from the node's pool, identities named by the
#     network's template with their groups, and a tagged routed veth with its rule.
#  2. Policy holds between the two containers on the same host: web1 fetches db1's page on
#     tcp/8080; db1 cannot reach web1 (denied, and audited).
#  3. keymeshd restarts: the containers keep address and identity, allowed traffic works
#     again, denied stays denied, and a new container joins a network created before.
#  3b. kill -9 keymeshd: for 5 s web1 -> db1 (allowed) and db1 -> web1 (denied) both fail and
#     no TCP reaches either container's veth (the edge filter drops them, counter fail_closed);
#     keymeshd started again: web1 -> db1 works without re-creating anything, db1 -> web1
#     stays refused.
#  4. dockerd restarts: its containers stop and their endpoints go; db1 (--restart always)
#     comes back, and a new container on webnet reaches it.
#  5. docker rm + docker network rm: no tagged veth, no rule, no /32 route and no workload
#     identity is left.
KM_DEADLINE=${KM_DEADLINE:-140}
source "$(dirname "$0")/lib.sh"
need dockerd docker jq busybox
RUNTIMES=${KM_RUNTIMES_DIR:-$KM_REPO/tests/runtimes}
[[ -f $RUNTIMES/dockerd.sh && -f $RUNTIMES/busybox-image.sh ]] || fail "no runtime recipes in $RUNTIMES"

NODE_N=21
NET="100.64.$NODE_N"
IMAGE=localhost/busybox:latest
D=$KM_TMP/docker
export DOCKER_HOST="unix://$D/docker.sock"
export DOCKER_CONFIG="$KM_TMP/docker-config"
DOCKER_PID=""

# ------------------------------------------------------------------ dockerd
start_dockerd() {
  # nsenter, not `ip netns exec`: that remounts /sys and would hide the cgroup hierarchy.
  nsenter --net="/run/netns/$(nsname node)" unshare -m --propagation slave \
    bash "$RUNTIMES/dockerd.sh" "$D" >>"$KM_TMP/dockerd.log" 2>&1 </dev/null &
  DOCKER_PID=$!
  record_pid "$DOCKER_PID" "dockerd" "$KM_TMP/dockerd.log"
  wait_for "timeout 5 docker info" 30 0.3 || fail "dockerd did not answer within 30 s"
  log "dockerd up (pid $DOCKER_PID)"
}

stop_dockerd() {  # SIGTERM; dockerd stops its containers and its containerd (up to 20 s)
  local i children
  [[ -n $DOCKER_PID ]] && pid_alive "$DOCKER_PID" || return 0
  children=$(pgrep -P "$DOCKER_PID" || true)
  kill -TERM "$DOCKER_PID"
  for ((i = 0; i < 200; i++)); do pid_alive "$DOCKER_PID" || break; sleep 0.1; done
  if pid_alive "$DOCKER_PID"; then
    log "dockerd ignored SIGTERM for 20 s: SIGKILL"
    kill -KILL "$DOCKER_PID" $children 2>/dev/null || true
  fi
  wait "$DOCKER_PID" 2>/dev/null || true
  DOCKER_PID=""
}

# Before lib.sh's cleanup: containers and networks removed through dockerd (so the driver
# sees every call), then dockerd stopped gracefully.
docker_teardown() {
  set +e
  if [[ -n $DOCKER_PID ]] && pid_alive "$DOCKER_PID"; then
    local ids
    ids=$(timeout 20 docker ps -aq 2>/dev/null)
    [[ -z $ids ]] || timeout 30 docker rm -f $ids >/dev/null 2>&1
    timeout 20 docker network rm webnet dbnet >/dev/null 2>&1
    stop_dockerd
  fi
}
trap 'rc=$?; docker_teardown; (exit $rc); cleanup' EXIT

# ------------------------------------------------------------------ helpers
ip_of() {  # ip_of CONTAINER : its address on its (only) network
  timeout 10 docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1"
}
# (busybox 1.35's static wget crashes with -q or -T: busybox timeout bounds it instead, and
# its progress output goes to /dev/null)
fetch() {  # fetch CONTAINER URL : the page, or nonzero after 3 s
  timeout 10 docker exec "$1" timeout 3 wget -O - "$2" 2>/dev/null
}
identities() { km_cli identity list --json --socket "$KM_TMP/node.sock"; }
workloads_json() {  # the docker workloads keymeshd holds: [{name, groups, networks}]
  identities | jq -c '[(.identities // [])[] | select(.name | startswith("node-"))
                       | {name, groups, networks}] | sort_by(.name)'
}
# shows OUTPUT PATTERN : grep on captured text (no pipeline, so no SIGPIPE under pipefail)
shows() { grep -q -- "$2" <<<"$1"; }
tagged_veths() {  # host veths carrying a keymesh/docker tag
  on node ip -j -d link show | jq -r '.[] | select((.ifalias // "") | startswith("keymesh/docker/")) | .ifname'
}
serve() {  # serve CONTAINER NETWORK TEXT [docker run options...]
  local name=$1 net=$2 text=$3
  shift 3
  timeout 60 docker run -d --name "$name" --network "$net" "$@" "$IMAGE" \
    sh -c "echo $text > /www/index.html && exec httpd -f -p 8080 -h /www" >/dev/null ||
    fail "docker run $name on $net failed: $(tail -n 5 "$KM_TMP/node.log")"
}

# ------------------------------------------------------------------ setup
make_host node 198.18.21.1
pki_root "$KM_TMP"
pki_host "$KM_TMP" node "$NODE_N"
cat >"$KM_TMP/policy.yaml" <<'POLICY'
rules:
  - name: web-to-db
    from: { groups: [web] }
    to: { groups: [db] }
    allow: [tcp/8080, icmp]
POLICY
km_cert_config "$KM_TMP/node.yaml" node "$NODE_N"
echo "docker: { socket: $D/plugins/keymesh.sock }" >>"$KM_TMP/node.yaml"
start_keymeshd node "$KM_TMP/node.yaml" "$KM_TMP/node.log"
start_dockerd
bash "$RUNTIMES/busybox-image.sh" --ref "$IMAGE" docker >"$KM_TMP/image.log" 2>&1 ||
  fail "busybox image: $(tail -5 "$KM_TMP/image.log")"

# ------------------------------------------------------------------ 1. networks and containers
timeout 30 docker network create -d keymesh --ipam-driver keymesh -o keymesh.groups=web \
  -o 'keymesh.identity=node-web-${ENDPOINT_ID_SHORT}' webnet >/dev/null || fail "network create webnet"
timeout 30 docker network create -d keymesh --ipam-driver keymesh -o keymesh.groups=db \
  -o 'keymesh.identity=node-db-${ENDPOINT_ID_SHORT}' dbnet >/dev/null || fail "network create dbnet"
[[ $(timeout 10 docker network inspect -f '{{.Driver}}/{{.IPAM.Driver}}' webnet) == keymesh/keymesh ]] ||
  fail "webnet is not a keymesh network"
serve db1 dbnet db-ok --restart always
serve web1 webnet web-ok
DB=$(ip_of db1)
WEB=$(ip_of web1)
[[ $DB == $NET.* && $WEB == $NET.* && $DB != "$WEB" ]] || fail "addresses $DB, $WEB not from $NET.0/24"
W=$(workloads_json)
jq -e --arg a "$DB/32" 'any(.[]; (.name | startswith("node-db-")) and .groups == ["db"] and (.networks | index($a)))' \
  <<<"$W" >/dev/null || fail "no db identity for $DB in keymeshd: $W"
jq -e --arg a "$WEB/32" 'any(.[]; (.name | startswith("node-web-")) and .groups == ["web"] and (.networks | index($a)))' \
  <<<"$W" >/dev/null || fail "no web identity for $WEB in keymeshd: $W"
mapfile -t VETHS < <(tagged_veths)
((${#VETHS[@]} == 2)) || fail "want 2 tagged veths, found: ${VETHS[*]}"
for a in "$DB" "$WEB"; do
  shows "$(on node ip rule show)" "^7300:.*from $a iif km[0-9a-f]\{13\} lookup 7300" ||
    fail "no rule 7300 for $a: $(on node ip rule show)"
done
shows "$(timeout 10 docker exec web1 ip route)" "default via 169.254.1.1 dev eth0" ||
  fail "web1 has no default route via 169.254.1.1"
log "1. webnet/dbnet: web1 $WEB (group web), db1 $DB (group db), 2 tagged veths, rules 7300"

# ------------------------------------------------------------------ 2. policy between containers
check_policy() {  # check_policy WHEN
  local page
  page=$(fetch web1 "http://$DB:8080/") || fail "$1: web1 cannot fetch db1's page (allowed by web-to-db)"
  [[ $page == db-ok ]] || fail "$1: web1 got \"$page\" from db1"
  timeout 10 docker exec web1 ping -c 1 -W 2 "$DB" >/dev/null || fail "$1: web1 cannot ping db1"
  if page=$(fetch db1 "http://$WEB:8080/"); then fail "$1: db1 fetched web1's page ($page): denied by policy"; fi
}
check_policy "before any restart"
jq -e -s 'any(.[]; .event == "packet_denied" and (.local.name | startswith("node-db-"))
            and (.remote.name | startswith("node-web-")) and (.reason | contains("tcp/8080")))' \
  "$KM_TMP/node-audit.jsonl" >/dev/null || fail "no packet_denied audit line for db1 -> web1 tcp/8080"
log "2. web1 -> db1 tcp/8080 and icmp pass; db1 -> web1 refused"

# ------------------------------------------------------------------ 3. keymeshd restarts
BEFORE=$(workloads_json)
stop_keymeshd node || fail "keymeshd exited with an error"
start_keymeshd node "$KM_TMP/node.yaml" "$KM_TMP/node-2.log"
[[ $(ip_of db1) == "$DB" && $(ip_of web1) == "$WEB" ]] || fail "addresses changed across the restart"
[[ $(workloads_json) == "$BEFORE" ]] || fail "identities changed: $BEFORE -> $(workloads_json)"
shows "$(on node ip route show table 7300)" "^default dev km0" || fail "table 7300 not routed into the new km0"
check_policy "after keymeshd restarted"
page=$(timeout 60 docker run --rm --network webnet "$IMAGE" timeout 3 wget -O - "http://$DB:8080/" 2>/dev/null) ||
  fail "a new container on webnet (created before the restart) cannot reach db1"
[[ $page == db-ok ]] || fail "new container got \"$page\""
log "3. keymeshd restarted: same addresses and identities, policy holds, new container joins"

# ------------------------------------------------------------------ 3b. kill -9 keymeshd
fail_closed() {  # packets the edge filter refused to forward out of a workload veth
  on node nft -j list counter inet keymesh_edge fail_closed 2>/dev/null |
    jq '[.nftables[] | select(.counter) | .counter.packets][0]' || echo 0
}
fc_before=$(fail_closed)
CAPS=()
for v in $(tagged_veths); do
  capture_start node "$v" "$KM_TMP/$v.pcap" -Q out tcp port 8080
  CAPS+=("$KM_LAST_PID")
done
stop_pid "${KM_DAEMON_PID[node]}" KILL || true
unset "KM_DAEMON_PID[node]"
wait_for "! on node ip link show km0" 5 0.05 || fail "3b. km0 still there after kill -9"
t_end=$(($(date +%s) + 5))
while (($(date +%s) < t_end)); do
  if page=$(fetch web1 "http://$DB:8080/"); then fail "3b. keymeshd dead, web1 still fetched db1's page"; fi
  if page=$(fetch db1 "http://$WEB:8080/"); then fail "3b. keymeshd dead, db1 fetched web1's page"; fi
done
for c in "${CAPS[@]}"; do capture_stop "$c"; done
for v in $(tagged_veths); do
  n=$(pcap_count "$KM_TMP/$v.pcap")
  ((n == 0)) || fail "3b. keymeshd dead: $n TCP packets reached a container through $v"
done
fc_after=$(fail_closed)
((fc_after > fc_before)) || fail "3b. fail_closed counter did not grow ($fc_before -> $fc_after)"
rm -f "$KM_TMP/node.sock"
start_keymeshd node "$KM_TMP/node.yaml" "$KM_TMP/node-3.log"
t0=$(date +%s%N)
wait_for "fetch web1 http://$DB:8080/" 10 0.1 || fail "3b. web1 -> db1 did not come back after keymeshd restarted"
ms=$((($(date +%s%N) - t0) / 1000000))
if page=$(fetch db1 "http://$WEB:8080/"); then fail "3b. after the restart db1 fetched web1's page"; fi
log "3b. kill -9 keymeshd: 5 s with nothing delivered (fail_closed $fc_before -> $fc_after); restarted: web1 -> db1 back after $ms ms, db1 -> web1 refused"

# ------------------------------------------------------------------ 4. dockerd restarts
stop_dockerd
start_dockerd
wait_for "[[ \$(timeout 5 docker inspect -f '{{.State.Running}}' db1) == true ]]" 30 0.5 ||
  fail "db1 (--restart always) did not come back"
DB=$(ip_of db1)
page=$(timeout 60 docker run --rm --network webnet "$IMAGE" timeout 3 wget -O - "http://$DB:8080/" 2>/dev/null) ||
  fail "after dockerd restarted, a container on webnet cannot reach db1 at $DB"
[[ $page == db-ok ]] || fail "after dockerd restarted: got \"$page\""
n=$(workloads_json | jq length)
((n == 1)) || fail "after dockerd restarted keymeshd holds $n docker identities, want 1 (db1): $(workloads_json)"
log "4. dockerd restarted: web1's endpoint went with it, db1 back at $DB, reachable"

# ------------------------------------------------------------------ 5. cleanup through Docker
timeout 30 docker rm -f web1 db1 >/dev/null || fail "docker rm"
timeout 30 docker network rm webnet dbnet >/dev/null || fail "docker network rm"
[[ -z $(tagged_veths) ]] || fail "tagged veths left: $(tagged_veths)"
[[ -z $(on node ip rule show | grep "lookup 7300") ]] || fail "rules left: $(on node ip rule show)"
[[ -z $(on node ip route show | grep "^$NET\.") ]] || fail "routes left: $(on node ip route show)"
[[ $(workloads_json) == "[]" ]] || fail "identities left: $(workloads_json)"
log "5. docker rm + network rm: no veth, rule, route or identity left"
