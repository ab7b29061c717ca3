# Fuzz target for the relay envelope parser and the relay's forwarding decision
# (daemon/relay.h). Seeds in corpus/relay_envelope.
km_fuzz_target(NAME fuzz_relay_envelope
               SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_relay_envelope.cpp
               LIBS km_daemon
               LABELS sites
               CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/relay_envelope)
