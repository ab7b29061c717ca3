# Discovery (docs/architecture.md): in-memory directory, static file, lighthouse protocol (server and
# client in one process, and over the UDP transport on 127.0.0.x). km_discovery is defined in
# discovery/CMakeLists.txt; the etcd backend's test is tests/netns/discovery.cmake.
foreach(concept directory static lighthouse transport)
  km_unit_test(NAME discovery_${concept}
               SOURCES ${CMAKE_CURRENT_LIST_DIR}/discovery_${concept}_test.cpp
               LIBS km_discovery
               LABELS discovery)
endforeach()
