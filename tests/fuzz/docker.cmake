# Fuzzer for the Docker driver's request bodies (docker/docker_messages.h); seeds are the
# bodies dockerd 20.10 sends (recorded in docs/docker.md, "What dockerd sends").
km_fuzz_target(NAME fuzz_docker_messages
               SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_docker_messages.cpp
               LIBS km_daemon
               CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/docker
               LABELS docker)
