// NAT traversal (docs/architecture.md, issue 8): how two daemons behind NAT routers reach each other
// directly, with the lighthouse as the go-between.
//
//  1. Observed endpoint: the lighthouse reports the underlay endpoint it sees this node come
//     from (its NAT's public mapping). The daemon publishes it first among its endpoints, and
//     when it differs from every local address the node is behind NAT: its paths then carry
//     a persistent keepalive (kNatKeepalive) so the mapping stays open.
//  2. Many endpoints: a handshake initiation of a path goes to every endpoint the directory
//     gave for the remote (public and private), not only the first. The same bytes are sent;
//     where two copies arrive, the responder refuses the second as a replay.
//  3. Punching: when the daemon learns a remote from a lighthouse it asks that lighthouse to
//     punch (LighthouseClient::request_punch); the lighthouse tells the remote's host, which
//     sends one small datagram from its keymesh port to each endpoint of ours. Its NAT now
//     lets our next initiation in (sent again kPunchRetryMillis after the request), and ours had
//     already opened our NAT for its datagram. The punch datagram carries nothing; the
//     receiver counts it as a malformed message and drops it.
#include <ifaddrs.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "daemon/daemon_impl.h"
#include "identity/certificate.h"

namespace keymesh::daemon {

namespace {
constexpr auto kNatKeepalive = std::chrono::seconds(25);
// After asking for a punch, our initiation is sent again this much later: by then the remote
// host has punched its NAT (one lighthouse round trip), so the path forms without waiting for
// the retransmit timer (rekey_timeout).
constexpr std::uint64_t kPunchRetryMillis = 300;

// Whether `ep`'s address is one of this host's interface addresses (no NAT in between).
bool is_local_address(const udp::Endpoint& ep) {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return true;  // unknown: assume no NAT
  bool found = false;
  for (ifaddrs* i = list; i != nullptr && !found; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
    const udp::Endpoint a = udp::Endpoint::from_sockaddr(i->ifa_addr);
    found = a.family == ep.family && a.addr == ep.addr;
  }
  ::freeifaddrs(list);
  return found;
}
}  // namespace

// ---- tunnel side ----

void Tunnel::send_initiation_bytes(Peer& peer, std::span<const std::uint8_t> bytes) noexcept {
  if (peer.endpoint.valid()) bind_.send(peer.endpoint, bytes);
  send_via_relays(peer, bytes);  // relay.cpp: when relayed, or no direct answer came
  if (!peer.remote) return;
  for (const auto& ep : peer.remote->endpoints)
    if (ep.valid() && !(ep == peer.endpoint)) bind_.send(ep, bytes);
}

void Tunnel::send_punch(const udp::Endpoint& to) noexcept {
  if (!to.valid()) return;
  const std::uint8_t byte = kPunchByte;
  bind_.send(to, std::span(&byte, 1));
  bind_.flush();
}

void Tunnel::retry_pending_handshakes(const crypto::Key& remote) noexcept {
  refresh_now();
  for (auto& local : locals_)
    if (auto it = local->paths.find(remote); it != local->paths.end())
      if (Peer& peer = *it->second; peer.pending_initiation())
        send_initiation(peer, true);
  bind_.flush();
}

void Tunnel::set_path_keepalive(Duration keepalive) noexcept {
  path_keepalive_ = keepalive;
  for (auto& p : peers_)
    if (p->keymesh) p->persistent_keepalive = keepalive;
}

// ---- daemon side ----

void Daemon::Impl::on_observed(const udp::Endpoint& lighthouse, const udp::Endpoint& seen) {
  if (observed && *observed == seen) return;
  observed = seen;
  const bool nat = !is_local_address(seen);
  spdlog::info("lighthouse {} sees this node at {}{}", lighthouse.to_string(), seen.to_string(),
               nat ? " (behind NAT: paths keep alive every 25 s)" : "");
  tunnel->set_path_keepalive(nat ? Duration(kNatKeepalive) : Duration::zero());
  published.clear();  // re-publish every record with the new endpoint first
  published_generation.reset();
  if (directory) sync_published();
}

void Daemon::Impl::on_punch(const discovery::PunchRequest& request) {
  for (const auto& ep : request.endpoints) tunnel->send_punch(ep);
  spdlog::info("punch: {} asks for {} via lighthouse {}: sent to {} endpoint(s){}",
               request.from ? identity::short_hex(*request.from) : std::string("a host"),
               identity::short_hex(request.target), request.lighthouse.to_string(),
               request.endpoints.size(),
               request.endpoints.empty() ? "" : " first " + request.endpoints.front().to_string());
}

void Daemon::Impl::want_punch(const discovery::Record& record) {
  if (!lighthouse_client) return;
  std::optional<discovery::Fingerprint> requester;
  if (const LocalIdentity* host = tunnel->local_identities().front(); host && host->certified)
    requester = identity::parse_fingerprint(host->cert.fingerprint);
  lighthouse_client->request_punch(record.fingerprint, requester);
  if (punch_timer.get()->loop == nullptr) {
    uv_timer_init(&loop, punch_timer.get());
    punch_timer.get()->data = this;
  }
  // Each remote's retry is due kPunchRetryMillis after its own request, never earlier: an
  // initiation replaced within one timestamp granule of the first is refused by the
  // responder (not newer), and the first one's answer then finds its index gone.
  punch_pending.push_back({record.public_key, uv_now(&loop) + kPunchRetryMillis});
  if (!uv_is_active(punch_timer.base())) arm_punch_timer(kPunchRetryMillis);
  // (else the earlier retry, when it fires, arms the timer again for this one)
}

void Daemon::Impl::retry_punched() {
  // Appended with uv_now() + one constant: the queue is in due order.
  const std::uint64_t t = uv_now(&loop);
  auto first_later = std::find_if(punch_pending.begin(), punch_pending.end(),
                                  [&](const PunchRetry& r) { return r.due > t; });
  const std::vector<PunchRetry> due(punch_pending.begin(), first_later);
  punch_pending.erase(punch_pending.begin(), first_later);
  for (const auto& r : due) tunnel->retry_pending_handshakes(r.remote);
  if (!punch_pending.empty()) arm_punch_timer(punch_pending.front().due - t);
}

void Daemon::Impl::arm_punch_timer(std::uint64_t after_ms) {
  uv_timer_start(
      punch_timer.get(), [](uv_timer_t* h) { static_cast<Impl*>(h->data)->retry_punched(); },
      after_ms, 0);
}

}  // namespace keymesh::daemon
