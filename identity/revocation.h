// Revocation lists (CRLs): a root-signed list of certificate fingerprints. A certificate whose
// fingerprint is listed fails validation anywhere in a chain. Lists are distributed by
// discovery or loaded from a file; TrustStore::set_revocation_list (chain.h) accepts a list only
// when a trusted root signed it and it is not older than the one it replaces.
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
  bool signature_valid_for(const crypto::Key& root_ed25519_key) const noexcept;

 private:
  Fingerprint issuer_{};
  std::int64_t issued_at_ = 0;
  std::vector<Fingerprint> revoked_;
  Bytes encoded_;
  Bytes body_;
  Signature signature_{};
};

// Signs a list as `root` (a self-signed CA; `key` must be its key). Duplicates are dropped.
CertResult<RevocationList> sign_revocation_list(const Certificate& root, const CaKey& key,
                                                std::vector<Fingerprint> revoked,
                                                std::int64_t issued_at);
// Checks that `root` signed `list` (issuer fingerprint and Ed25519 signature).
CertResult<void> verify_revocation_list(const RevocationList& list, const Certificate& root);

// Parses armored text or raw bytes. For hot reload: read, then TrustStore::set_revocation_list.
CertResult<RevocationList> parse_revocation_list_text(ByteSpan data);
Result<RevocationList> read_revocation_list_file(const std::string& path);
std::string armor_revocation_list(const RevocationList& list);

}  // namespace keymesh::identity
