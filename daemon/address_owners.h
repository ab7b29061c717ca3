// Who owns an overlay address (docs/identity.md, "Address ownership").
//
// One rule for conflicting certificates: for each network of a workload or host certificate,
// the certificate with the newest not_before wins. Once a certificate for a network was
// seen (in a handshake or a valid discovery record), a different key's certificate for that
// network with an older not_before is refused, and so is one with the same not_before (the
// holder keeps it), until the holder's certificate expires. Gateways are outside this rule:
// several gateways of one site hold the same subnet (site_failover.h).
//
// A claim is `confirmed` once its key completed a granted, non-replayed handshake with us.
// Routing follows confirmed claims: a discovery record may fill a network nobody confirmed,
// but never displaces a confirmed holder; a newer certificate displaces it only through its
// own handshake.
//
// Bounded: one entry per network of a live certificate seen; expired ones go at prune().
// Not synchronized: the loop thread.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "crypto/primitives.h"
#include "identity/chain.h"

namespace keymesh::daemon {

class AddressOwners {
 public:
  // Why `v` may not hold its networks now, or nullopt when it may.
  std::optional<std::string> refusal(const identity::ValidatedIdentity& v, WallTime now) const;
  // Records `v` as the holder of its networks (call only when refusal() said nullopt).
  // Returns the keys it displaced (another key held one of its networks).
  std::vector<crypto::Key> claim(const identity::ValidatedIdentity& v, WallTime now,
                                 bool confirmed);
  // True when a live confirmed claim of another key holds one of `v`'s networks.
  bool confirmed_elsewhere(const identity::ValidatedIdentity& v, WallTime now) const;
  void prune(WallTime now);
  std::size_t size() const noexcept { return claims_.size(); }

 private:
  struct Claim {
    crypto::Key key{};
    std::int64_t not_before = 0;
    std::int64_t not_after = 0;
    std::string name;
    bool confirmed = false;
  };
  static bool applies(const identity::ValidatedIdentity& v) noexcept {
    return v.kind != identity::Kind::Gateway;
  }
  const Claim* live(const std::string& network, WallTime now) const;

  std::map<std::string, Claim> claims_;  // network text ("100.64.1.5/32") -> holder
};

}  // namespace keymesh::daemon
