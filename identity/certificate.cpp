#include "identity/certificate.h"

#include <ctime>
#include <sodium.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "cert.pb.h"
#include "identity/ca_key.h"

namespace keymesh::identity {

namespace {

using PbBody = proto::CertificateBody;

std::string quoted(std::string_view s) {
  // Names are printable ASCII once checked; before that, keep messages printable too.
  std::string out = "\"";
  for (char c : s.substr(0, 64)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (s.size() > 64) out += "...";
  return out + "\"";
}

bool printable(std::string_view s, bool allow_space) noexcept {
  return std::all_of(s.begin(), s.end(), [allow_space](char c) {
    return (c > 0x20 && c < 0x7f) || (allow_space && c == ' ');
  });
}

CertResult<IpPrefix> parse_network(const std::string& text, const std::string& who,
                                   const char* field) {
  auto p = IpPrefix::parse(text);
  if (!p) return cert_fail(CertError::Malformed, who + ": " + field + " " + quoted(text) +
                                                     " is not a CIDR (10.1.0.0/24, fd00::/64)");
  if (p->network() != *p)
    return cert_fail(CertError::Malformed, who + ": " + field + " " + quoted(text) +
                                               " has host bits set (write " +
                                               p->network().to_string() + ")");
  return *p;
}

std::uint32_t kind_bit(Kind k) noexcept { return 1u << unsigned(k); }
constexpr std::uint32_t kKindBits = (1u << unsigned(Kind::Node)) |
                                    (1u << unsigned(Kind::Workload)) |
                                    (1u << unsigned(Kind::Gateway)) |
                                    (1u << unsigned(Kind::User));

// Fields from a newer format anywhere in the body: refused, so what a verifier enforces is
// always everything the issuer said.
bool has_unknown_fields(const google::protobuf::Message& m) {
  const auto* r = m.GetReflection();
  if (!r->GetUnknownFields(m).empty()) return true;
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const auto* f : fields) {
    if (f->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(m, f); ++i)
        if (has_unknown_fields(r->GetRepeatedMessage(m, f, i))) return true;
    } else if (has_unknown_fields(r->GetMessage(m, f))) {
      return true;
    }
  }
  return false;
}

// The outer message must be exactly what we would write, so its bytes (and fingerprint) are
// unique: no unknown fields, no reordering, no redundant encodings.
bool canonical_pair(ByteSpan bytes, const std::string& body, const std::string& signature) {
  proto::Certificate again;
  again.set_body(body);
  again.set_signature(signature);
  std::string out;
  if (!again.SerializeToString(&out)) return false;
  return out.size() == bytes.size() &&
         (out.empty() || std::memcmp(out.data(), bytes.data(), out.size()) == 0);
}


// Labels and context labels: plain keys (no '='), printable values.
CertResult<void> check_label_map(const std::map<std::string, std::string>& labels,
                                 const char* what, const std::string& who) {
  const auto bad = [&](std::string m) { return cert_fail(CertError::Malformed, who + ": " + m); };
  if (labels.size() > kMaxLabels)
    return bad("more than " + std::to_string(kMaxLabels) + " " + what + "s");
  for (const auto& [k, v] : labels) {
    if (!valid_name(k) || k.find('=') != std::string::npos)
      return bad(std::string(what) + " key " + quoted(k) + " is not a valid name");
    if (v.size() > kMaxLabelValueLength || !printable(v, true))
      return bad(std::string(what) + " " + quoted(k) +
                 " has a value that is not printable ASCII (max " +
                 std::to_string(kMaxLabelValueLength) + ")");
  }
  return {};
}

// The constraints on what may be said below a CA: groups, labels, kinds.
CertResult<void> check_scope_constraints(const CaConstraints& c, const std::string& who) {
  const auto bad = [&](std::string m) { return cert_fail(CertError::Malformed, who + ": " + m); };
  if (c.allowed_groups) {
    if (c.allowed_groups->size() > kMaxGroups)
      return bad("more than " + std::to_string(kMaxGroups) + " allowed group patterns");
    for (const auto& g : *c.allowed_groups)
      if (!valid_name(g)) return bad("allowed group pattern " + quoted(g) + " is not a valid name");
  }
  if (c.allowed_labels) {
    if (c.allowed_labels->size() > kMaxLabels)
      return bad("more than " + std::to_string(kMaxLabels) + " allowed label patterns");
    for (const auto& p : *c.allowed_labels) {
      if (!valid_name(p.key) || p.key.find('=') != std::string::npos)
        return bad("allowed label key pattern " + quoted(p.key) + " is not a valid name");
      if (p.values.size() > kMaxLabelPatternValues)
        return bad("allowed label " + quoted(p.key) + " has more than " +
                   std::to_string(kMaxLabelPatternValues) + " value patterns");
      for (const auto& v : p.values)
        if (v.size() > kMaxLabelValueLength || !printable(v, true))
          return bad("allowed label " + quoted(p.key) + " has a value pattern that is not "
                     "printable ASCII");
    }
  }
  for (Kind k : c.allowed_kinds)
    if (k == Kind::Ca || !parse_kind(kind_name(k)))
      return bad("allowed kinds may name only node, workload, gateway and user");
  if (!c.node.empty() && !valid_name(c.node))
    return bad("bound node " + quoted(c.node) + " is not a valid name");
  if (c.subject_pattern.size() > kMaxNameLength || !printable(c.subject_pattern, false))
    return bad("subject pattern must be printable ASCII without spaces");
  return {};
}

}  // namespace

std::string_view kind_name(Kind k) noexcept {
  switch (k) {
    case Kind::Ca: return "ca";
    case Kind::Node: return "node";
    case Kind::Workload: return "workload";
    case Kind::Gateway: return "gateway";
    case Kind::User: return "user";
  }
  return "unknown";
}

std::optional<Kind> parse_kind(std::string_view name) noexcept {
  for (Kind k : {Kind::Ca, Kind::Node, Kind::Workload, Kind::Gateway, Kind::User})
    if (kind_name(k) == name) return k;
  return std::nullopt;
}

Fingerprint sha256(ByteSpan bytes) noexcept {
  Fingerprint out{};
  crypto_hash_sha256(out.data(), bytes.data(), bytes.size());
  return out;
}

std::optional<Fingerprint> parse_fingerprint(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  auto bytes = from_hex(hex);
  if (!bytes || bytes->size() != 32) return std::nullopt;
  Fingerprint fp{};
  std::copy(bytes->begin(), bytes->end(), fp.begin());
  return fp;
}

std::string short_hex(const Fingerprint& fp) { return to_hex(ByteSpan(fp).first(8)); }

bool valid_name(std::string_view s) noexcept {
  return !s.empty() && s.size() <= kMaxNameLength && printable(s, false);
}

bool valid_subject(std::string_view s) noexcept {
  const auto at = s.find('@');
  return valid_name(s) && at != std::string_view::npos && at > 0 && at + 1 < s.size() &&
         s.find('@', at + 1) == std::string_view::npos;
}

bool glob_match(std::string_view pattern, std::string_view text) noexcept {
  // Classic two-pointer match with one backtrack point: O(|pattern| * |text|) worst case.
  std::size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool prefix_within(const IpPrefix& inner, const IpPrefix& outer) noexcept {
  return inner.address.family == outer.address.family && inner.length >= outer.length &&
         outer.contains(inner.address);
}

CertResult<void> check_fields(const CertificateFields& f) {
  const std::string who = "certificate " + quoted(f.name);
  const auto bad = [&](std::string what) {
    return cert_fail(CertError::Malformed, who + ": " + what);
  };
  if (!valid_name(f.name))
    return bad("name must be 1-" + std::to_string(kMaxNameLength) +
               " printable ASCII characters without spaces");
  if (!parse_kind(kind_name(f.kind))) return bad("unknown kind");
  if (sodium_is_zero(f.public_key.data(), f.public_key.size()))
    return bad("public key is all zeros");
  if (f.networks.size() > kMaxNetworks)
    return bad("more than " + std::to_string(kMaxNetworks) + " networks");
  for (const auto& n : f.networks) {
    if ((n.address.family != 2 && n.address.family != 10) || n.length > n.address.size() * 8)
      return bad("network is not a valid prefix");
    if (n.network() != n) return bad("network " + n.to_string() + " has host bits set");
  }
  if (f.groups.size() > kMaxGroups) return bad("more than " + std::to_string(kMaxGroups) + " groups");
  for (const auto& g : f.groups)
    if (!valid_name(g)) return bad("group " + quoted(g) + " is not a valid name");
  if (auto r = check_label_map(f.labels, "label", who); !r) return r;
  if (auto r = check_label_map(f.context, "context label", who); !r) return r;
  if (f.kind != Kind::Ca && !f.context.empty())
    return bad("only a CA certificate may assert context labels");
  if (f.not_before < 0 || f.not_after > kMaxTime)
    return bad("validity must lie between 1970 and 9999");
  if (f.not_before >= f.not_after) return bad("not_before must be earlier than not_after");
  if (f.kind == Kind::User) {
    if (!valid_subject(f.subject))
      return bad("a user certificate needs an email-like subject (alice@example.com), got " +
                 quoted(f.subject));
    if (f.not_after - f.not_before > kMaxUserLifetimeSeconds)
      return bad("a user certificate lives at most " +
                 std::to_string(kMaxUserLifetimeSeconds / 3600) + "h");
  } else if (!f.subject.empty()) {
    return bad("only a user certificate carries a subject");
  }
  if (f.kind == Kind::Ca) {
    if (f.constraints) {
      const auto& c = *f.constraints;
      if (c.allowed_networks.size() > kMaxNetworks)
        return bad("more than " + std::to_string(kMaxNetworks) + " allowed networks");
      for (const auto& n : c.allowed_networks) {
        if ((n.address.family != 2 && n.address.family != 10) ||
            n.length > n.address.size() * 8)
          return bad("allowed network is not a valid prefix");
        if (n.network() != n)
          return bad("allowed network " + n.to_string() + " has host bits set");
      }
      if (c.name_pattern.size() > kMaxNameLength || !printable(c.name_pattern, false))
        return bad("name pattern must be printable ASCII without spaces");
      if (c.max_lifetime_seconds < 0) return bad("max lifetime must not be negative");
      if (auto r = check_scope_constraints(c, who); !r) return r;
    }
  } else if (f.constraints) {
    return bad("only a CA certificate may carry CA constraints");
  }
  return {};
}

const CaConstraints& Certificate::constraints() const noexcept {
  static const CaConstraints kNone{};
  return fields_.constraints ? *fields_.constraints : kNone;
}

std::string Certificate::fingerprint_hex() const { return to_hex(fingerprint_); }
std::string Certificate::short_fingerprint() const { return short_hex(fingerprint_); }
std::string Certificate::describe() const {
  return "certificate " + quoted(fields_.name) + " (" + short_fingerprint() + ")";
}

namespace {

// Verified (certificate, issuer key) pairs. An Ed25519 verification costs ~85 us, and a
// remote's chain arrives in every handshake it makes: one per path (a workload meeting a
// node's hundred workloads) and one per rekey, every two minutes. The fingerprint is the
// SHA-256 of the certificate's bytes, which parse() splits into body and signature, so one
// (fingerprint, key) pair always verifies the same way: remembering successes changes no
// outcome. Only successes are kept, so a forgery costs its full verification every time;
// the table is fixed (a slot per fingerprint prefix, newest wins), per thread (no lock), and
// allocated zeroed on first use (its pages are touched only as slots fill).
struct VerifiedPair {
  Fingerprint cert;
  crypto::Key issuer;
  bool filled;
};
constexpr std::size_t kVerifiedSlots = 4096;  // 264 KiB at most, per verifying thread

struct VerifiedTable {
  VerifiedTable()
      : slots(static_cast<VerifiedPair*>(std::calloc(kVerifiedSlots, sizeof(VerifiedPair)))) {}
  ~VerifiedTable() { std::free(slots); }
  VerifiedTable(const VerifiedTable&) = delete;
  VerifiedTable& operator=(const VerifiedTable&) = delete;
  VerifiedPair* slot(const Fingerprint& fp) const noexcept {
    if (slots == nullptr) return nullptr;  // no memory: verify every time
    std::uint32_t i = 0;
    std::memcpy(&i, fp.data(), sizeof i);
    return &slots[i % kVerifiedSlots];
  }
  VerifiedPair* slots;
};

VerifiedTable& verified_table() {
  thread_local VerifiedTable table;
  return table;
}

}  // namespace

bool Certificate::signature_valid_for(const crypto::Key& issuer_key) const noexcept {
  VerifiedPair* seen = verified_table().slot(fingerprint_);
  if (seen != nullptr && seen->filled && seen->cert == fingerprint_ && seen->issuer == issuer_key)
    return true;
  if (crypto_sign_verify_detached(signature_.data(), body_.data(), body_.size(),
                                  issuer_key.data()) != 0)
    return false;
  if (seen != nullptr) *seen = {fingerprint_, issuer_key, true};
  return true;
}

CertResult<Certificate> Certificate::parse(ByteSpan bytes) {
  if (bytes.size() > kMaxCertificateSize)
    return cert_fail(CertError::Malformed, "certificate larger than " +
                                               std::to_string(kMaxCertificateSize) + " bytes");
  proto::Certificate outer;
  if (!outer.ParseFromArray(bytes.data(), int(bytes.size())))
    return cert_fail(CertError::Malformed, "not a keymesh certificate (does not parse)");
  if (outer.signature().size() != crypto_sign_BYTES)
    return cert_fail(CertError::Malformed, "certificate signature is not 64 bytes");
  if (!canonical_pair(bytes, outer.body(), outer.signature()))
    return cert_fail(CertError::Malformed, "certificate is not canonically encoded");

  PbBody body;
  if (!body.ParseFromString(outer.body()))
    return cert_fail(CertError::Malformed, "certificate body does not parse");
  const std::string who = "certificate " + quoted(body.name());
  const auto bad = [&](std::string what) {
    return cert_fail(CertError::Malformed, who + ": " + what);
  };
  if (has_unknown_fields(body))
    return bad("body has fields unknown to version " + std::to_string(kCertificateVersion));
  if (body.version() != kCertificateVersion)
    return bad("unsupported version " + std::to_string(body.version()));
  if (body.kind() < PbBody::CA || body.kind() > PbBody::USER) return bad("unknown kind");

  Certificate cert;
  CertificateFields& f = cert.fields_;
  f.name = body.name();
  f.kind = Kind(body.kind());
  if (body.public_key().size() != 32) return bad("public key is not 32 bytes");
  std::copy(body.public_key().begin(), body.public_key().end(), f.public_key.begin());
  if (body.networks_size() > int(kMaxNetworks))
    return bad("more than " + std::to_string(kMaxNetworks) + " networks");
  for (const auto& n : body.networks()) {
    auto p = parse_network(n, who, "network");
    if (!p) return std::unexpected(p.error());
    f.networks.push_back(*p);
  }
  if (body.groups_size() > int(kMaxGroups))
    return bad("more than " + std::to_string(kMaxGroups) + " groups");
  f.groups.assign(body.groups().begin(), body.groups().end());
  if (body.labels_size() > int(kMaxLabels))
    return bad("more than " + std::to_string(kMaxLabels) + " labels");
  for (const auto& label : body.labels())
    if (!f.labels.emplace(label.key(), label.value()).second)
      return bad("label " + quoted(label.key()) + " appears twice");
  f.not_before = body.not_before();
  f.not_after = body.not_after();
  f.subject = body.subject();
  if (!body.issuer_fingerprint().empty()) {
    if (body.issuer_fingerprint().size() != 32) return bad("issuer fingerprint is not 32 bytes");
    Fingerprint fp{};
    std::copy(body.issuer_fingerprint().begin(), body.issuer_fingerprint().end(), fp.begin());
    f.issuer = fp;
  }
  if (body.has_constraints()) {
    CaConstraints c;
    const auto& pc = body.constraints();
    if (pc.allowed_networks_size() > int(kMaxNetworks))
      return bad("more than " + std::to_string(kMaxNetworks) + " allowed networks");
    for (const auto& n : pc.allowed_networks()) {
      auto p = parse_network(n, who, "allowed network");
      if (!p) return std::unexpected(p.error());
      c.allowed_networks.push_back(*p);
    }
    c.name_pattern = pc.name_pattern();
    c.max_lifetime_seconds = pc.max_lifetime_seconds();
    c.may_sign_ca = pc.may_sign_ca();
    if (pc.has_allowed_groups()) {
      if (pc.allowed_groups().patterns_size() > int(kMaxGroups))
        return bad("more than " + std::to_string(kMaxGroups) + " allowed group patterns");
      c.allowed_groups.emplace(pc.allowed_groups().patterns().begin(),
                               pc.allowed_groups().patterns().end());
    }
    if (pc.has_allowed_labels()) {
      if (pc.allowed_labels().patterns_size() > int(kMaxLabels))
        return bad("more than " + std::to_string(kMaxLabels) + " allowed label patterns");
      c.allowed_labels.emplace();
      for (const auto& lp : pc.allowed_labels().patterns()) {
        if (lp.values_size() > int(kMaxLabelPatternValues))
          return bad("allowed label " + quoted(lp.key()) + " has more than " +
                     std::to_string(kMaxLabelPatternValues) + " value patterns");
        c.allowed_labels->push_back({lp.key(), {lp.values().begin(), lp.values().end()}});
      }
    }
    if (pc.allowed_kinds() & ~kKindBits) return bad("allowed kinds has unknown kind bits");
    for (Kind k : {Kind::Node, Kind::Workload, Kind::Gateway, Kind::User})
      if (pc.allowed_kinds() & kind_bit(k)) c.allowed_kinds.push_back(k);
    c.node = pc.node();
    c.subject_pattern = pc.subject_pattern();
    f.constraints = std::move(c);
  }
  if (body.context_size() > int(kMaxLabels))
    return bad("more than " + std::to_string(kMaxLabels) + " context labels");
  for (const auto& label : body.context())
    if (!f.context.emplace(label.key(), label.value()).second)
      return bad("context label " + quoted(label.key()) + " appears twice");
  if (auto r = check_fields(f); !r) return std::unexpected(r.error());
  if (f.kind == Kind::Ca && crypto_core_ed25519_is_valid_point(f.public_key.data()) != 1)
    return bad("CA public key is not a valid Ed25519 key");
  // A root names no issuer and so must be a CA signing itself.
  if (!f.issuer && f.kind != Kind::Ca) return bad("only a CA may be self-signed (no issuer)");

  cert.encoded_.assign(bytes.begin(), bytes.end());
  cert.body_.assign(outer.body().begin(), outer.body().end());
  std::copy(outer.signature().begin(), outer.signature().end(), cert.signature_.begin());
  cert.fingerprint_ = sha256(cert.encoded_);
  return cert;
}

CertResult<Certificate> sign_certificate(CertificateFields fields, const Certificate* issuer,
                                         const CaKey& key) {
  const std::string who = "certificate " + quoted(fields.name);
  if (issuer) {
    if (!issuer->is_ca())
      return cert_fail(CertError::NotSignedByCa,
                       who + ": issuer " + issuer->describe() + " is not a CA");
    if (!equal_ct(issuer->public_key(), key.public_key()))
      return cert_fail(CertError::KeyMismatch,
                       who + ": the signing key does not belong to issuer " + issuer->describe());
    fields.issuer = issuer->fingerprint();
  } else {
    fields.issuer.reset();
    if (fields.kind != Kind::Ca || !equal_ct(fields.public_key, key.public_key()))
      return cert_fail(CertError::KeyMismatch,
                       who + ": a self-signed certificate must be a CA with the signing key");
  }
  if (auto r = check_fields(fields); !r) return std::unexpected(r.error());

  PbBody body;
  body.set_version(kCertificateVersion);
  body.set_name(fields.name);
  body.set_kind(PbBody::Kind(fields.kind));
  body.set_public_key(fields.public_key.data(), fields.public_key.size());
  for (const auto& n : fields.networks) body.add_networks(n.to_string());
  for (const auto& g : fields.groups) body.add_groups(g);
  for (const auto& [k, v] : fields.labels) {
    auto* label = body.add_labels();
    label->set_key(k);
    label->set_value(v);
  }
  body.set_not_before(fields.not_before);
  body.set_not_after(fields.not_after);
  if (fields.issuer) body.set_issuer_fingerprint(fields.issuer->data(), fields.issuer->size());
  if (fields.constraints) {
    auto* c = body.mutable_constraints();
    for (const auto& n : fields.constraints->allowed_networks)
      c->add_allowed_networks(n.to_string());
    c->set_name_pattern(fields.constraints->name_pattern);
    c->set_max_lifetime_seconds(fields.constraints->max_lifetime_seconds);
    c->set_may_sign_ca(fields.constraints->may_sign_ca);
    if (const auto& groups = fields.constraints->allowed_groups) {
      auto* g = c->mutable_allowed_groups();
      for (const auto& pattern : *groups) g->add_patterns(pattern);
    }
    if (const auto& labels = fields.constraints->allowed_labels) {
      auto* l = c->mutable_allowed_labels();
      for (const auto& pattern : *labels) {
        auto* lp = l->add_patterns();
        lp->set_key(pattern.key);
        for (const auto& v : pattern.values) lp->add_values(v);
      }
    }
    std::uint32_t kinds = 0;
    for (Kind k : fields.constraints->allowed_kinds) kinds |= kind_bit(k);
    c->set_allowed_kinds(kinds);
    c->set_node(fields.constraints->node);
    c->set_subject_pattern(fields.constraints->subject_pattern);
  }
  for (const auto& [k, v] : fields.context) {
    auto* label = body.add_context();
    label->set_key(k);
    label->set_value(v);
  }
  body.set_subject(fields.subject);
  // Serialized once; these bytes are what is signed and stored from now on.
  const std::string body_bytes = body.SerializeAsString();
  const Signature sig = key.sign(ByteSpan(
      reinterpret_cast<const std::uint8_t*>(body_bytes.data()), body_bytes.size()));
  proto::Certificate outer;
  outer.set_body(body_bytes);
  outer.set_signature(sig.data(), sig.size());
  const std::string encoded = outer.SerializeAsString();
  return Certificate::parse(
      ByteSpan(reinterpret_cast<const std::uint8_t*>(encoded.data()), encoded.size()));
}

std::string format_utc(std::int64_t t) {
  const std::time_t tt = std::time_t(t);
  std::tm tm{};
  if (!::gmtime_r(&tt, &tm)) return std::to_string(t);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace keymesh::identity
