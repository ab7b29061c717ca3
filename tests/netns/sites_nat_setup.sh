# sites_nat_setup.sh - sourced by sites_nat.sh and sites_nat_remap.sh (after lib.sh): the
# lighthouse l on the "internet", hosts a and b each behind its own MASQUERADE router (na,
# nb), node certificates and a node <-> node policy (icmp, tcp/5201), three keymeshd running;
# returns once a and b have learned their public endpoints (198.18.0.1 / 198.18.0.2) from the
# lighthouse and those records have reached it.
make_host l 198.18.0.10
make_host na 198.18.0.1
make_host nb 198.18.0.2
make_host a 198.18.1.2
make_host b 198.18.2.2
link_hosts l na nb
behind_nat na a 1
behind_nat nb b 2
on l ping -c1 -W1 198.18.1.2 >/dev/null 2>&1 && fail "the internet reaches site A's private address"

pki_root "$KM_TMP"
cat >"$KM_TMP/policy.yaml" <<'POLICY'
rules:
  - name: nodes
    from: { kind: node }
    to: { kind: node }
    allow: [icmp, tcp/5201]
POLICY
km_lighthouse_configs "$KM_TMP" l:0 a:1 b:2
for h in l a b; do start_keymeshd "$h" "$KM_TMP/$h.yaml" "$KM_TMP/$h.log"; done

wait_for "grep -q 'sees this node at 198.18.0.1:51820 (behind NAT' '$KM_TMP/a.log'" 15 ||
  fail "1. a did not learn its public endpoint 198.18.0.1:51820"
wait_for "grep -q 'sees this node at 198.18.0.2:51820 (behind NAT' '$KM_TMP/b.log'" 15 ||
  fail "1. b did not learn its public endpoint 198.18.0.2:51820"
sleep 1  # the records with the public endpoints reach the lighthouse at its next tick
