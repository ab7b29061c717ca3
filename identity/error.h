// The identity module's error list (Nebula-style: the certificate package owns its errors).
// Every rejection has its own CertError value, so the daemon can count them and an audit
// line can name the reason; CertFailure adds a human message that names the certificate
// (name + short fingerprint) and what exactly was wrong. Messages never contain key material.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace keymesh::identity {

enum class CertError : std::uint8_t {
  Malformed,                 // bytes do not parse, or a field breaks the format rules
  ChainTooLong,              // more than kMaxChainLength certificates
  IssuerMismatch,            // a certificate's issuer_fingerprint does not name the next one
  UnknownRoot,               // the chain does not end at a root in the trust store
  NotSignedByCa,             // the issuer is not a CA certificate
  CaSigningNotAllowed,       // a CA certificate issued by a CA without may_sign_ca
  ForgedSignature,           // the Ed25519 signature does not verify
  NotYetValid,               // now + skew < not_before
  Expired,                   // now - skew > not_after
  NetworkOutsideConstraint,  // a network outside some issuing CA's allowed_networks
  NameOutsidePattern,        // the leaf name does not match some issuing CA's name_pattern
  LifetimeExceedsIssuer,     // longer than an issuer's max lifetime, or past its not_after
  Revoked,                   // listed in a trusted revocation list
  NotAnIdentity,             // the leaf is a CA: it cannot be a handshake identity
  KeyMismatch,               // the handshake's static key is not the certificate's key
  BadRevocationList,         // a revocation list that does not parse or verify
  StaleRevocationList,       // older than the list already held for that root
  GroupOutsideConstraint,    // a group that some issuing CA's allowed_groups does not allow
  LabelOutsideConstraint,    // a label that some issuing CA's allowed_labels does not allow
  KindOutsideConstraint,     // a kind that some issuing CA's allowed_kinds does not allow
  ContextConflict,           // a CA changes a context label asserted by a CA above it
  NodeBindingViolated,       // a node certificate named otherwise below a CA bound to one node
  SubjectOutsidePattern,     // a user's subject does not match some issuing CA's subject_pattern
};
inline constexpr std::size_t kCertErrorCount = std::size_t(CertError::SubjectOutsidePattern) + 1;

// Stable snake_case name ("forged_signature"), for counters, metrics and audit lines.
std::string_view to_string(CertError e) noexcept;

struct CertFailure {
  CertError reason;
  std::string message;  // e.g. `certificate "web-1" (3f2a1b2c3d4e5f60): expired at ...`
};

template <class T>
using CertResult = std::expected<T, CertFailure>;

inline std::unexpected<CertFailure> cert_fail(CertError reason, std::string message) {
  return std::unexpected<CertFailure>(CertFailure{reason, std::move(message)});
}

}  // namespace keymesh::identity
