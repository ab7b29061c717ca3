#!/usr/bin/env bash
# The etcd discovery backend against a real etcd-server (Debian etcd-server 3.4).
#
#   ┌─ namespace km-discovery_etcd-<pid>-etcd (loopback only) ─────────────┐
#   │  etcd  127.0.0.1:23791 (client) / 23801 (peer), data in $KM_TMP      │
#   │    ▲ v3 JSON gateway over HTTP                                       │
#   │  discovery_etcd_probe: EtcdDirectory A and B in one process,         │
#   │                        C in a child process (killed with SIGKILL)    │
#   └──────────────────────────────────────────────────────────────────────┘
# The probe starts etcd itself (so it can restart it) and checks: A and B see each other's
# records and watches fire; a killed host's record goes when its lease expires; after an
# etcd restart both reconnect and catch up; closing revokes the leases.
KM_DEADLINE=150
source "$(dirname "$0")/lib.sh"

need etcd etcdctl curl
probe=$(binary tests/netns/discovery_etcd_probe) || fail "discovery_etcd_probe is not built"
make_host etcd 198.18.50.1  # the address is never assigned: only loopback is used

log "running the probe inside $(nsname etcd)"
rc=0
on etcd timeout 120 "$probe" --dir "$KM_TMP" || rc=$?
if ((rc != 0)); then
  echo "----- etcd log" >&2
  tail -n 30 "$KM_TMP/etcd.log" >&2 || true
  fail "probe exited with $rc"
fi
log "passed"
