# Fuzz target for tun/offload.h: the Splitter (virtio header + frame from the kernel) and
# the Coalescer (decrypted packets from a peer), with a split-after-coalesce round trip.
km_fuzz_target(NAME fuzz_offload
               SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_offload.cpp
               LIBS km_tun
               CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/offload)
