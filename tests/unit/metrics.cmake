# metrics/: the Prometheus text writer, bounded label counters, /proc parsers. The daemon's
# endpoints and a real Prometheus scraping them are tests/netns/metrics.cmake.
km_unit_test(NAME metrics_exposition
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/metrics_test.cpp
             LIBS km_metrics
             LABELS metrics)
# deploy/ and docs/metrics.md against the sources: promtool check rules, every documented,
# charted and alerted metric is one keymeshd serves, the DaemonSet probes /healthz, /readyz.
add_test(NAME metrics_deploy COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/metrics_deploy.sh)
set_tests_properties(metrics_deploy PROPERTIES LABELS "unit;metrics" TIMEOUT 60)
km_unit_test(NAME metrics_config
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/metrics_config_test.cpp
             LIBS km_control
             LABELS metrics)
