# kube/ (docs/kubernetes.md): watch-event and list parsing, label rules, the reflector's
# list/watch/resume/relist rules, and the identity a pod gets. No I/O.
km_unit_test(NAME kube
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/kube_test.cpp
             LIBS km_kube
             LABELS kubernetes)
# keymeshd's kubernetes: key and the policy selectors over pod identities (in-process).
km_unit_test(NAME kube_wiring
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/kube_wiring_test.cpp
             LIBS km_control km_policy km_kube
             LABELS kubernetes policy)
# daemon/kube_feed: the watch threads against an in-process API server (HTTP on loopback).
km_unit_test(NAME kube_feed
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/kube_feed_test.cpp
             LIBS km_daemon
             LABELS kubernetes)
# NetworkPolicy end to end in memory: objects parsed, pods turned into identities, and the
# decision of the policy the tunnel enforces for every pair of the e2e matrix's nine pods.
km_unit_test(NAME kube_network_policy
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/kube_network_policy_test.cpp
             LIBS km_kube km_policy
             LABELS kubernetes policy)
