# Cryptokey routing table (daemon/allowed_ips.h, header-only): hand-written cases and a
# differential test against a naive longest-match scan.
km_unit_test(NAME allowed_ips_test
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/allowed_ips_test.cpp
             LIBS km_common)
