// A keymesh certificate: a signed Protobuf body (proto/cert.proto) that binds a public key to
// a name, a kind, overlay networks, groups and labels for a validity window.
//
// Certificate::parse is strict: every field is checked against the format rules below, and the
// outer encoding must be canonical, so one certificate has exactly one byte string and thus one
// fingerprint (a re-encoded revoked certificate cannot dodge its revocation). Parsing does not
// check the signature or the time: that is chain validation's job (chain.h).
//
// Thread safety: Certificate is an immutable value; share it freely across threads.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/ip.h"
#include "crypto/primitives.h"
#include "identity/error.h"

namespace keymesh::identity {

class CaKey;

// SHA-256 of the whole serialized Certificate as stored.
using Fingerprint = std::array<std::uint8_t, 32>;
using Signature = std::array<std::uint8_t, 64>;

// User: a person (docs/access.md): an email-like subject, groups standing for roles, a
// lifetime of hours, issued only by an access CA (a CA whose allowed_kinds names user).
enum class Kind : std::uint8_t { Ca = 1, Node = 2, Workload = 3, Gateway = 4, User = 5 };
std::string_view kind_name(Kind k) noexcept;  // "ca", "node", "workload", "gateway", "user"
std::optional<Kind> parse_kind(std::string_view name) noexcept;

// ---- Format rules (version 1) ----
inline constexpr std::uint32_t kCertificateVersion = 1;
inline constexpr std::size_t kMaxCertificateSize = 16 * 1024;  // whole serialized Certificate
inline constexpr std::size_t kMaxNameLength = 255;             // printable ASCII, no spaces
inline constexpr std::size_t kMaxNetworks = 256;
inline constexpr std::size_t kMaxGroups = 64;
inline constexpr std::size_t kMaxLabels = 64;
inline constexpr std::size_t kMaxLabelValueLength = 1024;      // printable ASCII, spaces ok
inline constexpr std::size_t kMaxLabelPatternValues = 64;      // values per label pattern
// 9999-12-31T23:59:59Z: keeps every time sum and difference far from int64 overflow.
inline constexpr std::int64_t kMaxTime = 253'402'300'799;
// A user certificate lives at most a day whatever its CA allows: people get hours, and a
// stolen laptop's certificate dies by itself (docs/access.md).
inline constexpr std::int64_t kMaxUserLifetimeSeconds = 24 * 3600;

// A label is allowed when its key matches `key` and its value matches one of `values`
// (globs; no values: any value).
struct LabelPattern {
  std::string key;
  std::vector<std::string> values;
  bool operator==(const LabelPattern&) const = default;
};

// What a CA allows below it (docs/identity.md, "Chain rules"). Every field that is absent or
// empty is unrestricted, so certificates written before a field existed keep their meaning.
struct CaConstraints {
  std::vector<IpPrefix> allowed_networks;  // empty: any network
  std::string name_pattern;                // glob with * and ?; empty: any name
  std::int64_t max_lifetime_seconds = 0;   // 0: no limit
  bool may_sign_ca = false;
  // Globs every group below must match; nullopt: any group; empty list: no groups at all.
  std::optional<std::vector<std::string>> allowed_groups;
  // Patterns every label below must match; nullopt: any label; empty list: no labels.
  std::optional<std::vector<LabelPattern>> allowed_labels;
  // Kinds of the non-CA certificates below (sub-CAs are governed by may_sign_ca); empty: any.
  std::vector<Kind> allowed_kinds;
  // The one node this CA is for (its host certificate's name); "": not bound. Below it, a
  // certificate of kind node must carry this name (docs/identity.md, "One node CA, one node").
  std::string node;
  // Glob on the subject of every user certificate below ("*@example.com"); "": any subject.
  std::string subject_pattern;
};

// Everything a body says, as plain values. Used to build certificates and read them back.
struct CertificateFields {
  std::string name;
  Kind kind = Kind::Workload;
  crypto::Key public_key{};               // X25519; Ed25519 for a CA
  std::vector<IpPrefix> networks;         // host bits clear ("10.1.0.0/24", "10.1.0.5/32")
  std::vector<std::string> groups;
  std::map<std::string, std::string> labels;
  std::int64_t not_before = 0;            // unix seconds, 0 <= not_before < not_after
  std::int64_t not_after = 0;             // unix seconds, <= kMaxTime
  std::optional<Fingerprint> issuer;      // nullopt: self-signed root
  std::optional<CaConstraints> constraints;  // CA only (absent: no limits, may_sign_ca false)
  // CA only: context labels (site=onprem, zone=b...) asserted for every identity below it.
  std::map<std::string, std::string> context;
  // User only (required there): the person's email-like subject, "alice@example.com".
  std::string subject;
};

// Checks the format rules on fields (what parse checks after decoding). The message names the
// certificate by name only (it has no fingerprint yet).
CertResult<void> check_fields(const CertificateFields& fields);

class Certificate {
 public:
  // Strict parse of a serialized Certificate. Copies what it needs; `bytes` may be freed after.
  static CertResult<Certificate> parse(ByteSpan bytes);

  const CertificateFields& fields() const noexcept { return fields_; }
  const std::string& name() const noexcept { return fields_.name; }
  Kind kind() const noexcept { return fields_.kind; }
  bool is_ca() const noexcept { return fields_.kind == Kind::Ca; }
  const crypto::Key& public_key() const noexcept { return fields_.public_key; }
  bool is_self_signed() const noexcept { return !fields_.issuer.has_value(); }
  // Constraints of a CA; a CA without any gets the defaults (no limits, may_sign_ca false).
  const CaConstraints& constraints() const noexcept;

  const Bytes& encoded() const noexcept { return encoded_; }  // the Certificate as stored
  const Bytes& body() const noexcept { return body_; }        // the signed body bytes
  const Signature& signature() const noexcept { return signature_; }
  const Fingerprint& fingerprint() const noexcept { return fingerprint_; }
  std::string fingerprint_hex() const;   // 64 hex digits
  std::string short_fingerprint() const; // the first 16 hex digits
  // `certificate "web-1" (3f2a1b2c3d4e5f60)`: how every message names a certificate.
  std::string describe() const;

  // Ed25519 signature over body() with an issuer's CA public key (as stored, never
  // re-serialized). Does not look at kinds or constraints.
  bool signature_valid_for(const crypto::Key& issuer_ed25519_key) const noexcept;

 private:
  CertificateFields fields_;
  Bytes encoded_;
  Bytes body_;
  Signature signature_{};
  Fingerprint fingerprint_{};
};

// Builds the body from `fields`, serializes it once and signs it with `key`.
// - Self-signed root: fields.issuer must be empty and fields.public_key == key.public_key().
// - Issued certificate: pass the issuer certificate; fields.issuer is set to its fingerprint,
//   and `key` must be the issuer's key. Constraints are NOT checked here: call
//   check_issued_by (chain.h) on the result before handing it out.
CertResult<Certificate> sign_certificate(CertificateFields fields, const Certificate* issuer,
                                         const CaKey& key);

// SHA-256 of any bytes (crypto_hash_sha256): fingerprints of certificates and lists.
Fingerprint sha256(ByteSpan bytes) noexcept;
std::optional<Fingerprint> parse_fingerprint(std::string_view hex);  // 64 hex digits
std::string short_hex(const Fingerprint& fp);                        // first 16 hex digits

// Name checks shared by certificates and the CLI.
bool valid_name(std::string_view s) noexcept;  // 1..kMaxNameLength printable ASCII, no space
// A valid name with exactly one '@' that has text on both sides: "alice@example.com".
bool valid_subject(std::string_view s) noexcept;
// Glob match: '*' any run of characters (including '/'), '?' exactly one character.
bool glob_match(std::string_view pattern, std::string_view text) noexcept;
// True when `inner` lies entirely within `outer` (same family, no shorter, same network bits).
bool prefix_within(const IpPrefix& inner, const IpPrefix& outer) noexcept;

// A unix time as "2025-01-02T03:04:05Z" (UTC), as certificates and errors show it.
std::string format_utc(std::int64_t unix_seconds);

}  // namespace keymesh::identity
