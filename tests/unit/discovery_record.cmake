# What a discovery record may say about where to send (issue 15 §6, docs/discovery.md "What a
# record can steer"): underlay endpoints that nobody can be reached at are refused.
km_unit_test(NAME discovery_record
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/discovery_record_test.cpp
             LIBS km_discovery
             LABELS discovery)
