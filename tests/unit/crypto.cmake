# Unit tests of crypto/: known-answer vectors, replay window, handshakes, cookies, keypairs.
foreach(concept primitives messages replay noise cookie keypair)
  km_unit_test(NAME crypto_${concept}
               SOURCES ${CMAKE_CURRENT_LIST_DIR}/crypto_${concept}.cpp
               LIBS km_crypto
               LABELS crypto)
endforeach()
# The keymesh handshake variant (payload-carrying messages, receiver hint, its own identifier).
km_unit_test(NAME crypto_keymesh_test
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/crypto_keymesh_test.cpp
             LIBS km_crypto
             LABELS crypto)
