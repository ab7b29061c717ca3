// Helpers for the discovery tests: records with real (generated, unvalidated) certificate
// chains, endpoints and addresses in one line each.
#pragma once

#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "discovery/directory.h"
#include "discovery/record.h"
#include "identity/chain.h"
#include "tests/unit/identity_test_util.h"

namespace keymesh::discovery {
// For Boost.Test messages.
inline std::ostream& operator<<(std::ostream& os, ChangeKind k) { return os << to_string(k); }
}  // namespace keymesh::discovery
namespace keymesh::udp {
inline std::ostream& operator<<(std::ostream& os, const Endpoint& e) { return os << e.to_string(); }
}  // namespace keymesh::udp

namespace keymesh::discovery::test {

using identity::test::kT0;

inline udp::Endpoint ep(const char* text) {
  auto e = udp::Endpoint::parse(text);
  if (!e) throw std::runtime_error(std::string("bad endpoint in test: ") + text);
  return *e;
}

inline IpAddress ip(const char* text) {
  auto a = IpAddress::parse(text);
  if (!a) throw std::runtime_error(std::string("bad address in test: ") + text);
  return *a;
}

// One CA shared by a test's records (a root is enough: discovery does not validate).
struct Pki {
  identity::test::Ca root = identity::test::make_root();

  identity::Certificate leaf(const std::string& name, std::vector<std::string> networks) {
    identity::test::LeafSpec spec;
    spec.name = name;
    spec.kind = identity::Kind::Node;
    spec.networks.clear();
    for (const auto& n : networks) spec.networks.push_back(identity::test::cidr(n.c_str()));
    spec.not_after = kT0 + 300 * identity::test::kDay;
    return identity::test::make_leaf(root, spec);
  }

  Bytes chain(const std::string& name, std::vector<std::string> networks) {
    const identity::Certificate l = leaf(name, std::move(networks));
    const std::vector<identity::Certificate> c = {l};
    return identity::serialize_chain(c);
  }

  Record record(const std::string& name, std::vector<std::string> networks,
                std::vector<udp::Endpoint> endpoints,
                WallTime expires = WallTime(std::chrono::seconds(kT0 + 3600))) {
    auto r = record_from_chain(chain(name, std::move(networks)), std::move(endpoints), expires);
    if (!r) throw std::runtime_error("record_from_chain: " + r.error().message);
    return std::move(*r);
  }
};

inline WallTime wall(std::int64_t offset_seconds = 0) {
  return WallTime(std::chrono::seconds(kT0 + offset_seconds));
}

}  // namespace keymesh::discovery::test
