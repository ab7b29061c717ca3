#!/usr/bin/env bash
# metrics_discovery.sh - readiness and discovery metrics follow the lighthouse, read on the
# default listener (127.0.0.1:9830 inside a's namespace).
#
#   ns ...-l (lighthouse)            ns ...-a
#   lighthouse: true                 lighthouses: [l]; metrics_listen not set (the default)
#   km0 100.64.0.1/10                km0 100.64.1.1/10
#   ul0 198.18.0.10 ------ veth ------ ul0 198.18.0.1
#
# Scenarios:
# 1. a starts while the lighthouse is not running: /readyz is 503 and says no lighthouse
#    acknowledged the registration; keymesh_lighthouse_up{lighthouse="100.64.0.1:4243"} 0.
# 2. The lighthouse starts: a registers (its retries back off from 1 s), /readyz becomes 200
#    and keymesh_lighthouse_up 1.
# 3. A packet to an overlay address nobody holds (100.64.2.50) is a discovery lookup
#    (keymesh_discovery_lookups_total >= 1) that the lighthouse answers negatively
#    (keymesh_discovery_negative_answers_total >= 1).
KM_DEADLINE=${KM_DEADLINE:-120}
source "$(dirname "$0")/lib.sh"
need curl ping

make_host l 198.18.0.10
make_host a 198.18.0.1
link_hosts l a
export KM_PKI_PATTERN="*"
pki_root "$KM_TMP"
printf 'rules:\n  - { name: anything, from: {}, to: {}, allow: [any] }\n' >"$KM_TMP/policy.yaml"
km_lighthouse_configs "$KM_TMP" l:0 a:1
grep -q '^metrics_listen' "$KM_TMP/a.yaml" && fail "a's config must use the default listener"
metrics() { on a curl -s --max-time 3 http://127.0.0.1:9830/metrics; }
readyz() { on a curl -s --max-time 3 -w 'HTTP %{http_code}\n' http://127.0.0.1:9830/readyz; }
sample() {  # sample SERIES : its value on a's /metrics (empty when absent)
  metrics | awk -v s="$1" '$1 == s { print $2 }'
}
# The lighthouse is addressed by its overlay address and discovery port.
UP="keymesh_lighthouse_up{lighthouse=\"100.64.0.1:4243\"}"

# 1. no lighthouse yet
start_keymeshd a "$KM_TMP/a.yaml" "$KM_TMP/a.log"
wait_for "[[ \$(sample '$UP') == 0 ]]" 10 || fail "1. $UP is '$(sample "$UP")', expected 0"
out=$(readyz)
[[ $out == *"HTTP 503"* && $out == *"no lighthouse has acknowledged our registration"* ]] ||
  fail "1. /readyz without the lighthouse: $out"
log "1. without the lighthouse: /readyz 503 naming it, lighthouse_up 0"

# 2. the lighthouse comes
start_keymeshd l "$KM_TMP/l.yaml" "$KM_TMP/l.log"
wait_for 'readyz | grep -q "HTTP 200"' 40 0.5 || fail "2. /readyz did not become 200: $(readyz)"
[[ $(sample "$UP") == 1 ]] || fail "2. $UP is '$(sample "$UP")', expected 1"
log "2. with the lighthouse: /readyz 200, lighthouse_up 1"

# 3. a lookup the lighthouse cannot answer
on a ping -c2 -W1 100.64.2.50 >/dev/null 2>&1 && fail "3. 100.64.2.50 answered"
n=$(sample keymesh_discovery_lookups_total)
[[ -n $n && $n -ge 1 ]] || fail "3. keymesh_discovery_lookups_total is '$n'"
wait_for '[[ $(sample keymesh_discovery_negative_answers_total) -ge 1 ]]' 15 0.5 ||
  fail "3. no negative answer counted: '$(sample keymesh_discovery_negative_answers_total)'"
log "3. unknown 100.64.2.50: $n lookup(s), $(sample keymesh_discovery_negative_answers_total) negative answer(s)"
log "PASS"
