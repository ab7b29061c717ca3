// Shared by the io_* unit tests.
#pragma once

#include <ostream>

#include "udp/endpoint.h"

namespace keymesh::udp {
// Lets BOOST_TEST print endpoints in failure messages (found by argument-dependent lookup).
inline std::ostream& boost_test_print_type(std::ostream& out, const Endpoint& e) {
  return out << e.to_string();
}
}  // namespace keymesh::udp
