# Fuzz targets for discovery/: the static file loader (seeds in corpus/discovery_static, with
# a fixed armored chain node.crt) and the lighthouse message decoder through both the server
# and the client (seeds in corpus/discovery_messages). Seeds come from fuzz_discovery_seeds.
km_fuzz_target(NAME fuzz_discovery_static
               SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_discovery_static.cpp
               LIBS km_discovery
               LABELS discovery
               CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/discovery_static)
target_compile_definitions(fuzz_discovery_static PRIVATE
                           KM_DISCOVERY_CORPUS="${CMAKE_CURRENT_LIST_DIR}/corpus/discovery_static")
km_fuzz_target(NAME fuzz_discovery_messages
               SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_discovery_messages.cpp
               LIBS km_discovery
               LABELS discovery
               CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/discovery_messages)

# Seed generator: built on request only (not a test).
add_executable(fuzz_discovery_seeds EXCLUDE_FROM_ALL
               ${CMAKE_CURRENT_LIST_DIR}/fuzz_discovery_seeds.cpp)
target_link_libraries(fuzz_discovery_seeds PRIVATE km_discovery)
