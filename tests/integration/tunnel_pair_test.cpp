// Whole tunnels in one process: two (or three) Tunnel engines over MemoryDevice and a
// MemoryNetwork, with a fake clock, so loss, reordering, rekeying, cookies and roaming are
// exercised deterministically and without sleeping.
//
//   [MemoryDevice a]--Tunnel A--(198.18.0.1:51820)==MemoryNetwork==(198.18.0.2:51820)--Tunnel B--[MemoryDevice b]
//        100.64.3.1                                                                     100.64.3.2
#define BOOST_TEST_MODULE tunnel_pair
#include <boost/test/unit_test.hpp>

#include <map>
#include <set>
#include <memory>

#include "common/bytes.h"
#include "crypto/primitives.h"
#include "daemon/tunnel.h"
#include "tun/memory_device.h"
#include "udp/memory_bind.h"

using namespace keymesh;
using namespace std::chrono_literals;

namespace {

udp::Endpoint ep(const char* text) { return *udp::Endpoint::parse(text); }

// An IPv4/UDP packet from src to dst whose payload carries `seq`.
std::vector<std::uint8_t> make_packet(const char* src, const char* dst, std::uint32_t seq,
                                      std::size_t payload = 100) {
  std::vector<std::uint8_t> p(28 + payload, 0);
  p[0] = 0x45;
  p[2] = std::uint8_t(p.size() >> 8);
  p[3] = std::uint8_t(p.size());
  p[8] = 64;
  p[9] = 17;
  auto s = *IpAddress::parse(src), d = *IpAddress::parse(dst);
  std::memcpy(&p[12], s.bytes.data(), 4);
  std::memcpy(&p[16], d.bytes.data(), 4);
  store_le32(&p[28], seq);
  return p;
}

std::uint32_t seq_of(const std::vector<std::uint8_t>& p) { return load_le32(&p[28]); }

struct Node {
  crypto::SecretKey key;
  crypto::Key pub{};
  std::unique_ptr<tun::MemoryDevice> device;
  std::unique_ptr<udp::MemoryBind> bind;
  std::unique_ptr<daemon::Tunnel> tunnel;
};

daemon::TimerConfig fast_timers() {
  daemon::TimerConfig t;
  t.rekey_after_time = 2s;
  t.reject_after_time = 3s;
  t.rekey_attempt_time = 9s;
  t.rekey_timeout = 500ms;
  t.keepalive_timeout = 1s;
  return t;
}

class World {
 public:
  explicit World(const udp::MemoryNetworkOptions& options = {}) : net(options) {}

  Node& add(const char* name, const char* underlay) {
    auto& n = nodes[name];
    crypto::generate_private_key(n.key);
    n.pub = crypto::public_key(n.key);
    n.device = std::make_unique<tun::MemoryDevice>(name, 1420, 100000);
    n.bind = net.bind(ep(underlay)).value();
    return n;
  }

  // Starts node `name` with the given peers (public key, endpoint or "", allowed ip).
  void start(const char* name,
             std::vector<std::tuple<const Node*, const char*, const char*>> peers,
             std::uint32_t under_load = 1000) {
    auto& n = nodes[name];
    daemon::Config c;
    c.private_key = crypto::SecretKey(n.key.span());
    c.timers = fast_timers();
    c.handshakes_per_second_under_load = under_load;
    for (auto [peer, endpoint, allowed] : peers) {
      daemon::PeerConfig pc;
      pc.public_key = peer->pub;
      if (*endpoint) pc.endpoint = ep(endpoint);
      pc.allowed_ips.push_back(*IpPrefix::parse(allowed));
      c.peers.push_back(std::move(pc));
    }
    n.tunnel = std::make_unique<daemon::Tunnel>(c, *n.device, *n.bind, clock);
  }

  // Moves packets until nothing is in flight (no clock, no timers).
  void drain() {
    for (int round = 0; round < 100; ++round) {
      for (auto& [_, n] : nodes)
        if (n.tunnel) n.tunnel->pump_inside(1000);
      for (auto& [_, n] : nodes)
        if (n.tunnel) n.tunnel->pump_outside(1000);
      if (!net.has_pending()) break;
    }
  }

  // drain(), then advances the clock and ticks timers.
  void step(Duration dt = 1ms) {
    drain();
    clock.advance(dt);
    for (auto& [_, n] : nodes)
      if (n.tunnel) n.tunnel->tick();
  }

  void run_for(Duration d, Duration dt = 10ms) {
    for (Duration t{}; t < d; t += dt) step(dt);
  }

  FakeTimeSource clock;
  udp::MemoryNetwork net;
  std::map<std::string, Node> nodes;
};

}  // namespace

BOOST_AUTO_TEST_CASE(ten_thousand_packets_with_loss_reordering_and_rekeys) {
  World w({.loss = 0.01, .reorder = 0.05, .reorder_window = 4, .seed = 42});
  auto& a = w.add("a", "198.18.0.1:51820");
  auto& b = w.add("b", "198.18.0.2:51820");
  w.start("a", {{&b, "198.18.0.2:51820", "100.64.3.2/32"}});
  w.start("b", {{&a, "198.18.0.1:51820", "100.64.3.1/32"}});

  // Traffic both ways, 10,000 packets each way in bursts of 10 over 40 simulated seconds
  // (a rekey every 2 s); bursts give the network something to reorder.
  constexpr std::uint32_t kPackets = 10000;
  for (std::uint32_t seq = 0; seq < kPackets; ++seq) {
    a.device->inject(make_packet("100.64.3.1", "100.64.3.2", seq));
    b.device->inject(make_packet("100.64.3.2", "100.64.3.1", seq));
    if (seq % 10 == 9) w.step(40ms);
  }
  w.run_for(2s);

  std::set<std::uint32_t> at_b, at_a;
  for (const auto& p : b.device->take_written()) at_b.insert(seq_of(p));
  for (const auto& p : a.device->take_written()) at_a.insert(seq_of(p));
  const auto counters = w.net.counters();
  for (auto* t : {a.tunnel.get(), b.tunnel.get()})
    for (std::size_t i = 0; i < daemon::kDropReasonCount; ++i)
      if (t->drops().get(daemon::DropReason(i)) != 0)
        BOOST_TEST_MESSAGE((t == a.tunnel.get() ? "a" : "b")
                           << " drop " << daemon::to_string(daemon::DropReason(i)) << " "
                           << t->drops().get(daemon::DropReason(i)));
  BOOST_TEST_MESSAGE("delivered a->b " << at_b.size() << ", b->a " << at_a.size()
                                       << ", network losses " << counters.dropped_loss
                                       << ", reordered " << counters.reordered);
  // Nothing is lost but what the network's injected loss dropped.
  BOOST_TEST(counters.dropped() == counters.dropped_loss);
  BOOST_TEST(2 * kPackets - at_a.size() - at_b.size() <= counters.dropped_loss);
  BOOST_TEST(counters.reordered > 0u);
  // Rekeyed under traffic, and no packet was refused for an old or unknown key.
  const auto& drops_b = b.tunnel->drops();
  BOOST_TEST(a.tunnel->handshakes_completed() + b.tunnel->handshakes_completed() >= 15u);
  for (auto* t : {a.tunnel.get(), b.tunnel.get()}) {
    BOOST_TEST(t->drops().get(daemon::DropReason::KeyExpired) == 0u);
    BOOST_TEST(t->drops().get(daemon::DropReason::DataAuthFailed) == 0u);
    BOOST_TEST(t->drops().get(daemon::DropReason::StagedQueueFull) == 0u);
    BOOST_TEST(t->drops().get(daemon::DropReason::SourceNotAllowed) == 0u);
  }
  BOOST_TEST(drops_b.get(daemon::DropReason::UnknownIndex) == 0u);
}

BOOST_AUTO_TEST_CASE(packet_from_outside_the_peers_allowed_ips_is_dropped) {
  World w;
  auto& a = w.add("a", "198.18.0.1:51820");
  auto& b = w.add("b", "198.18.0.2:51820");
  w.start("a", {{&b, "198.18.0.2:51820", "100.64.3.2/32"}});
  w.start("b", {{&a, "198.18.0.1:51820", "100.64.3.1/32"}});
  // a claims a source address that b has assigned to nobody: b must not deliver it.
  a.device->inject(make_packet("100.64.3.1", "100.64.3.2", 1));
  w.run_for(100ms);
  BOOST_TEST(b.device->take_written().size() == 1u);
  a.device->inject(make_packet("100.64.3.9", "100.64.3.2", 2));
  w.run_for(100ms);
  BOOST_TEST(b.device->take_written().empty());
  BOOST_TEST(b.tunnel->drops().get(daemon::DropReason::SourceNotAllowed) == 1u);
}

BOOST_AUTO_TEST_CASE(unknown_initiator_gets_silence) {
  World w;
  auto& a = w.add("a", "198.18.0.1:51820");
  auto& b = w.add("b", "198.18.0.2:51820");
  auto& c = w.add("c", "198.18.0.3:51820");
  w.start("a", {{&b, "198.18.0.2:51820", "100.64.3.2/32"}});
  // c knows a's public key (so its mac1 is right) but a has never heard of c.
  w.start("c", {{&a, "198.18.0.1:51820", "100.64.3.1/32"}});
  (void)b;
  // Watch the wire: count every datagram a puts on the network.
  int from_a = 0, total = 0;
  w.net.set_nat_hook([&](const udp::Endpoint& from, const udp::Endpoint&) {
    ++total;
    if (from == ep("198.18.0.1:51820")) ++from_a;
    return from;
  });
  c.device->inject(make_packet("100.64.3.3", "100.64.3.1", 1));
  w.run_for(5s);
  w.drain();  // a retransmission (its time is jittered) may have left in the last tick
  // c keeps retrying; a drops every initiation and never answers.
  BOOST_TEST(total >= 3);
  BOOST_TEST(from_a == 0);
  BOOST_TEST(a.tunnel->drops().get(daemon::DropReason::UnknownPeer) == std::uint64_t(total));
  BOOST_TEST(c.tunnel->handshakes_completed() == 0u);
  BOOST_TEST(a.device->written().empty());
}

BOOST_AUTO_TEST_CASE(under_load_the_responder_demands_a_cookie_and_still_connects) {
  World w;
  auto& a = w.add("a", "198.18.0.1:51820");
  auto& b = w.add("b", "198.18.0.2:51820");
  w.start("a", {{&b, "198.18.0.2:51820", "100.64.3.2/32"}}, /*under_load=*/0);
  w.start("b", {{&a, "198.18.0.1:51820", "100.64.3.1/32"}});
  b.device->inject(make_packet("100.64.3.2", "100.64.3.1", 7));
  w.run_for(3s);
  // The first initiation got a cookie reply instead of a response; the retry carried mac2.
  BOOST_TEST(a.tunnel->status().cookies_sent() >= 1u);
  BOOST_TEST(a.tunnel->drops().get(daemon::DropReason::CookieRequired) >= 1u);
  BOOST_TEST(b.tunnel->handshakes_completed() >= 1u);
  BOOST_TEST(a.device->take_written().size() == 1u);
}

BOOST_AUTO_TEST_CASE(roaming_peer_is_followed_to_its_new_endpoint) {
  World w;
  auto& a = w.add("a", "198.18.0.1:51820");
  auto& b = w.add("b", "198.18.0.2:51820");
  w.start("a", {{&b, "198.18.0.2:51820", "100.64.3.2/32"}});
  w.start("b", {{&a, "198.18.0.1:51820", "100.64.3.1/32"}});
  for (std::uint32_t i = 0; i < 10; ++i) {
    b.device->inject(make_packet("100.64.3.2", "100.64.3.1", i));
    w.step(10ms);
  }
  BOOST_REQUIRE(b.bind->rebind(ep("198.18.0.77:4000")).has_value());
  for (std::uint32_t i = 10; i < 20; ++i) {
    b.device->inject(make_packet("100.64.3.2", "100.64.3.1", i));
    a.device->inject(make_packet("100.64.3.1", "100.64.3.2", i));
    w.step(10ms);
  }
  w.run_for(200ms);
  BOOST_TEST(a.tunnel->status().peers(0).endpoint() == "198.18.0.77:4000");
  BOOST_TEST(a.device->take_written().size() == 20u);
  // a's replies reach b at its new address (at most the ones sent before a saw the move
  // are lost).
  BOOST_TEST(b.device->take_written().size() >= 9u);
}
