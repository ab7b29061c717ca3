// Several gateways for one site subnet, in one process with a fake clock (daemon/site_failover.h,
// daemon/liveness.cpp): three Tunnels over MemoryDevice and MemoryNetwork.
//
//   host a (198.18.0.1)          host b1 (198.18.0.2)          host b2 (198.18.0.3)
//     gw-a 198.19.1.0/24           gw-b1 198.19.2.0/24           gw-b2 198.19.2.0/24
//
// a knows both gw-b1 and gw-b2; a "dies" by losing its tunnel (nothing answers at its
// endpoint any more). Policy: site a -> site b, icmp.
// Checks what a user sees: which device the ping arrives on, when, the audit line, status.
#define BOOST_TEST_MODULE site_failover
#include <boost/test/unit_test.hpp>

#include <map>
#include <memory>

#include "daemon/tunnel.h"
#include "policy/loader.h"
#include "tests/unit/identity_test_util.h"
#include "tun/memory_device.h"
#include "udp/memory_bind.h"

using namespace keymesh;
using namespace keymesh::identity;
using namespace keymesh::identity::test;
using namespace std::chrono_literals;

namespace {

constexpr const char* kPolicy = R"(
rules:
  - name: a-to-b
    from: { labels: { site: a } }
    to: { labels: { site: b } }
    allow: [icmp]
)";

udp::Endpoint ep(const char* text) { return *udp::Endpoint::parse(text); }

// IPv4 ICMP echo request (checksums are not checked on the way).
std::vector<std::uint8_t> ping(const char* src, const char* dst, std::uint16_t seq) {
  std::vector<std::uint8_t> p(28, 0);
  p[0] = 0x45;
  p[3] = 28;
  p[8] = 64;
  p[9] = 1;
  auto s = *IpAddress::parse(src), d = *IpAddress::parse(dst);
  std::memcpy(&p[12], s.bytes.data(), 4);
  std::memcpy(&p[16], d.bytes.data(), 4);
  p[20] = 8;
  p[26] = std::uint8_t(seq >> 8);
  p[27] = std::uint8_t(seq);
  return p;
}

struct Host {
  std::unique_ptr<tun::MemoryDevice> device;
  std::unique_ptr<udp::MemoryBind> bind;
  std::unique_ptr<daemon::Tunnel> tunnel;
  std::vector<Certificate> chain;  // its gateway identity
};

struct Sites {
  Sites() : root(make_root()) {
    trust = std::make_shared<TrustStore>();
    BOOST_REQUIRE(trust->add_root(root.cert));
    policy = std::make_shared<const policy::Policy>(policy::parse_policy(kPolicy).value());
    add("a", "198.18.0.1:51820", "gw-a", "198.19.1.0/24", "a");
    add("b1", "198.18.0.2:51820", "gw-b1", "198.19.2.0/24", "b");
    add("b2", "198.18.0.3:51820", "gw-b2", "198.19.2.0/24", "b");
    introduce("a", "b1", "198.18.0.2:51820");
    introduce("a", "b2", "198.18.0.3:51820");
    introduce("b1", "a", "198.18.0.1:51820");
    introduce("b2", "a", "198.18.0.1:51820");
  }

  void add(const std::string& name, const char* underlay, const char* gateway, const char* subnet,
           const char* site) {
    Host& h = hosts[name];
    Ca ca = make_node_ca(root, std::string("site-") + name,
                         {.allowed_networks = {cidr(subnet)}, .name_pattern = "gw-*",
                          .max_lifetime_seconds = 24 * kHour});
    h.device = std::make_unique<tun::MemoryDevice>(name, 1420, 100000);
    h.device->hold_writes_until_flush(true);
    h.bind = net_.bind(ep(underlay)).value();
    daemon::Config c;
    crypto::generate_private_key(c.private_key);
    h.tunnel = std::make_unique<daemon::Tunnel>(c, *h.device, *h.bind, clock);
    h.tunnel->set_trust(trust);
    h.tunnel->set_policy(policy);
    h.tunnel->set_audit(&audit_log);
    crypto::SecretKey key;
    crypto::generate_private_key(key);
    CertificateFields f;
    f.name = gateway;
    f.kind = Kind::Gateway;
    f.public_key = crypto::public_key(key);
    f.networks = {cidr(subnet)};
    f.labels = {{"site", site}};
    const auto now =
        std::chrono::duration_cast<std::chrono::seconds>(clock.wall_now().time_since_epoch()).count();
    f.not_before = now - 60;
    f.not_after = now + 12 * kHour;
    h.chain = {must(sign_certificate(std::move(f), &ca.cert, ca.key)), ca.cert};
    daemon::LocalIdentitySpec spec;
    spec.private_key.assign(key.span());
    spec.chain = h.chain;
    auto added = h.tunnel->add_local_identity(std::move(spec));
    BOOST_REQUIRE_MESSAGE(added, (added ? "" : added.error().message));
  }

  void introduce(const std::string& host, const std::string& owner, const char* endpoint) {
    auto r = hosts[host].tunnel->add_remote(hosts[owner].chain, {ep(endpoint)});
    BOOST_REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
  }

  void step(Duration dt) {
    for (int round = 0; round < 100; ++round) {
      for (auto& [_, h] : hosts) if (h.tunnel) h.tunnel->pump_inside(1000);
      for (auto& [_, h] : hosts)
        if (h.tunnel && h.bind->pending() > 0) h.tunnel->pump_outside(1000);
      if (!net_.has_pending()) break;
    }
    clock.advance(dt);
    for (auto& [_, h] : hosts) if (h.tunnel) h.tunnel->tick();
  }

  // Pings lb (198.19.2.10) from la (198.19.1.10) every 100 ms for `d`; returns the fake time
  // from the start until the first ping that arrives on `host`'s device (nullopt: none did).
  std::optional<Duration> ping_until(const std::string& host, Duration d) {
    for (Duration t{}; t < d; t += 100ms) {
      hosts["a"].device->inject(ping("198.19.1.10", "198.19.2.10", seq_++));
      for (int i = 0; i < 10; ++i) step(10ms);
      if (!hosts[host].device->take_written().empty()) return t;
    }
    return std::nullopt;
  }

  // The machine dies: nothing answers at its endpoint any more.
  void kill(const std::string& host) {
    hosts[host].tunnel.reset();
    hosts[host].bind.reset();
  }

  const daemon::SiteRoute& site_b() { return hosts["a"].tunnel->sites().at("198.19.2.0/24"); }
  std::string via() {
    for (const auto& c : site_b().candidates)
      if (c.key == site_b().chosen) return c.name;
    return "";
  }
  bool audited(std::string_view text) const {
    for (const auto& line : audit_sink.lines)
      if (line.find("\"event\":\"site_failover\"") != std::string::npos &&
          line.find(text) != std::string::npos)
        return true;
    return false;
  }

  FakeTimeSource clock;
  Ca root;
  std::shared_ptr<TrustStore> trust;
  std::shared_ptr<const policy::Policy> policy;
  policy::MemoryAuditSink audit_sink;
  policy::AuditLog audit_log{audit_sink};
  std::map<std::string, Host> hosts;
  udp::MemoryNetwork net_;
  std::uint16_t seq_ = 1;
};

}  // namespace

BOOST_FIXTURE_TEST_CASE(both_gateways_are_candidates_and_the_first_carries_the_traffic, Sites) {
  BOOST_TEST(site_b().candidates.size() == 2u);
  BOOST_TEST(via() == "gw-b1");
  BOOST_TEST(ping_until("b1", 1s).has_value());
  BOOST_TEST(hosts["b2"].device->take_written().empty());
  BOOST_TEST(hosts["b2"].tunnel->handshakes_completed() == 0u);
}

BOOST_FIXTURE_TEST_CASE(a_dead_gateway_is_replaced_within_four_seconds, Sites) {
  BOOST_REQUIRE(ping_until("b1", 1s).has_value());
  kill("b1");
  // 2 s unanswered, then a handshake unanswered 1.5 s: the next ping goes to gw-b2.
  const auto gap = ping_until("b2", 10s);
  BOOST_REQUIRE(gap.has_value());
  BOOST_TEST(*gap >= 3s);
  BOOST_TEST(*gap <= 4s);
  BOOST_TEST(via() == "gw-b2");
  BOOST_TEST(site_b().failovers == 1u);
  BOOST_TEST(audited("198.19.2.0/24 gw-b1 -> gw-b2 (no answer for 3."));
  BOOST_TEST(audited("\"remote\":{\"name\":\"gw-b2\""));
}

BOOST_FIXTURE_TEST_CASE(the_failed_gateway_is_tried_again_when_the_other_fails_too, Sites) {
  BOOST_REQUIRE(ping_until("b1", 1s).has_value());
  kill("b1");
  BOOST_REQUIRE(ping_until("b2", 10s).has_value());
  kill("b2");
  // Nothing answers anywhere: a moves back to gw-b1 (failed longest ago), then on.
  ping_until("b2", 5s);
  BOOST_TEST(via() == "gw-b1");
  BOOST_TEST(site_b().failovers == 2u);
  BOOST_TEST(audited("gw-b2 -> gw-b1"));
}

BOOST_FIXTURE_TEST_CASE(one_way_traffic_to_a_live_gateway_does_not_fail_over, Sites) {
  // Nothing comes back from site b (the far device never replies): every 2 s a handshake
  // asks whether gw-b1 is alive, it answers, and the traffic stays with it.
  std::size_t arrived = 0;
  for (int i = 0; i < 100; ++i) {
    hosts["a"].device->inject(ping("198.19.1.10", "198.19.2.10", seq_++));
    for (int k = 0; k < 10; ++k) step(10ms);
    arrived += hosts["b1"].device->take_written().size();
  }
  BOOST_TEST(arrived == 100u);
  BOOST_TEST(via() == "gw-b1");
  BOOST_TEST(site_b().failovers == 0u);
  BOOST_TEST(hosts["b1"].tunnel->handshakes_completed() >= 3u);  // the probes, answered
  BOOST_TEST(hosts["b2"].device->take_written().empty());
}
