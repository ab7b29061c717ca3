// Helpers for the node tests: a root and a node CA for 100.64.1.0/24 ("node-a/*", 24 h), a
// scratch state directory, and the checks every stored workload must pass.
#pragma once

#include <boost/test/unit_test.hpp>

#include <set>
#include <string>

#include "node/node_ca.h"
#include "node/workloads.h"
#include "tests/unit/identity_test_util.h"

namespace keymesh::node::test {

using namespace keymesh::identity::test;

template <class T>
T must(Result<T> r) {
  if (!r) throw std::runtime_error("unexpected failure: " + r.error().message);
  if constexpr (!std::is_void_v<T>) return std::move(*r);
}

inline identity::CaConstraints node_constraints(const char* range = "100.64.1.0/24") {
  return {.allowed_networks = {cidr(range)},
          .name_pattern = "node-a/*",
          .max_lifetime_seconds = 24 * 3600,
          .may_sign_ca = false};
}

inline identity::CaKey copy_key(const identity::CaKey& key) {
  return *identity::CaKey::from_secret(key.secret().span());
}

// root -> node CA "node-a"; `state` is a fresh directory for the database.
struct NodeFixture {
  Ca root = make_root();
  Ca node;
  TempDir dir;
  std::string state = dir / "state";
  identity::TrustStore trust;

  explicit NodeFixture(const char* range = "100.64.1.0/24")
      : node(make_node_ca(root, "node-a", node_constraints(range))) {
    BOOST_REQUIRE(trust.add_root(root.cert));
  }
  NodeCa node_ca() const { return must(NodeCa::create({node.cert}, copy_key(node.key))); }
  WorkloadStore open(WorkloadStore::Options o = {}) const {
    return must(WorkloadStore::open(state, node_ca(), o));
  }
  static WorkloadSpec spec(const std::string& container, const std::string& name = "node-a/web") {
    return WorkloadSpec{.container_id = container, .ifname = "eth0", .netns = "/proc/1/ns/net",
                        .front_door = "cni", .identity = name, .groups = {"web"},
                        .labels = {{"app", "web"}}};
  }
};

// What every stored workload must satisfy: its chain validates with the root at `now`, its key
// is the certificate's key, and its address is the certificate's one network. Returns a
// message, empty when all holds.
inline std::string check_workload(const Workload& w, const identity::TrustStore& trust,
                                  WallTime now) {
  const std::string who = w.container_id + "/" + w.ifname + ": ";
  auto id = trust.validate(w.chain, now);
  if (!id) return who + id.error().message;
  if (crypto::public_key(w.key) != id->public_key) return who + "key does not match certificate";
  if (id->networks != std::vector<IpPrefix>{w.address}) return who + "address is not the cert's";
  if (w.address.length != 32) return who + "address is not a /32";
  return {};
}

// Every workload passes check_workload and no two share an address.
inline std::string check_invariants(const WorkloadStore& store, const identity::TrustStore& trust,
                                    WallTime now) {
  std::set<std::string> addresses;
  for (const Workload* w : store.list()) {
    if (auto m = check_workload(*w, trust, now); !m.empty()) return m;
    if (!addresses.insert(w->address.to_string()).second)
      return "address " + w->address.to_string() + " given twice";
  }
  if (store.ipam().used() != store.list().size() + store.reservations().size())
    return "pool and workloads disagree";
  return {};
}

}  // namespace keymesh::node::test
