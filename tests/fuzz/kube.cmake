# Fuzz target for kube/: watch events, lists, the reflector and the pod -> identity mapping.
# Seeds in corpus/kube_watch (real watch lines of a v1.20 API server, shortened).
km_fuzz_target(NAME fuzz_kube_watch
               SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_kube_watch.cpp
               LIBS km_kube
               LABELS kubernetes
               CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/kube_watch)
