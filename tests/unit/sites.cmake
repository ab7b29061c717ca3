# Site routes (daemon/routes.h): which remote networks get a kernel route via the interface.
km_unit_test(NAME sites_routes_test
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/sites_routes_test.cpp
             LIBS km_daemon LABELS sites)
# Several gateways for one network (daemon/site_failover.h): which one takes over.
km_unit_test(NAME sites_failover_test
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/sites_failover_test.cpp
             LIBS km_daemon LABELS sites)

# Relaying (daemon/relay.h): the envelope layout and parser, the relay's forwarding decision.
km_unit_test(NAME relay_envelope_test
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/relay_envelope_test.cpp
             LIBS km_daemon LABELS sites)

# Handshake admission and address ownership (daemon/handshake_guard.h, address_owners.h,
# rejection_audit.h, crypto/ratelimiter.h): floods, replays and older certificates.
km_unit_test(NAME handshake_guard_test
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/handshake_guard_test.cpp
             LIBS km_daemon LABELS identity)
