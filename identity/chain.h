// Chain validation: from a leaf certificate up to a trusted root, checking every signature,
// validity window, issuer link, CA permission, every CA's constraints and revocation.
//
// Rules (docs/identity.md, "Chain rules"):
//  1. A chain is leaf first, then its issuers in order; the root may be omitted (the
//     handshake usually omits it). At most kMaxChainLength certificates including the root.
//  2. Each certificate's issuer_fingerprint names the next one; the last one is a root in the
//     trust store (self-signed, same fingerprint) or names one.
//  3. Every issuer is a CA; a CA issuing a CA needs may_sign_ca. Every signature verifies over
//     the body bytes as stored.
//  4. now + skew >= not_before and now - skew <= not_after, for every certificate.
//  5. Every CA on the path constrains everything below it: networks (and sub-CA
//     allowed_networks) inside its allowed_networks; the leaf's name matches its name_pattern;
//     lifetime <= its max_lifetime_seconds and not_after <= its own not_after; every group
//     matches one of its allowed_groups, every label one of its allowed_labels, and every
//     non-CA kind is in its allowed_kinds (each when set); a user's subject matches its
//     subject_pattern. A CA's context labels may add keys to those asserted above it, never
//     change one. A user certificate's own issuer names user in allowed_kinds (an access CA).
//  6. No certificate on the path is in a trusted revocation list.
// The first rule broken is reported, checked from the root down, with the certificate named.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/ip.h"
#include "crypto/primitives.h"
#include "identity/certificate.h"
#include "identity/error.h"
#include "identity/revocation.h"
#include "identity/revocation_set.h"

namespace keymesh::identity {

inline constexpr std::size_t kMaxChainLength = 5;
inline constexpr std::size_t kMaxChainSize = kMaxChainLength * kMaxCertificateSize;
inline constexpr std::chrono::seconds kDefaultClockSkew{60};

using Chain = std::vector<Certificate>;

// A serialized CertificateChain (what the handshake carries). Each certificate keeps the exact
// bytes it arrived in, so fingerprints are over bytes as stored.
CertResult<Chain> parse_chain(ByteSpan bytes);
Bytes serialize_chain(std::span<const Certificate> chain);

// What the daemon and policy need from a validated leaf.
struct ValidatedIdentity {
  std::string name;
  Kind kind = Kind::Workload;                 // never Kind::Ca (node, workload, gateway, user)
  crypto::Key public_key{};                   // X25519 static key
  std::vector<IpPrefix> networks;             // cryptokey routing: allowed inner sources
  std::vector<std::string> groups;
  std::map<std::string, std::string> labels;
  std::int64_t not_before = 0;                // unix seconds, the leaf's (address ownership)
  std::int64_t not_after = 0;                 // unix seconds (see below)
  std::string subject;                        // a user's email-like subject; "" otherwise
  std::string fingerprint;                    // leaf, 64 hex digits
  // Leaf first, ending with the trusted root: to re-check revocation and root removal later.
  std::vector<Fingerprint> chain_fingerprints;
  // Context labels asserted by the CAs on the path (root down; rule 5 forbids a change), never
  // by the leaf: where this identity lives (site=onprem, zone=b).
  std::map<std::string, std::string> context;
  std::string issuer_name;         // the CA that signed the leaf
  std::string issuer_fingerprint;  // its fingerprint, 64 hex digits
  // Rule 5 makes the leaf's not_after the earliest on the path, so `not_after` is when the
  // identity stops being valid (plus skew) regardless of which certificate expires.
};

// One link, without time or revocation: issuer is a CA, may_sign_ca when subject is a CA,
// subject.issuer == issuer.fingerprint(), signature, and the issuer's own constraints on the
// subject (networks, name for non-CA subjects, lifetime). `keymesh cert sign` runs this on
// a new certificate before writing it.
CertResult<void> check_issued_by(const Certificate& subject, const Certificate& issuer);
// Rule 4 for one certificate.
CertResult<void> check_validity(const Certificate& cert, WallTime now,
                                std::chrono::seconds skew = kDefaultClockSkew);
// The handshake's static public key must be the certificate's key (constant-time compare).
CertResult<void> check_static_key(const ValidatedIdentity& identity,
                                  const crypto::Key& handshake_static_key);

// Trusted roots (several at once, for CA rotation) and the revocation lists they signed.
// Not synchronized: mutate on one thread; for hot reload build a new TrustStore and publish
// it (e.g. a shared_ptr<const TrustStore> swap). Const methods may run on any thread.
class TrustStore {
 public:
  // The root must be a self-signed CA whose own signature verifies. Adding a root twice is ok.
  CertResult<void> add_root(const Certificate& root);
  // Also drops that root's revocation list. False when it was not there.
  bool remove_root(const Fingerprint& root);
  const Certificate* find_root(const Fingerprint& fp) const noexcept;
  const std::map<Fingerprint, Certificate>& roots() const noexcept { return roots_; }

  // Accepts a list signed by a trusted root, or by a CA whose carried chain (issuer_chain)
  // validates at `now` against a trusted root, replacing that issuer's previous list; refuses
  // a list older (issued_at) than the one held (StaleRevocationList). A list revokes only
  // certificates below its issuer (revocation_set.h). Without `now`: root lists only.
  CertResult<void> set_revocation_list(const RevocationList& list);
  CertResult<void> set_revocation_list(const RevocationList& list, WallTime now);
  void clear_revocation_lists() noexcept { revocations_.clear(); }
  const RevocationSet& revocation_lists() const noexcept { return revocations_; }
  // Named in any list held (whatever the chain; validation applies the subtree rule).
  bool is_revoked(const Fingerprint& fp) const noexcept;

  // Rules 1-6 for any chain; the leaf may be a CA (`keymesh cert verify ca.crt`). Returns the
  // full path, leaf first, ending with the trusted root.
  CertResult<Chain> verify_chain(std::span<const Certificate> chain, WallTime now,
                                 std::chrono::seconds skew = kDefaultClockSkew) const;
  // verify_chain plus: the leaf is a node, workload, gateway or user (NotAnIdentity otherwise).
  CertResult<ValidatedIdentity> validate(std::span<const Certificate> chain, WallTime now,
                                         std::chrono::seconds skew = kDefaultClockSkew) const;
  // parse_chain + validate: for the bytes of a handshake payload.
  CertResult<ValidatedIdentity> validate(ByteSpan chain_bytes, WallTime now,
                                         std::chrono::seconds skew = kDefaultClockSkew) const;
  // For an identity validated earlier: its root is still trusted, nothing on its path is
  // revoked now, and it has not expired. Run after a CRL reload or root removal, and on timers.
  CertResult<void> recheck(const ValidatedIdentity& identity, WallTime now,
                           std::chrono::seconds skew = kDefaultClockSkew) const;

 private:
  std::map<Fingerprint, Certificate> roots_;
  RevocationSet revocations_;  // one list per issuing CA
};

}  // namespace keymesh::identity
