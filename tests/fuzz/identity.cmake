# Fuzz target for identity/: certificate, chain, armored text and revocation list parsing plus
# chain validation against a fixed trust store. Seeds in corpus/certificate come from
# fuzz_certificate_seeds (same fixed PKI, so they validate).
km_fuzz_target(NAME fuzz_certificate
               SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_certificate.cpp
               LIBS km_identity
               LABELS identity
               CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/certificate)

# Seed generator: built on request only (not a test).
add_executable(fuzz_certificate_seeds EXCLUDE_FROM_ALL
               ${CMAKE_CURRENT_LIST_DIR}/fuzz_certificate_seeds.cpp)
target_link_libraries(fuzz_certificate_seeds PRIVATE km_identity)
