// keymesh identity add|remove|list: the local identities keymeshd answers for, changed at
// runtime over the control socket (what keymesh-cni and the Docker driver do for workloads).
//
//   keymesh identity add --cert web-1.crt --key web-1.key   import a chain and its key
//   keymesh identity add web-1 --group web --label app=shop  mint one with the node CA
//   keymesh identity remove web-1
//   keymesh identity list [--json]
#include <iostream>
#include <memory>

#include "common/files.h"
#include "identity/certificate.h"
#include "tools/commands.h"
#include "ctl/control_client.h"

namespace keymesh::tools {

namespace {

constexpr std::size_t kMaxFile = 1 << 20;

struct Options {
  std::string socket = ctl::kDefaultControlSocket;
  std::string name, cert, key, address;
  std::vector<std::string> groups, labels;
  bool json = false;
};

void print_identity(const proto::IdentityInfo& id) {
  std::cout << id.name() << "  " << id.kind() << "  " << id.source();
  if (!id.fingerprint().empty()) std::cout << "  " << id.fingerprint().substr(0, 16);
  for (const auto& n : id.networks()) std::cout << "  " << n;
  if (id.groups_size() > 0) {
    std::cout << "  groups=";
    for (int i = 0; i < id.groups_size(); ++i) std::cout << (i ? "," : "") << id.groups(i);
  }
  if (id.not_after_unix() != 0) std::cout << "  until " << identity::format_utc(id.not_after_unix());
  std::cout << "  paths=" << id.paths() << "\n";
}

Result<void> add(const Options& o) {
  proto::Request request;
  auto* r = request.mutable_identity_add();
  if (!o.cert.empty() || !o.key.empty()) {
    if (o.cert.empty() || o.key.empty()) return fail("--cert and --key go together");
    auto chain = read_small_file(o.cert, kMaxFile, false);
    if (!chain) return std::unexpected(chain.error());
    auto key = read_small_file(o.key, 128, true);
    if (!key) return std::unexpected(key.error());
    r->set_certificate_chain(*chain);
    r->set_private_key(*key);
    std::fill(key->begin(), key->end(), '\0');
    r->set_name(o.name);
  } else {
    if (o.name.empty()) return fail("give a NAME to mint an identity, or --cert and --key");
    r->set_name(o.name);
    for (const auto& g : o.groups) r->add_groups(g);
    for (const auto& l : o.labels) {
      const auto eq = l.find('=');
      if (eq == std::string::npos || eq == 0) return fail("--label " + l + ": expected key=value");
      (*r->mutable_labels())[l.substr(0, eq)] = l.substr(eq + 1);
    }
    r->set_address(o.address);
  }
  auto reply = ctl::ask_daemon(o.socket, request);
  // The request held the key text: wipe it before anything else happens.
  if (auto* k = request.mutable_identity_add()->mutable_private_key(); !k->empty())
    std::fill(k->begin(), k->end(), '\0');
  if (!reply) return std::unexpected(reply.error());
  std::cout << "added ";
  print_identity(reply->identity_add().identity());
  return {};
}

Result<void> remove(const Options& o) {
  proto::Request request;
  request.mutable_identity_remove()->set_name(o.name);
  auto reply = ctl::ask_daemon(o.socket, request);
  if (!reply) return std::unexpected(reply.error());
  std::cout << "removed " << o.name << " (" << reply->identity_remove().paths_closed()
            << " path(s) closed)\n";
  return {};
}

Result<void> list(const Options& o) {
  proto::Request request;
  request.mutable_identity_list();
  auto reply = ctl::ask_daemon(o.socket, request);
  if (!reply) return std::unexpected(reply.error());
  if (o.json) return print_json(reply->identity_list());
  for (const auto& id : reply->identity_list().identities()) print_identity(id);
  return {};
}

}  // namespace

void add_identity_commands(CLI::App& app, Outcome& outcome) {
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("identity", "Local identities of a running keymeshd");
  cmd->require_subcommand(1);

  auto* a = cmd->add_subcommand("add", "Import a certificate chain and key, or mint an identity "
                                       "with the daemon's node CA");
  a->add_option("name", o->name, "Identity name (to mint; optional on import)");
  a->add_option("--cert", o->cert, "Certificate chain file, leaf first (import)");
  a->add_option("--key", o->key, "X25519 key file of the certificate, mode 0600 (import)");
  a->add_option("--group", o->groups, "Group (repeatable; mint)");
  a->add_option("--label", o->labels, "Label key=value (repeatable; mint)");
  a->add_option("--address", o->address, "Overlay address inside the node range (mint)");
  a->add_option("--socket", o->socket, "keymeshd control socket")->capture_default_str();
  a->callback([o, &outcome] { outcome = add(*o); });

  auto* r = cmd->add_subcommand("remove", "Stop answering for an identity; its paths close");
  r->add_option("name", o->name, "Identity name or fingerprint")->required();
  r->add_option("--socket", o->socket, "keymeshd control socket")->capture_default_str();
  r->callback([o, &outcome] { outcome = remove(*o); });

  auto* l = cmd->add_subcommand("list", "List local identities");
  l->add_flag("--json", o->json, "Print JSON");
  l->add_option("--socket", o->socket, "keymeshd control socket")->capture_default_str();
  l->callback([o, &outcome] { outcome = list(*o); });
}

}  // namespace keymesh::tools
