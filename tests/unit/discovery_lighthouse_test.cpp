// Lighthouse server and clients together in one process: an in-memory network routes the
// datagrams, a fake clock drives time. Register, query, expiry, several lighthouses with one
// down, pushes, CRL distribution, punch, and bad input counted (never a crash).
#define BOOST_TEST_MODULE discovery_lighthouse
#include <boost/test/unit_test.hpp>

#include <deque>
#include <map>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "discovery/lighthouse_client.h"
#include "discovery/lighthouse_server.h"
#include "tests/unit/discovery_test_util.h"

using namespace keymesh;
using namespace keymesh::discovery;
using namespace keymesh::discovery::test;
using namespace std::chrono_literals;

namespace {

// Datagrams between lighthouses and clients; a lighthouse in `down` hears nothing.
struct Net {
  FakeTimeSource clock;
  std::unordered_map<udp::Endpoint, std::unique_ptr<LighthouseServer>> servers;
  std::unordered_map<udp::Endpoint, std::unique_ptr<LighthouseClient>> clients;
  std::unordered_set<udp::Endpoint> down;
  struct Datagram {
    udp::Endpoint from, to;
    Bytes bytes;
  };
  std::deque<Datagram> queue;

  LighthouseServer& server(const char* at, LighthouseServerOptions o = {}) {
    return *servers.emplace(ep(at), std::make_unique<LighthouseServer>(o)).first->second;
  }
  LighthouseClient& client(const char* at, std::vector<const char*> lighthouses,
                           LighthouseClientOptions o = {}) {
    const udp::Endpoint self = ep(at);
    for (const char* l : lighthouses) o.lighthouses.push_back(ep(l));
    auto c = std::make_unique<LighthouseClient>(o, clock, [this, self](const udp::Endpoint& to, ByteSpan b) {
      queue.push_back(Datagram{self, to, Bytes(b.begin(), b.end())});
    });
    return *clients.emplace(self, std::move(c)).first->second;
  }
  void route(const udp::Endpoint& from, std::vector<Outgoing> out) {
    for (auto& o : out) queue.push_back(Datagram{from, o.to, std::move(o.bytes)});
  }
  // Delivers until quiet; returns how many datagrams were delivered.
  std::size_t deliver() {
    std::size_t n = 0;
    while (!queue.empty()) {
      Datagram d = std::move(queue.front());
      queue.pop_front();
      if (auto s = servers.find(d.to); s != servers.end()) {
        if (down.contains(d.to)) continue;
        route(d.to, s->second->handle_datagram(d.from, d.bytes, clock.now()));
      } else if (auto c = clients.find(d.to); c != clients.end()) {
        c->second->on_datagram(d.from, d.bytes);
      }
      ++n;
    }
    return n;
  }
  // Advances time in steps of `step`, ticking everyone and delivering after each step.
  void run(Duration total, Duration step = 250ms) {
    for (Duration t{}; t < total; t += step) {
      clock.advance(step);
      for (auto& [at, s] : servers)
        if (!down.contains(at)) route(at, s->tick(clock.now()));
      for (auto& [at, c] : clients) c->tick(clock.wall_now());
      deliver();
    }
  }
  void tick_and_deliver() { run(1ms, 1ms); }
};

// Records whose leaf expires far in the future (the fake wall clock starts at 1.8e9 s).
struct Fixture {
  Net net;
  Pki pki;
  Record record(const std::string& name, const char* network, const char* endpoint) {
    return pki.record(name, {network}, {ep(endpoint)}, WallTime::max());
  }
};

}  // namespace

BOOST_FIXTURE_TEST_CASE(register_then_query_by_address_and_fingerprint, Fixture) {
  auto& lh = net.server("100.64.0.1:4243");
  auto& a = net.client("100.64.1.1:5000", {"100.64.0.1:4243"});
  auto& b = net.client("100.64.2.1:5000", {"100.64.0.1:4243"});
  std::optional<udp::Endpoint> observed;
  a.set_on_observed([&](const udp::Endpoint&, const udp::Endpoint& o) { observed = o; });
  const Record ra = record("node-a", "100.64.1.0/24", "198.18.0.1:51820");
  BOOST_REQUIRE(a.publish(ra));
  net.tick_and_deliver();
  BOOST_TEST(lh.record_count() == 1u);
  BOOST_TEST(a.lighthouses()[0].registered);
  // Without a tunnel the lighthouse reports the datagram's source as the public endpoint.
  BOOST_REQUIRE(observed);
  BOOST_TEST(observed->to_string() == "100.64.1.1:5000");

  std::vector<std::string> added;
  b.watch([&](const Change& c) {
    if (c.kind == ChangeKind::Added) added.push_back(c.record.name);
  });
  BOOST_TEST(b.lookup_address(ip("100.64.1.77")) == nullptr);  // miss: query sent
  BOOST_TEST(b.pending_queries() == 1u);
  net.deliver();
  BOOST_TEST((added == std::vector<std::string>{"node-a"}));
  const Record* got = b.lookup_address(ip("100.64.1.77"));
  BOOST_REQUIRE(got != nullptr);
  BOOST_TEST(got->fingerprint == ra.fingerprint);
  BOOST_TEST(got->chain == ra.chain);
  // The host's own endpoint, then the one the lighthouse saw.
  BOOST_REQUIRE_EQUAL(got->endpoints.size(), 2u);
  BOOST_TEST(got->endpoints[0].to_string() == "198.18.0.1:51820");
  BOOST_TEST(got->endpoints[1].to_string() == "100.64.1.1:5000");
  BOOST_TEST(b.pending_queries() == 0u);

  auto& c = net.client("100.64.3.1:5000", {"100.64.0.1:4243"});
  BOOST_TEST(c.lookup_fingerprint(ra.fingerprint) == nullptr);
  net.deliver();
  BOOST_TEST(c.lookup_fingerprint(ra.fingerprint) != nullptr);
}

BOOST_FIXTURE_TEST_CASE(misses_are_deduplicated_negative_cached_and_rate_limited, Fixture) {
  net.server("100.64.0.1:4243");
  auto& b = net.client("100.64.2.1:5000", {"100.64.0.1:4243"},
                       {.negative_ttl = 5s, .queries_per_second = 1, .query_burst = 5});
  for (int i = 0; i < 100; ++i) BOOST_TEST(b.lookup_address(ip("100.64.9.9")) == nullptr);
  BOOST_TEST(b.stats().queries_sent == 1u);
  net.deliver();  // "unknown"
  BOOST_TEST(b.stats().negative == 1u);
  BOOST_TEST(b.lookup_address(ip("100.64.9.9")) == nullptr);
  BOOST_TEST(b.stats().queries_sent == 1u);  // remembered as unknown
  net.run(5s);
  BOOST_TEST(b.lookup_address(ip("100.64.9.9")) == nullptr);
  BOOST_TEST(b.stats().queries_sent == 2u);  // asked again after negative_ttl
  net.deliver();
  // A burst of distinct misses: the bucket refilled to 5 during the 5 s, 1 went on the re-ask.
  for (int i = 1; i <= 50; ++i) {
    const std::string a = "100.64.10." + std::to_string(i);
    b.lookup_address(ip(a.c_str()));
  }
  BOOST_TEST(b.stats().queries_sent == 6u);
  BOOST_TEST(b.drops(DropReason::RateLimited) == 46u);
}

BOOST_FIXTURE_TEST_CASE(registration_is_refreshed_and_records_expire_when_it_stops, Fixture) {
  auto& lh = net.server("100.64.0.1:4243", {.min_ttl = 10s, .max_ttl = 600s});
  auto& a = net.client("100.64.1.1:5000", {"100.64.0.1:4243"}, {.register_ttl = 30s});
  auto& b = net.client("100.64.2.1:5000", {"100.64.0.1:4243"});
  const Record ra = record("node-a", "100.64.1.0/24", "198.18.0.1:51820");
  BOOST_REQUIRE(a.publish(ra));
  net.tick_and_deliver();
  BOOST_TEST(a.stats().registers_sent == 1u);
  net.run(95s);  // re-registered every 10 s: the record outlives its 30 s TTL
  BOOST_TEST(a.stats().registers_sent >= 9u);
  BOOST_TEST(a.stats().registers_sent <= 11u);
  BOOST_TEST(lh.find(ra.fingerprint) != nullptr);

  std::vector<ChangeKind> seen;
  b.watch([&](const Change& c) { seen.push_back(c.kind); });
  b.lookup_address(ip("100.64.1.1"));
  net.deliver();
  BOOST_REQUIRE(b.lookup_address(ip("100.64.1.1")) != nullptr);

  net.clients.erase(ep("100.64.1.1:5000"));  // host a vanishes without deregistering
  net.run(31s);
  BOOST_TEST(lh.record_count() == 0u);
  // b had asked for it, so the lighthouse told b at once.
  BOOST_TEST(b.lookup_address(ip("100.64.1.1")) == nullptr);
  BOOST_TEST((seen == std::vector{ChangeKind::Added, ChangeKind::Removed}));
}

BOOST_FIXTURE_TEST_CASE(withdraw_deregisters_at_once, Fixture) {
  auto& lh = net.server("100.64.0.1:4243");
  auto& a = net.client("100.64.1.1:5000", {"100.64.0.1:4243"});
  const Record ra = record("node-a", "100.64.1.0/24", "198.18.0.1:51820");
  BOOST_REQUIRE(a.publish(ra));
  net.tick_and_deliver();
  BOOST_TEST(lh.record_count() == 1u);
  a.withdraw(ra.fingerprint);
  net.deliver();
  BOOST_TEST(lh.record_count() == 0u);
  BOOST_TEST(a.lookup_fingerprint(ra.fingerprint) == nullptr);
}

BOOST_FIXTURE_TEST_CASE(cached_records_expire_but_in_use_ones_are_refreshed, Fixture) {
  net.server("100.64.0.1:4243", {.min_ttl = 10s});
  auto& a = net.client("100.64.1.1:5000", {"100.64.0.1:4243"}, {.register_ttl = 30s});
  auto& b = net.client("100.64.2.1:5000", {"100.64.0.1:4243"}, {.register_ttl = 30s});
  auto& c = net.client("100.64.3.1:5000", {"100.64.0.1:4243"}, {.register_ttl = 30s});
  BOOST_REQUIRE(a.publish(record("node-a", "100.64.1.0/24", "198.18.0.1:1")));
  net.tick_and_deliver();
  b.lookup_address(ip("100.64.1.1"));
  c.lookup_address(ip("100.64.1.1"));
  net.deliver();
  // b keeps using the record, c does not: after 60 s (two TTLs) only b still has it.
  net.clock.advance(0s);
  for (int i = 0; i < 240; ++i) {
    b.lookup_address(ip("100.64.1.1"));
    net.run(250ms);
  }
  // Subscriptions were renewed by b's refresh queries; c's lapsed but its TTL ran out too.
  BOOST_TEST(b.lookup_address(ip("100.64.1.1")) != nullptr);
  BOOST_TEST(c.cache().find_address(ip("100.64.1.1")) == nullptr);
}

BOOST_FIXTURE_TEST_CASE(several_lighthouses_one_down, Fixture) {
  auto& l1 = net.server("100.64.0.1:4243");
  auto& l2 = net.server("100.64.0.2:4243");
  net.down.insert(ep("100.64.0.1:4243"));
  const std::vector<const char*> both = {"100.64.0.1:4243", "100.64.0.2:4243"};
  auto& a = net.client("100.64.1.1:5000", both);
  auto& b = net.client("100.64.2.1:5000", both);
  BOOST_REQUIRE(a.publish(record("node-a", "100.64.1.0/24", "198.18.0.1:1")));
  net.run(5s);
  BOOST_TEST(l1.record_count() == 0u);
  BOOST_TEST(l2.record_count() == 1u);
  const auto status = a.lighthouses();
  BOOST_TEST(status[0].down);
  BOOST_TEST(!status[0].registered);
  BOOST_TEST(!status[1].down);
  BOOST_TEST(status[1].registered);
  // Every query is answered, whichever lighthouse it tries first: a timeout moves it on.
  for (int i = 1; i <= 4; ++i) {
    const std::string addr = "100.64.1." + std::to_string(i);
    b.lookup_address(ip(addr.c_str()));
  }
  net.run(3s);
  for (int i = 1; i <= 4; ++i) {
    const std::string addr = "100.64.1." + std::to_string(i);
    BOOST_TEST(b.lookup_address(ip(addr.c_str())) != nullptr, addr);
  }
  BOOST_TEST(!b.all_down());
}

BOOST_FIXTURE_TEST_CASE(every_lighthouse_down_keeps_what_is_known, Fixture) {
  net.server("100.64.0.1:4243", {.min_ttl = 10s});
  auto& a = net.client("100.64.1.1:5000", {"100.64.0.1:4243"}, {.register_ttl = 30s});
  auto& b = net.client("100.64.2.1:5000", {"100.64.0.1:4243"}, {.register_ttl = 30s});
  BOOST_REQUIRE(a.publish(record("node-a", "100.64.1.0/24", "198.18.0.1:1")));
  BOOST_REQUIRE(b.publish(record("node-b", "100.64.2.0/24", "198.18.0.2:1")));
  net.tick_and_deliver();
  b.lookup_address(ip("100.64.1.1"));
  net.deliver();
  BOOST_REQUIRE(b.cache().find_address(ip("100.64.1.1")) != nullptr);
  net.down.insert(ep("100.64.0.1:4243"));
  net.run(120s);  // four TTLs with no lighthouse answering
  BOOST_TEST(b.all_down());
  BOOST_TEST(b.lookup_address(ip("100.64.1.1")) != nullptr);
  net.down.clear();  // back: registrations resume, the cache expires normally again
  net.run(35s);
  BOOST_TEST(!b.all_down());
  BOOST_TEST(b.lighthouses()[0].registered);
}

BOOST_FIXTURE_TEST_CASE(a_fingerprint_stays_with_the_source_that_registered_it, Fixture) {
  auto& lh = net.server("100.64.0.1:4243");
  auto& a = net.client("100.64.1.1:5000", {"100.64.0.1:4243"});
  auto& thief = net.client("100.64.6.6:5000", {"100.64.0.1:4243"});
  Record ra = record("node-a", "100.64.1.0/24", "198.18.0.1:51820");
  BOOST_REQUIRE(a.publish(ra));
  net.tick_and_deliver();
  Record stolen = ra;
  stolen.endpoints = {ep("198.18.6.6:6666")};
  BOOST_REQUIRE(thief.publish(stolen));
  net.tick_and_deliver();
  thief.withdraw(ra.fingerprint);
  net.deliver();
  BOOST_TEST(lh.drops(DropReason::SourceMismatch) == 2u);
  const Record* held = lh.find(ra.fingerprint);
  BOOST_REQUIRE(held != nullptr);
  BOOST_TEST(held->endpoints[0].to_string() == "198.18.0.1:51820");
  // The owner may change it; the same address with another port is the same host.
  auto& a2 = net.client("100.64.1.1:5001", {"100.64.0.1:4243"});
  ra.endpoints = {ep("198.18.0.1:51821")};
  BOOST_REQUIRE(a2.publish(ra));
  net.tick_and_deliver();
  BOOST_TEST(lh.find(ra.fingerprint)->endpoints[0].to_string() == "198.18.0.1:51821");
}

BOOST_FIXTURE_TEST_CASE(subscribers_are_told_of_changes, Fixture) {
  net.server("100.64.0.1:4243");
  auto& a = net.client("100.64.1.1:5000", {"100.64.0.1:4243"});
  auto& b = net.client("100.64.2.1:5000", {"100.64.0.1:4243"});
  Record ra = record("node-a", "100.64.1.0/24", "198.18.0.1:51820");
  // b asks before a has registered: unknown, but b is subscribed to the fingerprint.
  BOOST_TEST(b.lookup_fingerprint(ra.fingerprint) == nullptr);
  net.deliver();
  std::vector<std::pair<ChangeKind, std::string>> seen;
  b.watch([&](const Change& c) { seen.emplace_back(c.kind, c.record.endpoints[0].to_string()); });
  BOOST_REQUIRE(a.publish(ra));
  net.tick_and_deliver();
  ra.endpoints = {ep("198.18.0.9:51820")};  // a roamed
  BOOST_REQUIRE(a.publish(ra));
  net.tick_and_deliver();
  BOOST_REQUIRE_EQUAL(seen.size(), 2u);
  BOOST_TEST((seen[0] == std::pair{ChangeKind::Added, std::string("198.18.0.1:51820")}));
  BOOST_TEST((seen[1] == std::pair{ChangeKind::Updated, std::string("198.18.0.9:51820")}));
}

BOOST_FIXTURE_TEST_CASE(revocation_lists_are_pushed_and_fetched, Fixture) {
  auto& lh = net.server("100.64.0.1:4243");
  auto& a = net.client("100.64.1.1:5000", {"100.64.0.1:4243"});
  std::vector<std::string> got_a, got_d;
  a.set_on_revocation_list([&](ByteSpan b) { got_a.emplace_back(b.begin(), b.end()); });
  BOOST_REQUIRE(a.publish(record("node-a", "100.64.1.0/24", "198.18.0.1:1")));
  net.tick_and_deliver();
  const Bytes list = {'c', 'r', 'l', '1'};
  auto pushes = lh.set_revocation_list(list);
  BOOST_REQUIRE(pushes);
  net.route(ep("100.64.0.1:4243"), std::move(*pushes));
  net.deliver();
  BOOST_TEST((got_a == std::vector<std::string>{"crl1"}));
  // A host that registers later learns the digest in its ack and fetches the list.
  auto& d = net.client("100.64.4.1:5000", {"100.64.0.1:4243"});
  d.set_on_revocation_list([&](ByteSpan b) { got_d.emplace_back(b.begin(), b.end()); });
  BOOST_REQUIRE(d.publish(record("node-d", "100.64.4.0/24", "198.18.0.4:1")));
  net.tick_and_deliver();
  BOOST_TEST((got_d == std::vector<std::string>{"crl1"}));
  net.run(60s);  // re-registrations do not fetch the same list again
  BOOST_TEST(got_d.size() == 1u);
  BOOST_TEST(!lh.set_revocation_list(Bytes(kMaxRevocationListBytes + 1)));
}

BOOST_FIXTURE_TEST_CASE(every_list_is_served_and_offers_are_retried_until_echoed, Fixture) {
  auto& lh = net.server("100.64.0.1:4243");
  auto& a = net.client("100.64.1.1:5000", {"100.64.0.1:4243"});
  auto& b = net.client("100.64.2.1:5000", {"100.64.0.1:4243"});
  std::vector<std::string> got_b;
  b.set_on_revocation_list([&](ByteSpan x) { got_b.emplace_back(x.begin(), x.end()); });
  BOOST_REQUIRE(a.publish(record("node-a", "100.64.1.0/24", "198.18.0.1:1")));
  BOOST_REQUIRE(b.publish(record("node-b", "100.64.2.0/24", "198.18.0.2:1")));
  net.tick_and_deliver();
  // Two issuers' lists: each pushed once, as its own datagram.
  auto pushes = lh.set_revocation_lists({{'r', '1'}, {'n', '1'}});
  BOOST_REQUIRE(pushes);
  net.route(ep("100.64.0.1:4243"), std::move(*pushes));
  net.deliver();
  BOOST_TEST(got_b.size() == 2u);
  // One of them replaced: only the new one travels.
  pushes = lh.set_revocation_lists({{'r', '1'}, {'n', '2'}});
  BOOST_REQUIRE(pushes);
  BOOST_TEST(pushes->size() == 2u);  // to a and to b
  net.route(ep("100.64.0.1:4243"), std::move(*pushes));
  net.deliver();
  const bool in_either_order = got_b == std::vector<std::string>{"r1", "n1", "n2"} ||
                              got_b == std::vector<std::string>{"n1", "r1", "n2"};
  BOOST_TEST(in_either_order);
  BOOST_TEST(lh.revocation_list_count() == 2u);

  // a offers a list; the first offer is lost (the lighthouse is down).
  net.down.insert(ep("100.64.0.1:4243"));
  Fingerprint issuer{};
  issuer[0] = 7;
  a.offer_revocation_list(issuer, {'o', '1'});
  net.deliver();
  net.down.clear();
  BOOST_TEST(lh.take_offered_lists().empty());
  net.run(1100ms);  // offered again after 1 s
  auto offered = lh.take_offered_lists();
  BOOST_REQUIRE(offered.size() == 1u);
  BOOST_TEST((offered[0] == Bytes{'o', '1'}));
  // The daemon accepted it and serves it: the push reaches a (and b), and a stops offering.
  pushes = lh.set_revocation_lists({{'r', '1'}, {'n', '2'}, {'o', '1'}});
  BOOST_REQUIRE(pushes);
  net.route(ep("100.64.0.1:4243"), std::move(*pushes));
  net.deliver();
  BOOST_TEST(got_b.back() == "o1");
  net.run(70s);
  BOOST_TEST(lh.take_offered_lists().empty());
  // A host that arrives later fetches all three with one CrlRequest.
  auto& d = net.client("100.64.4.1:5000", {"100.64.0.1:4243"});
  std::vector<std::string> got_d;
  d.set_on_revocation_list([&](ByteSpan x) { got_d.emplace_back(x.begin(), x.end()); });
  BOOST_REQUIRE(d.publish(record("node-d", "100.64.4.0/24", "198.18.0.4:1")));
  net.tick_and_deliver();
  BOOST_TEST(got_d.size() == 3u);
}

BOOST_FIXTURE_TEST_CASE(punch_requests_reach_the_target_host, Fixture) {
  net.server("100.64.0.1:4243");
  auto& a = net.client("100.64.1.1:5000", {"100.64.0.1:4243"});
  auto& b = net.client("100.64.2.1:5000", {"100.64.0.1:4243"});
  const Record ra = record("node-a", "100.64.1.0/24", "198.18.0.1:1");
  const Record rb = record("node-b", "100.64.2.0/24", "198.18.0.2:2");
  BOOST_REQUIRE(a.publish(ra));
  BOOST_REQUIRE(b.publish(rb));
  net.tick_and_deliver();
  std::vector<PunchRequest> punches;
  a.set_on_punch([&](const PunchRequest& p) { punches.push_back(p); });
  b.request_punch(ra.fingerprint, rb.fingerprint);
  net.deliver();
  BOOST_REQUIRE_EQUAL(punches.size(), 1u);
  BOOST_TEST(punches[0].target == ra.fingerprint);
  BOOST_TEST((punches[0].from == rb.fingerprint));
  BOOST_REQUIRE_GE(punches[0].endpoints.size(), 2u);
  BOOST_TEST(punches[0].endpoints[0].to_string() == "100.64.2.1:5000");  // as the lighthouse saw b
  BOOST_TEST(punches[0].endpoints[1].to_string() == "198.18.0.2:2");
  BOOST_TEST(b.lookup_fingerprint(ra.fingerprint) != nullptr);
}

BOOST_FIXTURE_TEST_CASE(bad_and_truncated_messages_are_counted_not_crashing, Fixture) {
  auto& lh = net.server("100.64.0.1:4243");
  auto& a = net.client("100.64.1.1:5000", {"100.64.0.1:4243"});
  const udp::Endpoint from = ep("100.64.1.1:5000");
  const udp::Endpoint lh_at = ep("100.64.0.1:4243");
  const TimePoint now = net.clock.now();

  // A real Register, then every truncation of it.
  LighthouseMessage reg;
  reg.set_request_id(7);
  proto::discovery::Record w;
  to_wire(record("node-a", "100.64.1.0/24", "198.18.0.1:1"), WallTime{}, w);
  *reg.mutable_register_()->add_records() = w;
  const Bytes good = encode_message(reg);
  std::size_t replies = 0;
  for (std::size_t n = 0; n < good.size(); ++n)
    replies += lh.handle_datagram(from, ByteSpan(good.data(), n), now).size();
  const auto& d = lh.drops();
  std::uint64_t dropped = 0;
  for (auto c : d) dropped += c;
  BOOST_TEST(dropped + replies >= good.size() - 1);  // each truncation dropped or answered safely

  // Each kind of bad datagram bumps its own counter by one.
  auto one_more = [&](DropReason r, const Bytes& datagram) {
    const auto before = lh.drops(r);
    BOOST_TEST(lh.handle_datagram(from, datagram, now).empty());
    BOOST_TEST(lh.drops(r) == before + 1, to_string(r));
  };
  const Bytes junk = {0xff, 0xff, 0xff, 0xff, 0x0f};
  one_more(DropReason::Malformed, junk);
  one_more(DropReason::TooLarge, Bytes(kMaxLighthouseMessage + 1));
  LighthouseMessage v2 = reg;
  v2.set_version(2);
  const std::string v2s = v2.SerializeAsString();
  one_more(DropReason::BadVersion, Bytes(v2s.begin(), v2s.end()));
  LighthouseMessage empty;
  one_more(DropReason::NoBody, encode_message(empty));
  LighthouseMessage reply;
  reply.mutable_query_reply();
  one_more(DropReason::WrongDirection, encode_message(reply));
  LighthouseMessage q;
  q.mutable_query()->set_address("abc");
  one_more(DropReason::BadQuery, encode_message(q));
  // A Register whose record does not parse is acked with it rejected.
  LighthouseMessage bad = reg;
  bad.mutable_register_()->mutable_records(0)->set_chain("garbage");
  auto out = lh.handle_datagram(from, encode_message(bad), now);
  BOOST_REQUIRE_EQUAL(out.size(), 1u);
  auto ack = decode_message(out[0].bytes);
  BOOST_REQUIRE(ack);
  BOOST_TEST(ack->register_ack().rejected() == 1u);
  BOOST_TEST(lh.drops(DropReason::BadRecord) >= 1u);
  // The server still works.
  BOOST_TEST(lh.handle_datagram(from, good, now).size() == 1u);
  BOOST_TEST(lh.record_count() == 1u);

  // The client: strangers, unknown request ids, requests, junk.
  a.on_datagram(ep("100.64.9.9:4243"), good);
  BOOST_TEST(a.drops(DropReason::UnknownSource) == 1u);
  a.on_datagram(lh_at, junk);
  BOOST_TEST(a.drops(DropReason::Malformed) == 1u);
  a.on_datagram(lh_at, good);
  BOOST_TEST(a.drops(DropReason::WrongDirection) == 1u);
  LighthouseMessage stray;
  stray.set_request_id(12345);
  *stray.mutable_query_reply()->add_records() = w;
  a.on_datagram(lh_at, encode_message(stray));
  BOOST_TEST(a.drops(DropReason::UnknownRequest) == 1u);
  BOOST_TEST(a.cache().size() == 0u);  // an unasked answer is not taken
  // An answer that does not answer the question is refused.
  a.lookup_address(ip("100.64.7.7"));
  const Net::Datagram sent = net.queue.back();
  net.queue.clear();
  auto query = decode_message(sent.bytes);
  BOOST_REQUIRE(query);
  LighthouseMessage wrong;
  wrong.set_request_id(query->request_id());
  *wrong.mutable_query_reply()->add_records() = w;  // 100.64.1.0/24, not 100.64.7.7
  a.on_datagram(lh_at, encode_message(wrong));
  BOOST_TEST(a.drops(DropReason::BadRecord) == 1u);
  BOOST_TEST(a.cache().size() == 0u);
}

BOOST_FIXTURE_TEST_CASE(many_records_are_split_and_caps_hold, Fixture) {
  auto& big = net.server("100.64.0.1:4243");
  auto& a = net.client("100.64.1.1:5000", {"100.64.0.1:4243"});
  for (int i = 0; i < 100; ++i) {
    const std::string n = "100.64.1." + std::to_string(i) + "/32";
    BOOST_REQUIRE(a.publish(record("w-" + std::to_string(i), n.c_str(), "198.18.0.1:1")));
  }
  // Every Register datagram fits one overlay packet (a fragment would meet the policy's
  // fragment rule, docs/policy.md): 100 records need many of them.
  a.tick(net.clock.wall_now());
  std::size_t datagrams = 0;
  for (const auto& d : net.queue) {
    BOOST_TEST(d.bytes.size() <= kMaxUnfragmentedMessage);
    ++datagrams;
  }
  BOOST_TEST(datagrams == a.stats().registers_sent);
  BOOST_TEST(datagrams >= 100u * 300 / kMaxUnfragmentedMessage);
  net.deliver();
  BOOST_TEST(big.record_count() == 100u);
  BOOST_TEST(a.lighthouses()[0].registered);  // every part acked
  BOOST_TEST(a.drops(DropReason::UnknownRequest) == 0u);
  // One part lost: the Register is not complete, so all of it goes again after the 1 s
  // timeout and 1 s of backoff (not at the next refresh, TTL / 3 later).
  BOOST_REQUIRE(a.publish(record("w-100", "100.64.1.100/32", "198.18.0.1:1")));
  a.tick(net.clock.wall_now());
  net.queue.pop_front();
  net.deliver();
  const auto sent = a.stats().registers_sent;
  net.run(2500ms);
  BOOST_TEST(a.stats().registers_sent > sent);
  BOOST_TEST(big.record_count() == 101u);

  auto& small = net.server("100.64.0.2:4243", {.max_records = 5, .max_records_per_source = 3});
  auto& b = net.client("100.64.2.1:5000", {"100.64.0.2:4243"});
  auto& c = net.client("100.64.3.1:5000", {"100.64.0.2:4243"});
  for (int i = 0; i < 4; ++i) {
    const std::string nb = "100.64.2." + std::to_string(i) + "/32";
    const std::string nc = "100.64.3." + std::to_string(i) + "/32";
    BOOST_REQUIRE(b.publish(record("b-" + std::to_string(i), nb.c_str(), "198.18.0.2:1")));
    BOOST_REQUIRE(c.publish(record("c-" + std::to_string(i), nc.c_str(), "198.18.0.3:1")));
  }
  net.tick_and_deliver();
  BOOST_TEST(small.record_count() == 5u);  // 3 from one source, 2 more until the total cap
  BOOST_TEST(small.drops(DropReason::OverLimit) == 3u);
}

// Two gateways of one site register the same subnet from two hosts: a query for an address
// in it answers both records (the daemon keeps both as failover candidates), newest first.
BOOST_FIXTURE_TEST_CASE(a_subnet_held_by_two_gateways_answers_both, Fixture) {
  net.server("100.64.0.1:4243");
  auto& g1 = net.client("100.64.2.1:5000", {"100.64.0.1:4243"});
  auto& g2 = net.client("100.64.3.1:5000", {"100.64.0.1:4243"});
  auto& a = net.client("100.64.1.1:5000", {"100.64.0.1:4243"});
  BOOST_REQUIRE(g1.publish(record("gw-b1", "198.19.2.0/24", "198.18.0.2:51820")));
  net.tick_and_deliver();
  BOOST_REQUIRE(g2.publish(record("gw-b2", "198.19.2.0/24", "198.18.0.3:51820")));
  net.tick_and_deliver();
  std::vector<std::string> added;
  a.watch([&](const Change& c) {
    if (c.kind == ChangeKind::Added) added.push_back(c.record.name);
  });
  BOOST_TEST(a.lookup_address(ip("198.19.2.10")) == nullptr);
  net.deliver();
  BOOST_TEST((added == std::vector<std::string>{"gw-b2", "gw-b1"}));
  // A longer prefix still wins alone.
  auto& h = net.client("100.64.4.1:5000", {"100.64.0.1:4243"});
  BOOST_REQUIRE(h.publish(record("host-x", "198.19.2.10/32", "198.18.0.4:51820")));
  net.tick_and_deliver();
  auto& c = net.client("100.64.5.1:5000", {"100.64.0.1:4243"});
  std::vector<std::string> seen;
  c.watch([&](const Change& ch) { seen.push_back(ch.record.name); });
  BOOST_TEST(c.lookup_address(ip("198.19.2.10")) == nullptr);
  net.deliver();
  BOOST_TEST((seen == std::vector<std::string>{"host-x"}));
}

// ---- A workload minted on host b, looked up from host a: both orders of "a's first lookup"
// and "b's Register", on the fake clock. The promise: a has the record within 1 s of the
// Register, whichever came first, without a waiting for a 5 s negative answer to lapse. ----

namespace {

// Host b with its node record registered, host a asking; `w` is b's new workload.
struct RaceFixture : Fixture {
  LighthouseServer& lh;
  LighthouseClient& a;
  LighthouseClient& b;
  Record w = record("b-w2", "100.64.2.7/32", "198.18.0.2:51820");
  std::vector<std::pair<ChangeKind, std::string>> seen;  // a's watcher

  explicit RaceFixture(LighthouseServerOptions server = {}, LighthouseClientOptions client = {})
      : lh(net.server("100.64.0.1:4243", server)),
        a(net.client("100.64.1.1:5000", {"100.64.0.1:4243"}, client)),
        b(net.client("100.64.2.1:5000", {"100.64.0.1:4243"})) {
    BOOST_REQUIRE(b.publish(record("node-b", "100.64.2.1/32", "198.18.0.2:51820")));
    net.tick_and_deliver();
    a.watch([this](const Change& c) { seen.emplace_back(c.kind, c.record.name); });
  }
  bool a_has_w() { return a.cache().find_address(ip("100.64.2.7")) != nullptr; }
  // a keeps looking w up every `every` (as the daemon does for a waiting packet) until it
  // has it or `limit` passed; returns how long that took.
  Duration lookups_until_found(Duration limit, Duration every = 50ms) {
    Duration t{};
    for (; t < limit && !a_has_w(); t += every) {
      (void)a.lookup_address(ip("100.64.2.7"));
      net.deliver();
      if (a_has_w()) break;
      net.run(every, every);
    }
    return t;
  }
};

struct NoPushFixture : RaceFixture {
  NoPushFixture() : RaceFixture({.misses = {.max_entries = 0}}) {}
};

}  // namespace

// Order 1: a asks before b registers. The lighthouse answers "unknown", remembers the miss
// and pushes the record to a the moment b's Register arrives; a did not ask again.
BOOST_FIXTURE_TEST_CASE(lookup_before_registration_is_answered_by_a_push, RaceFixture) {
  BOOST_TEST(a.lookup_address(ip("100.64.2.7")) == nullptr);
  net.deliver();
  BOOST_TEST(a.stats().negative == 1u);
  BOOST_TEST(lh.stats().misses == 1u);
  BOOST_TEST(lh.miss_count() == 1u);
  net.run(300ms);
  const auto queries = a.stats().queries_sent;
  BOOST_REQUIRE(b.publish(w));  // minted now; Registered at b's next tick
  net.tick_and_deliver();
  BOOST_TEST(a_has_w());
  BOOST_TEST(a.stats().queries_sent == queries);  // pushed, not re-asked
  BOOST_TEST(lh.stats().miss_pushes == 1u);
  BOOST_TEST(lh.miss_count() == 0u);  // each miss is pushed once
  BOOST_TEST((seen == std::vector<std::pair<ChangeKind, std::string>>{{ChangeKind::Added, "b-w2"}}));
  // a is now subscribed to w: its removal reaches a at once too.
  b.withdraw(w.fingerprint);
  net.deliver();
  BOOST_TEST(!a_has_w());
  BOOST_REQUIRE(!seen.empty());
  BOOST_TEST(seen.back().first == ChangeKind::Removed);
}

// Order 2: b registers first; a's first lookup finds it.
BOOST_FIXTURE_TEST_CASE(lookup_after_registration_is_answered_at_once, RaceFixture) {
  BOOST_REQUIRE(b.publish(w));
  net.tick_and_deliver();
  BOOST_TEST(a.lookup_address(ip("100.64.2.7")) == nullptr);  // asks
  net.deliver();
  BOOST_TEST(a_has_w());
  BOOST_TEST(a.stats().negative == 0u);
  BOOST_TEST(lh.stats().misses == 0u);
}

// Order 1 again with the lighthouse's memory of misses off (the push lost, or a lighthouse
// too full to remember): a's own retries find it. "Unknown" is remembered 250 ms, then
// 500 ms, ... so with lookups going on (a waiting packet) the record is found within 1 s of
// the Register when the first "unknown" came at most 250 ms before it.
BOOST_FIXTURE_TEST_CASE(without_the_push_a_short_negative_answer_is_retried, NoPushFixture) {
  BOOST_TEST(a.lookup_address(ip("100.64.2.7")) == nullptr);
  net.deliver();
  BOOST_TEST(a.stats().negative == 1u);
  BOOST_TEST(lh.miss_count() == 0u);
  net.run(200ms);
  BOOST_REQUIRE(b.publish(w));
  net.tick_and_deliver();
  BOOST_TEST(!a_has_w());  // nobody told a
  const Duration took = lookups_until_found(5s);
  BOOST_TEST(a_has_w());
  BOOST_TEST(took < 1s, std::chrono::duration<double>(took).count() << " s");
  BOOST_TEST(lh.stats().miss_pushes == 0u);
}

// An address that stays unknown is asked about less and less: 250 ms, 500 ms, 1 s, 2 s, 4 s,
// then every 5 s (negative_ttl), however often it is looked up.
BOOST_FIXTURE_TEST_CASE(negative_answers_back_off_up_to_negative_ttl, RaceFixture) {
  std::vector<double> asked;  // seconds since the first lookup
  const auto t0 = net.clock.now();
  std::uint64_t sent = a.stats().queries_sent;
  for (Duration t{}; t < 30s; t += 50ms) {
    (void)a.lookup_address(ip("100.64.9.9"));
    net.deliver();
    if (a.stats().queries_sent != sent) {
      sent = a.stats().queries_sent;
      asked.push_back(std::chrono::duration<double>(net.clock.now() - t0).count());
    }
    net.run(50ms, 50ms);
  }
  const std::vector<double> expected = {0, 0.25, 0.75, 1.75, 3.75, 7.75, 12.75, 17.75, 22.75, 27.75};
  BOOST_REQUIRE_EQUAL(asked.size(), expected.size());
  for (std::size_t i = 0; i < asked.size(); ++i)
    BOOST_TEST(std::abs(asked[i] - expected[i]) < 0.11, "query " << i << " at " << asked[i]);
  // Left alone for a while, the key starts again from 250 ms.
  net.run(11s, 1s);
  (void)a.lookup_address(ip("100.64.9.9"));
  net.deliver();
  net.run(300ms, 50ms);
  const auto before = a.stats().queries_sent;
  (void)a.lookup_address(ip("100.64.9.9"));
  BOOST_TEST(a.stats().queries_sent == before + 1);
}

// The lighthouse's memory of misses is bounded: per asker, in total, and in time; what does
// not fit is a counted OverLimit drop (the asker still gets its "unknown" answer).
BOOST_FIXTURE_TEST_CASE(remembered_misses_are_bounded_and_expire, Fixture) {
  auto& lh = net.server("100.64.0.1:4243",
                        {.misses = {.ttl = 10s, .max_entries = 5, .max_per_asker = 3}});
  auto& a = net.client("100.64.1.1:5000", {"100.64.0.1:4243"});
  auto& c = net.client("100.64.3.1:5000", {"100.64.0.1:4243"});
  auto& b = net.client("100.64.2.1:5000", {"100.64.0.1:4243"});
  for (int i = 1; i <= 4; ++i) {
    a.lookup_address(ip(("100.64.2." + std::to_string(10 + i)).c_str()));
    c.lookup_address(ip(("100.64.2." + std::to_string(20 + i)).c_str()));
  }
  net.deliver();
  BOOST_TEST(a.stats().negative == 4u);  // every query answered
  BOOST_TEST(c.stats().negative == 4u);
  BOOST_TEST(lh.miss_count() == 5u);     // 3 of a's (its cap), 2 of c's (the total cap)
  BOOST_TEST(lh.drops(DropReason::OverLimit) == 3u);
  // A record for one of a's remembered addresses is pushed to a; one for an address that did
  // not fit is not (a finds it on its next lookup instead).
  BOOST_REQUIRE(b.publish(record("b-w11", "100.64.2.11/32", "198.18.0.2:1")));
  BOOST_REQUIRE(b.publish(record("b-w14", "100.64.2.14/32", "198.18.0.2:1")));
  net.tick_and_deliver();
  BOOST_TEST(a.cache().find_address(ip("100.64.2.11")) != nullptr);
  BOOST_TEST(a.cache().find_address(ip("100.64.2.14")) == nullptr);
  BOOST_TEST(lh.stats().miss_pushes == 1u);
  // The rest expire 10 s after they were asked: a record arriving later is pushed to nobody.
  auto& g = net.client("100.64.4.1:5000", {"100.64.0.1:4243"});
  net.run(9s);
  BOOST_TEST(lh.miss_count() == 4u);
  net.run(2s);
  BOOST_TEST(lh.miss_count() == 0u);
  BOOST_REQUIRE(g.publish(record("site-c", "100.64.2.0/24", "198.18.0.4:1")));
  net.tick_and_deliver();
  BOOST_TEST(lh.stats().miss_pushes == 1u);  // nobody left to push to
}

BOOST_FIXTURE_TEST_CASE(a_network_covering_several_misses_is_pushed_once, Fixture) {
  auto& lh = net.server("100.64.0.1:4243");
  auto& a = net.client("100.64.1.1:5000", {"100.64.0.1:4243"});
  auto& g = net.client("100.64.4.1:5000", {"100.64.0.1:4243"});
  for (int i = 1; i <= 5; ++i) a.lookup_address(ip(("198.19.2." + std::to_string(i)).c_str()));
  a.lookup_address(ip("198.19.3.1"));  // outside the subnet: stays remembered
  net.deliver();
  BOOST_TEST(lh.miss_count() == 6u);
  std::size_t added = 0;
  a.watch([&](const Change& c) { added += c.kind == ChangeKind::Added; });
  BOOST_REQUIRE(g.publish(record("gw-c", "198.19.2.0/24", "198.18.0.4:1")));
  net.tick_and_deliver();
  BOOST_TEST(added == 1u);
  BOOST_TEST(lh.stats().miss_pushes == 1u);
  BOOST_TEST(lh.miss_count() == 1u);
  BOOST_TEST(a.cache().find_address(ip("198.19.2.200")) != nullptr);
}

// A workload minted while b's Register is still unacked goes out with the ack, not a tick
// later.
BOOST_FIXTURE_TEST_CASE(records_published_during_a_register_go_with_its_ack, Fixture) {
  auto& lh = net.server("100.64.0.1:4243");
  auto& b = net.client("100.64.2.1:5000", {"100.64.0.1:4243"});
  BOOST_REQUIRE(b.publish(record("node-b", "100.64.2.1/32", "198.18.0.2:1")));
  b.tick(net.clock.wall_now());  // Register in flight
  BOOST_REQUIRE(b.publish(record("b-w1", "100.64.2.2/32", "198.18.0.2:1")));
  net.deliver();                 // ack -> the second Register at once
  BOOST_TEST(lh.record_count() == 2u);
  BOOST_TEST(b.stats().registers_sent == 2u);
}

// Issue 15, section 1: two hosts minting with one node CA would hand out the same addresses.
// The first host to claim a node CA holds it while it keeps registering; the second is told
// who holds it, and is granted the claim once the holder has gone.
BOOST_FIXTURE_TEST_CASE(a_node_ca_is_claimed_by_one_host_at_a_time, Fixture) {
  auto& lh = net.server("100.64.0.1:4243");
  LighthouseClientOptions o;
  o.node_ca = pki.root.cert.fingerprint();  // any fingerprint: the server does not parse it
  o.register_ttl = 30s;
  auto& a = net.client("100.64.1.1:5000", {"100.64.0.1:4243"}, o);
  auto& b = net.client("100.64.2.1:5000", {"100.64.0.1:4243"}, o);
  std::vector<std::string> told_a, told_b;
  const auto log_to = [](std::vector<std::string>& v) {
    return [&v](const udp::Endpoint&, const std::optional<udp::Endpoint>& holder) {
      v.push_back(holder ? holder->address().to_string() : "granted");
    };
  };
  a.set_on_node_ca_claim(log_to(told_a));
  b.set_on_node_ca_claim(log_to(told_b));
  const Record ra = record("node-a", "100.64.1.0/24", "198.18.0.1:51820");
  BOOST_REQUIRE(a.publish(ra));
  net.tick_and_deliver();
  BOOST_REQUIRE(b.publish(record("node-b", "100.64.2.0/24", "198.18.0.2:51820")));
  net.tick_and_deliver();
  BOOST_TEST((told_a == std::vector<std::string>{"granted"}));
  BOOST_TEST((told_b == std::vector<std::string>{"100.64.1.1"}));
  BOOST_REQUIRE(lh.node_ca_holder(*o.node_ca, net.clock.now()));
  BOOST_TEST(lh.node_ca_holder(*o.node_ca, net.clock.now())->to_string() == "100.64.1.1:5000");
  // Re-registering keeps it with a (the holder is not displaced by b's refreshes).
  net.run(25s);
  BOOST_TEST(told_a.back() == "granted");
  BOOST_TEST(told_b.back() == "100.64.1.1");
  // a stops registering (nothing left to publish): its claim lapses with its TTL, then b has it.
  a.withdraw(ra.fingerprint);
  net.run(45s);
  BOOST_TEST(told_b.back() == "granted");
  BOOST_TEST(lh.node_ca_holder(*o.node_ca, net.clock.now())->to_string() == "100.64.2.1:5000");
}
