#!/usr/bin/env bash
# metrics_deploy.sh - the operator artifacts agree with what keymeshd serves:
# 1. deploy/prometheus/keymesh-alerts.yml passes `promtool check rules`;
# 2. every metric name in docs/metrics.md's table is one keymeshd writes (the names in
#    daemon/metrics_page.cpp and metrics/process.cpp) and every written one is documented;
# 3. every keymesh_/process_ metric the Grafana dashboard and the alert rules query exists;
# 3b. the dashboard's queries are valid PromQL (promtool);
# 4. the DaemonSet's liveness and readiness probes are /healthz and /readyz on the port of
#    the ConfigMap's metrics_listen.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
fail() { echo "FAIL [metrics_deploy]: $*" >&2; exit 1; }
command -v promtool >/dev/null || fail "promtool not installed (scripts/install-deps.sh: prometheus)"
command -v jq >/dev/null || fail "jq not installed"

# 1.
promtool check rules "$src/deploy/prometheus/keymesh-alerts.yml" >/dev/null ||
  fail "1. promtool check rules failed: $(promtool check rules "$src/deploy/prometheus/keymesh-alerts.yml" 2>&1)"

# 2.
served=$(grep -ohE '"(keymesh|process)_[a-z_]+"' "$src/daemon/metrics_page.cpp" "$src/metrics/process.cpp" |
  tr -d '"' | sort -u)
[[ $(wc -l <<<"$served") -ge 30 ]] || fail "2. found only $(wc -l <<<"$served") metric names in the sources"
documented=$(grep -oE '^\| `(keymesh|process)_[a-z_]+`' "$src/docs/metrics.md" | tr -d '|` ' | sort -u)
missing=$(comm -23 <(echo "$served") <(echo "$documented"))
[[ -z $missing ]] || fail "2. served but not in docs/metrics.md: $missing"
extra=$(comm -13 <(echo "$served") <(echo "$documented"))
[[ -z $extra ]] || fail "2. in docs/metrics.md but not served: $extra"

# 3.
used=$( {
  jq -r '.panels[].targets[].expr' "$src/deploy/grafana/keymesh-overview.json"
  grep -E '^\s+expr:|^\s{10}' "$src/deploy/prometheus/keymesh-alerts.yml"
  sed -n '/^## Questions and queries/,/^## Dashboard/p' "$src/docs/metrics.md"
} | grep -oE '\b(keymesh|process)_[a-z_]+' | sort -u)
[[ $(wc -l <<<"$used") -ge 8 ]] || fail "3. found only $(wc -l <<<"$used") metric names in the dashboard/rules/queries"
unknown=$(comm -23 <(echo "$used") <(echo "$served"))
[[ -z $unknown ]] || fail "3. the dashboard, alert rules or example queries use unknown metrics: $unknown"

# 3b. the dashboard's queries parse as PromQL: each becomes a recording rule (Grafana's
# variables replaced by values they take) and promtool checks the file.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
{
  echo "groups: [ { name: dashboard, rules: ["
  jq -r '.panels[].targets[].expr' "$src/deploy/grafana/keymesh-overview.json" |
    sed 's/\$__rate_interval/5m/g; s/\$instance/.*/g' |
    awk '{ gsub(/\\/, "\\\\"); gsub(/"/, "\\\""); printf "  { record: \"dashboard:q%d\", expr: \"%s\" },\n", NR, $0 }'
  echo "] } ]"
} >"$tmp/dashboard-rules.yml"
promtool check rules "$tmp/dashboard-rules.yml" >/dev/null ||
  fail "3b. a dashboard query is not valid PromQL: $(promtool check rules "$tmp/dashboard-rules.yml" 2>&1 | tail -3)"

# 4.
ds="$src/deploy/kubernetes/daemonset.yaml" cm="$src/deploy/kubernetes/configmap.yaml"
port=$(sed -n 's/^ *metrics_listen: *"[0-9.]*:\([0-9]*\)".*/\1/p' "$cm")
[[ -n $port ]] || fail "4. no metrics_listen in the ConfigMap's config.yaml"
grep -A1 'livenessProbe:' "$ds" | grep -q "httpGet: { host: 127.0.0.1, port: $port, path: /healthz }" ||
  fail "4. the liveness probe is not GET /healthz on port $port"
grep -A1 'readinessProbe:' "$ds" | grep -q "httpGet: { host: 127.0.0.1, port: $port, path: /readyz }" ||
  fail "4. the readiness probe is not GET /readyz on port $port"
echo "metrics_deploy: rules ok; $(wc -l <<<"$served") metrics served and documented; $(wc -l <<<"$used") used by dashboard/rules/queries; probes on :$port"
