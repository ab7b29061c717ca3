# cni_lib.sh - helpers for the tests that run keymesh-cni against the real keymeshd
# (cni_daemon.sh, cni_crash.sh). Source after lib.sh; expects PLUGIN and NET to be set.
#
#   new_ctr VAR                       a fresh, empty "container" namespace; its path in VAR
#   in_ctr NETNS CMD...               run CMD in that container
#   conf HOST GROUP [TEMPLATE]        the plugin's conflist entry on HOST
#   cni HOST CMD ID NETNS CONF [NAME] run the plugin as a runtime does; sets OUT and RC
#   expect_ok WHAT / addr_of RESULT / with_prev CONF RESULT
#   identities HOST / identity_field HOST NAME FIELD / names HOST   keymesh identity list
#   veth_of HOST ID / rules_7300 HOST

ctr_n=0
new_ctr() {  # new_ctr VAR : a fresh, empty "container" namespace; its /run/netns path in VAR
  local ns
  ctr_n=$((ctr_n + 1))
  ns="km-${KM_TEST}-${KM_RUN}-c$ctr_n"
  ip netns add "$ns"
  KM_EXTRA_NS+=("$ns")  # lib.sh's cleanup deletes it
  printf -v "$1" '%s' "/run/netns/$ns"
}
in_ctr() { local p=$1; shift; ip netns exec "$(basename "$p")" "$@"; }

conf() {  # conf HOST GROUP [IDENTITY_TEMPLATE] : the plugin's conflist entry on HOST
  printf '{"cniVersion":"1.0.0","name":"%s","type":"keymesh","socket":"%s","release_dir":"%s","logLevel":"info","identity":"%s","groups":["%s"]}' \
    "$NET" "$KM_TMP/$1.sock" "$KM_TMP/$1-state/cni-releases" "${3:-$1/\${K8S_POD_NAME\}}" "$2"
}

# cni HOST CMD ID NETNS CONFIG [NAME] : the plugin in HOST's namespace as a runtime runs it.
# Sets OUT (stdout) and RC; stderr goes to $KM_TMP/plugin.log.
cni() {
  local host=$1 cmd=$2 id=$3 netns=$4 cfg=$5 name=${6:-pod-$3}
  RC=0
  OUT=$(printf '%s' "$cfg" | on "$host" timeout 30 env -i PATH="$PATH" CNI_COMMAND="$cmd" \
    CNI_CONTAINERID="$id" CNI_NETNS="$netns" CNI_IFNAME=eth0 CNI_PATH=/nonexistent \
    CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAME=$name" "$PLUGIN" 2>>"$KM_TMP/plugin.log") || RC=$?
}
expect_ok() { ((RC == 0)) || fail "$1: exit $RC, output: $OUT"; }
addr_of() { jq -r '.ips[0].address | sub("/32$"; "")' <<<"$1"; }
with_prev() {  # with_prev CONFIG RESULT : CONFIG + prevResult (for CHECK and DEL)
  jq -c --argjson r "$2" '. + {prevResult: $r}' <<<"$1"
}

identities() {  # identities HOST : `keymesh identity list --json`
  km_cli identity list --json --socket "$KM_TMP/$1.sock"
}
identity_field() {  # identity_field HOST NAME FIELD
  identities "$1" | jq -r --arg n "$2" --arg f "$3" '.identities[]? | select(.name == $n) | .[$f]'
}
names() {  # names HOST : the identity names keymeshd on HOST lists
  identities "$1" | jq -r '.identities[]?.name'
}
veth_of() {  # veth_of HOST ID : the host veth tagged for ID, "" when none
  on "$1" ip -j -d link show | jq -r --arg t "keymesh/cni/$NET/$2/eth0" '.[] | select(.ifalias == $t) | .ifname'
}
rules_7300() { on "$1" ip -j rule show | jq '[.[] | select(.table == "7300")] | length'; }
