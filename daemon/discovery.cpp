// Discovery in keymeshd (docs/architecture.md, docs/discovery.md): where can the identity behind an
// overlay address be reached? Backends (static file, lighthouses, etcd) sit behind one
// DirectorySet. The daemon
//  - publishes a record (certificate chain + underlay endpoints) for every certified local
//    identity, and withdraws it when the identity goes;
//  - on a send-path miss asks the directory; the tunnel holds the packet until the answer;
//  - turns every record it learns into a remote identity, after validating its chain itself
//    (Tunnel::add_remote): discovery is untrusted and can only cause a failed handshake.
// Lighthouse traffic runs inside the overlay: client and server sockets are bound to the
// host identity's overlay address, so the kernel routes them through km0 and the tunnel
// encrypts them on a path between node identities (granted by a built-in policy rule).
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>

#include "daemon/daemon_impl.h"
#include "identity/cert_file.h"
#include "policy/loader.h"

namespace keymesh::daemon {

namespace {

// Discovery between hosts is always allowed between node identities: without it nothing else
// could be found. It is visible in `keymesh policy check` and audit lines under this name.
constexpr const char* kDiscoveryRule = R"(
rules:
  - name: keymesh-discovery
    from: { kind: node }
    to: { kind: node }
    allow: [udp/4243]
)";


udp::Endpoint endpoint_of(const IpAddress& a, std::uint16_t port) {
  udp::Endpoint ep;
  ep.family = a.family;
  std::memcpy(ep.addr.data(), a.bytes.data(), ep.addr.size());
  ep.port = port;
  return ep;
}

}  // namespace

std::shared_ptr<const policy::Policy> Daemon::Impl::with_discovery_rule(
    std::shared_ptr<const policy::Policy> policy) const {
  if (!config.lighthouse && config.lighthouses.empty()) return policy;
  std::vector<policy::Rule> rules;
  if (policy) rules = policy->rules();
  auto builtin = policy::parse_policy(kDiscoveryRule);
  for (const auto& r : builtin->rules()) rules.push_back(r);
  return std::make_shared<const policy::Policy>(std::move(rules));
}

std::vector<udp::Endpoint> Daemon::Impl::own_endpoints() const {
  if (!config.advertise.empty()) return config.advertise;
  std::vector<udp::Endpoint> out;
  if (observed) out.push_back(*observed);  // the lighthouse's view first (nat.cpp)
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i != nullptr && out.size() < discovery::kMaxEndpoints; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
    if ((i->ifa_flags & IFF_LOOPBACK) || config.interface_name == i->ifa_name) continue;
    udp::Endpoint ep = udp::Endpoint::from_sockaddr(i->ifa_addr);
    ep.port = bind->local_port();
    if (std::find(out.begin(), out.end(), ep) == out.end()) out.push_back(ep);
  }
  ::freeifaddrs(list);
  return out;
}

Result<void> Daemon::Impl::open_discovery() {
  std::vector<discovery::Directory*> backends;
  if (!config.discovery_static.empty()) {
    auto s = discovery::StaticDirectory::open(config.discovery_static);
    if (!s) return fail("discovery.static: " + s.error().message);
    static_directory = std::move(*s);
    backends.push_back(static_directory.get());
  }
  const LocalIdentity& host = *tunnel->local_identities().front();
  std::optional<IpAddress> host_address;
  if (host.certified && !host.cert.networks.empty())
    host_address = host.cert.networks.front().address;

  if (config.lighthouse || !config.lighthouses.empty()) {
    if (!host_address) return fail("lighthouse: the host certificate names no overlay network");
    discovery::LighthouseClientOptions options;
    for (std::size_t i = 0; i < config.lighthouses.size(); ++i) {
      const auto& lh = config.lighthouses[i];
      const std::string where = "lighthouses[" + std::to_string(i) + "]";
      auto chain = identity::read_certificates_file(lh.certificate);
      if (!chain) return fail(where + ".certificate: " + chain.error().message);
      // The lighthouse's own identity, so the tunnel can open a path to it.
      auto r = tunnel->add_remote(*chain, lh.endpoints);
      if (!r) return fail(where + ": " + lh.certificate + ": " + r.error().message);
      tunnel->watch_liveness((*r)->public_key);
      options.lighthouses.push_back(endpoint_of(lh.address, discovery::kLighthousePort));
    }
    if (workloads)  // claimed in every Register (node_ca_claim.h)
      options.node_ca = workloads->node_ca().certificate().fingerprint();
    if (config.lighthouse)  // a lighthouse also registers with itself
      options.lighthouses.push_back(endpoint_of(*host_address, discovery::kLighthousePort));
    lighthouse_client = std::make_unique<discovery::LighthouseClient>(
        options, time, [this](const udp::Endpoint& to, ByteSpan bytes) {
          if (client_transport) client_transport->send(to, bytes);
        });
    auto transport = discovery::UdpTransport::open(
        &loop, endpoint_of(*host_address, 0),
        [this](const udp::Endpoint& from, ByteSpan bytes) {
          lighthouse_client->on_datagram(from, bytes);
        });
    if (!transport) return fail("lighthouses: " + transport.error().message);
    client_transport = std::move(*transport);
    lighthouse_client->set_on_observed(
        [this](const udp::Endpoint& lh, const udp::Endpoint& seen) { on_observed(lh, seen); });
    lighthouse_client->set_on_node_ca_claim(
        [this](const udp::Endpoint& lh, const std::optional<udp::Endpoint>& holder) {
          node_ca_claim.report("lighthouse " + lh.address().to_string(),
                               holder ? "the host at " + holder->address().to_string() : "");
        });
    lighthouse_client->set_on_punch(
        [this](const discovery::PunchRequest& request) { on_punch(request); });
    tunnel->set_on_stall([this](const Peer& path) { on_path_stalled(path); });
    lighthouse_client->set_on_revocation_list([this](ByteSpan bytes) {
      (void)take_revocation_list(bytes, RevocationOrigin::Lighthouse);
    });
    backends.push_back(lighthouse_client.get());
  }
  if (config.lighthouse) {
    lighthouse_server = std::make_unique<discovery::LighthouseServer>(
        discovery::LighthouseServerOptions{}, [this](const udp::Endpoint& source) {
          return tunnel->endpoint_of(source.address());
        });
    auto transport = discovery::UdpTransport::open(
        &loop, endpoint_of(*host_address, discovery::kLighthousePort),
        [this](const udp::Endpoint& from, ByteSpan bytes) {
          for (auto& out : lighthouse_server->handle_datagram(from, bytes, time.now()))
            server_transport->send(out.to, out.bytes);
          take_offered_revocation_lists();  // revocations.cpp
        });
    if (!transport) return fail("lighthouse: " + transport.error().message);
    server_transport = std::move(*transport);
    spdlog::info("lighthouse: serving discovery on {}", server_transport->local().to_string());
  }
  if (config.etcd) {
    discovery::EtcdOptions options;
    options.endpoints = config.etcd->endpoints;
    options.prefix = config.etcd->prefix;
    options.lease_ttl = config.etcd->lease_ttl;
    if (workloads) {  // claimed under <prefix>/nodeca/ (node_ca_claim.h)
      options.node_ca = workloads->node_ca().certificate().fingerprint();
      options.claimant = "host " + host.name + (host_address ? " at " + host_address->to_string() : "");
    }
    auto e = discovery::EtcdDirectory::open(&loop, std::move(options));
    if (!e) return fail("discovery.etcd: " + e.error().message);
    etcd_directory = std::move(*e);
    etcd_directory->set_on_revocation_list([this](ByteSpan bytes) {
      (void)take_revocation_list(bytes, RevocationOrigin::Etcd);
    });
    etcd_directory->set_on_node_ca_claim(
        [this](const std::string& holder) { node_ca_claim.report("etcd", holder); });
    backends.push_back(etcd_directory.get());
  }
  if (backends.empty()) return {};

  directory = std::make_unique<discovery::DirectorySet>(backends);
  directory->watch([this](const discovery::Change& c) {
    if (c.kind != discovery::ChangeKind::Removed) learn(c.record);
  });
  tunnel->set_route_miss([this](const IpAddress& dst) {
    ++discovery_lookups;
    if (const discovery::Record* r = directory->lookup_address(dst)) {
      ++discovery_hits;
      learn(*r);
    }
  });
  sync_published();
  uv_timer_init(&loop, discovery_timer.get());
  discovery_timer.get()->data = this;
  const auto every = std::uint64_t(discovery::kTickInterval.count());
  uv_timer_start(
      discovery_timer.get(), [](uv_timer_t* h) { static_cast<Impl*>(h->data)->discovery_tick(); },
      every, every);
  return {};
}

void Daemon::Impl::close_discovery() {
  discovery_timer.reset();
  punch_timer.reset();
  if (tunnel) tunnel->set_route_miss({});
  if (tunnel) tunnel->set_on_stall({});
  directory.reset();
  client_transport.reset();
  server_transport.reset();
  lighthouse_client.reset();
  lighthouse_server.reset();
  etcd_directory.reset();
  static_directory.reset();
}

void Daemon::Impl::discovery_tick() {
  sync_published();
  tunnel->repeat_route_misses();  // packets still waiting: ask again (the client backs off)
  directory->tick(time.wall_now());
  if (lighthouse_server)
    for (auto& out : lighthouse_server->tick(time.now())) server_transport->send(out.to, out.bytes);
}

void Daemon::Impl::publish_now() {
  // A workload just minted is registered before its ADD returns, not at the next tick: a
  // peer that looks it up right after finds it (or gets it pushed, docs/discovery.md).
  if (!directory || published_generation == tunnel->local_generation()) return;
  sync_published();
  directory->tick(time.wall_now());
}

void Daemon::Impl::sync_published() {
  // Runs every tick; does work only when the set of local identities changed (a renewed
  // certificate has a new fingerprint, so it is published anew and the old one withdrawn).
  if (published_generation == tunnel->local_generation()) return;
  published_generation = tunnel->local_generation();
  std::set<std::string> now_local;
  const auto endpoints = own_endpoints();
  for (const LocalIdentity* l : tunnel->local_identities()) {
    if (!l->certified) continue;
    const std::string& fp = l->cert.fingerprint;
    now_local.insert(fp);
    if (published.contains(fp)) continue;
    auto record = discovery::record_from_chain(ByteSpan(l->chain_bytes.data(), l->chain_bytes.size()),
                                               endpoints, WallTime::max());
    if (!record) {
      spdlog::warn("discovery: cannot publish {}: {}", fp.substr(0, 16), record.error().message);
      continue;
    }
    relay_fields(*record);  // relay.cpp
    if (auto r = directory->publish(std::move(*record)); !r)
      spdlog::warn("discovery: publishing {}: {}", fp.substr(0, 16), r.error().message);
  }
  for (const auto& fp : published)
    if (!now_local.contains(fp))
      if (auto parsed = identity::parse_fingerprint(fp)) directory->withdraw(*parsed);
  published = std::move(now_local);
}

void Daemon::Impl::learn(const discovery::Record& record) {
  if (record.raw_key() || record.endpoints.empty()) return;
  const std::string fp = identity::short_hex(record.fingerprint);
  for (const LocalIdentity* l : tunnel->local_identities())
    if (l->certified && l->cert.fingerprint.starts_with(fp)) return;  // one of ours
  // Relays and host key are not covered by the chain's signatures: they are taken only from a
  // record whose chain validated (now, or before with the same fingerprint), and capped
  // (docs/discovery.md, "What a record can steer").
  auto known = learned.find(fp);
  if (known != learned.end() && known->second == record.endpoints) {
    learn_relays(record);  // relay.cpp
    return;
  }
  auto chain = identity::parse_chain(ByteSpan(record.chain.data(), record.chain.size()));
  if (!chain) return;
  // Validated here, against our roots: a forged or stale record ends at this line.
  if (auto r = tunnel->add_remote(*chain, record.endpoints); !r) {
    spdlog::debug("discovery: {} not usable: {}", record.describe(), r.error().message);
    return;
  }
  learned[fp] = record.endpoints;
  learn_relays(record);
  spdlog::info("discovery: {} at {}", record.describe(), record.endpoints.front().to_string());
  want_punch(record);  // nat.cpp
}

}  // namespace keymesh::daemon
