// Raw-key peers and certified local identities on one host, in one process. No policy file.
//
//   [MemoryDevice vpn]--Tunnel vpn--(198.18.0.3)==MemoryNetwork==(198.18.0.1)--Tunnel gw--[MemoryDevice gw]
//     100.64.9.1 (raw peer "cloud-x-vpn" of gw)         host key 100.64.1.1 (no certificate)
//                                                      workload web 100.64.1.10 (node CA, group web)
//
// What a user observes: which packets reach the far device, the policy_denied counter, and
// the error messages of refused identities.
#define BOOST_TEST_MODULE raw_default
#include <boost/test/unit_test.hpp>

#include <map>
#include <memory>

#include "common/bytes.h"
#include "crypto/primitives.h"
#include "daemon/tunnel.h"
#include "tests/unit/identity_test_util.h"
#include "tun/memory_device.h"
#include "udp/memory_bind.h"

using namespace keymesh;
using namespace keymesh::identity;
using namespace keymesh::identity::test;
using namespace std::chrono_literals;

namespace {

udp::Endpoint ep(const char* text) { return *udp::Endpoint::parse(text); }

std::vector<std::uint8_t> udp_packet(const char* src, const char* dst, std::uint16_t dport) {
  std::vector<std::uint8_t> p(32, 0);
  p[0] = 0x45;
  p[3] = std::uint8_t(p.size());
  p[8] = 64;
  p[9] = 17;
  auto s = *IpAddress::parse(src), d = *IpAddress::parse(dst);
  std::memcpy(&p[12], s.bytes.data(), 4);
  std::memcpy(&p[16], d.bytes.data(), 4);
  p[20] = 0x13;
  p[22] = std::uint8_t(dport >> 8);
  p[23] = std::uint8_t(dport);
  p[25] = 12;
  return p;
}

struct World {
  FakeTimeSource clock;
  udp::MemoryNetwork net;
  Ca root = make_root();
  Ca node_ca = make_node_ca(root, "node-gw",
                            {.allowed_networks = {cidr("100.64.0.0/10")},
                             .name_pattern = "*",
                             .max_lifetime_seconds = 24 * kHour});
  std::shared_ptr<TrustStore> trust = std::make_shared<TrustStore>();
  crypto::SecretKey vpn_key, gw_key;
  std::unique_ptr<tun::MemoryDevice> vpn_dev, gw_dev;
  std::unique_ptr<udp::MemoryBind> vpn_bind, gw_bind;
  std::unique_ptr<daemon::Tunnel> vpn, gw;

  World() {
    BOOST_REQUIRE(trust->add_root(root.cert));
    crypto::generate_private_key(vpn_key);
    crypto::generate_private_key(gw_key);
    vpn_dev = std::make_unique<tun::MemoryDevice>("vpn", 1420, 1000);
    gw_dev = std::make_unique<tun::MemoryDevice>("gw", 1420, 1000);
    vpn_bind = net.bind(ep("198.18.0.3:51820")).value();
    gw_bind = net.bind(ep("198.18.0.1:51820")).value();

    daemon::Config cv;
    cv.private_key = crypto::SecretKey(vpn_key.span());
    daemon::PeerConfig to_gw;
    to_gw.public_key = crypto::public_key(gw_key);
    to_gw.endpoint = ep("198.18.0.1:51820");
    to_gw.allowed_ips.push_back(*IpPrefix::parse("100.64.1.0/24"));
    cv.peers.push_back(std::move(to_gw));
    vpn = std::make_unique<daemon::Tunnel>(cv, *vpn_dev, *vpn_bind, clock);

    daemon::Config cg;  // no policy_file
    cg.private_key = crypto::SecretKey(gw_key.span());
    daemon::PeerConfig to_vpn;
    to_vpn.name = "cloud-x-vpn";
    to_vpn.public_key = crypto::public_key(vpn_key);
    to_vpn.endpoint = ep("198.18.0.3:51820");
    to_vpn.allowed_ips.push_back(*IpPrefix::parse("100.64.9.0/24"));
    cg.peers.push_back(std::move(to_vpn));
    gw = std::make_unique<daemon::Tunnel>(cg, *gw_dev, *gw_bind, clock);
    gw->set_trust(trust);
  }

  std::vector<Certificate> mint(const crypto::SecretKey& key, const char* network,
                                std::vector<std::pair<std::string, std::string>> labels = {},
                                std::string name = "web", std::int64_t lifetime = 12 * kHour) {
    CertificateFields f;
    f.name = std::move(name);
    f.kind = Kind::Workload;
    f.public_key = crypto::public_key(key);
    f.networks = {cidr(network)};
    f.groups = {"web"};
    for (auto& [k, v] : labels) f.labels[k] = v;
    const auto now =
        std::chrono::duration_cast<std::chrono::seconds>(clock.wall_now().time_since_epoch()).count();
    f.not_before = now - 60;
    f.not_after = now + lifetime;
    return {must(sign_certificate(std::move(f), &node_ca.cert, node_ca.key)), node_ca.cert};
  }

  Result<const daemon::LocalIdentity*> add_workload(const crypto::SecretKey& key,
                                                     std::vector<Certificate> chain) {
    daemon::LocalIdentitySpec spec;
    spec.private_key.assign(key.span());
    spec.chain = std::move(chain);
    spec.source = "test";
    return gw->add_local_identity(std::move(spec));
  }

  void run(Duration d = 200ms) {
    for (Duration t{}; t < d; t += 10ms) {
      for (int round = 0; round < 20; ++round) {
        vpn->pump_inside(100);
        gw->pump_inside(100);
        vpn->pump_outside(100);
        gw->pump_outside(100);
        if (!net.has_pending()) break;
      }
      clock.advance(10ms);
      vpn->tick();
      gw->tick();
    }
  }
  std::size_t vpn_to_gw(const char* dst) {
    vpn_dev->inject(udp_packet("100.64.9.1", dst, 53));
    run();
    return gw_dev->take_written().size();
  }
  std::size_t gw_to_vpn(const char* src) {
    gw_dev->inject(udp_packet(src, "100.64.9.1", 53));
    run();
    return vpn_dev->take_written().size();
  }
  std::uint64_t denied() const { return gw->drops().get(daemon::DropReason::PolicyDenied); }
};

}  // namespace

BOOST_AUTO_TEST_CASE(without_a_policy_file_a_raw_peer_reaches_the_host_but_no_workload) {
  World w;
  crypto::SecretKey web;
  crypto::generate_private_key(web);
  auto added = w.add_workload(web, w.mint(web, "100.64.1.10/32"));
  BOOST_REQUIRE_MESSAGE(added, (added ? "" : added.error().message));
  // The host's own address (no certificate holds it): plain WireGuard, both ways.
  BOOST_TEST(w.vpn_to_gw("100.64.1.1") == 1u);
  BOOST_TEST(w.gw_to_vpn("100.64.1.1") == 1u);
  BOOST_TEST(w.denied() == 0u);
  // The workload: refused in, and its packets to the raw peer refused out.
  BOOST_TEST(w.vpn_to_gw("100.64.1.10") == 0u);
  BOOST_TEST(w.denied() == 1u);
  BOOST_TEST(w.gw_to_vpn("100.64.1.10") == 0u);
  BOOST_TEST(w.denied() == 2u);
}

BOOST_AUTO_TEST_CASE(a_certificate_overlapping_a_raw_peers_allowed_ips_is_refused) {
  World w;
  crypto::SecretKey web;
  crypto::generate_private_key(web);
  auto added = w.add_workload(web, w.mint(web, "100.64.9.7/32"));
  BOOST_REQUIRE(!added);
  BOOST_TEST(added.error().message.find("overlaps allowed_ips 100.64.9.0/24 of raw-key peer "
                                        "cloud-x-vpn") != std::string::npos,
             added.error().message);
  BOOST_TEST(w.gw->find_local("web") == nullptr);
  // The host key's first certificate is checked the same way.
  CertificateFields f;
  f.name = "gw";
  f.kind = Kind::Node;
  f.public_key = crypto::public_key(w.gw_key);
  f.networks = {cidr("100.64.0.0/10")};
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       w.clock.wall_now().time_since_epoch()).count();
  f.not_before = now - 60;
  f.not_after = now + 12 * kHour;
  std::vector<Certificate> host = {must(sign_certificate(std::move(f), &w.node_ca.cert, w.node_ca.key)),
                                   w.node_ca.cert};
  const std::string host_name = w.gw->local_identities().front()->name;
  auto renewed = w.gw->renew_local_identity(host_name, host, std::nullopt);
  BOOST_REQUIRE(!renewed);
  BOOST_TEST(renewed.error().message.find("raw-key peer cloud-x-vpn") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_renewal_too_large_for_a_handshake_keeps_the_old_certificate) {
  World w;
  crypto::SecretKey web;
  crypto::generate_private_key(web);
  auto added = w.add_workload(web, w.mint(web, "100.64.1.10/32"));
  BOOST_REQUIRE_MESSAGE(added, (added ? "" : added.error().message));
  const std::string before = (*added)->cert.fingerprint;
  std::vector<std::pair<std::string, std::string>> labels;
  for (int i = 0; i < 6; ++i) labels.emplace_back("k" + std::to_string(i), std::string(1000, 'v'));
  auto renewed = w.gw->renew_local_identity("web", w.mint(web, "100.64.1.10/32", labels), std::nullopt);
  BOOST_REQUIRE(!renewed);
  BOOST_TEST(renewed.error().message.find("does not fit a handshake") != std::string::npos,
             renewed.error().message);
  BOOST_TEST(w.gw->find_local("web")->cert.fingerprint == before);
  BOOST_TEST(w.gw->find_local("web")->chain_bytes.size() <= crypto::kMaxHandshakePayload);
}

// Discovery's waiting queue and lookups are shared fairly between local identities: web
// sending to hundreds of addresses nobody holds neither pushes ops's waiting packet out nor
// uses more than its share of lookups.
BOOST_AUTO_TEST_CASE(one_workload_cannot_crowd_out_the_discovery_queue) {
  World w;
  crypto::SecretKey web, ops;
  crypto::generate_private_key(web);
  crypto::generate_private_key(ops);
  BOOST_REQUIRE(w.add_workload(web, w.mint(web, "100.64.1.10/32")));
  auto ops_chain = w.mint(ops, "100.64.1.11/32");
  {
    CertificateFields f = ops_chain[0].fields();
    f.name = "ops";
    ops_chain[0] = must(sign_certificate(std::move(f), &w.node_ca.cert, w.node_ca.key));
  }
  BOOST_REQUIRE(w.add_workload(ops, ops_chain));
  std::map<std::string, int> asked;
  w.gw->set_route_miss([&](const IpAddress& dst) { ++asked[dst.to_string()]; });

  w.gw_dev->inject(udp_packet("100.64.1.11", "100.64.60.1", 53));  // ops: one packet, waits
  w.gw->pump_inside(10);
  for (int i = 0; i < 300; ++i) {
    const std::string dst = "100.64.50." + std::to_string(i % 250);
    w.gw_dev->inject(udp_packet("100.64.1.10", dst.c_str(), 53));
    w.gw->pump_inside(10);
  }
  int web_lookups = 0;
  for (const auto& [dst, n] : asked)
    if (dst.starts_with("100.64.50.")) web_lookups += n;
  BOOST_TEST(asked["100.64.60.1"] == 1);
  BOOST_TEST(web_lookups <= 10);  // its burst, not 300
  // ops's packet still waits: the next round of lookups asks for it again.
  asked.clear();
  w.gw->repeat_route_misses();
  BOOST_TEST(asked["100.64.60.1"] == 1);
  web_lookups = 0;
  for (const auto& [dst, n] : asked)
    if (dst.starts_with("100.64.50.")) web_lookups += n;
  BOOST_TEST(web_lookups <= 10);
}

// Remote identities whose certificates stopped being valid are forgotten (with their routes)
// once no path holds them, so certificates renewed or deleted elsewhere do not pile up.
BOOST_AUTO_TEST_CASE(expired_remote_identities_are_forgotten) {
  World w;
  crypto::SecretKey db, live;
  crypto::generate_private_key(db);
  crypto::generate_private_key(live);
  BOOST_REQUIRE(w.gw->add_remote(w.mint(db, "100.64.2.10/32", {}, "db-old", kHour),
                                 {ep("198.18.0.9:51820")}));
  BOOST_REQUIRE(w.gw->add_remote(w.mint(live, "100.64.2.11/32", {}, "db-live", 12 * kHour),
                                 {ep("198.18.0.9:51820")}));
  BOOST_TEST(w.gw->find_remote("db-old") != nullptr);
  for (int i = 0; i < 3 * 60; ++i) {  // 3 hours in 1-minute ticks
    w.clock.advance(std::chrono::minutes(1));
    w.gw->tick();
  }
  BOOST_TEST(w.gw->find_remote("db-old") == nullptr);
  BOOST_TEST(w.gw->find_remote("db-live") != nullptr);
}
