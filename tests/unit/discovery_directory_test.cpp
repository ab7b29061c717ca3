// MemoryDirectory (longest-prefix lookups checked against a naive reference, expiry, watch,
// limits), DirectorySet, and records: from a chain, raw-key, and their wire form.
#define BOOST_TEST_MODULE discovery_directory
#include <boost/test/unit_test.hpp>

#include <random>

#include "discovery.pb.h"
#include "discovery/directory_set.h"
#include "discovery/memory_directory.h"
#include "tests/unit/discovery_test_util.h"

using namespace keymesh;
using namespace keymesh::discovery;
using namespace keymesh::discovery::test;

namespace {

struct Recorder {
  std::vector<std::pair<ChangeKind, std::string>> changes;
  WatchFn fn() {
    return [this](const Change& c) { changes.emplace_back(c.kind, c.record.name); };
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(record_from_chain_reads_the_leaf) {
  Pki pki;
  const auto leaf = pki.leaf("node-a", {"100.64.1.0/24"});
  const std::vector<identity::Certificate> certs = {leaf, pki.root.cert};
  auto r = record_from_chain(identity::serialize_chain(certs), {ep("198.18.0.1:51820")}, WallTime::max());
  BOOST_REQUIRE(r);
  BOOST_TEST(r->name == "node-a");
  BOOST_TEST(r->fingerprint == leaf.fingerprint());
  BOOST_TEST(r->public_key == leaf.public_key());
  BOOST_REQUIRE_EQUAL(r->networks.size(), 1u);
  BOOST_TEST(r->networks[0].to_string() == "100.64.1.0/24");
  // expires is capped at the leaf's not_after.
  BOOST_TEST((r->expires == WallTime(std::chrono::seconds(leaf.fields().not_after))));
  BOOST_TEST(!r->raw_key());
}

BOOST_AUTO_TEST_CASE(record_from_chain_refuses_garbage_and_ca_leaves) {
  Pki pki;
  const Bytes junk = {1, 2, 3, 4};
  BOOST_TEST(!record_from_chain(junk, {}, WallTime::max()));
  BOOST_TEST(!record_from_chain({}, {}, WallTime::max()));
  const std::vector<identity::Certificate> ca = {pki.root.cert};
  auto r = record_from_chain(identity::serialize_chain(ca), {}, WallTime::max());
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().message.find("CA certificate") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(wire_form_round_trips_both_kinds) {
  Pki pki;
  Record cert = pki.record("node-a", {"100.64.1.0/24"}, {ep("198.18.0.1:51820"), ep("[2001:db8::1]:4000")},
                           wall(120));
  cert.relay = true;
  proto::discovery::Record w;
  to_wire(cert, wall(0), w);
  BOOST_TEST(w.ttl_seconds() == 120u);
  auto back = from_wire(w, wall(10), std::chrono::seconds(600));
  BOOST_REQUIRE(back);
  BOOST_TEST(back->same_content(cert));
  BOOST_TEST((back->expires == wall(130)));
  // The receiver's cap on the TTL applies.
  auto capped = from_wire(w, wall(0), std::chrono::seconds(30));
  BOOST_TEST((capped->expires == wall(30)));

  const Record raw = raw_key_record(identity::test::random_x25519_public(),
                                    {*IpPrefix::parse("100.64.2.7/24")}, "site-b", {ep("198.18.0.2:51820")});
  BOOST_TEST(raw.networks[0].to_string() == "100.64.2.0/24");  // host bits cleared
  to_wire(raw, wall(0), w);
  auto raw_back = from_wire(w, wall(0), std::chrono::seconds(600));
  BOOST_REQUIRE(raw_back);
  BOOST_TEST(raw_back->same_content(raw));
  BOOST_TEST(raw_back->fingerprint == raw_key_fingerprint(raw.public_key));
}

BOOST_AUTO_TEST_CASE(wire_form_refuses_bad_records) {
  proto::discovery::Record w;
  BOOST_TEST(!from_wire(w, wall(0), std::chrono::seconds(60)));  // neither chain nor key
  w.set_chain("not a chain");
  BOOST_TEST(!from_wire(w, wall(0), std::chrono::seconds(60)));
  Pki pki;
  to_wire(pki.record("n", {"100.64.1.0/24"}, {ep("198.18.0.1:1")}), wall(0), w);
  w.mutable_endpoints(0)->set_address("abc");  // 3 bytes
  BOOST_TEST(!from_wire(w, wall(0), std::chrono::seconds(60)));
  to_wire(pki.record("n", {"100.64.1.0/24"}, {ep("198.18.0.1:1")}), wall(0), w);
  for (int i = 0; i < 9; ++i) endpoint_to_wire(ep("198.18.0.9:9"), *w.add_endpoints());
  BOOST_TEST(!from_wire(w, wall(0), std::chrono::seconds(60)));  // 10 > kMaxEndpoints
}

BOOST_AUTO_TEST_CASE(longest_prefix_wins) {
  Pki pki;
  MemoryDirectory d;
  BOOST_REQUIRE(d.publish(pki.record("site", {"100.64.0.0/10"}, {ep("198.18.0.1:1")})));
  BOOST_REQUIRE(d.publish(pki.record("node-a", {"100.64.1.0/24", "fd00:1::/64"}, {ep("198.18.0.2:1")})));
  BOOST_REQUIRE(d.publish(pki.record("web-1", {"100.64.1.5/32"}, {ep("198.18.0.3:1")})));
  BOOST_TEST(d.lookup_address(ip("100.64.1.5"))->name == "web-1");
  BOOST_TEST(d.lookup_address(ip("100.64.1.6"))->name == "node-a");
  BOOST_TEST(d.lookup_address(ip("100.65.0.1"))->name == "site");
  BOOST_TEST(d.lookup_address(ip("fd00:1::42"))->name == "node-a");
  BOOST_TEST(d.lookup_address(ip("198.18.0.1")) == nullptr);
  BOOST_TEST(d.lookup_address(ip("fd00:2::1")) == nullptr);
  IpAddress unset;
  BOOST_TEST(d.lookup_address(unset) == nullptr);
}

BOOST_AUTO_TEST_CASE(same_network_claimed_twice_latest_publication_wins) {
  Pki pki;
  MemoryDirectory d;
  Record a = pki.record("a", {"100.64.1.0/24"}, {ep("198.18.0.1:1")});
  Record b = pki.record("b", {"100.64.1.0/24"}, {ep("198.18.0.2:1")});
  const auto fa = a.fingerprint;
  BOOST_REQUIRE(d.publish(a));
  BOOST_REQUIRE(d.publish(b));
  BOOST_TEST(d.lookup_address(ip("100.64.1.1"))->name == "b");
  d.withdraw(b.fingerprint);
  BOOST_TEST(d.lookup_address(ip("100.64.1.1"))->name == "a");
  d.withdraw(fa);
  BOOST_TEST(d.lookup_address(ip("100.64.1.1")) == nullptr);
}

// Differential: random prefixes and addresses against a linear scan.
BOOST_AUTO_TEST_CASE(lookup_matches_naive_reference) {
  std::mt19937 rng(7);
  MemoryDirectory d;
  std::vector<Record> held;
  for (int i = 0; i < 300; ++i) {
    IpPrefix p;
    p.address.family = AF_INET;
    p.address.bytes[0] = 100;
    p.address.bytes[1] = std::uint8_t(64 + rng() % 2);
    p.address.bytes[2] = std::uint8_t(rng() % 4);
    p.address.bytes[3] = std::uint8_t(rng());
    p.length = std::uint8_t(10 + rng() % 23);
    Record r = raw_key_record(identity::test::random_x25519_public(), {p}, "r" + std::to_string(i),
                              {ep("198.18.0.1:1")});
    BOOST_REQUIRE(d.publish(r));
    held.push_back(r);
  }
  for (int i = 0; i < 3000; ++i) {
    IpAddress a;
    a.family = AF_INET;
    a.bytes[0] = 100;
    a.bytes[1] = std::uint8_t(64 + rng() % 2);
    a.bytes[2] = std::uint8_t(rng() % 4);
    a.bytes[3] = std::uint8_t(rng());
    int best_len = -1;
    std::size_t best = 0;
    for (std::size_t k = 0; k < held.size(); ++k) {  // later publications win ties
      const int len = match_length(held[k], a);
      if (len >= 0 && len >= best_len) {
        best_len = len;
        best = k;
      }
    }
    const Record* got = d.lookup_address(a);
    if (best_len < 0) {
      BOOST_TEST(got == nullptr);
    } else {
      BOOST_REQUIRE(got != nullptr);
      BOOST_TEST(got->name == held[best].name, a.to_string());
    }
  }
}

BOOST_AUTO_TEST_CASE(records_expire_unless_refreshed) {
  Pki pki;
  MemoryDirectory d;
  Recorder rec;
  d.watch(rec.fn());
  BOOST_REQUIRE(d.publish(pki.record("a", {"100.64.1.0/24"}, {ep("198.18.0.1:1")}, wall(10))));
  Record b = pki.record("b", {"100.64.2.0/24"}, {ep("198.18.0.2:1")}, wall(10));
  BOOST_REQUIRE(d.publish(b));
  BOOST_TEST((d.next_expiry() == wall(10)));
  b.expires = wall(30);
  BOOST_REQUIRE(d.publish(b));  // refresh: same content, no change reported
  BOOST_TEST(rec.changes.size() == 2u);
  d.tick(wall(9));
  BOOST_TEST(d.size() == 2u);
  d.tick(wall(10));
  BOOST_TEST(d.size() == 1u);
  BOOST_TEST(d.lookup_address(ip("100.64.1.1")) == nullptr);
  BOOST_TEST(d.lookup_address(ip("100.64.2.1"))->name == "b");
  d.tick(wall(31));
  BOOST_TEST(d.size() == 0u);
  BOOST_TEST(d.stats().expired == 2u);
  BOOST_REQUIRE_EQUAL(rec.changes.size(), 4u);
  BOOST_TEST((rec.changes[2] == std::pair{ChangeKind::Removed, std::string("a")}));
  BOOST_TEST((rec.changes[3] == std::pair{ChangeKind::Removed, std::string("b")}));
}

BOOST_AUTO_TEST_CASE(watch_reports_added_updated_removed) {
  Pki pki;
  MemoryDirectory d;
  Recorder rec;
  const WatchId id = d.watch(rec.fn());
  Record a = pki.record("a", {"100.64.1.0/24"}, {ep("198.18.0.1:1")});
  BOOST_REQUIRE(d.publish(a));
  a.endpoints.push_back(ep("198.18.5.5:5"));  // roamed: a new public endpoint
  BOOST_REQUIRE(d.publish(a));
  // A watcher may look up from its callback, but not mutate.
  bool saw_new_endpoint = false;
  bool publish_refused = false;
  const WatchId id2 = d.watch([&](const Change& c) {
    if (c.kind == ChangeKind::Updated)
      saw_new_endpoint = d.lookup_address(ip("100.64.1.1"))->endpoints.size() == 3;
    publish_refused = !d.publish(a);
  });
  a.endpoints.push_back(ep("198.18.5.6:6"));
  BOOST_REQUIRE(d.publish(a));
  BOOST_TEST(saw_new_endpoint);
  BOOST_TEST(publish_refused);
  d.unwatch(id2);
  d.withdraw(a.fingerprint);
  d.withdraw(a.fingerprint);  // unknown now: nothing happens
  d.unwatch(id);
  BOOST_REQUIRE(d.publish(a));  // nobody watching
  BOOST_REQUIRE_EQUAL(rec.changes.size(), 4u);
  BOOST_TEST(rec.changes[0].first == ChangeKind::Added);
  BOOST_TEST(rec.changes[1].first == ChangeKind::Updated);
  BOOST_TEST(rec.changes[2].first == ChangeKind::Updated);
  BOOST_TEST(rec.changes[3].first == ChangeKind::Removed);
}

BOOST_AUTO_TEST_CASE(limits_refuse_without_growing) {
  Pki pki;
  MemoryDirectory d(MemoryDirectoryOptions{.max_records = 2});
  BOOST_REQUIRE(d.publish(pki.record("a", {"100.64.1.0/24"}, {ep("198.18.0.1:1")})));
  BOOST_REQUIRE(d.publish(pki.record("b", {"100.64.2.0/24"}, {ep("198.18.0.1:1")})));
  auto full = d.publish(pki.record("c", {"100.64.3.0/24"}, {ep("198.18.0.1:1")}));
  BOOST_REQUIRE(!full);
  BOOST_TEST(full.error().message.find("full") != std::string::npos);
  BOOST_TEST(d.stats().rejected_full == 1u);
  Record no_endpoint = pki.record("d", {"100.64.4.0/24"}, {ep("198.18.0.1:1")});
  no_endpoint.endpoints[0].port = 0;
  BOOST_TEST(!d.publish(no_endpoint));
  BOOST_TEST(d.stats().rejected_invalid == 1u);
  BOOST_TEST(d.size() == 2u);
}

BOOST_AUTO_TEST_CASE(replace_all_reports_the_difference) {
  Pki pki;
  MemoryDirectory d;
  Recorder rec;
  Record a = pki.record("a", {"100.64.1.0/24"}, {ep("198.18.0.1:1")});
  Record b = pki.record("b", {"100.64.2.0/24"}, {ep("198.18.0.2:1")});
  Record c = pki.record("c", {"100.64.3.0/24"}, {ep("198.18.0.3:1")});
  BOOST_REQUIRE(d.replace_all({a, b}));
  d.watch(rec.fn());
  b.endpoints[0] = ep("198.18.0.22:1");
  BOOST_REQUIRE(d.replace_all({b, c}));
  BOOST_TEST(d.size() == 2u);
  BOOST_REQUIRE_EQUAL(rec.changes.size(), 3u);
  BOOST_TEST((rec.changes[0] == std::pair{ChangeKind::Removed, std::string("a")}));
  BOOST_TEST((rec.changes[1] == std::pair{ChangeKind::Updated, std::string("b")}));
  BOOST_TEST((rec.changes[2] == std::pair{ChangeKind::Added, std::string("c")}));
}

BOOST_AUTO_TEST_CASE(directory_set_prefers_the_longest_prefix_then_order) {
  Pki pki;
  MemoryDirectory file, lighthouse;
  DirectorySet set({&file, &lighthouse});
  Recorder rec;
  const WatchId id = set.watch(rec.fn());
  BOOST_REQUIRE(file.publish(pki.record("gateway", {"100.64.0.0/16"}, {ep("198.18.0.1:1")})));
  BOOST_REQUIRE(lighthouse.publish(pki.record("web-1", {"100.64.1.5/32"}, {ep("198.18.0.2:1")})));
  Record dup = pki.record("pinned", {"100.64.9.0/24"}, {ep("198.18.0.3:1")});
  BOOST_REQUIRE(file.publish(dup));
  Record other = pki.record("learned", {"100.64.9.0/24"}, {ep("198.18.0.4:1")});
  BOOST_REQUIRE(lighthouse.publish(other));
  BOOST_TEST(set.lookup_address(ip("100.64.1.5"))->name == "web-1");
  BOOST_TEST(set.lookup_address(ip("100.64.1.6"))->name == "gateway");
  BOOST_TEST(set.lookup_address(ip("100.64.9.1"))->name == "pinned");  // tie: earlier backend
  BOOST_TEST(set.lookup_fingerprint(other.fingerprint)->name == "learned");
  BOOST_TEST(rec.changes.size() == 4u);
  set.unwatch(id);
  lighthouse.withdraw(other.fingerprint);
  BOOST_TEST(rec.changes.size() == 4u);
  // publish goes to every backend.
  BOOST_REQUIRE(set.publish(pki.record("mine", {"100.64.20.0/24"}, {ep("198.18.0.5:1")})));
  BOOST_TEST(file.lookup_address(ip("100.64.20.1")) != nullptr);
  BOOST_TEST(lighthouse.lookup_address(ip("100.64.20.1")) != nullptr);
}

// Certificates may run to year 9999, past the end of WallTime (2262): no overflow.
BOOST_AUTO_TEST_CASE(far_future_certificates_keep_the_given_expiry) {
  Pki pki;
  identity::test::LeafSpec spec;
  spec.name = "long-lived";
  spec.kind = identity::Kind::Node;
  spec.networks = {identity::test::cidr("100.64.1.0/24")};
  spec.not_after = identity::kMaxTime;
  const std::vector<identity::Certificate> c = {identity::test::make_leaf(pki.root, spec)};
  auto r = record_from_chain(identity::serialize_chain(c), {ep("198.18.0.1:1")}, wall(60));
  BOOST_REQUIRE(r);
  BOOST_TEST((r->expires == wall(60)));
  auto never = record_from_chain(identity::serialize_chain(c), {ep("198.18.0.1:1")}, WallTime::max());
  BOOST_TEST((never->expires == WallTime::max()));
}
