// The workload store as keymeshd's control requests use it: ADD mints a valid identity with a
// fresh address, a second ADD for the same attachment fails, DEL is idempotent, GC keeps only
// what the runtime still has, renewal keeps key and address, and a restart (close, reopen)
// gives every workload back its address, key and chain.
#define BOOST_TEST_MODULE node_workloads
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>

#include "tests/unit/node_test_util.h"

using namespace keymesh;
using namespace keymesh::node;
using namespace keymesh::node::test;
using keymesh::test::has;

namespace {

mode_t mode_of(const std::string& path) {
  struct stat st {};
  BOOST_REQUIRE_MESSAGE(::stat(path.c_str(), &st) == 0, path);
  return st.st_mode & 0777;
}

void require_error(const auto& r, const std::string& part) {
  BOOST_REQUIRE_MESSAGE(!r, "expected an error mentioning: " + part);
  BOOST_TEST_MESSAGE("refused: " << r.error().message);
  BOOST_TEST(has(r.error().message, part), r.error().message);
}

const WallTime kNow = at(kT0);

// The store must not depend on the daemon's umask for its permissions.
struct LooseUmask {
  LooseUmask() { ::umask(0); }
};
BOOST_TEST_GLOBAL_FIXTURE(LooseUmask);

}  // namespace

BOOST_FIXTURE_TEST_CASE(add_mints_a_valid_identity_with_a_fresh_address, NodeFixture) {
  WorkloadStore store = open();
  const Workload* w = must(store.add(spec("c1", "node-a/web-1"), kNow));
  BOOST_TEST(w->address.to_string() == "100.64.1.2/32");
  BOOST_TEST(w->name() == "node-a/web-1");
  BOOST_TEST(w->groups() == std::vector<std::string>{"web"});
  BOOST_TEST(w->labels().at("app") == "web");
  BOOST_TEST(w->front_door == "cni");
  BOOST_TEST(w->netns == "/proc/1/ns/net");
  BOOST_TEST(check_workload(*w, trust, kNow) == "");
  // 24 h asked, 24 h allowed (counted from the 60 s back-dating); renewal at two thirds.
  BOOST_TEST(w->certificate().fields().not_after == kT0 - 60 + 24 * kHour);
  BOOST_TEST((w->renew_at - kNow) / std::chrono::hours(1) == 15);
  BOOST_TEST(store.find("c1", "eth0") == w);
  BOOST_TEST(store.find_by_address(w->address.address) == w);
  BOOST_TEST(store.find("c1", "eth1") == nullptr);
}

BOOST_FIXTURE_TEST_CASE(add_for_an_existing_attachment_fails_and_consumes_nothing, NodeFixture) {
  WorkloadStore store = open();
  must(store.add(spec("c1"), kNow));
  require_error(store.add(spec("c1"), kNow),
                "container c1 interface eth0 already exists (address 100.64.1.2/32");
  // A name the node CA may not sign: refused, no address taken.
  require_error(store.add(spec("c2", "node-b/web"), kNow),
                "does not match the pattern \"node-a/*\"");
  BOOST_TEST(store.list().size() == 1u);
  BOOST_TEST(store.ipam().used() == 1u);
  BOOST_TEST(must(store.add(spec("c2"), kNow))->address.to_string() == "100.64.1.3/32");
  // Same container, second interface: a second attachment.
  WorkloadSpec second = spec("c1");
  second.ifname = "eth1";
  BOOST_TEST(must(store.add(second, kNow))->address.to_string() == "100.64.1.4/32");
  WorkloadSpec bad = spec("c3");
  bad.front_door = "kubelet";
  require_error(store.add(bad, kNow), "unknown front door \"kubelet\"");
  bad = spec("c3");
  bad.ifname = "";
  require_error(store.add(bad, kNow), "interface name is empty");
}

BOOST_AUTO_TEST_CASE(pool_exhaustion_and_reclaiming) {
  NodeFixture f("100.64.1.0/28");  // 13 workload addresses
  WorkloadStore store = f.open();
  for (int i = 0; i < 13; ++i) must(store.add(NodeFixture::spec("c" + std::to_string(i)), kNow));
  require_error(store.add(NodeFixture::spec("c13"), kNow), "no free address in 100.64.1.0/28");
  BOOST_TEST(check_invariants(store, f.trust, kNow) == "");
  const std::string freed = store.find("c5", "eth0")->address.to_string();
  BOOST_TEST(must(store.remove("c5", "eth0")) == true);
  BOOST_TEST(must(store.remove("c5", "eth0")) == false);  // DEL is idempotent
  BOOST_TEST(must(store.add(NodeFixture::spec("c13"), kNow))->address.to_string() == freed);
}

BOOST_FIXTURE_TEST_CASE(explicit_addresses, NodeFixture) {
  WorkloadStore store = open();
  WorkloadSpec s = spec("c1");
  s.address = IpAddress::parse("100.64.1.50");
  BOOST_TEST(must(store.add(s, kNow))->address.to_string() == "100.64.1.50/32");
  s.container_id = "c2";
  require_error(store.add(s, kNow), "address 100.64.1.50 is already in use by container c1");
  s.address = IpAddress::parse("100.64.1.1");
  require_error(store.add(s, kNow), "reserved for the node");
  s.address = IpAddress::parse("10.9.9.9");
  require_error(store.add(s, kNow), "outside the node range 100.64.1.0/24");
  BOOST_TEST(must(store.add(spec("c3"), kNow))->address.to_string() == "100.64.1.2/32");
}

// The Docker IPAM hands out an address before its workload exists: a reservation keeps it
// from every other allocation, from an explicit add, and across a restart, until unreserved.
BOOST_FIXTURE_TEST_CASE(reservations_hold_addresses_until_released, NodeFixture) {
  {
    WorkloadStore store = open();
    const IpAddress r1 = must(store.reserve(std::nullopt, "docker pool"));
    BOOST_TEST(r1.to_string() == "100.64.1.2");
    BOOST_TEST(must(store.add(spec("c1"), kNow))->address.to_string() == "100.64.1.3/32");
    WorkloadSpec s = spec("c2");
    s.address = r1;
    require_error(store.add(s, kNow), "address 100.64.1.2 is reserved by docker pool");
    require_error(store.reserve(r1, "again"), "already reserved by docker pool");
    require_error(store.reserve(IpAddress::parse("100.64.1.3"), "x"),
                  "already in use by container c1");
    const IpAddress r2 = must(store.reserve(IpAddress::parse("100.64.1.77"), "docker --ip"));
    BOOST_TEST(r2.to_string() == "100.64.1.77");
    BOOST_TEST(store.reservations().size() == 2u);
  }
  {
    WorkloadStore store = open();  // a restart keeps both reservations
    BOOST_TEST(store.reservations().size() == 2u);
    BOOST_TEST(store.ipam().in_use(*IpAddress::parse("100.64.1.2")));
    // The reservation turns into the workload: unreserve, then add with that address.
    BOOST_TEST(must(store.unreserve(*IpAddress::parse("100.64.1.2"))) == true);
    BOOST_TEST(must(store.unreserve(*IpAddress::parse("100.64.1.2"))) == false);
    WorkloadSpec s = spec("c2");
    s.address = IpAddress::parse("100.64.1.2");
    BOOST_TEST(must(store.add(s, kNow))->address.to_string() == "100.64.1.2/32");
    BOOST_TEST(must(store.unreserve(*IpAddress::parse("100.64.1.77"))) == true);
    BOOST_TEST(!store.ipam().in_use(*IpAddress::parse("100.64.1.77")));
  }
  WorkloadStore store = open();
  BOOST_TEST(store.reservations().empty());
  BOOST_TEST(check_invariants(store, trust, kNow) == "");
}

BOOST_FIXTURE_TEST_CASE(interleaved_adds_and_removes_never_share_an_address, NodeFixture) {
  WorkloadStore store = open();
  std::map<std::string, std::string> live;  // container -> address
  for (int i = 0; i < 20; ++i) {
    const std::string id = "c" + std::to_string(i);
    const Workload* w = must(store.add(spec(id), kNow));
    for (const auto& [other, address] : live)
      BOOST_TEST(address != w->address.to_string(), id << " got the address of " << other);
    live[id] = w->address.to_string();
    if (i % 3 == 2) {  // remove an older one
      const std::string victim = "c" + std::to_string(i - 2);
      BOOST_TEST(must(store.remove(victim, "eth0")));
      live.erase(victim);
    }
  }
  BOOST_TEST(store.list().size() == live.size());
  BOOST_TEST(check_invariants(store, trust, kNow) == "");
}

BOOST_FIXTURE_TEST_CASE(a_restart_keeps_addresses_keys_and_chains, NodeFixture) {
  std::map<std::string, std::pair<std::string, Bytes>> before;  // id -> (address, chain)
  std::map<std::string, crypto::Key> keys;
  BOOST_REQUIRE(::mkdir(state.c_str(), 0755) == 0);  // as a package might create it
  {
    WorkloadStore store = open();
    for (const char* id : {"a", "b", "c"}) {
      const Workload* w = must(store.add(spec(id), kNow));
      before[id] = {w->address.to_string(), identity::serialize_chain(w->chain)};
      keys[id] = crypto::public_key(w->key);
    }
    must(store.mint_identity("node-a/db", {"db"}, {}, std::nullopt, kNow));
    must(store.add(spec("d"), kNow));
    must(store.remove("d", "eth0"));  // freed just before the restart
    // Keys are in these files: nobody else may read them, whatever the umask.
    BOOST_TEST(mode_of(state) == 0700u);
    BOOST_TEST(mode_of(state + "/node.db") == 0600u);
    BOOST_TEST(mode_of(state + "/node.db-wal") == 0600u);
  }
  BOOST_TEST(mode_of(state + "/node.db") == 0600u);

  WorkloadStore store = open();
  BOOST_TEST(store.list().size() == 4u);
  for (const auto& [id, expected] : before) {
    const Workload* w = store.find(id, "eth0");
    BOOST_REQUIRE_MESSAGE(w, id);
    BOOST_TEST(w->address.to_string() == expected.first);
    BOOST_TEST(identity::serialize_chain(w->chain) == expected.second);
    BOOST_TEST(crypto::public_key(w->key) == keys[id]);
    BOOST_TEST(w->front_door == "cni");
  }
  const Workload* db = store.find("identity:node-a/db", "");
  BOOST_REQUIRE(db);
  BOOST_TEST(db->front_door == "api");
  BOOST_TEST(check_invariants(store, trust, kNow) == "");
  // The allocation cursor was persisted: "d"'s address is not handed out again at once.
  BOOST_TEST(must(store.add(spec("e"), kNow))->address.to_string() == "100.64.1.7/32");
}

BOOST_FIXTURE_TEST_CASE(a_second_daemon_on_the_same_state_is_refused, NodeFixture) {
  WorkloadStore first = open();
  auto second = WorkloadStore::open(state, node_ca());
  require_error(second, "in use by another process");
  must(first.add(spec("c1"), kNow));  // the first one is unharmed
}

BOOST_FIXTURE_TEST_CASE(mint_identity_without_a_chain, NodeFixture) {
  WorkloadStore store = open();
  const Workload* w = must(store.mint_identity("node-a/db", {"db"}, {{"tier", "data"}},
                                               IpAddress::parse("100.64.1.9"), kNow));
  BOOST_TEST(w->container_id == "identity:node-a/db");
  BOOST_TEST(w->ifname == "");
  BOOST_TEST(w->front_door == "api");
  BOOST_TEST(w->address.to_string() == "100.64.1.9/32");
  BOOST_TEST(w->labels().at("tier") == "data");
  BOOST_TEST(check_workload(*w, trust, kNow) == "");
  require_error(store.mint_identity("node-a/db", {}, {}, std::nullopt, kNow),
                "identity \"node-a/db\" already exists");
  require_error(store.mint_identity("other", {}, {}, std::nullopt, kNow), "node-a/*");
  BOOST_TEST(must(store.remove("identity:node-a/db", "")));
}

BOOST_FIXTURE_TEST_CASE(gc_removes_only_what_the_front_door_no_longer_has, NodeFixture) {
  {
    WorkloadStore store = open();
    for (const char* id : {"c0", "c1", "c2"}) must(store.add(spec(id), kNow));
    WorkloadSpec docker = spec("d0");
    docker.front_door = "docker";
    must(store.add(docker, kNow));
    const auto removed = must(store.gc({{"c1", "eth0"}}, "cni"));
    BOOST_REQUIRE(removed.size() == 2u);
    BOOST_TEST(removed[0].container_id == "c0");
    BOOST_TEST(removed[1].container_id == "c2");
    BOOST_TEST(store.find("c1", "eth0") != nullptr);
    BOOST_TEST(store.find("d0", "eth0") != nullptr);  // another front door's: untouched
    BOOST_TEST(store.ipam().used() == 2u);
    BOOST_TEST(must(store.gc({{"c1", "eth0"}}, "cni")).empty());
  }
  WorkloadStore reopened = open();
  BOOST_TEST(reopened.list().size() == 2u);
  BOOST_TEST(reopened.find("c0", "eth0") == nullptr);
}

BOOST_FIXTURE_TEST_CASE(renewal_keeps_key_and_address_and_extends_validity, NodeFixture) {
  Bytes renewed;
  {
    WorkloadStore store = open();
    const Workload* w = must(store.add(spec("c1"), kNow));
    const crypto::Key key = crypto::public_key(w->key);
    const std::string address = w->address.to_string();
    const std::int64_t old_not_after = w->certificate().fields().not_after;
    BOOST_TEST(store.due_for_renewal(kNow).empty());
    BOOST_TEST(store.due_for_renewal(w->renew_at).size() == 1u);

    const WallTime later = at(kT0 + 17 * kHour);
    BOOST_REQUIRE(store.due_for_renewal(later).size() == 1u);
    const Workload* r = must(store.renew("c1", "eth0", later));
    BOOST_TEST(r == w);  // updated in place
    BOOST_TEST(crypto::public_key(r->key) == key);
    BOOST_TEST(r->address.to_string() == address);
    BOOST_TEST(r->certificate().fields().not_after > old_not_after);
    // Valid when the first certificate has expired.
    BOOST_TEST(check_workload(*r, trust, at(kT0 + 30 * kHour)) == "");
    BOOST_TEST(store.due_for_renewal(later).empty());
    renewed = identity::serialize_chain(r->chain);
    require_error(store.renew("nope", "eth0", later),
                  "container nope interface eth0 does not exist");
  }
  WorkloadStore reopened = open();
  BOOST_TEST(identity::serialize_chain(reopened.find("c1", "eth0")->chain) == renewed);
}

// A Kubernetes pod's labels changed (daemon/kube_pods.cpp): same key, address and name, the new
// groups and labels, persisted; what the node CA does not allow changes nothing.
BOOST_AUTO_TEST_CASE(reissue_carries_new_labels_within_the_node_cas_bounds) {
  NodeFixture f;
  auto c = node_constraints();
  c.allowed_labels = std::vector<identity::LabelPattern>{{"app", {}}, {"k8s:*", {}}};
  f.node = make_node_ca(f.root, "node-a", c);
  Bytes reissued;
  {
    WorkloadStore store = f.open();
    const Workload* w = must(store.add(NodeFixture::spec("c1"), kNow));
    const crypto::Key key = crypto::public_key(w->key);
    const std::string address = w->address.to_string();
    const Workload* r = must(store.reissue("c1", "eth0", {"web", "sa-shop.pay"},
                                           {{"app", "api"}, {"k8s:namespace", "shop"}}, kNow));
    BOOST_TEST(r == w);
    BOOST_TEST(crypto::public_key(r->key) == key);
    BOOST_TEST(r->address.to_string() == address);
    BOOST_TEST(r->name() == "node-a/web");
    BOOST_TEST(r->labels().at("app") == "api");
    BOOST_TEST(r->labels().at("k8s:namespace") == "shop");
    BOOST_TEST((r->groups() == std::vector<std::string>{"web", "sa-shop.pay"}));
    BOOST_TEST(check_workload(*r, f.trust, kNow) == "");
    reissued = identity::serialize_chain(r->chain);
    require_error(store.reissue("c1", "eth0", {"web"}, {{"forbidden", "yes"}}, kNow),
                  "label forbidden=yes not allowed by CA node-a");
    BOOST_TEST(identity::serialize_chain(store.find("c1", "eth0")->chain) == reissued);
  }
  WorkloadStore reopened = f.open();
  BOOST_TEST(identity::serialize_chain(reopened.find("c1", "eth0")->chain) == reissued);
}

BOOST_FIXTURE_TEST_CASE(a_rotated_node_ca_renews_everything_at_once, NodeFixture) {
  { WorkloadStore store = open(); must(store.add(spec("c1"), kNow)); }
  Ca rotated = make_node_ca(root, "node-a", node_constraints());
  WorkloadStore store = must(
      WorkloadStore::open(state, must(NodeCa::create({rotated.cert}, copy_key(rotated.key)))));
  BOOST_TEST(store.due_for_renewal(kNow).size() == 1u);
  const Workload* w = must(store.renew("c1", "eth0", kNow));
  BOOST_TEST(w->chain[1].fingerprint() == rotated.cert.fingerprint());
  BOOST_TEST(check_workload(*w, trust, kNow) == "");
}

// Below the store, the database itself refuses a second row for an address or attachment.
BOOST_FIXTURE_TEST_CASE(the_database_refuses_duplicate_addresses, NodeFixture) {
  WorkloadStore store = open();
  const Workload* w = must(store.add(spec("c1"), kNow));
  WorkloadRow row{.container_id = "c2", .ifname = "eth0", .front_door = "cni", .netns = "",
                  .identity = "node-a/x", .address = w->address.address.to_string(),
                  .private_key = crypto::SecretKey(w->key.span()),
                  .chain = identity::serialize_chain(w->chain)};
  require_error(store.state().insert_workload(row), "UNIQUE constraint failed: workloads.address");
  row.container_id = "c1";
  row.address = "100.64.1.99";
  require_error(store.state().insert_workload(row), "UNIQUE constraint failed");
  BOOST_TEST(must(store.state().load_workloads()).size() == 1u);
}

// A row that does not hold together is not silently dropped: its address could be handed out
// again while its container still uses it. open() refuses and names the row.
BOOST_FIXTURE_TEST_CASE(a_damaged_row_stops_open_with_its_name, NodeFixture) {
  {
    WorkloadStore store = open();
    const Workload* w = must(store.add(spec("c1"), kNow));
    must(store.add(spec("c2"), kNow));
    crypto::SecretKey other;
    crypto::generate_private_key(other);
    WorkloadRow row{.container_id = "c3", .ifname = "eth0", .front_door = "cni", .netns = "",
                    .identity = "node-a/web", .address = "100.64.1.40",
                    .private_key = std::move(other),
                    .chain = identity::serialize_chain(w->chain)};  // someone else's chain
    must(store.state().insert_workload(row));
  }
  require_error(WorkloadStore::open(state, node_ca()),
                "container c3 interface eth0: the stored key does not match");
}

BOOST_FIXTURE_TEST_CASE(key_value_records_for_the_docker_driver, NodeFixture) {
  {
    WorkloadStore store = open();
    StateStore& db = store.state();
    must(db.put_kv("network", "n1", R"({"subnet":"100.64.1.0/24"})"));
    must(db.put_kv("network", "n2", std::string("bin\0ary", 7)));
    must(db.put_kv("endpoint", "e1", "x"));
    must(db.put_kv("network", "n1", "replaced"));
    BOOST_TEST(must(db.del_kv("endpoint", "e1")) == true);
    BOOST_TEST(must(db.del_kv("endpoint", "e1")) == false);
  }
  WorkloadStore store = open();
  StateStore& db = store.state();
  BOOST_TEST(must(db.get_kv("network", "n1")).value_or("") == "replaced");
  BOOST_TEST(must(db.get_kv("network", "n2")).value_or("") == std::string("bin\0ary", 7));
  BOOST_TEST(!must(db.get_kv("network", "n3")).has_value());
  const auto all = must(db.list_kv("network"));
  BOOST_REQUIRE(all.size() == 2u);
  BOOST_TEST(all[0].first == "n1");
  BOOST_TEST(all[1].first == "n2");
  BOOST_TEST(must(db.list_kv("endpoint")).empty());
}
