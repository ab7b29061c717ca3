# Fuzz target for the outside-datagram parsers of crypto/ (classify, handshake consume paths,
# cookie replies, data open). Seeds in corpus/messages come from fuzz_messages_seeds.
km_fuzz_target(NAME fuzz_messages
               SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_messages.cpp
               LIBS km_crypto
               LABELS crypto
               CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/messages)
target_include_directories(fuzz_messages PRIVATE ${CMAKE_CURRENT_LIST_DIR})

# Seed generator: built on request only (not a test).
add_executable(fuzz_messages_seeds EXCLUDE_FROM_ALL ${CMAKE_CURRENT_LIST_DIR}/fuzz_messages_seeds.cpp)
target_link_libraries(fuzz_messages_seeds PRIVATE km_crypto)
target_include_directories(fuzz_messages_seeds PRIVATE ${CMAKE_CURRENT_LIST_DIR})
