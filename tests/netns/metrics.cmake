# The daemon's /metrics, /healthz and /readyz in real kernels, scraped by Debian's
# Prometheus started by the test (docs/metrics.md).
km_netns_test(NAME netns_metrics_prometheus SCRIPT ${CMAKE_CURRENT_LIST_DIR}/metrics_prometheus.sh
              LABELS metrics TIMEOUT 200)
# /readyz and the discovery metrics follow a lighthouse that starts late; the default listener.
km_netns_test(NAME netns_metrics_discovery SCRIPT ${CMAKE_CURRENT_LIST_DIR}/metrics_discovery.sh
              LABELS metrics discovery TIMEOUT 150)
