# keymesh under a real kubelet (label kubernetes): the cluster in a network namespace from
# tests/kubernetes/cluster.sh, Kubernetes from the cache that tests/kubernetes/build-k8s.sh
# fills (scripts/test.sh runs it; skipped with a message when the cache is absent).
km_netns_test(NAME netns_kubernetes_pods SCRIPT ${CMAKE_CURRENT_LIST_DIR}/../kubernetes/kubernetes_pods.sh
              LABELS kubernetes TIMEOUT 480)
set_tests_properties(netns_kubernetes_pods PROPERTIES SKIP_RETURN_CODE 77)
# NetworkPolicy (networking.k8s.io/v1) enforced with upstream semantics: the e2e probe matrix.
km_netns_test(NAME netns_kubernetes_netpol SCRIPT ${CMAKE_CURRENT_LIST_DIR}/../kubernetes/kubernetes_netpol.sh
              LABELS kubernetes TIMEOUT 600)
set_tests_properties(netns_kubernetes_netpol PROPERTIES SKIP_RETURN_CODE 77)
# keymeshd away (pods deleted and created meanwhile) and a node reboot, under the kubelet.
km_netns_test(NAME netns_kubernetes_node_faults SCRIPT ${CMAKE_CURRENT_LIST_DIR}/../kubernetes/kubernetes_node_faults.sh
              LABELS kubernetes TIMEOUT 540)
set_tests_properties(netns_kubernetes_node_faults PROPERTIES SKIP_RETURN_CODE 77)
# ClusterIP Services through kube-proxy (iptables mode) and the overlay, under both policies.
km_netns_test(NAME netns_kubernetes_services SCRIPT ${CMAKE_CURRENT_LIST_DIR}/../kubernetes/kubernetes_services.sh
              LABELS kubernetes TIMEOUT 480)
set_tests_properties(netns_kubernetes_services PROPERTIES SKIP_RETURN_CODE 77)
