// Revocation lists (CRLs): a CA-signed list of certificate fingerprints. A list applies only to
// its issuer's subtree: it revokes a certificate only when the issuer is above that
// certificate on its chain (a list of root B cannot revoke root A's certificates; a node CA's
// list cannot revoke a sibling node's workloads). A root signs lists for everything under it;
// a CA below a root (a node CA) signs lists for what it issued and carries its own chain in
// the list (issuer_chain) so that any receiver can check it. Lists are distributed by
// discovery or loaded from a file; TrustStore::set_revocation_list (chain.h) accepts a list
// only when its issuer validates against a trusted root and it is not older than the one it
// replaces (one list per issuer; identity/revocation_set.h).
//
// File format: armored "KEYMESH REVOCATION LIST" (files.h) or the raw serialized message.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"
#include "identity/certificate.h"
#include "identity/error.h"

namespace keymesh::identity {

inline constexpr std::string_view kRevocationListLabel = "KEYMESH REVOCATION LIST";

class RevocationList {
 public:
  // Strict parse (canonical outer encoding, 32-byte fingerprints, 64-byte signature); the
  // signature is checked by verify_revocation_list / TrustStore::set_revocation_list.
  static CertResult<RevocationList> parse(ByteSpan bytes);

  const Fingerprint& issuer() const noexcept { return issuer_; }
  std::int64_t issued_at() const noexcept { return issued_at_; }
  const std::vector<Fingerprint>& revoked() const noexcept { return revoked_; }  // sorted
  bool contains(const Fingerprint& fp) const noexcept;
  const Bytes& encoded() const noexcept { return encoded_; }
  // The issuing CA's chain (itself first, up to but not including its root), as received;
  // empty when a root signed the list. Unverified: TrustStore::set_revocation_list checks it.
  const Bytes& issuer_chain() const noexcept { return issuer_chain_; }
  bool signature_valid_for(const crypto::Key& issuer_ed25519_key) const noexcept;

 private:
  Fingerprint issuer_{};
  std::int64_t issued_at_ = 0;
  std::vector<Fingerprint> revoked_;
  Bytes encoded_;
  Bytes body_;
  Bytes issuer_chain_;
  Signature signature_{};
};

// Signs a list as `issuer` (a CA; `key` must be its key). Duplicates are dropped. A root signs
// with an empty `issuer_chain`; any other CA passes its chain: itself first, up to but not
// including its root (a node CA: {node_ca}), which the list then carries.
CertResult<RevocationList> sign_revocation_list(const Certificate& issuer, const CaKey& key,
                                                std::vector<Fingerprint> revoked,
                                                std::int64_t issued_at,
                                                std::span<const Certificate> issuer_chain = {});
// Checks that `issuer` signed `list` (issuer fingerprint and Ed25519 signature). Whether the
// issuer itself is trusted is the caller's part (TrustStore::set_revocation_list).
CertResult<void> verify_revocation_list(const RevocationList& list, const Certificate& issuer);

// Parses armored text or raw bytes. For hot reload: read, then TrustStore::set_revocation_list.
CertResult<RevocationList> parse_revocation_list_text(ByteSpan data);
Result<RevocationList> read_revocation_list_file(const std::string& path);
std::string armor_revocation_list(const RevocationList& list);

}  // namespace keymesh::identity
