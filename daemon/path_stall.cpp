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
#include <spdlog/spdlog.h>

#include "daemon/daemon_impl.h"
#include "identity/certificate.h"

namespace keymesh::daemon {

void Daemon::Impl::on_path_stalled(const Peer& path) {
  if (!lighthouse_client || !path.keymesh || !path.remote) return;
  auto fingerprint = identity::parse_fingerprint(path.remote->cert.fingerprint);
  if (!fingerprint) return;
  lighthouse_client->refresh_registration();
  discovery::Record target;
  target.fingerprint = *fingerprint;
  target.public_key = path.public_key;
  target.name = path.name;
  spdlog::info("path to {} stalled: registering again and asking the lighthouse for a punch",
               path.name);
  want_punch(target);
}

}  // namespace keymesh::daemon
