// keymesh cert sign | show | verify: issue certificates from a CA, read them, and check a
// chain the way keymeshd does in the handshake (same TrustStore::verify_chain).

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <memory>

#include "common/bytes.h"
#include "crypto/primitives.h"
#include "identity/ca_key.h"
#include "identity/cert_file.h"
#include "identity/chain.h"
#include "identity/files.h"
#include "identity/revocation.h"
#include "tools/commands.h"
#include "tools/identity_cli.h"

namespace keymesh::tools {

namespace {

struct SignOptions {
  std::string ca, ca_key, kind, name;
  std::vector<std::string> networks, groups, labels;
  std::string lifetime = "24h";
  std::string public_key, key_out;
  std::vector<std::string> allowed_networks;
  std::string name_pattern, max_lifetime;
  bool may_sign_ca = false;
  std::string node;  // --node: the one node a node CA is for
  std::string subject, subject_pattern;  // --subject (user), --subject-pattern (CA)
  std::vector<std::string> allow_groups, allow_labels, allow_kinds, context;
  bool has_allow_groups = false, has_allow_labels = false;  // given, even if empty
  std::string out;
  bool force = false;
};

Result<std::vector<IpPrefix>> parse_networks(const std::vector<std::string>& items,
                                             const char* option) {
  std::vector<IpPrefix> out;
  for (const auto& s : items) {
    auto p = IpPrefix::parse(s);
    if (!p) return fail(std::string(option) + " \"" + s + "\" is not a CIDR (10.1.0.0/24)");
    if (p->network() != *p)
      return fail(std::string(option) + " \"" + s + "\" has host bits set (write " +
                  p->network().to_string() + ")");
    out.push_back(*p);
  }
  return out;
}

// --allow-groups, --allow-labels, --allow-kinds: what the new CA may put below it.
Result<void> parse_scope(const SignOptions& o, identity::CaConstraints& c) {
  if (o.has_allow_groups) {
    c.allowed_groups.emplace();
    for (const auto& g : o.allow_groups)
      if (!g.empty()) c.allowed_groups->push_back(g);
  }
  if (o.has_allow_labels) {
    c.allowed_labels.emplace();
    for (const auto& item : o.allow_labels) {
      if (item.empty()) continue;
      // key (any value) or key=v1|v2 (globs)
      identity::LabelPattern p;
      const auto eq = item.find('=');
      p.key = item.substr(0, eq);
      if (p.key.empty()) return fail("--allow-labels \"" + item + "\" has no key");
      if (eq != std::string::npos) {
        const std::string values = item.substr(eq + 1);
        std::size_t start = 0;
        while (start <= values.size()) {
          const auto bar = values.find('|', start);
          p.values.push_back(values.substr(start, bar - start));
          if (bar == std::string::npos) break;
          start = bar + 1;
        }
      }
      c.allowed_labels->push_back(std::move(p));
    }
  }
  for (const auto& k : o.allow_kinds) {
    const auto kind = identity::parse_kind(k);
    if (!kind || *kind == identity::Kind::Ca)
      return fail("--allow-kinds \"" + k + "\" is not node, workload, gateway or user (sub-CAs: "
                  "--may-sign-ca)");
    if (std::find(c.allowed_kinds.begin(), c.allowed_kinds.end(), *kind) == c.allowed_kinds.end())
      c.allowed_kinds.push_back(*kind);
  }
  return {};
}

// The new certificate's key pair: given (--public-key) or generated and written now.
struct NewKey {
  crypto::Key public_key{};
  std::optional<identity::CaKey> ca_key;
  std::optional<crypto::SecretKey> x25519;
};

Result<NewKey> make_key(const SignOptions& o, bool is_ca) {
  NewKey k;
  if (!o.public_key.empty()) {
    if (!o.key_out.empty()) return fail("give either --public-key or --key-out, not both");
    auto bytes = from_base64(o.public_key);
    if (!bytes || bytes->size() != 32)
      return fail("--public-key must be 32 bytes of base64 (44 characters)");
    std::copy(bytes->begin(), bytes->end(), k.public_key.begin());
    return k;
  }
  if (o.key_out.empty())
    return fail("give --public-key (key held elsewhere) or --key-out FILE (generate one)");
  if (is_ca) {
    k.ca_key = identity::CaKey::generate();
    k.public_key = k.ca_key->public_key();
  } else {
    k.x25519.emplace();
    crypto::generate_private_key(*k.x25519);
    k.public_key = crypto::public_key(*k.x25519);
  }
  return k;
}

Result<void> write_new_key(const SignOptions& o, const NewKey& k) {
  if (k.ca_key) return identity::write_ca_key_file(o.key_out, *k.ca_key, o.force);
  if (!k.x25519) return {};
  return write_x25519_key(o.key_out, *k.x25519, o.force);
}

Result<void> cert_sign(const SignOptions& o) {
  const auto kind = identity::parse_kind(o.kind);
  if (!kind) return fail("--kind must be ca, node, workload, gateway or user");
  const bool is_ca = *kind == identity::Kind::Ca;
  if (!is_ca && (!o.allowed_networks.empty() || !o.name_pattern.empty() ||
                 !o.max_lifetime.empty() || o.may_sign_ca || o.has_allow_groups ||
                 o.has_allow_labels || !o.allow_kinds.empty() || !o.context.empty() ||
                 !o.node.empty() || !o.subject_pattern.empty()))
    return fail("--allowed-networks, --name-pattern, --max-lifetime, --may-sign-ca, "
                "--allow-groups, --allow-labels, --allow-kinds, --context, --node and "
                "--subject-pattern are for --kind ca only");
  if ((*kind == identity::Kind::User) != !o.subject.empty())
    return fail(*kind == identity::Kind::User
                    ? "--kind user needs --subject (the person's email-like name)"
                    : "--subject is for --kind user only");
  if (auto r = refuse_overwrite({o.out, o.key_out}, o.force); !r) return r;
  if (!o.key_out.empty() && o.key_out == o.out)
    return fail("--out and --key-out must be different files");

  auto signer = read_issuer(o.ca, o.ca_key, "issuing CA");
  if (!signer) return std::unexpected(signer.error());
  const identity::Certificate& issuer = signer->cert();
  const std::int64_t now = now_unix();

  identity::CertificateFields f;
  f.name = o.name;
  f.kind = *kind;
  auto nets = parse_networks(o.networks, "--networks");
  if (!nets) return std::unexpected(nets.error());
  f.networks = std::move(*nets);
  f.groups = o.groups;
  f.subject = o.subject;
  auto labels = parse_pairs(o.labels, "--labels");
  if (!labels) return std::unexpected(labels.error());
  f.labels = std::move(*labels);
  auto context = parse_pairs(o.context, "--context");
  if (!context) return std::unexpected(context.error());
  f.context = std::move(*context);
  auto lifetime = parse_duration(o.lifetime);
  if (!lifetime) return fail("--lifetime: " + lifetime.error().message);
  f.not_before = now;
  f.not_after = now + *lifetime;
  if (is_ca) {
    identity::CaConstraints c;
    auto allowed = parse_networks(o.allowed_networks, "--allowed-networks");
    if (!allowed) return std::unexpected(allowed.error());
    c.allowed_networks = std::move(*allowed);
    c.name_pattern = o.name_pattern;
    if (!o.max_lifetime.empty()) {
      auto max = parse_duration(o.max_lifetime);
      if (!max) return fail("--max-lifetime: " + max.error().message);
      c.max_lifetime_seconds = *max;
    }
    c.may_sign_ca = o.may_sign_ca;
    c.node = o.node;
    c.subject_pattern = o.subject_pattern;
    if (auto r = parse_scope(o, c); !r) return r;
    f.constraints = std::move(c);
  }

  auto key = make_key(o, is_ca);
  if (!key) return std::unexpected(key.error());
  f.public_key = key->public_key;
  auto cert = identity::sign_certificate(std::move(f), &issuer, signer->key);
  if (!cert) return fail(cert.error().message);
  // The issuer's own rules, checked before anything is written: a certificate the chain
  // would reject is never handed out.
  if (auto r = identity::check_issued_by(*cert, issuer); !r)
    return fail("refusing to sign: " + r.error().message);

  if (auto r = write_new_key(o, *key); !r) return r;
  const identity::Certificate certs[] = {*cert};
  if (auto r = identity::write_certificates_file(o.out, certs, o.force); !r) return r;
  std::cout << identity::kind_name(cert->kind()) << " \"" << cert->name() << "\" "
            << cert->fingerprint_hex() << "\nvalid until " << identity::format_utc(cert->fields().not_after)
            << " (" << format_duration(*lifetime) << ")\n";
  return {};
}

Result<void> cert_show(const std::string& file, bool json) {
  auto certs = identity::read_certificates_file(file);
  if (!certs) return std::unexpected(certs.error());
  const std::int64_t now = now_unix();
  if (json) {
    std::string out = certs->size() == 1 ? "" : "[";
    for (std::size_t i = 0; i < certs->size(); ++i)
      out += (i ? "," : "") + certificate_json((*certs)[i], now);
    std::cout << out << (certs->size() == 1 ? "" : "]") << "\n";
    return {};
  }
  for (std::size_t i = 0; i < certs->size(); ++i)
    std::cout << (i ? "\n" : "") << show_certificate((*certs)[i], now);
  return {};
}

struct VerifyOptions {
  std::string file;
  std::vector<std::string> chain, roots, crls;
  std::string at;
  std::string skew = "60s";
};

Result<void> cert_verify(const VerifyOptions& o) {
  auto chain = identity::read_certificates_file(o.file);
  if (!chain) return std::unexpected(chain.error());
  for (const auto& path : o.chain) {
    auto more = identity::read_certificates_file(path);
    if (!more) return std::unexpected(more.error());
    chain->insert(chain->end(), more->begin(), more->end());
  }
  identity::TrustStore store;
  for (const auto& path : o.roots) {
    auto roots = identity::read_certificates_file(path);
    if (!roots) return std::unexpected(roots.error());
    for (const auto& root : *roots)
      if (auto r = store.add_root(root); !r) return fail(path + ": " + r.error().message);
  }
  for (const auto& path : o.crls) {
    auto list = identity::read_revocation_list_file(path);
    if (!list) return std::unexpected(list.error());
    // A node CA's list carries its chain, checked at the current time.
    if (auto r = store.set_revocation_list(*list, std::chrono::system_clock::now()); !r)
      return fail(path + ": " + r.error().message);
  }
  std::int64_t at = now_unix();
  if (!o.at.empty()) {
    auto t = parse_time(o.at);
    if (!t) return fail("--at: " + t.error().message);
    at = *t;
  }
  std::int64_t skew = 0;
  if (o.skew != "0") {
    auto s = parse_duration(o.skew);
    if (!s) return fail("--skew: " + s.error().message);
    skew = *s;
  }
  const auto path = store.verify_chain(*chain, WallTime(std::chrono::seconds(at)),
                                       std::chrono::seconds(skew));
  if (!path)
    return fail("verification failed (" + std::string(identity::to_string(path.error().reason)) +
                "): " + path.error().message);
  std::cout << "chain (leaf -> root):\n";
  for (std::size_t i = 0; i < path->size(); ++i) {
    const auto& c = (*path)[i];
    std::cout << "  " << c.name() << " (" << identity::kind_name(c.kind())
              << (i + 1 == path->size() ? ", trusted root" : "") << ") " << c.fingerprint_hex()
              << "\n";
  }
  std::cout << "ok\n";
  return {};
}

}  // namespace

void add_cert_commands(CLI::App& app, Outcome& outcome) {
  auto* cert = app.add_subcommand("cert", "Issue, show and verify identity certificates");
  cert->require_subcommand(1);

  auto s = std::make_shared<SignOptions>();
  auto* sign = cert->add_subcommand("sign", "Issue a certificate from a CA");
  sign->add_option("--ca", s->ca, "Issuing CA certificate")->required();
  sign->add_option("--ca-key", s->ca_key, "Issuing CA private key")->required();
  sign->add_option("--kind", s->kind, "ca, node, workload, gateway or user")->required();
  sign->add_option("--name", s->name, "Identity name")->required();
  sign->add_option("--networks", s->networks, "Overlay CIDRs, comma-separated")->delimiter(',');
  sign->add_option("--groups", s->groups, "Groups, comma-separated")->delimiter(',');
  sign->add_option("--subject", s->subject, "User: the person's subject (alice@example.com)");
  sign->add_option("--labels", s->labels, "key=value labels, comma-separated")->delimiter(',');
  sign->add_option("--lifetime", s->lifetime, "Validity from now (default 24h)");
  sign->add_option("--public-key", s->public_key, "The identity's public key (base64)");
  sign->add_option("--key-out", s->key_out, "Generate the key pair; write the private key (0600)");
  sign->add_option("--allowed-networks", s->allowed_networks,
                   "CA: CIDRs its certificates may carry")->delimiter(',');
  sign->add_option("--name-pattern", s->name_pattern, "CA: glob its leaf names must match");
  sign->add_option("--max-lifetime", s->max_lifetime, "CA: longest lifetime it may issue");
  sign->add_flag("--may-sign-ca", s->may_sign_ca, "CA: may issue CA certificates");
  sign->add_option("--node", s->node,
                   "CA: bind this node CA to one node (its host certificate's name)");
  auto* allow_groups = sign->add_option(
      "--allow-groups", s->allow_groups,
      "CA: globs every group below it must match (\"\" for no groups)")->delimiter(',');
  auto* allow_labels = sign->add_option(
      "--allow-labels", s->allow_labels,
      "CA: labels allowed below it: key (any value) or key=v1|v2 (globs), comma-separated "
      "(\"\" for no labels)")->delimiter(',');
  sign->add_option("--allow-kinds", s->allow_kinds,
                   "CA: kinds allowed below it (node, workload, gateway, user)")->delimiter(',');
  sign->add_option("--subject-pattern", s->subject_pattern,
                   "CA: glob the subjects of users below it must match (*@example.com)");
  sign->add_option("--context", s->context,
                   "CA: context labels it asserts for every identity below it (site=onprem)")
      ->delimiter(',');
  sign->add_option("--out", s->out, "Certificate file to write")->required();
  sign->add_flag("--force", s->force, "Overwrite existing files");
  sign->callback([s, allow_groups, allow_labels, &outcome] {
    s->has_allow_groups = allow_groups->count() > 0;
    s->has_allow_labels = allow_labels->count() > 0;
    outcome = cert_sign(*s);
  });

  struct ShowOptions {
    std::string file;
    bool json = false;
  };
  auto sh = std::make_shared<ShowOptions>();
  auto* show = cert->add_subcommand("show", "Print a certificate (or each one of a chain file)");
  show->add_option("file", sh->file, "Certificate file")->required();
  show->add_flag("--json", sh->json, "Print JSON");
  show->callback([sh, &outcome] { outcome = cert_show(sh->file, sh->json); });

  auto v = std::make_shared<VerifyOptions>();
  auto* verify = cert->add_subcommand("verify", "Verify a certificate chain against trusted roots");
  verify->add_option("file", v->file, "Certificate (or chain, leaf first) to verify")->required();
  verify->add_option("--chain", v->chain, "Intermediate certificates, leaf side first");
  verify->add_option("--ca", v->roots, "Trusted root CA certificate (repeatable)")->required();
  verify->add_option("--crl", v->crls, "Revocation list signed by a trusted root (repeatable)");
  verify->add_option("--at", v->at, "Verify at this time (unix seconds or RFC 3339 UTC)");
  verify->add_option("--skew", v->skew, "Allowed clock skew (default 60s; 0 for none)");
  verify->callback([v, &outcome] { outcome = cert_verify(*v); });
}

}  // namespace keymesh::tools
