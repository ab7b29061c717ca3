# Unit tests of node/ (km_node_state): minting with the node CA, the address pool, the
# workload store (persistence, gc, renewal) and its crash safety under SIGKILL.
foreach(concept ca ipam workloads crash revocation)
  km_unit_test(NAME node_${concept}_test
               SOURCES ${CMAKE_CURRENT_LIST_DIR}/node_${concept}_test.cpp
               LIBS km_node_state
               LABELS identity)
endforeach()
