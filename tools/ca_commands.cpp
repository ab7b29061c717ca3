// keymesh ca init | crl sign: the offline root CA's two jobs. The root key never leaves the
// machine these run on; what they write (ca.crt, crl) is public and is copied to every node.
#include <sodium.h>

#include <iostream>
#include <memory>

#include "identity/ca_key.h"
#include "identity/cert_file.h"
#include "identity/files.h"
#include "identity/revocation.h"
#include "tools/commands.h"
#include "tools/identity_cli.h"

namespace keymesh::tools {

namespace {

struct InitOptions {
  std::string name;
  std::string lifetime = "8760h";
  std::string out;
  std::string key_out;
  bool force = false;
};

Result<void> ca_init(const InitOptions& o) {
  if (!identity::valid_name(o.name))
    return fail("--name must be printable ASCII without spaces (1-255 characters)");
  auto lifetime = parse_duration(o.lifetime);
  if (!lifetime) return std::unexpected(lifetime.error());
  if (o.out == o.key_out) return fail("--out and --key-out must be different files");
  if (auto r = refuse_overwrite({o.out, o.key_out}, o.force); !r) return r;

  const auto key = identity::CaKey::generate();
  identity::CertificateFields f;
  f.name = o.name;
  f.kind = identity::Kind::Ca;
  f.public_key = key.public_key();
  f.not_before = now_unix();
  f.not_after = f.not_before + *lifetime;
  f.constraints = identity::CaConstraints{.may_sign_ca = true};
  auto cert = identity::sign_certificate(std::move(f), nullptr, key);
  if (!cert) return fail(cert.error().message);

  // Key first: a certificate without its key would be useless, the reverse is retried.
  if (auto r = identity::write_ca_key_file(o.key_out, key, o.force); !r) return r;
  const identity::Certificate certs[] = {*cert};
  if (auto r = identity::write_certificates_file(o.out, certs, o.force); !r) return r;
  std::cout << "root CA \"" << o.name << "\" " << cert->fingerprint_hex() << "\n"
            << "certificate: " << o.out << "\nprivate key: " << o.key_out
            << " (keep it offline)\n";
  return {};
}

struct CrlOptions {
  std::string ca;
  std::string ca_key;
  std::vector<std::string> revoke;
  std::string add_to;
  std::string out;
  bool force = false;
};

Result<void> crl_sign(const CrlOptions& o) {
  auto ca = identity::read_certificates_file(o.ca);
  if (!ca) return std::unexpected(ca.error());
  const identity::Certificate& root = ca->front();
  if (!root.is_ca() || !root.is_self_signed())
    return fail(o.ca + ": " + root.describe() +
                " is not a root CA; revocation lists are signed by a root");
  auto key = identity::read_ca_key_file(o.ca_key);
  if (!key) return std::unexpected(key.error());

  std::vector<identity::Fingerprint> revoked;
  for (const auto& text : o.revoke) {
    auto fp = identity::parse_fingerprint(text);
    if (!fp)
      return fail("--revoke \"" + text +
                  "\" is not a fingerprint (64 hex digits, see `keymesh cert show`)");
    revoked.push_back(*fp);
  }
  std::int64_t issued_at = now_unix();
  if (!o.add_to.empty()) {
    auto old = identity::read_revocation_list_file(o.add_to);
    if (!old) return std::unexpected(old.error());
    if (auto r = identity::verify_revocation_list(*old, root); !r)
      return fail(o.add_to + ": " + r.error().message);
    revoked.insert(revoked.end(), old->revoked().begin(), old->revoked().end());
    // A list must be newer than the one it replaces, or daemons will refuse it as stale.
    issued_at = std::max(issued_at, old->issued_at() + 1);
  }
  auto list = identity::sign_revocation_list(root, *key, std::move(revoked), issued_at);
  if (!list) return fail(list.error().message);
  // Updating a list in place is the point of --add-to; anything else needs --force.
  const bool force = o.force || (!o.add_to.empty() && o.add_to == o.out);
  if (auto r = identity::write_identity_file(o.out, identity::armor_revocation_list(*list), 0644,
                                             force);
      !r)
    return r;
  std::cout << "revocation list of \"" << root.name() << "\": " << list->revoked().size()
            << " revoked, issued " << identity::format_utc(list->issued_at()) << "\n";
  return {};
}

}  // namespace

void add_ca_commands(CLI::App& app, Outcome& outcome) {
  auto* ca = app.add_subcommand("ca", "Create the root certificate authority (keep it offline)");
  ca->require_subcommand(1);
  auto init_opts = std::make_shared<InitOptions>();
  auto* init = ca->add_subcommand("init", "Create a self-signed root CA certificate and key");
  init->add_option("--name", init_opts->name, "CA name")->required();
  init->add_option("--lifetime", init_opts->lifetime, "Validity (default 8760h)");
  init->add_option("--out", init_opts->out, "Certificate file to write (public)")->required();
  init->add_option("--key-out", init_opts->key_out, "Private key file to write (0600)")
      ->required();
  init->add_flag("--force", init_opts->force, "Overwrite existing files");
  init->callback([init_opts, &outcome] { outcome = ca_init(*init_opts); });

  auto* crl = app.add_subcommand("crl", "Revocation lists, signed by the root CA");
  crl->require_subcommand(1);
  auto crl_opts = std::make_shared<CrlOptions>();
  auto* sign = crl->add_subcommand("sign", "Sign a revocation list");
  sign->add_option("--ca", crl_opts->ca, "Root CA certificate")->required();
  sign->add_option("--ca-key", crl_opts->ca_key, "Root CA private key")->required();
  sign->add_option("--revoke", crl_opts->revoke, "Fingerprints to revoke (64 hex digits)")
      ->delimiter(',');
  sign->add_option("--add-to", crl_opts->add_to,
                   "Start from this existing list (same root); --out may name it too");
  sign->add_option("--out", crl_opts->out, "Revocation list file to write")->required();
  sign->add_flag("--force", crl_opts->force, "Overwrite an existing file");
  sign->callback([crl_opts, &outcome] { outcome = crl_sign(*crl_opts); });
}

}  // namespace keymesh::tools
