// keymesh user issue: the administrator issues a person's identity (docs/access.md): a fresh
// X25519 key (0600, WireGuard format) and a user certificate from an access CA, for hours.
//
//   keymesh user issue --ca access.crt --ca-key access.key --name alice
//       --subject alice@example.com --groups oncall --address 100.64.20.1
//       --out alice.chain --key-out alice.key
//
// The certificate file holds the chain the person's keymeshd presents: the user certificate,
// then every certificate of the --ca file (the access CA and any intermediates). Nothing is
// written unless the chain rules of the access CA accept the certificate (check_issued_by),
// so a lifetime, group or subject the CA does not allow is refused here with the limit named.

#include <algorithm>
#include <iostream>
#include <memory>

#include "common/bytes.h"
#include "crypto/primitives.h"
#include "identity/ca_key.h"
#include "identity/cert_file.h"
#include "identity/chain.h"
#include "identity/files.h"
#include "tools/commands.h"
#include "tools/identity_cli.h"

namespace keymesh::tools {

namespace {

constexpr std::int64_t kDefaultUserLifetime = 8 * 3600;  // a working day

struct IssueOptions {
  std::string ca, ca_key, name, subject, address, lifetime;
  std::vector<std::string> groups, labels;
  std::string out, key_out;
  bool force = false;
};

bool allows_users(const identity::Certificate& ca) {
  const auto& kinds = ca.constraints().allowed_kinds;
  return std::find(kinds.begin(), kinds.end(), identity::Kind::User) != kinds.end();
}

Result<void> user_issue(const IssueOptions& o) {
  if (!identity::valid_subject(o.subject))
    return fail("--subject \"" + o.subject + "\" is not email-like (alice@example.com)");
  if (o.out == o.key_out) return fail("--out and --key-out must be different files");
  if (auto r = refuse_overwrite({o.out, o.key_out}, o.force); !r) return r;

  auto signer = read_issuer(o.ca, o.ca_key, "access CA");
  if (!signer) return std::unexpected(signer.error());
  const identity::Certificate& ca = signer->cert();
  if (!allows_users(ca))
    return fail(o.ca + ": CA " + ca.name() + " is not an access CA (its allowed kinds do not "
                "name user); make one with `keymesh cert sign --kind ca --allow-kinds user ...`");

  // Hours by default, never more than the CA allows; asking for more is an error, not a cap.
  const std::int64_t ca_max = ca.constraints().max_lifetime_seconds;
  std::int64_t lifetime = kDefaultUserLifetime;
  if (ca_max > 0) lifetime = std::min(lifetime, ca_max);
  if (!o.lifetime.empty()) {
    auto asked = parse_duration(o.lifetime);
    if (!asked) return fail("--lifetime: " + asked.error().message);
    lifetime = *asked;
  }
  if (ca_max > 0 && lifetime > ca_max)
    return fail("--lifetime " + format_duration(lifetime) + " is longer than access CA " +
                ca.name() + " allows (at most " + format_duration(ca_max) + ")");
  if (lifetime > identity::kMaxUserLifetimeSeconds)
    return fail("--lifetime " + format_duration(lifetime) + ": a user certificate lives at most " +
                format_duration(identity::kMaxUserLifetimeSeconds));

  identity::CertificateFields f;
  f.name = o.name;
  f.kind = identity::Kind::User;
  f.subject = o.subject;
  auto address = parse_prefix(o.address, "--address", true);
  if (!address) return std::unexpected(address.error());
  f.networks = {*address};
  f.groups = o.groups;
  auto labels = parse_pairs(o.labels, "--labels");
  if (!labels) return std::unexpected(labels.error());
  f.labels = std::move(*labels);
  const std::int64_t now = now_unix();
  f.not_before = now;
  f.not_after = now + lifetime;

  crypto::SecretKey secret;
  crypto::generate_private_key(secret);
  f.public_key = crypto::public_key(secret);
  auto cert = identity::sign_certificate(std::move(f), &ca, signer->key);
  if (!cert) return fail(cert.error().message);
  if (auto r = identity::check_issued_by(*cert, ca); !r)
    return fail("refusing to issue: " + r.error().message);

  if (auto r = write_x25519_key(o.key_out, secret, o.force); !r) return r;
  std::vector<identity::Certificate> chain{*cert};
  chain.insert(chain.end(), signer->chain.begin(), signer->chain.end());
  if (auto r = identity::write_certificates_file(o.out, chain, o.force); !r) return r;
  const std::string groups = join(cert->fields().groups);
  std::cout << "user \"" << cert->name() << "\" <" << cert->fields().subject << "> "
            << cert->fingerprint_hex() << "\ngroups " << (groups.empty() ? "-" : groups)
            << ", address " << address->to_string() << "\nvalid until "
            << identity::format_utc(cert->fields().not_after) << " ("
            << format_duration(lifetime) << ")\n";
  return {};
}

}  // namespace

void add_user_commands(CLI::App& app, Outcome& outcome) {
  auto* user = app.add_subcommand("user", "People as identities: short-lived user certificates");
  user->require_subcommand(1);
  auto o = std::make_shared<IssueOptions>();
  auto* issue = user->add_subcommand("issue", "Issue a person's key and user certificate");
  issue->add_option("--ca", o->ca, "Access CA certificate (or its chain, CA first)")->required();
  issue->add_option("--ca-key", o->ca_key, "Access CA private key")->required();
  issue->add_option("--name", o->name, "The person's identity name (alice)")->required();
  issue->add_option("--subject", o->subject, "Email-like subject (alice@example.com)")
      ->required();
  issue->add_option("--groups", o->groups, "Roles, as groups, comma-separated")->delimiter(',');
  issue->add_option("--labels", o->labels, "key=value labels, comma-separated")->delimiter(',');
  issue->add_option("--address", o->address, "Overlay address of the person's machine")
      ->required();
  issue->add_option("--lifetime", o->lifetime,
                    "Validity from now (default 8h, or the CA's maximum when shorter)");
  issue->add_option("--out", o->out, "Certificate chain file to write")->required();
  issue->add_option("--key-out", o->key_out, "Private key file to write (0600)")->required();
  issue->add_flag("--force", o->force, "Overwrite existing files");
  issue->callback([o, &outcome] { outcome = user_issue(*o); });
}

}  // namespace keymesh::tools
