# Raw-key peers next to certified identities (issue 15 §6): without a policy file a raw peer
# reaches no certified workload; a certificate network overlapping a raw peer's allowed_ips is
# refused; a renewal too large for a handshake keeps the old certificate; discovery queue
# and lookups are shared fairly between local identities.
km_unit_test(NAME raw_default_test
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/raw_default_test.cpp
             LIBS km_daemon km_policy
             LABELS sites identity)
