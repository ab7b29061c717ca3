// Relayed paths in one process (daemon/relay.h): three Tunnels over MemoryDevice and
// MemoryNetwork with a fake clock. Hosts a and b cannot reach each other directly (each knows
// the other only at an endpoint nobody answers, as behind symmetric NAT); both keep a path
// with the relay r. Every test asserts what a user sees: the packet on the far device, the
// relay's counters, the path's route in `status`, a counted refusal.
//
//   host a 198.18.0.1 (host 100.64.1.1)   relay r 198.18.0.20 (100.64.0.20)   host b 198.18.0.2
//     web-a 100.64.1.10 [web]                 relay: true                        db-b 100.64.2.10 [db]
#define BOOST_TEST_MODULE relay_paths
#include <boost/test/unit_test.hpp>

#include <map>
#include <memory>

#include "common/bytes.h"
#include "crypto/primitives.h"
#include "daemon/relay.h"
#include "daemon/tunnel.h"
#include "policy/loader.h"
#include "tests/unit/identity_test_util.h"
#include "tun/memory_device.h"
#include "udp/memory_bind.h"

using namespace keymesh;
using namespace keymesh::identity;
using namespace keymesh::identity::test;
using namespace std::chrono_literals;
using daemon::DropReason;

namespace {

constexpr const char* kPolicy = R"(
rules:
  - name: web-to-db
    from: { groups: [web] }
    to: { groups: [db] }
    allow: [tcp/5432]
  - name: nodes
    from: { kind: node }
    to: { kind: node }
    allow: [icmp]
)";

udp::Endpoint ep(const char* text) { return *udp::Endpoint::parse(text); }

void put_be16(std::uint8_t* at, std::uint16_t v) {
  at[0] = std::uint8_t(v >> 8);
  at[1] = std::uint8_t(v);
}

std::vector<std::uint8_t> tcp(const char* src, const char* dst, std::uint16_t sport,
                              std::uint16_t dport, std::uint8_t flags = 0x02) {
  std::vector<std::uint8_t> p(40, 0);
  p[0] = 0x45;
  put_be16(&p[2], 40);
  p[8] = 64;
  p[9] = 6;
  auto s = *IpAddress::parse(src), d = *IpAddress::parse(dst);
  std::memcpy(&p[12], s.bytes.data(), 4);
  std::memcpy(&p[16], d.bytes.data(), 4);
  std::uint32_t sum = 0;
  for (int i = 0; i < 20; i += 2) sum += (p[i] << 8) | p[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  put_be16(&p[10], std::uint16_t(~sum));
  put_be16(&p[20], sport);
  put_be16(&p[22], dport);
  p[32] = 0x50;
  p[33] = flags;
  return p;
}

struct Host {
  std::optional<Ca> node_ca;
  crypto::Key host_key{};
  std::vector<Certificate> host_chain;
  std::unique_ptr<tun::MemoryDevice> device;
  std::unique_ptr<udp::MemoryBind> bind;
  std::unique_ptr<daemon::Tunnel> tunnel;
  std::map<std::string, std::vector<Certificate>> chains;  // its workloads
};

struct Relayed {
  Relayed() : root(make_root()) {
    trust = std::make_shared<TrustStore>();
    BOOST_REQUIRE(trust->add_root(root.cert));
    policy = std::make_shared<const policy::Policy>(policy::parse_policy(kPolicy).value());
    add_host("a", "198.18.0.1:51820", "100.64.1.0/24", "100.64.1.1/32");
    add_host("b", "198.18.0.2:51820", "100.64.2.0/24", "100.64.2.1/32");
    add_host("r", "198.18.0.20:51820", "100.64.0.0/24", "100.64.0.20/32");
    add_workload("a", "web-a", "100.64.1.10/32", {"web"});
    add_workload("b", "db-b", "100.64.2.10/32", {"db"});
    hosts["r"].tunnel->set_relaying(true, {});
    for (const char* h : {"a", "b"}) {
      // Both know the relay (its host identity, where it is) and keep a path with it.
      BOOST_REQUIRE(hosts[h].tunnel->add_remote(hosts["r"].host_chain, {ep("198.18.0.20:51820")}));
      hosts[h].tunnel->set_relaying(false, {*IpAddress::parse("100.64.0.20")});
    }
    // Each knows the other's workload only at an endpoint nobody answers (direct fails), and
    // that its host is reachable through r (its discovery record says so).
    BOOST_REQUIRE(hosts["a"].tunnel->add_remote(hosts["b"].chains["db-b"], {ep("198.18.9.2:51820")}));
    BOOST_REQUIRE(hosts["b"].tunnel->add_remote(hosts["a"].chains["web-a"], {ep("198.18.9.1:51820")}));
    hosts["a"].tunnel->set_remote_relays(key_of("b", "db-b"), {*IpAddress::parse("100.64.0.20")},
                                         hosts["b"].host_key);
    hosts["b"].tunnel->set_remote_relays(key_of("a", "web-a"), {*IpAddress::parse("100.64.0.20")},
                                         hosts["a"].host_key);
  }

  crypto::Key key_of(const std::string& host, const std::string& name) {
    return hosts[host].chains[name].front().public_key();
  }

  Certificate sign(Host& h, const std::string& name, Kind kind, const char* address,
                   const crypto::Key& key, std::vector<std::string> groups) {
    CertificateFields f;
    f.name = name;
    f.kind = kind;
    f.public_key = key;
    f.networks = {cidr(address)};
    f.groups = std::move(groups);
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         clock.wall_now().time_since_epoch())
                         .count();
    f.not_before = now - 60;
    f.not_after = now + 12 * kHour;
    return must(sign_certificate(std::move(f), &h.node_ca->cert, h.node_ca->key));
  }

  void add_host(const std::string& name, const char* underlay, const char* range,
                const char* host_address) {
    Host& h = hosts[name];
    h.node_ca = make_node_ca(root, "node-" + name,
                             {.allowed_networks = {cidr(range)},
                              .name_pattern = "*",
                              .max_lifetime_seconds = 24 * kHour});
    h.device = std::make_unique<tun::MemoryDevice>(name, 1400, 100000);
    h.device->hold_writes_until_flush(true);
    h.bind = net_.bind(ep(underlay)).value();
    daemon::Config c;
    crypto::generate_private_key(c.private_key);
    h.host_key = crypto::public_key(c.private_key);
    c.timers.rekey_timeout = 500ms;
    h.tunnel = std::make_unique<daemon::Tunnel>(c, *h.device, *h.bind, clock);
    h.tunnel->set_trust(trust);
    h.tunnel->set_policy(policy);
    h.host_chain = {sign(h, name, Kind::Node, host_address, h.host_key, {"node"}),
                    h.node_ca->cert};
    auto r = h.tunnel->renew_local_identity("host", h.host_chain, std::nullopt);
    BOOST_REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
  }

  void add_workload(const std::string& host, const std::string& name, const char* address,
                    std::vector<std::string> groups) {
    Host& h = hosts[host];
    crypto::SecretKey key;
    crypto::generate_private_key(key);
    std::vector<Certificate> chain = {
        sign(h, name, Kind::Workload, address, crypto::public_key(key), std::move(groups)),
        h.node_ca->cert};
    daemon::LocalIdentitySpec spec;
    spec.private_key.assign(key.span());
    spec.chain = chain;
    spec.source = "test";
    auto added = h.tunnel->add_local_identity(std::move(spec));
    BOOST_REQUIRE_MESSAGE(added, (added ? "" : added.error().message));
    h.chains[name] = std::move(chain);
  }

  void step(Duration dt) {
    for (int round = 0; round < 100; ++round) {
      for (auto& [_, h] : hosts) h.tunnel->pump_inside(1000);
      for (auto& [_, h] : hosts)
        if (h.bind->pending() > 0) h.tunnel->pump_outside(1000);
      if (!net_.has_pending()) break;
    }
    clock.advance(dt);
    for (auto& [_, h] : hosts) h.tunnel->tick();
  }
  void run_for(Duration d, Duration dt = 10ms) {
    for (Duration t{}; t < d; t += dt) step(dt);
  }

  std::uint64_t drops(const std::string& host, DropReason r) {
    return hosts[host].tunnel->drops().get(r);
  }
  // "direct", the relay endpoint, or "none" for host's path named `remote`.
  std::string route(const std::string& host, const std::string& remote) {
    const auto status = hosts[host].tunnel->status();
    for (const auto& p : status.peers())
      if (p.name() == remote) return p.relay().empty() ? "direct" : p.relay();
    return "none";
  }
  // Sends raw bytes from `host`'s socket to `to` (what any host on the underlay can do).
  void raw(const std::string& host, const char* to, std::span<const std::uint8_t> bytes) {
    hosts[host].bind->send(ep(to), bytes);
    hosts[host].bind->flush();
    run_for(20ms);
  }
  std::vector<std::uint8_t> envelope(daemon::KeyId sender, daemon::KeyId target) {
    std::vector<std::uint8_t> d(daemon::kRelayEnvelopeSize + 48, 0);
    daemon::write_relay_envelope(d, sender, target);
    d[daemon::kRelayEnvelopeSize] = 4;  // looks like data: only the receiver could tell
    return d;
  }

  FakeTimeSource clock;
  Ca root;
  std::shared_ptr<TrustStore> trust;
  std::shared_ptr<const policy::Policy> policy;
  std::map<std::string, Host> hosts;
  udp::MemoryNetwork net_;
};

}  // namespace

BOOST_FIXTURE_TEST_CASE(unreachable_peers_talk_through_the_relay, Relayed) {
  run_for(2s);  // a and b open their paths with the relay
  BOOST_TEST(route("r", "a") == "direct");
  BOOST_TEST(route("r", "b") == "direct");

  const auto syn = tcp("100.64.1.10", "100.64.2.10", 40000, 5432);
  hosts["a"].device->inject(syn);
  run_for(1s);
  BOOST_TEST(hosts["b"].device->take_written().empty());  // direct gets no answer
  run_for(3s);                                            // the fallback goes through r
  auto got = hosts["b"].device->take_written();
  BOOST_REQUIRE_EQUAL(got.size(), 1u);
  BOOST_TEST(got[0] == syn);
  BOOST_TEST(route("a", "db-b") == "198.18.0.20:51820");
  BOOST_TEST(route("b", "web-a") == "198.18.0.20:51820");

  // The reply goes back through the relay too.
  hosts["b"].device->inject(tcp("100.64.2.10", "100.64.1.10", 5432, 40000, 0x12));
  run_for(200ms);
  BOOST_TEST(hosts["a"].device->take_written().size() == 1u);

  const auto relay = hosts["r"].tunnel->status().relay();
  BOOST_TEST(relay.enabled());
  BOOST_TEST(relay.forwarded_packets() >= 4u);  // initiation, response, data both ways
  bool a_to_b = false, b_to_a = false;
  for (const auto& p : relay.pairs()) {
    a_to_b |= p.from() == "a" && p.to() == "b" && p.packets() > 0;
    b_to_a |= p.from() == "b" && p.to() == "a" && p.packets() > 0;
  }
  BOOST_TEST(a_to_b);
  BOOST_TEST(b_to_a);
}

BOOST_FIXTURE_TEST_CASE(relay_refuses_strangers_spoofs_and_unknown_targets, Relayed) {
  add_host("s", "198.18.0.66:51820", "100.64.6.0/24", "100.64.6.1/32");  // no path with r
  run_for(2s);
  const auto a = daemon::key_id(hosts["a"].host_key), b = daemon::key_id(hosts["b"].host_key),
             s = daemon::key_id(hosts["s"].host_key);
  const auto before = hosts["r"].tunnel->status().relay().forwarded_packets();

  auto stranger = envelope(s, b);
  raw("s", "198.18.0.20:51820", stranger);
  BOOST_TEST(drops("r", DropReason::RelayUnknownSender) == 1u);
  auto spoofed = envelope(a, b);  // claims to be a, comes from s's endpoint
  raw("s", "198.18.0.20:51820", spoofed);
  BOOST_TEST(drops("r", DropReason::RelayUnknownSender) == 2u);
  auto nowhere = envelope(a, 0x1122334455667788ull);
  raw("a", "198.18.0.20:51820", nowhere);
  BOOST_TEST(drops("r", DropReason::RelayUnknownTarget) == 1u);
  auto loop = envelope(a, a);
  raw("a", "198.18.0.20:51820", loop);
  BOOST_TEST(drops("r", DropReason::RelayUnknownTarget) == 2u);
  std::vector<std::uint8_t> shorty = {daemon::kTypeRelayEnvelope, 0, 0, 0, 1, 2, 3};
  raw("a", "198.18.0.20:51820", shorty);
  BOOST_TEST(drops("r", DropReason::RelayMalformed) == 1u);
  // A node that is no relay forwards nothing.
  auto via_b = envelope(a, s);
  raw("a", "198.18.0.2:51820", via_b);
  BOOST_TEST(drops("b", DropReason::RelayDisabled) == 1u);
  BOOST_TEST(hosts["r"].tunnel->status().relay().forwarded_packets() == before);
  // An envelope that does reach b but carries garbage: counted by b, nothing delivered.
  auto forged = envelope(a, b);
  raw("a", "198.18.0.20:51820", forged);
  BOOST_TEST(hosts["r"].tunnel->status().relay().forwarded_packets() == before + 1);
  BOOST_TEST(hosts["b"].device->take_written().empty());
  BOOST_TEST(drops("b", DropReason::UnknownIndex) + drops("b", DropReason::DataAuthFailed) >= 1u);
}

BOOST_FIXTURE_TEST_CASE(relayed_path_moves_to_direct_when_direct_works, Relayed) {
  run_for(2s);
  hosts["a"].device->inject(tcp("100.64.1.10", "100.64.2.10", 40000, 5432));
  run_for(4s);
  BOOST_REQUIRE(route("a", "db-b") == "198.18.0.20:51820");
  // Direct becomes possible (say, the NAT changed): the directory now gives real endpoints.
  BOOST_REQUIRE(hosts["a"].tunnel->add_remote(hosts["b"].chains["db-b"],
                                              {ep("198.18.0.2:51820")}));
  BOOST_REQUIRE(hosts["b"].tunnel->add_remote(hosts["a"].chains["web-a"],
                                              {ep("198.18.0.1:51820")}));
  run_for(daemon::kDirectProbeInterval + 2s);  // the next direct probe
  BOOST_TEST(route("a", "db-b") == "direct");
  BOOST_TEST(route("b", "web-a") == "direct");
  // And it stays direct: traffic flows without the relay.
  const auto before = hosts["r"].tunnel->status().relay().forwarded_packets();
  hosts["a"].device->inject(tcp("100.64.1.10", "100.64.2.10", 40000, 5432, 0x10));
  run_for(200ms);
  BOOST_TEST(hosts["b"].device->take_written().size() >= 1u);
  // No flapping back: a while later (keepalives, probes' crossed handshakes) still direct.
  run_for(10s);
  BOOST_TEST(route("a", "db-b") == "direct");
  BOOST_TEST(route("b", "web-a") == "direct");
  BOOST_TEST(hosts["r"].tunnel->status().relay().forwarded_packets() == before);
}
