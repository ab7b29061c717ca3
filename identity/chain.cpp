#include "identity/chain.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <ctime>

#include "cert.pb.h"

namespace keymesh::identity {

namespace {

using Path = std::vector<const Certificate*>;


std::string seconds_text(std::int64_t s) {
  if (s % 3600 == 0) return std::to_string(s / 3600) + "h";
  if (s % 60 == 0) return std::to_string(s / 60) + "m";
  return std::to_string(s) + "s";
}

std::string join(const std::vector<IpPrefix>& nets) {
  std::string out;
  for (const auto& n : nets) out += (out.empty() ? "" : ", ") + n.to_string();
  return out;
}

std::int64_t unix_seconds(WallTime t) {
  const auto s = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  return std::clamp<std::int64_t>(s, -2 * kMaxTime, 2 * kMaxTime);
}

std::int64_t skew_seconds(std::chrono::seconds skew) {
  return std::clamp<std::int64_t>(skew.count(), 0, kMaxTime);
}

// Issuer kind, CA permission and signature of one link (subject issued by issuer).
CertResult<void> check_link(const Certificate& subject, const Certificate& issuer) {
  if (!issuer.is_ca())
    return cert_fail(CertError::NotSignedByCa,
                     subject.describe() + ": issuer " + issuer.describe() + " is a " +
                         std::string(kind_name(issuer.kind())) + ", not a CA");
  if (!subject.signature_valid_for(issuer.public_key()))
    return cert_fail(CertError::ForgedSignature,
                     subject.describe() + ": signature does not verify with the key of issuer " +
                         issuer.describe());
  if (subject.is_ca() && !issuer.constraints().may_sign_ca)
    return cert_fail(CertError::CaSigningNotAllowed,
                     subject.describe() + " is a CA, but its issuer " + issuer.describe() +
                         " may not sign CA certificates (may_sign_ca is false)");
  return {};
}

std::string join_names(const std::vector<std::string>& items, const char* sep = ", ") {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::string describe_patterns(const std::vector<LabelPattern>& patterns) {
  std::vector<std::string> out;
  for (const auto& p : patterns)
    out.push_back(p.key + "=" + (p.values.empty() ? "*" : join_names(p.values, "|")));
  return out.empty() ? "none" : join_names(out);
}

// `CA node-a`: the CA named in a scope refusal, as operators name their node CAs.
std::string ca_text(const Certificate& ca) { return "CA " + ca.name(); }

// Groups, labels and kind of `subject` against what `ca` allows (issue 15, section 2), and
// `subject`'s context labels against the ones `ca` asserts.
CertResult<void> check_scope(const Certificate& subject, const Certificate& ca) {
  const CaConstraints& c = ca.constraints();
  const auto& f = subject.fields();
  if (c.allowed_groups)
    for (const auto& g : f.groups)
      if (std::none_of(c.allowed_groups->begin(), c.allowed_groups->end(),
                       [&](const std::string& p) { return glob_match(p, g); }))
        return cert_fail(CertError::GroupOutsideConstraint,
                         subject.describe() + ": group " + g + " not allowed by " + ca_text(ca) +
                             " (groups: " +
                             (c.allowed_groups->empty() ? "none" : join_names(*c.allowed_groups)) +
                             ")");
  if (c.allowed_labels)
    for (const auto& [k, v] : f.labels) {
      const bool ok = std::any_of(
          c.allowed_labels->begin(), c.allowed_labels->end(), [&](const LabelPattern& p) {
            return glob_match(p.key, k) &&
                   (p.values.empty() ||
                    std::any_of(p.values.begin(), p.values.end(),
                                [&](const std::string& vp) { return glob_match(vp, v); }));
          });
      if (!ok)
        return cert_fail(CertError::LabelOutsideConstraint,
                         subject.describe() + ": label " + k + "=" + v + " not allowed by " +
                             ca_text(ca) + " (labels: " + describe_patterns(*c.allowed_labels) +
                             ")");
    }
  if (!subject.is_ca() && !c.allowed_kinds.empty() &&
      std::find(c.allowed_kinds.begin(), c.allowed_kinds.end(), subject.kind()) ==
          c.allowed_kinds.end()) {
    std::vector<std::string> kinds;
    for (Kind k : c.allowed_kinds) kinds.emplace_back(kind_name(k));
    return cert_fail(CertError::KindOutsideConstraint,
                     subject.describe() + ": kind " + std::string(kind_name(subject.kind())) +
                         " not allowed by " + ca_text(ca) + " (kinds: " + join_names(kinds) + ")");
  }
  if (!c.subject_pattern.empty() && subject.kind() == Kind::User &&
      !glob_match(c.subject_pattern, f.subject))
    return cert_fail(CertError::SubjectOutsidePattern,
                     subject.describe() + ": subject " + f.subject + " does not match the "
                     "subject pattern \"" + c.subject_pattern + "\" of " + ca_text(ca));
  if (!c.node.empty() && subject.kind() == Kind::Node && subject.name() != c.node)
    return cert_fail(CertError::NodeBindingViolated,
                     subject.describe() + ": a node certificate below " + ca_text(ca) +
                         ", which is bound to node " + c.node + " only");
  if (!c.node.empty() && subject.is_ca() && subject.constraints().node != c.node)
    return cert_fail(CertError::NodeBindingViolated,
                     subject.describe() + ": a CA below " + ca_text(ca) +
                         ", which is bound to node " + c.node + ", must be bound to it too");
  for (const auto& [k, v] : f.context)
    if (const auto it = ca.fields().context.find(k);
        it != ca.fields().context.end() && it->second != v)
      return cert_fail(CertError::ContextConflict,
                       subject.describe() + ": context " + k + "=" + v + " conflicts with " + k +
                           "=" + it->second + " asserted by " + ca_text(ca));
  return {};
}

// A person's certificate comes only from an access CA: its direct issuer must name user in
// allowed_kinds. A CA that allows "any kind" (empty list, as every CA before users did) does
// not issue users, so no node CA can mint a person (docs/access.md).
CertResult<void> check_user_issuer(const Certificate& subject, const Certificate& issuer) {
  if (subject.kind() != Kind::User) return {};
  const auto& kinds = issuer.constraints().allowed_kinds;
  if (std::find(kinds.begin(), kinds.end(), Kind::User) != kinds.end()) return {};
  std::vector<std::string> names;
  for (Kind k : kinds) names.emplace_back(kind_name(k));
  return cert_fail(CertError::KindOutsideConstraint,
                   subject.describe() + ": kind user not allowed by " + ca_text(issuer) +
                       " (kinds: " + (names.empty() ? "any but user" : join_names(names)) +
                       "; a user certificate needs an access CA, whose allowed kinds name user)");
}

// What `ca` allows for anything below it on the path (its own constraints only).
CertResult<void> check_constraints(const Certificate& subject, const Certificate& ca) {
  const CaConstraints& c = ca.constraints();
  if (!c.allowed_networks.empty()) {
    const auto inside = [&](const IpPrefix& n) {
      return std::any_of(c.allowed_networks.begin(), c.allowed_networks.end(),
                         [&](const IpPrefix& a) { return prefix_within(n, a); });
    };
    std::vector<IpPrefix> own = subject.fields().networks;
    if (subject.is_ca())
      own.insert(own.end(), subject.constraints().allowed_networks.begin(),
                 subject.constraints().allowed_networks.end());
    for (const auto& n : own)
      if (!inside(n))
        return cert_fail(CertError::NetworkOutsideConstraint,
                         subject.describe() + ": network " + n.to_string() +
                             " is outside the allowed networks of " + ca.describe() + " (" +
                             join(c.allowed_networks) + ")");
  }
  if (!subject.is_ca() && !c.name_pattern.empty() && !glob_match(c.name_pattern, subject.name()))
    return cert_fail(CertError::NameOutsidePattern,
                     subject.describe() + ": name does not match the pattern \"" +
                         c.name_pattern + "\" of " + ca.describe());
  if (auto r = check_scope(subject, ca); !r) return r;
  const auto& f = subject.fields();
  const std::int64_t lifetime = f.not_after - f.not_before;
  if (c.max_lifetime_seconds > 0 && lifetime > c.max_lifetime_seconds)
    return cert_fail(CertError::LifetimeExceedsIssuer,
                     subject.describe() + ": lifetime " + seconds_text(lifetime) +
                         " exceeds the maximum " + seconds_text(c.max_lifetime_seconds) +
                         " of " + ca.describe());
  if (f.not_after > ca.fields().not_after)
    return cert_fail(CertError::LifetimeExceedsIssuer,
                     subject.describe() + ": valid until " + format_utc(f.not_after) +
                         ", after its issuing " + ca.describe() + " expires (" +
                         format_utc(ca.fields().not_after) + ")");
  return {};
}

CertResult<Path> build_path(const TrustStore& store, std::span<const Certificate> chain) {
  if (chain.empty()) return cert_fail(CertError::Malformed, "empty certificate chain");
  if (chain.size() > kMaxChainLength)
    return cert_fail(CertError::ChainTooLong, "chain of " + std::to_string(chain.size()) +
                                                  " certificates (at most " +
                                                  std::to_string(kMaxChainLength) + ")");
  Path path;
  for (const auto& c : chain) path.push_back(&c);
  const Certificate& last = chain.back();
  if (last.is_self_signed()) {
    const Certificate* root = store.find_root(last.fingerprint());
    if (!root)
      return cert_fail(CertError::UnknownRoot,
                       last.describe() + " is a self-signed root that is not trusted");
    path.back() = root;
  } else {
    const Certificate* root = store.find_root(*last.fields().issuer);
    if (!root)
      return cert_fail(CertError::UnknownRoot,
                       last.describe() + ": its issuer " + short_hex(*last.fields().issuer) +
                           " is not a trusted root (and not in the chain)");
    path.push_back(root);
    if (path.size() > kMaxChainLength)
      return cert_fail(CertError::ChainTooLong, "chain of " + std::to_string(path.size()) +
                                                    " certificates with its root (at most " +
                                                    std::to_string(kMaxChainLength) + ")");
  }
  for (std::size_t i = 0; i + 1 < path.size(); ++i) {
    const Certificate& c = *path[i];
    if (c.is_self_signed())
      return cert_fail(CertError::IssuerMismatch,
                       c.describe() + " is self-signed but is not the last in the chain");
    if (*c.fields().issuer != path[i + 1]->fingerprint())
      return cert_fail(CertError::IssuerMismatch,
                       c.describe() + " names issuer " + short_hex(*c.fields().issuer) +
                           ", but the next certificate is " + path[i + 1]->describe());
  }
  return path;
}

CertResult<Path> verify_path(const TrustStore& store, std::span<const Certificate> chain,
                             WallTime now, std::chrono::seconds skew) {
  auto path = build_path(store, chain);
  if (!path) return path;
  const Path& p = *path;
  std::array<Fingerprint, kMaxChainLength> fps{};
  for (std::size_t i = 0; i < p.size(); ++i) fps[i] = p[i]->fingerprint();
  const std::span<const Fingerprint> fp_path(fps.data(), p.size());
  // Root down, so the first problem reported is the one highest up the chain.
  for (std::size_t i = p.size(); i-- > 0;) {
    const Certificate& c = *p[i];
    if (store.revocation_lists().revokes(fp_path, i))  // only lists of CAs above it count
      return cert_fail(CertError::Revoked, c.describe() + " is revoked");
    if (i + 1 < p.size())
      if (auto r = check_link(c, *p[i + 1]); !r) return std::unexpected(r.error());
    if (auto r = check_validity(c, now, skew); !r) return std::unexpected(r.error());
  }
  for (std::size_t j = p.size(); j-- > 1;)
    for (std::size_t i = j; i-- > 0;)
      if (auto r = check_constraints(*p[i], *p[j]); !r) return std::unexpected(r.error());
  if (p.size() > 1)
    if (auto r = check_user_issuer(*p[0], *p[1]); !r) return std::unexpected(r.error());
  return path;
}

}  // namespace

CertResult<Chain> parse_chain(ByteSpan bytes) {
  if (bytes.size() > kMaxChainSize)
    return cert_fail(CertError::ChainTooLong, "certificate chain larger than " +
                                                  std::to_string(kMaxChainSize) + " bytes");
  proto::CertificateChainBytes raw;
  if (!raw.ParseFromArray(bytes.data(), int(bytes.size())))
    return cert_fail(CertError::Malformed, "certificate chain does not parse");
  if (raw.certificates_size() == 0)
    return cert_fail(CertError::Malformed, "empty certificate chain");
  if (raw.certificates_size() > int(kMaxChainLength))
    return cert_fail(CertError::ChainTooLong,
                     "chain of " + std::to_string(raw.certificates_size()) +
                         " certificates (at most " + std::to_string(kMaxChainLength) + ")");
  Chain chain;
  for (const auto& c : raw.certificates()) {
    auto cert = Certificate::parse(
        ByteSpan(reinterpret_cast<const std::uint8_t*>(c.data()), c.size()));
    if (!cert) return std::unexpected(cert.error());
    chain.push_back(std::move(*cert));
  }
  return chain;
}

Bytes serialize_chain(std::span<const Certificate> chain) {
  proto::CertificateChainBytes raw;
  for (const auto& c : chain) raw.add_certificates(c.encoded().data(), c.encoded().size());
  const std::string s = raw.SerializeAsString();
  return Bytes(s.begin(), s.end());
}

CertResult<void> check_issued_by(const Certificate& subject, const Certificate& issuer) {
  if (subject.is_self_signed() || *subject.fields().issuer != issuer.fingerprint())
    return cert_fail(CertError::IssuerMismatch,
                     subject.describe() + " was not issued by " + issuer.describe());
  if (auto r = check_link(subject, issuer); !r) return r;
  if (auto r = check_user_issuer(subject, issuer); !r) return r;
  return check_constraints(subject, issuer);
}

CertResult<void> check_validity(const Certificate& cert, WallTime now,
                                std::chrono::seconds skew) {
  const std::int64_t t = unix_seconds(now), s = skew_seconds(skew);
  const auto& f = cert.fields();
  if (t + s < f.not_before)
    return cert_fail(CertError::NotYetValid,
                     cert.describe() + " is not valid before " + format_utc(f.not_before) + " (now " +
                         format_utc(t) + ", allowed clock skew " + std::to_string(s) + "s)");
  if (t - s > f.not_after)
    return cert_fail(CertError::Expired, cert.describe() + " expired at " + format_utc(f.not_after) +
                                             " (now " + format_utc(t) + ", allowed clock skew " +
                                             std::to_string(s) + "s)");
  return {};
}

CertResult<void> check_static_key(const ValidatedIdentity& identity,
                                  const crypto::Key& handshake_static_key) {
  if (sodium_memcmp(identity.public_key.data(), handshake_static_key.data(),
                    handshake_static_key.size()) != 0)
    return cert_fail(CertError::KeyMismatch,
                     "certificate \"" + identity.name + "\" (" +
                         identity.fingerprint.substr(0, 16) +
                         "): the handshake's static key is not the certificate's public key");
  return {};
}

// ---- TrustStore ----

CertResult<void> TrustStore::add_root(const Certificate& root) {
  if (!root.is_ca())
    return cert_fail(CertError::NotSignedByCa, root.describe() + " is not a CA: cannot be a root");
  if (!root.is_self_signed())
    return cert_fail(CertError::IssuerMismatch,
                     root.describe() + " is not self-signed: only roots can be trusted");
  if (!root.signature_valid_for(root.public_key()))
    return cert_fail(CertError::ForgedSignature,
                     root.describe() + ": self-signature does not verify");
  roots_.insert_or_assign(root.fingerprint(), root);
  return {};
}

bool TrustStore::remove_root(const Fingerprint& root) {
  revocations_.erase(root);
  return roots_.erase(root) > 0;
}

const Certificate* TrustStore::find_root(const Fingerprint& fp) const noexcept {
  const auto it = roots_.find(fp);
  return it == roots_.end() ? nullptr : &it->second;
}

CertResult<void> TrustStore::set_revocation_list(const RevocationList& list) {
  if (!list.issuer_chain().empty())
    return cert_fail(CertError::BadRevocationList,
                     "revocation list of CA " + short_hex(list.issuer()) +
                         ": a list not signed by a root needs the time to check its chain");
  const Certificate* root = find_root(list.issuer());
  if (!root)
    return cert_fail(CertError::UnknownRoot, "revocation list issued by " +
                                                 short_hex(list.issuer()) +
                                                 ", which is not a trusted root");
  if (auto r = verify_revocation_list(list, *root); !r) return r;
  return revocations_.put(list, root->describe());
}

CertResult<void> TrustStore::set_revocation_list(const RevocationList& list, WallTime now) {
  if (list.issuer_chain().empty()) return set_revocation_list(list);
  auto chain = parse_chain(list.issuer_chain());
  if (!chain) return std::unexpected(chain.error());
  if (chain->front().fingerprint() != list.issuer())
    return cert_fail(CertError::BadRevocationList,
                     "revocation list of " + short_hex(list.issuer()) + " carries the chain of " +
                         chain->front().describe());
  // The issuer must stand under a trusted root now (valid, unrevoked, within constraints).
  auto path = verify_chain(*chain, now);
  if (!path) return std::unexpected(path.error());
  const Certificate& issuer = path->front();
  if (!issuer.is_ca())
    return cert_fail(CertError::NotSignedByCa,
                     "revocation list signed by " + issuer.describe() + ", which is not a CA");
  if (auto r = verify_revocation_list(list, issuer); !r) return r;
  return revocations_.put(list, issuer.describe());
}

bool TrustStore::is_revoked(const Fingerprint& fp) const noexcept {
  return revocations_.listed(fp);
}

CertResult<Chain> TrustStore::verify_chain(std::span<const Certificate> chain, WallTime now,
                                           std::chrono::seconds skew) const {
  auto path = verify_path(*this, chain, now, skew);
  if (!path) return std::unexpected(path.error());
  Chain out;
  for (const Certificate* c : *path) out.push_back(*c);
  return out;
}

CertResult<ValidatedIdentity> TrustStore::validate(std::span<const Certificate> chain,
                                                   WallTime now,
                                                   std::chrono::seconds skew) const {
  auto path = verify_path(*this, chain, now, skew);
  if (!path) return std::unexpected(path.error());
  const Certificate& leaf = *path->front();
  if (leaf.is_ca())
    return cert_fail(CertError::NotAnIdentity,
                     leaf.describe() +
                         " is a CA: it cannot identify a node, workload, gateway or user");
  const auto& f = leaf.fields();
  ValidatedIdentity id;
  id.name = f.name;
  id.kind = f.kind;
  id.public_key = f.public_key;
  id.networks = f.networks;
  id.groups = f.groups;
  id.labels = f.labels;
  id.not_before = f.not_before;
  id.not_after = f.not_after;
  id.subject = f.subject;
  id.fingerprint = leaf.fingerprint_hex();
  for (const Certificate* c : *path) id.chain_fingerprints.push_back(c->fingerprint());
  // Root first, so a key is set by the highest CA that asserts it (rule 5 makes them agree).
  for (auto it = path->rbegin(); it != path->rend(); ++it)
    id.context.insert((*it)->fields().context.begin(), (*it)->fields().context.end());
  const Certificate& issuer = *(*path)[1];
  id.issuer_name = issuer.name();
  id.issuer_fingerprint = issuer.fingerprint_hex();
  return id;
}

CertResult<ValidatedIdentity> TrustStore::validate(ByteSpan chain_bytes, WallTime now,
                                                   std::chrono::seconds skew) const {
  auto chain = parse_chain(chain_bytes);
  if (!chain) return std::unexpected(chain.error());
  return validate(*chain, now, skew);
}

CertResult<void> TrustStore::recheck(const ValidatedIdentity& identity, WallTime now,
                                     std::chrono::seconds skew) const {
  const std::string who =
      "certificate \"" + identity.name + "\" (" + identity.fingerprint.substr(0, 16) + ")";
  if (identity.chain_fingerprints.empty() || !find_root(identity.chain_fingerprints.back()))
    return cert_fail(CertError::UnknownRoot, who + ": its root is no longer trusted");
  if (const auto i = revocations_.first_revoked(identity.chain_fingerprints)) {
    const Fingerprint& fp = identity.chain_fingerprints[*i];
    return cert_fail(CertError::Revoked,
                     *i == 0 ? who + " is revoked"
                             : who + ": issuer " + short_hex(fp) + " on its chain is revoked");
  }
  if (unix_seconds(now) - skew_seconds(skew) > identity.not_after)
    return cert_fail(CertError::Expired, who + " expired at " + format_utc(identity.not_after));
  return {};
}

}  // namespace keymesh::identity
