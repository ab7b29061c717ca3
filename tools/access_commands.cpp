// keymesh access export --wg-quick: access for a person who already runs stock WireGuard
// (docs/access.md). Writes a wg-quick config (its own fresh key pair, 0600) for the person's
// client and prints the `peers:` entry that binds that key, on the keymesh host it connects
// to, to a raw-key identity with the person's name, groups and subject (labels.subject), so
// the same policy rules that select the person's user certificate by group select it too.
//
//   keymesh access export --wg-quick --cert alice.chain --address 100.64.21.1
//       --server-public-key <host key> --endpoint 198.18.0.2:51820
//       --allowed-ips 100.64.0.0/10 --out alice-wg.conf  >> peers snippet for keymeshd
//
// --cert gives name, groups and subject from the person's user certificate; --name, --groups
// and --subject give or override them.
#include <sodium.h>

#include <iostream>
#include <memory>

#include "common/bytes.h"
#include "crypto/primitives.h"
#include "identity/cert_file.h"
#include "identity/certificate.h"
#include "identity/files.h"
#include "tools/commands.h"
#include "tools/identity_cli.h"
#include "udp/endpoint.h"

namespace keymesh::tools {

namespace {

struct ExportOptions {
  bool wg_quick = false;
  std::string cert, name, subject, address, server_public_key, endpoint, out;
  std::vector<std::string> groups, allowed_ips;
  bool groups_given = false;
  int keepalive = 25;
  int mtu = 1420;
  bool force = false;
};

Result<void> access_export(ExportOptions o) {
  if (!o.wg_quick) return fail("say which format: --wg-quick (the only one so far)");
  if (!o.cert.empty()) {
    auto certs = identity::read_certificates_file(o.cert);
    if (!certs) return std::unexpected(certs.error());
    const auto& leaf = certs->front();
    if (leaf.kind() != identity::Kind::User)
      return fail(o.cert + ": " + leaf.describe() + " is a " +
                  std::string(identity::kind_name(leaf.kind())) + ", not a user certificate");
    if (o.name.empty()) o.name = leaf.name();
    if (o.subject.empty()) o.subject = leaf.fields().subject;
    if (!o.groups_given) o.groups = leaf.fields().groups;
  }
  if (o.name.empty()) return fail("give --cert (a user certificate) or --name");
  if (!identity::valid_name(o.name) || o.name.size() > 64)
    return fail("--name \"" + o.name + "\" must be 1-64 printable characters without spaces");
  if (!o.subject.empty() && !identity::valid_subject(o.subject))
    return fail("--subject \"" + o.subject + "\" is not email-like (alice@example.com)");
  for (const auto& g : o.groups)
    if (!identity::valid_name(g)) return fail("--groups: \"" + g + "\" is not a valid name");
  auto address = parse_prefix(o.address, "--address", true);
  if (!address) return std::unexpected(address.error());
  std::vector<std::string> allowed;
  for (const auto& a : o.allowed_ips) {
    auto p = parse_prefix(a, "--allowed-ips", false);
    if (!p) return std::unexpected(p.error());
    allowed.push_back(p->to_string());
  }
  if (allowed.empty()) return fail("--allowed-ips: the overlay networks the person may reach");
  auto server = from_base64(o.server_public_key);
  if (!server || server->size() != 32)
    return fail("--server-public-key must be 32 bytes of base64 (44 characters): the keymesh "
                "host's key (`keymesh key pub`)");
  const auto endpoint = udp::Endpoint::parse(o.endpoint);
  if (!endpoint) return fail("--endpoint \"" + o.endpoint + "\" is not IPv4:port or [IPv6]:port");
  if (o.keepalive < 0 || o.keepalive > 65535) return fail("--keepalive must be 0-65535");
  if (o.mtu < 576 || o.mtu > 9000) return fail("--mtu must be 576-9000");
  if (auto r = refuse_overwrite({o.out}, o.force); !r) return r;

  crypto::SecretKey secret;
  crypto::generate_private_key(secret);
  const std::string public_key = to_base64(crypto::public_key(secret));
  std::string conf = "# keymesh access for " + o.name +
                     (o.subject.empty() ? "" : " <" + o.subject + ">") +
                     (o.groups.empty() ? "" : ", groups " + join(o.groups)) +
                     " (keymesh access export --wg-quick)\n[Interface]\nPrivateKey = " +
                     to_base64(secret.span()) + "\nAddress = " + address->to_string() +
                     "\nMTU = " + std::to_string(o.mtu) + "\n\n[Peer]\nPublicKey = " +
                     to_base64(*server) + "\nEndpoint = " + o.endpoint + "\nAllowedIPs = " +
                     join(allowed) + "\n" +
                     (o.keepalive ? "PersistentKeepalive = " + std::to_string(o.keepalive) + "\n"
                                  : "");
  auto written = identity::write_identity_file(o.out, conf, 0600, o.force);
  sodium_memzero(conf.data(), conf.size());
  if (!written) return written;
  // The raw-key identity on the keymesh host: same name, groups and subject as the person.
  std::cout << "# add to the peers: of the keymeshd at " << o.endpoint << ", then restart it\n"
            << "  - name: " << o.name << "\n    public_key: " << public_key
            << "\n    allowed_ips: [" << address->to_string() << "]\n    groups: ["
            << join(o.groups) << "]\n";
  if (!o.subject.empty()) std::cout << "    labels: { subject: \"" << o.subject << "\" }\n";
  return {};
}

}  // namespace

void add_access_commands(CLI::App& app, Outcome& outcome) {
  auto* access = app.add_subcommand("access", "Access for people with stock WireGuard clients");
  access->require_subcommand(1);
  auto o = std::make_shared<ExportOptions>();
  auto* exp = access->add_subcommand(
      "export", "Write a wg-quick config bound to a raw-key identity with the person's name "
                "and groups; print its keymeshd peers: entry");
  exp->add_flag("--wg-quick", o->wg_quick, "A config for wg-quick / wg setconf")->required();
  exp->add_option("--cert", o->cert, "The person's user certificate (name, groups, subject)");
  exp->add_option("--name", o->name, "Name of the raw-key identity (default: the certificate's)");
  auto* groups = exp->add_option("--groups", o->groups, "Groups (default: the certificate's)")
                     ->delimiter(',');
  exp->add_option("--subject", o->subject, "Subject (default: the certificate's)");
  exp->add_option("--address", o->address, "The client's overlay address")->required();
  exp->add_option("--server-public-key", o->server_public_key,
                  "Public key of the keymesh host the client connects to")->required();
  exp->add_option("--endpoint", o->endpoint, "Its underlay IP:port")->required();
  exp->add_option("--allowed-ips", o->allowed_ips, "Overlay networks routed to it")
      ->delimiter(',')->required();
  exp->add_option("--keepalive", o->keepalive, "PersistentKeepalive seconds (default 25; 0 off)");
  exp->add_option("--mtu", o->mtu, "Interface MTU (default 1420)");
  exp->add_option("--out", o->out, "wg-quick config file to write (0600)")->required();
  exp->add_flag("--force", o->force, "Overwrite an existing file");
  exp->callback([o, groups, &outcome] {
    o->groups_given = groups->count() > 0;
    outcome = access_export(*o);
  });
}

}  // namespace keymesh::tools
