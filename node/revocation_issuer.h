// RevocationIssuer: what this node's CA has revoked. When a workload goes away (CNI DEL or GC,
// Docker leave, `keymesh identity remove`) the daemon revokes its certificate here; the
// result is a new revocation list signed by the node CA (carrying its chain, so any host can
// check it) that the daemon applies at once and distributes through discovery
// (daemon/revocations.cpp, docs/identity.md).
//
// Durable: every revoked fingerprint (with its certificate's not_after) and the last
// issued_at are kept in the state database (kv namespaces "revoked" and "revoked.meta") before
// the list is returned, so a restarted node signs a list that still holds them. Entries are
// dropped once their certificate has expired (an expired certificate is refused anyway), which
// keeps the list small. issued_at strictly increases (unix seconds, at least the last + 1), so
// a receiver never mistakes an older list for the newest.
//
// Threading: the daemon's loop thread. `db` and `ca` must outlive the issuer.
#pragma once

#include <cstdint>
#include <map>
#include <optional>

#include "common/clock.h"
#include "common/result.h"
#include "identity/revocation.h"
#include "node/node_ca.h"
#include "node/state_store.h"

namespace keymesh::node {

inline constexpr std::string_view kRevokedNamespace = "revoked";
inline constexpr std::string_view kRevokedMetaNamespace = "revoked.meta";

class RevocationIssuer {
 public:
  // Loads what was revoked before; current() is that list re-signed (nullopt: nothing yet).
  static Result<RevocationIssuer> open(StateStore& db, const NodeCa& ca, WallTime now);

  // Revokes `cert`, which this node CA must have issued (its issuer fingerprint is the node
  // CA's). Returns the new list, also current().
  Result<identity::RevocationList> revoke(const identity::Certificate& cert, WallTime now);
  const std::optional<identity::RevocationList>& current() const noexcept { return current_; }
  std::size_t size() const noexcept { return revoked_.size(); }

 private:
  RevocationIssuer(StateStore& db, const NodeCa& ca) : db_(&db), ca_(&ca) {}
  Result<void> sign(WallTime now);

  StateStore* db_;
  const NodeCa* ca_;
  std::map<identity::Fingerprint, std::int64_t> revoked_;  // -> the certificate's not_after
  std::int64_t last_issued_ = 0;
  std::optional<identity::RevocationList> current_;
};

}  // namespace keymesh::node
