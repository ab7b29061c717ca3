# metrics/: the Prometheus text writer, bounded label counters, /proc parsers. The daemon's
# endpoints and a real Prometheus scraping them are tests/netns/metrics.cmake.
km_unit_test(NAME metrics_exposition
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/metrics_test.cpp
             LIBS km_metrics
             LABELS metrics)
