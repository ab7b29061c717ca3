// RevocationSet: the revocation lists in force, one per issuing CA (the newest by issued_at),
// and the rule that scopes them: a list revokes a certificate only when its issuer stands
// above that certificate on the certificate's own chain. So a list of root B cannot revoke
// anything under root A, and a node CA's list cannot revoke a sibling node's workloads, nor
// its own issuer. TrustStore (chain.h) verifies a list before it gets here.
// Thread safety: none (part of a TrustStore; see there).
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <span>
#include <string>

#include "identity/revocation.h"

namespace keymesh::identity {

class RevocationSet {
 public:
  // `list` is already verified. Replaces the issuer's list unless it is older (issued_at)
  // than the one held (StaleRevocationList; `issuer` names it in the message).
  CertResult<void> put(const RevocationList& list, const std::string& issuer);
  void erase(const Fingerprint& issuer) noexcept { lists_.erase(issuer); }
  void clear() noexcept { lists_.clear(); }

  // `path` is a chain's fingerprints, leaf first, root last. True when a list of one of
  // path[i]'s issuers (path[i+1..]) names path[i].
  bool revokes(std::span<const Fingerprint> path, std::size_t i) const noexcept;
  // The first index revoked that way, from the root down (the problem highest up first).
  std::optional<std::size_t> first_revoked(std::span<const Fingerprint> path) const noexcept;
  // Named in any list, whatever the chain (status and tools; validation uses revokes()).
  bool listed(const Fingerprint& fp) const noexcept;

  const std::map<Fingerprint, RevocationList>& lists() const noexcept { return lists_; }
  const RevocationList* find(const Fingerprint& issuer) const noexcept;

 private:
  std::map<Fingerprint, RevocationList> lists_;  // by issuer
};

}  // namespace keymesh::identity
