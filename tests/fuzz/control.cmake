# Fuzzers for the control path's parsers: the config loader and the control-socket framing
# plus Request parsing. km_control is defined in daemon/CMakeLists.txt.
km_fuzz_target(NAME fuzz_config
               SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_config.cpp
               LIBS km_control
               CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/config)
km_fuzz_target(NAME fuzz_control
               SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_control.cpp
               LIBS km_proto
               CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/control)
