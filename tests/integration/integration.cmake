km_unit_test(NAME tunnel_pair_test
             SOURCES ${CMAKE_CURRENT_LIST_DIR}/tunnel_pair_test.cpp
             LIBS km_daemon
             LABELS crypto)
