# access_setup.sh - sourced by access_laptop.sh and access_wg_quick.sh (after lib.sh and
# make_host/link_hosts): the PKI of docs/access.md and the database host d.
#
#   root ─┬─ d-ca (node CA of d: 100.64.2.0/24)  ─┬─ d     (node, 100.64.2.1)
#         │                                       └─ db-1  (workload, 100.64.2.10, [db])
#         └─ access (access CA: kinds user only, groups oncall|dba, subjects *@example.com,
#                    100.64.20.0/24, at most 12h) ── alice (user alice@example.com, [oncall],
#                    100.64.20.1, issued by `keymesh user issue` for the default 8h)
#
# d (underlay 198.18.0.10, km0 100.64.2.1/10) runs keymeshd with db-1 and this policy:
#   oncall-db            from { kind: user, groups: [oncall] }  to { name: db-1 }  tcp/5432
#   oncall-db-wireguard  from { kind: raw, groups: [oncall] }   to { name: db-1 }  tcp/5432
# and listens on db-1 tcp/5432 and tcp/22 (netprobe echo servers). Call access_start_d once
# d's config is complete (the wg-quick test appends a raw peer first).
pki_root "$KM_TMP"
pki_host "$KM_TMP" d 2
pki_leaf "$KM_TMP" d db-1 workload 100.64.2.10/32 db
km_cli cert sign --ca "$KM_TMP/root.crt" --ca-key "$KM_TMP/root.key" --kind ca --name access \
  --lifetime 48h --allowed-networks 100.64.20.0/24,100.64.21.0/24 --allow-kinds user \
  --allow-groups oncall,dba --subject-pattern '*@example.com' --max-lifetime 12h \
  --key-out "$KM_TMP/access.key" --out "$KM_TMP/access.crt" >/dev/null || fail "access CA"
km_cli user issue --ca "$KM_TMP/access.crt" --ca-key "$KM_TMP/access.key" --name alice \
  --subject alice@example.com --groups oncall --address 100.64.20.1 \
  --out "$KM_TMP/alice.chain" --key-out "$KM_TMP/alice.key" >"$KM_TMP/alice.issue" ||
  fail "keymesh user issue alice: $(cat "$KM_TMP/alice.issue")"
cat >"$KM_TMP/policy.yaml" <<'POLICY'
rules:
  - name: oncall-db
    from: { kind: user, groups: [oncall] }
    to: { name: db-1 }
    allow: [tcp/5432]
  - name: oncall-db-wireguard
    from: { kind: raw, groups: [oncall] }
    to: { name: db-1 }
    allow: [tcp/5432]
POLICY
km_cert_config "$KM_TMP/d.yaml" d 2
km_cert_finish "$KM_TMP/d.yaml" db-1
DB=100.64.2.10
PROBE="$KM_LIB_DIR/netprobe.py"

access_start_d() {
  start_keymeshd d "$KM_TMP/d.yaml" "$KM_TMP/d.log"
  on d ip addr add "$DB/32" dev km0
  spawn d "$KM_TMP/db5432.log" "$KM_PY" "$PROBE" serve-tcp "$DB" 5432
  spawn d "$KM_TMP/db22.log" "$KM_PY" "$PROBE" serve-tcp "$DB" 22
  wait_for "grep -q LISTENING '$KM_TMP/db5432.log' && grep -q LISTENING '$KM_TMP/db22.log'" 10 ||
    fail "probe servers on db-1"
}
