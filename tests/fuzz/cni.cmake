# Fuzzer for keymesh-cni's stdin config parser, CNI_ARGS and identity templates.
km_fuzz_target(NAME fuzz_cni_config
               SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_cni_config.cpp
               LIBS km_cni
               CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/cni
               LABELS cni)
# Fuzzer for the CNI deletion queue's record files (node/release_queue.h).
km_fuzz_target(NAME fuzz_release_record
               SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_release_record.cpp
               LIBS km_release_queue
               CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/release
               LABELS cni)
