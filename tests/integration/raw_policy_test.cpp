// Raw-key peers as policy subjects (daemon/raw_policy.h), in one process: two tunnels that
// speak plain WireGuard to each other over a MemoryNetwork, one of them ("gw") with a policy
// file configured. Checks what a user observes: which packets reach the device, the
// policy_denied counter and the audit lines.
//
//   [MemoryDevice vpn]--Tunnel vpn--(198.18.0.3:51820)==MemoryNetwork==(198.18.0.1:51820)--Tunnel gw--[MemoryDevice gw]
//        100.64.9.1 (raw peer "cloud-x-vpn" of gw,                     100.64.1.1 (host key, no certificate)
//                    group partners, label site=cloud-x)
#define BOOST_TEST_MODULE raw_policy
#include <boost/test/unit_test.hpp>

#include <memory>

#include "common/bytes.h"
#include "crypto/primitives.h"
#include "daemon/tunnel.h"
#include "policy/audit.h"
#include "policy/loader.h"
#include "tun/memory_device.h"
#include "udp/memory_bind.h"

using namespace keymesh;
using namespace std::chrono_literals;

namespace {

udp::Endpoint ep(const char* text) { return *udp::Endpoint::parse(text); }

// IPv4/UDP from src:sport to dst:dport with a 4-byte payload.
std::vector<std::uint8_t> udp_packet(const char* src, std::uint16_t sport, const char* dst,
                                     std::uint16_t dport) {
  std::vector<std::uint8_t> p(32, 0);
  p[0] = 0x45;
  p[3] = std::uint8_t(p.size());
  p[8] = 64;
  p[9] = 17;
  auto s = *IpAddress::parse(src), d = *IpAddress::parse(dst);
  std::memcpy(&p[12], s.bytes.data(), 4);
  std::memcpy(&p[16], d.bytes.data(), 4);
  p[20] = std::uint8_t(sport >> 8);
  p[21] = std::uint8_t(sport);
  p[22] = std::uint8_t(dport >> 8);
  p[23] = std::uint8_t(dport);
  p[25] = 12;  // UDP length
  return p;
}

struct Side {
  crypto::SecretKey key;
  crypto::Key pub{};
  std::unique_ptr<tun::MemoryDevice> device;
  std::unique_ptr<udp::MemoryBind> bind;
  std::unique_ptr<daemon::Tunnel> tunnel;
};

struct World {
  FakeTimeSource clock;
  udp::MemoryNetwork net;
  Side vpn, gw;
  policy::MemoryAuditSink sink;
  policy::AuditLog audit{sink};

  // `policy_file` non-empty: gw has a policy configured (the tunnel only asks whether).
  explicit World(const std::string& policy_file) {
    for (auto* s : {&vpn, &gw}) {
      crypto::generate_private_key(s->key);
      s->pub = crypto::public_key(s->key);
    }
    vpn.device = std::make_unique<tun::MemoryDevice>("vpn", 1420, 1000);
    gw.device = std::make_unique<tun::MemoryDevice>("gw", 1420, 1000);
    vpn.bind = net.bind(ep("198.18.0.3:51820")).value();
    gw.bind = net.bind(ep("198.18.0.1:51820")).value();

    daemon::Config cv;
    cv.private_key = crypto::SecretKey(vpn.key.span());
    daemon::PeerConfig to_gw;
    to_gw.public_key = gw.pub;
    to_gw.endpoint = ep("198.18.0.1:51820");
    to_gw.allowed_ips.push_back(*IpPrefix::parse("100.64.1.1/32"));
    cv.peers.push_back(std::move(to_gw));
    vpn.tunnel = std::make_unique<daemon::Tunnel>(cv, *vpn.device, *vpn.bind, clock);

    daemon::Config cg;
    cg.private_key = crypto::SecretKey(gw.key.span());
    cg.policy_file = policy_file;
    daemon::PeerConfig to_vpn;
    to_vpn.name = "cloud-x-vpn";
    to_vpn.public_key = vpn.pub;
    to_vpn.endpoint = ep("198.18.0.3:51820");
    to_vpn.allowed_ips.push_back(*IpPrefix::parse("100.64.9.1/32"));
    to_vpn.groups = {"partners"};
    to_vpn.labels = {{"site", "cloud-x"}};
    cg.peers.push_back(std::move(to_vpn));
    gw.tunnel = std::make_unique<daemon::Tunnel>(cg, *gw.device, *gw.bind, clock);
    gw.tunnel->set_audit(&audit);
  }

  void set_policy(const std::string& yaml) {
    auto p = policy::parse_policy(yaml);
    BOOST_REQUIRE_MESSAGE(p, (p ? "" : p.error().message));
    gw.tunnel->set_policy(std::make_shared<const policy::Policy>(std::move(*p)));
  }

  void run(Duration d = 200ms) {
    for (Duration t{}; t < d; t += 10ms) {
      for (int round = 0; round < 20; ++round) {
        vpn.tunnel->pump_inside(100);
        gw.tunnel->pump_inside(100);
        vpn.tunnel->pump_outside(100);
        gw.tunnel->pump_outside(100);
        if (!net.has_pending()) break;
      }
      clock.advance(10ms);
      vpn.tunnel->tick();
      gw.tunnel->tick();
    }
  }

  // vpn -> gw: how many packets gw's device got.
  std::size_t inbound(std::uint16_t sport, std::uint16_t dport) {
    vpn.device->inject(udp_packet("100.64.9.1", sport, "100.64.1.1", dport));
    run();
    return gw.device->take_written().size();
  }
  // gw -> vpn: how many packets vpn's device got.
  std::size_t outbound(std::uint16_t sport, std::uint16_t dport) {
    gw.device->inject(udp_packet("100.64.1.1", sport, "100.64.9.1", dport));
    run();
    return vpn.device->take_written().size();
  }
  std::uint64_t denied() const { return gw.tunnel->drops().get(daemon::DropReason::PolicyDenied); }
  bool audited(const std::string& needle) const {
    for (const auto& l : sink.lines)
      if (l.find(needle) != std::string::npos) return true;
    return false;
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(without_a_policy_file_a_raw_peer_is_plain_wireguard) {
  World w("");
  BOOST_TEST(w.inbound(1000, 53) == 1u);
  BOOST_TEST(w.inbound(1000, 54) == 1u);
  BOOST_TEST(w.outbound(2000, 9) == 1u);
  BOOST_TEST(w.denied() == 0u);
  BOOST_TEST(w.gw.tunnel->find_raw_subject("cloud-x-vpn") == nullptr);
}

BOOST_AUTO_TEST_CASE(a_name_glob_and_a_group_select_the_raw_peer_and_replies_pass) {
  World w("policy.yaml");
  w.set_policy(R"(
rules:
  - name: partners-dns
    from: { name: "cloud-*", groups: [partners], kind: raw }
    to: { name: host }
    allow: [udp/53]
)");
  const policy::Subject* s = w.gw.tunnel->find_raw_subject("cloud-x-vpn");
  BOOST_REQUIRE(s != nullptr);
  BOOST_TEST(s->kind == "raw");
  BOOST_TEST(s->labels.at("site") == "cloud-x");
  BOOST_REQUIRE(s->networks.size() == 1u);
  BOOST_TEST(s->networks[0].to_string() == "100.64.9.1/32");

  BOOST_TEST(w.inbound(1000, 53) == 1u);   // granted
  BOOST_TEST(w.outbound(53, 1000) == 1u);  // its reply
  BOOST_TEST(w.denied() == 0u);
  BOOST_TEST(w.inbound(1000, 54) == 0u);   // another port
  BOOST_TEST(w.outbound(2000, 9) == 0u);   // the other direction, not a reply
  BOOST_TEST(w.denied() == 2u);
  BOOST_TEST(w.audited(R"("event":"packet_denied","local":{"name":"host",)"));
  BOOST_TEST(w.audited(R"("remote":{"name":"cloud-x-vpn","fingerprint":"","groups":["partners"]})"));
  BOOST_TEST(w.audited(R"("reason":"no rule grants udp/54 from cloud-x-vpn to host")"));
}

BOOST_AUTO_TEST_CASE(a_label_and_cidr_select_the_raw_peer_and_a_reload_takes_the_grant_away) {
  World w("policy.yaml");
  w.set_policy(R"(
rules:
  - name: cloud-x-in
    from: { labels: { site: cloud-x }, cidr: [100.64.9.0/24] }
    to: {}
    allow: [udp/53]
  - name: not-this-peer
    from: { cidr: [100.64.8.0/24] }
    to: {}
    allow: [udp/54]
)");
  BOOST_TEST(w.inbound(1000, 54) == 0u);  // a CIDR that does not hold the peer's networks
  BOOST_TEST(w.inbound(1000, 53) == 1u);
  BOOST_TEST(w.gw.tunnel->status().peers(0).flows() == 1u);
  w.set_policy("rules: []\n");
  // The tracked flow lost its grant with the reload: neither its reply nor a new packet pass.
  BOOST_TEST(w.outbound(53, 1000) == 0u);
  BOOST_TEST(w.inbound(1000, 53) == 0u);
  BOOST_TEST(w.denied() == 3u);
}

BOOST_AUTO_TEST_CASE(a_policy_file_that_grants_nothing_cuts_the_raw_peer_off) {
  World w("policy.yaml");
  w.set_policy(R"(
rules:
  - name: someone-else
    from: { labels: { site: elsewhere } }
    to: {}
    allow: [any]
)");
  BOOST_TEST(w.inbound(1000, 53) == 0u);
  BOOST_TEST(w.outbound(53, 1000) == 0u);
  BOOST_TEST(w.denied() == 2u);
}
