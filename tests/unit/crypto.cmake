# Unit tests of crypto/: known-answer vectors, replay window, handshakes, cookies, keypairs.
foreach(concept primitives aead messages replay noise cookie keypair)
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
# The AEAD micro-benchmark behind the README's choice of implementation; built, not a test.
add_executable(crypto_aead_bench ${CMAKE_CURRENT_LIST_DIR}/crypto_aead_bench.cpp)
target_link_libraries(crypto_aead_bench PRIVATE km_crypto)
