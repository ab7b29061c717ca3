# A failed initiation leaves no handshake state armed (issue 15 §6).
km_unit_test(NAME crypto_initiation_failure
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/crypto_initiation_failure_test.cpp
             LIBS km_crypto
             LABELS crypto)
