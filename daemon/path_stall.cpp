// A path stopped answering (liveness.cpp): what the daemon does about it, with a lighthouse.
//
// The usual cause behind NAT is a new public mapping: the NAT router lost its state (reboot,
// new WAN address, timeout) and our packets now leave from another address or port, which
// the remote's NAT does not let in. WireGuard's answer is roaming: the remote side moves to
// the new endpoint on the first authenticated packet from it. Behind the remote's NAT that
// packet never arrives until the remote has sent towards our new mapping, so:
//  1. register again with every lighthouse now (not at TTL / 3): our packet reaches the
//     lighthouse from the new mapping, its path to us roams there, and the RegisterAck
//     reports the new public endpoint (on_observed republishes our records with it first);
//  2. ask the lighthouse for a punch: it tells the remote's host our endpoint as it sees it
//     now, and the remote sends one datagram there, opening its NAT for us;
//  3. send our pending initiation again kPunchRetryMillis later (want_punch, nat.cpp); the
//     remote answers it from its side of the punched mapping and roams to our new endpoint.
// Repeats at most once per stall round (kProbeAfter + kProbeWait) while the path stays
// silent; the lighthouse client's query budget bounds it too.
//
// When the stalled path was a site gateway and the tunnel has just failed over
// (site_failover.cpp), the gateway that took over may sit behind a NAT that drops unsolicited
// datagrams too: it gets a punch request as well, so the first packets routed to it do not
// wait for the relay fallback or the retransmit timer.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>

#include "daemon/daemon_impl.h"
#include "identity/certificate.h"

namespace keymesh::daemon {

namespace {

// The record a punch request needs: who (fingerprint) and which key to re-initiate to.
std::optional<discovery::Record> punch_target(const RemoteIdentity& remote) {
  auto fingerprint = identity::parse_fingerprint(remote.cert.fingerprint);
  if (!remote.certified || !fingerprint) return std::nullopt;
  discovery::Record target;
  target.fingerprint = *fingerprint;
  target.public_key = remote.public_key;
  target.name = remote.name;
  return target;
}

}  // namespace

void Daemon::Impl::on_path_stalled(const Peer& path) {
  if (!lighthouse_client || !path.keymesh || !path.remote) return;
  auto target = punch_target(*path.remote);
  if (!target) return;
  lighthouse_client->refresh_registration();
  spdlog::info("path to {} stalled: registering again and asking the lighthouse for a punch",
               path.name);
  want_punch(*target);
  for (const auto& [network, route] : tunnel->sites()) {
    if (route.chosen == path.public_key) continue;
    const bool held = std::ranges::any_of(
        route.candidates, [&](const SiteCandidate& c) { return c.key == path.public_key; });
    if (!held) continue;
    const auto chosen = std::ranges::find_if(
        route.candidates, [&](const SiteCandidate& c) { return c.key == route.chosen; });
    if (chosen == route.candidates.end()) continue;
    const RemoteIdentity* next = tunnel->find_remote(chosen->name);
    if (next == nullptr || next->public_key != route.chosen) continue;
    if (auto next_target = punch_target(*next)) {
      spdlog::info("site {}: asking the lighthouse for a punch towards {}, which took over",
                   network, next->name);
      want_punch(*next_target);
    }
  }
}

}  // namespace keymesh::daemon
