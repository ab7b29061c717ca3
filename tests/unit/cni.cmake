# keymesh-cni (cni/): input parsing, results, the dispatcher against a fake keymeshd, and the
# Kubernetes manifests in deploy/kubernetes/. The real-kernel tests are tests/netns/cni.cmake.
km_unit_test(NAME cni_config
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/cni_config_test.cpp
             LIBS km_cni
             LABELS cni)
target_compile_definitions(cni_config PRIVATE KEYMESH_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
km_unit_test(NAME cni_result
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/cni_result_test.cpp
             LIBS km_cni
             LABELS cni)
km_unit_test(NAME cni_dispatcher
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/cni_dispatcher_test.cpp
             LIBS km_cni km_control
             LABELS cni)
km_unit_test(NAME cni_manifests
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/cni_manifests_test.cpp
             LIBS km_cni km_policy yaml-cpp
             LABELS cni)
target_compile_definitions(cni_manifests PRIVATE KEYMESH_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
km_unit_test(NAME cni_edge_filter
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/cni_edge_filter_test.cpp
             LIBS km_plumbing
             LABELS cni)
km_unit_test(NAME edge_host_grants
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/edge_host_grants_test.cpp
             LIBS km_daemon
             LABELS cni)
km_unit_test(NAME release_queue
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/release_queue_test.cpp
             LIBS km_release_queue km_control
             LABELS cni)
