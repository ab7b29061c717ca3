// What /metrics, /healthz and /readyz answer (daemon/metrics_http.h; every name is in
// docs/metrics.md). Runs on the loop thread. Numbers come from Tunnel::status(), the reply
// `keymesh status --json` prints, so the two agree; what status does not carry (policy
// decisions, discovery lookups, audit lines, attachments) comes from counters beside it.
#include <net/if.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "daemon/daemon_impl.h"
#include "daemon/metrics_audit_sink.h"
#include "daemon/metrics_http.h"
#include "metrics/exposition.h"
#include "metrics/process.h"

namespace keymesh::daemon {

namespace {

using metrics::Type;

// Label cardinality caps for what /metrics derives from status (the tunnel's own counters
// are capped in tunnel_counters.h).
constexpr std::size_t kMaxIdentitySeries = 64;   // soonest-expiring first
constexpr std::size_t kMaxRelayPairSeries = 64;  // busiest first, the rest as other/other

// Drop reasons that are a handshake failing (docs/metrics.md): the message reached the
// handshake stage and no session came of it. handshake_crossed is not one (a deliberate
// tie-break), nor are the data-path reasons.
constexpr std::array<DropReason, 14> kHandshakeFailures = {
    DropReason::Mac1Invalid,          DropReason::UnsupportedHandshake,
    DropReason::CookieRequired,       DropReason::HandshakeDecryptFailed,
    DropReason::HandshakeDhFailed,    DropReason::UnknownPeer,
    DropReason::CertificateRejected,  DropReason::CertificateKeyMismatch,
    DropReason::PathNotGranted,       DropReason::HandshakeReplayed,
    DropReason::HandshakeFlood,       DropReason::UnexpectedResponse,
    DropReason::CookieReplyInvalid,   DropReason::HandshakeTimeout};

std::int64_t unix_seconds(WallTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// IFF_UP of the daemon's interface, as the kernel has it now.
bool link_up(const std::string& name) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  ifreq req{};
  std::strncpy(req.ifr_name, name.c_str(), IFNAMSIZ - 1);
  const bool up = ::ioctl(fd, SIOCGIFFLAGS, &req) == 0 && (req.ifr_flags & IFF_UP) != 0;
  ::close(fd);
  return up;
}

void counter(metrics::Writer& w, std::string_view name, std::string_view help, double v) {
  w.family(name, Type::kCounter, help);
  w.sample(v);
}
void gauge(metrics::Writer& w, std::string_view name, std::string_view help, double v) {
  w.family(name, Type::kGauge, help);
  w.sample(v);
}

}  // namespace

std::vector<std::string> Daemon::Impl::not_ready() const {
  std::vector<std::string> missing;
  if (!device || !link_up(config.interface_name))
    missing.push_back("interface " + config.interface_name + " is not up");
  const auto locals = tunnel->local_identities();
  const bool certified_expected = !config.trust_roots.empty();
  const std::int64_t now = unix_seconds(time.wall_now());
  std::size_t certified = 0;
  for (const LocalIdentity* l : locals) {
    if (!l->certified) continue;
    ++certified;
    if (l->cert.not_after <= now)
      missing.push_back("the certificate of identity " + l->name + " has expired");
  }
  if (locals.empty()) missing.push_back("no local identity is loaded");
  else if (certified_expected && certified == 0)
    missing.push_back("trust roots are configured but no certified local identity is loaded");
  if (certified_expected) {
    const identity::TrustStore* store = tunnel->trust();
    std::size_t valid_roots = 0;
    if (store)
      for (const auto& [fp, root] : store->roots())
        if (root.fields().not_after > now && root.fields().not_before <= now) ++valid_roots;
    if (valid_roots == 0) missing.push_back("no trust root is currently valid");
  }
  if (lighthouse_client) {
    bool any = false;
    for (const auto& lh : lighthouse_client->lighthouses()) any |= lh.registered && !lh.down;
    if (!any) missing.push_back("no lighthouse has acknowledged our registration");
  }
  if (etcd_directory && !etcd_directory->synced())
    missing.push_back("etcd discovery has not synced");
  return missing;
}

std::string Daemon::Impl::render_metrics() const {
  const proto::StatusReply st = tunnel->status();
  const TunnelCounters& c = tunnel->counters();
  const std::int64_t now = unix_seconds(time.wall_now());
  metrics::Writer w;

  // ---- handshakes ----
  counter(w, "keymesh_handshakes_completed_total",
          "Handshakes completed (either role), new sessions and rekeys.",
          double(st.handshakes_completed()));
  std::map<std::string_view, std::uint64_t> drops;
  for (const auto& d : st.drops()) drops[d.reason()] = d.count();
  w.family("keymesh_handshakes_failed_total", Type::kCounter,
           "Handshake messages that produced no session, by drop reason.");
  for (DropReason r : kHandshakeFailures) {
    const auto name = to_string(r);
    w.sample({{"reason", name}}, double(drops[name]));
  }
  counter(w, "keymesh_cookies_sent_total", "Cookie replies sent while under load.",
          double(st.cookies_sent()));

  // ---- paths and traffic ----
  std::size_t established = 0, handshaking = 0, relayed = 0, raw_peers = 0, flows = 0;
  for (const auto& p : st.peers()) {
    flows += p.flows();
    if (p.local_identity().empty()) {
      ++raw_peers;
      continue;
    }
    (p.last_handshake_unix() != 0 ? established : handshaking) += 1;
    if (!p.relay().empty()) ++relayed;
  }
  w.family("keymesh_paths", Type::kGauge,
           "Paths between a local and a remote identity, by state.");
  w.sample({{"state", "established"}}, double(established));
  w.sample({{"state", "handshaking"}}, double(handshaking));
  gauge(w, "keymesh_paths_relayed", "Established paths that run through a relay.",
        double(relayed));
  gauge(w, "keymesh_raw_peers", "Peers configured by public key (peers:).", double(raw_peers));
  w.family("keymesh_transfer_bytes_total", Type::kCounter,
           "Bytes of authenticated WireGuard data messages on the underlay, by direction.");
  w.sample({{"direction", "rx"}}, double(st.rx_bytes()));
  w.sample({{"direction", "tx"}}, double(st.tx_bytes()));
  w.family("keymesh_transfer_packets_total", Type::kCounter,
           "Authenticated WireGuard data messages (keepalives included), by direction.");
  w.sample({{"direction", "rx"}}, double(st.rx_packets()));
  w.sample({{"direction", "tx"}}, double(st.tx_packets()));
  w.family("keymesh_drops_total", Type::kCounter, "Packets dropped, by reason (every reason).");
  for (const auto& d : st.drops()) w.sample({{"reason", d.reason()}}, double(d.count()));

  // ---- policy ----
  w.family("keymesh_policy_decisions_total", Type::kCounter,
           "Policy decisions: paths opened by the granting rule; refused paths and denied "
           "packets (rule=\"none\": policy is default deny).");
  c.paths_allowed.for_each([&](const auto& key, std::uint64_t n) {
    if (key[0] == metrics::kOverflow && n == 0) return;
    w.sample({{"decision", "allowed"}, {"scope", "path"}, {"rule", key[0]}}, double(n));
  });
  w.sample({{"decision", "denied"}, {"scope", "path"}, {"rule", "none"}}, double(c.paths_refused));
  w.sample({{"decision", "denied"}, {"scope", "packet"}, {"rule", "none"}},
           double(c.packets_denied));
  w.family("keymesh_policy_denied_total", Type::kCounter,
           "Denied packets and refused paths by identity pair (bounded; the rest as other).");
  c.denied.for_each([&](const auto& key, std::uint64_t n) {
    if (key[0] == metrics::kOverflow && n == 0) return;
    w.sample({{"scope", key[0]}, {"direction", key[1]}, {"local", key[2]}, {"remote", key[3]}},
             double(n));
  });
  gauge(w, "keymesh_policy_rules", "Rules in the loaded policy.", double(st.policy_rules()));
  gauge(w, "keymesh_conntrack_entries", "Tracked connections over every path and peer.",
        double(flows));

  // ---- discovery ----
  counter(w, "keymesh_discovery_lookups_total",
          "Directory lookups for a destination no known identity holds (send-path misses).",
          double(discovery_lookups));
  counter(w, "keymesh_discovery_hits_total",
          "Lookups the directory answered at once from what it holds.", double(discovery_hits));
  if (lighthouse_client) {
    const auto& s = lighthouse_client->stats();
    counter(w, "keymesh_discovery_queries_total", "Queries sent to lighthouses (retries included).",
            double(s.queries_sent));
    counter(w, "keymesh_discovery_answers_total", "Records received from lighthouses.",
            double(s.answers));
    counter(w, "keymesh_discovery_negative_answers_total",
            "Lighthouse queries that ended without a record.", double(s.negative));
    w.family("keymesh_lighthouse_up", Type::kGauge,
             "1 when the lighthouse acknowledged our registration within its TTL and answers.");
    for (const auto& lh : lighthouse_client->lighthouses())
      w.sample({{"lighthouse", lh.address.to_string()}}, lh.registered && !lh.down ? 1 : 0);
  }

  // ---- relays ----
  if (st.relay().enabled()) {
    std::vector<const proto::RelayPairStatus*> pairs;
    for (const auto& p : st.relay().pairs()) pairs.push_back(&p);
    std::sort(pairs.begin(), pairs.end(),
              [](auto* a, auto* b) { return a->bytes() > b->bytes(); });
    std::uint64_t other_packets = 0, other_bytes = 0;
    for (std::size_t i = kMaxRelayPairSeries; i < pairs.size(); ++i) {
      other_packets += pairs[i]->packets();
      other_bytes += pairs[i]->bytes();
    }
    pairs.resize(std::min(pairs.size(), kMaxRelayPairSeries));
    for (bool bytes : {false, true}) {
      w.family(bytes ? "keymesh_relay_forwarded_bytes_total" : "keymesh_relay_forwarded_packets_total",
               Type::kCounter, bytes ? "Bytes this relay forwarded, by pair of hosts."
                                     : "Envelopes this relay forwarded, by pair of hosts.");
      for (auto* p : pairs)
        w.sample({{"from", p->from()}, {"to", p->to()}}, double(bytes ? p->bytes() : p->packets()));
      if (pairs.size() == kMaxRelayPairSeries)
        w.sample({{"from", metrics::kOverflow}, {"to", metrics::kOverflow}},
                 double(bytes ? other_bytes : other_packets));
    }
  }

  // ---- identities ----
  std::vector<const proto::IdentityInfo*> certified;
  for (const auto& id : st.identities())
    if (id.not_after_unix() != 0) certified.push_back(&id);
  std::sort(certified.begin(), certified.end(),
            [](auto* a, auto* b) { return a->not_after_unix() < b->not_after_unix(); });
  gauge(w, "keymesh_local_identities", "Local identities (host, workloads, imported).",
        double(st.identities_size()));
  w.family("keymesh_certificate_expiry_seconds", Type::kGauge,
           "Seconds until the local identity's certificate expires (negative: expired); the "
           "64 soonest.");
  for (std::size_t i = 0; i < certified.size() && i < kMaxIdentitySeries; ++i)
    w.sample({{"identity", certified[i]->name()}, {"kind", certified[i]->kind()}},
             double(certified[i]->not_after_unix() - now));

  // ---- audit, attachments ----
  counter(w, "keymesh_audit_events_total", "Audit lines written (audit_log, audit_syslog).",
          double(audit_counter ? audit_counter->written() : 0));
  counter(w, "keymesh_audit_suppressed_total",
          "Decisions the audit rate limits folded into a later line's count.",
          double(c.audit_suppressed));
  if (workloads) {
    std::map<std::string, std::size_t> doors = {{std::string(node::kFrontDoorCni), 0},
                                                {std::string(node::kFrontDoorDocker), 0}};
    for (const node::Workload* wl : workloads->list()) ++doors[wl->front_door];
    w.family("keymesh_attachments", Type::kGauge, "Workloads attached now, by front door.");
    for (const auto& [door, n] : doors) w.sample({{"front_door", door}}, double(n));
  }
  gauge(w, "keymesh_ready", "1 when /readyz answers 200.", not_ready().empty() ? 1 : 0);

  metrics::write_process_metrics(w, metrics::read_process_stats());
  if (w.errors() != 0) spdlog::warn("/metrics: {} series left out (invalid names)", w.errors());
  return w.take();
}

MetricsReply Daemon::Impl::serve_http(std::string_view path) const {
  if (path == "/metrics")
    return {200, "text/plain; version=0.0.4; charset=utf-8", render_metrics()};
  if (path == "/healthz") return {200, "text/plain; charset=utf-8", "ok\n"};
  if (path == "/readyz") {
    const auto missing = not_ready();
    if (missing.empty()) return {200, "text/plain; charset=utf-8", "ready\n"};
    std::string body = "not ready:\n";
    for (const auto& m : missing) body += "- " + m + "\n";
    return {503, "text/plain; charset=utf-8", body};
  }
  return {404, "text/plain; charset=utf-8", "not found: /metrics, /healthz, /readyz\n"};
}

Result<void> Daemon::Impl::open_metrics() {
  if (config.metrics_listen.empty()) return {};
  const auto address = udp::Endpoint::parse(config.metrics_listen);
  if (!address) return fail("metrics_listen: cannot parse " + config.metrics_listen);
  auto server = MetricsHttpServer::start(&loop, *address,
                                         [this](std::string_view p) { return serve_http(p); });
  if (!server) {
    if (config.metrics_listen_configured)
      return fail("metrics_listen: " + server.error().message);
    spdlog::warn("metrics_listen (default {}): {}; running without /metrics", config.metrics_listen,
                 server.error().message);
    return {};
  }
  metrics_http = std::move(*server);
  return {};
}

}  // namespace keymesh::daemon
