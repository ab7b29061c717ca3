# The daemon's /metrics, /healthz and /readyz in real kernels, scraped by Debian's
# Prometheus started by the test (docs/metrics.md).
km_netns_test(NAME netns_metrics_prometheus SCRIPT ${CMAKE_CURRENT_LIST_DIR}/metrics_prometheus.sh
              LABELS metrics TIMEOUT 200)
