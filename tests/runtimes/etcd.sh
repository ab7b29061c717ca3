#!/usr/bin/env bash
# etcd.sh - runs a single-member etcd 3.4 (Debian's etcd-server) for a test, in the
# foreground (exec), its data in one directory. Start it inside the test's namespace, e.g.
#   spawn e LOG bash tests/runtimes/etcd.sh DIR 198.18.0.20
#
#   etcd.sh DIR ADDRESS [CLIENT_PORT [PEER_PORT]]
#
# Clients on http://ADDRESS:CLIENT_PORT (default 23791), the peer port (default 23801) on
# the same address; ports other than 2379/2380, so a packaged etcd never clashes. The member
# is named km-test, the cluster is new every time (DIR/data is created by etcd). Logs go to
# stderr at level warn (the only warning on a healthy start is about simple tokens).
# Healthy within a second: `ETCDCTL_API=3 etcdctl --endpoints=URL endpoint health`.
set -euo pipefail

[[ $# -ge 2 ]] || { echo "usage: etcd.sh DIR ADDRESS [CLIENT_PORT [PEER_PORT]]" >&2; exit 2; }
DIR=$(realpath -m "$1")
ADDR=$2
CLIENT=http://$ADDR:${3:-23791}
PEER=http://$ADDR:${4:-23801}
mkdir -p "$DIR"
exec etcd --name km-test --data-dir "$DIR/data" \
  --listen-client-urls "$CLIENT" --advertise-client-urls "$CLIENT" \
  --listen-peer-urls "$PEER" --initial-advertise-peer-urls "$PEER" \
  --initial-cluster "km-test=$PEER" --initial-cluster-state new \
  --logger zap --log-outputs stderr --log-level warn
