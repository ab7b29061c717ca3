// Revocation lists in keymeshd (docs/identity.md "Revocation that travels"). Lists come from
// the operator's file (trust.revocation_list), from lighthouses (pushed or fetched), from
// hosts that offer one to our lighthouse, from etcd, from lists saved in the state directory,
// and from our own node CA when a workload goes away. Every one goes through
// take_revocation_list: the TrustStore checks the issuer (a trusted root, or a CA whose carried
// chain validates) and keeps the newest list per issuer; a list revokes only below its issuer.
// What is in force is then
//  - applied: the tunnel rechecks every path at once (a revoked peer's paths close);
//  - saved to <state_dir>/revocation/<issuer>.crl (with node_ca), so a restart keeps it;
//  - served: our lighthouse hands out every list held and pushes a changed one to every host;
//  - distributed, when it is ours (file or node CA): offered to the lighthouses and put in etcd.
// A SIGHUP rebuilds the roots from files and carries every held list over (newest wins).
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <filesystem>

#include "daemon/daemon_impl.h"
#include "identity/files.h"
#include "identity/revocation.h"

namespace keymesh::daemon {

namespace {

std::string revocation_dir(const Config& config) { return config.state_dir + "/revocation"; }

}  // namespace

bool Daemon::Impl::take_revocation_list(ByteSpan bytes, RevocationOrigin origin) {
  auto list = identity::RevocationList::parse(bytes);
  if (!list) {
    spdlog::debug("revocation list from {}: {}", to_string(origin), list.error().message);
    return false;
  }
  return take_revocation_list(*list, origin);
}

bool Daemon::Impl::take_revocation_list(const identity::RevocationList& list,
                                        RevocationOrigin origin) {
  if (const auto* held = trust.revocation_lists().find(list.issuer());
      held != nullptr && held->encoded() == list.encoded())
    return false;  // already in force
  identity::TrustStore next = trust;
  if (auto r = next.set_revocation_list(list, time.wall_now()); !r) {
    spdlog::info("revocation list from {} refused: {}", to_string(origin), r.error().message);
    return false;
  }
  trust = std::move(next);
  const std::size_t before = tunnel->path_count();
  tunnel->set_trust(std::make_shared<const identity::TrustStore>(trust));
  spdlog::info("revocation list of {} from {}: {} revoked, issued at {}, {} path(s) closed",
               identity::short_hex(list.issuer()), to_string(origin), list.revoked().size(),
               list.issued_at(), before - tunnel->path_count());
  save_revocation_list(list);
  serve_revocation_lists();
  if (origin == RevocationOrigin::File || origin == RevocationOrigin::NodeCa)
    distribute_revocation_list(list);
  return true;
}

void Daemon::Impl::distribute_revocation_list(const identity::RevocationList& list) {
  if (lighthouse_client) lighthouse_client->offer_revocation_list(list.issuer(), list.encoded());
  if (etcd_directory) etcd_directory->publish_revocation_list(list.issuer(), list.encoded());
}

void Daemon::Impl::serve_revocation_lists() {
  if (!lighthouse_server || !server_transport) return;
  std::vector<Bytes> lists;
  for (const auto& [issuer, list] : trust.revocation_lists().lists())
    lists.push_back(list.encoded());
  auto pushes = lighthouse_server->set_revocation_lists(std::move(lists));
  if (!pushes) {
    spdlog::warn("lighthouse: {}", pushes.error().message);
    return;
  }
  for (auto& out : *pushes) server_transport->send(out.to, out.bytes);
}

void Daemon::Impl::take_offered_revocation_lists() {
  if (!lighthouse_server) return;
  for (const Bytes& bytes : lighthouse_server->take_offered_lists())
    (void)take_revocation_list(ByteSpan(bytes.data(), bytes.size()), RevocationOrigin::Offered);
}

void Daemon::Impl::save_revocation_list(const identity::RevocationList& list) {
  if (!workloads) return;  // no state directory in use
  const std::string dir = revocation_dir(config);
  ::mkdir(dir.c_str(), 0700);
  const std::string path = dir + "/" + to_hex(list.issuer()) + ".crl";
  if (auto r = identity::write_identity_file(path, identity::armor_revocation_list(list), 0644,
                                             true);
      !r)
    spdlog::warn("revocation list not saved: {}", r.error().message);
}

void Daemon::Impl::load_saved_revocation_lists() {
  if (!workloads) return;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(revocation_dir(config), ec)) {
    if (entry.path().extension() != ".crl") continue;
    auto list = identity::read_revocation_list_file(entry.path().string());
    if (!list) {
      spdlog::warn("saved revocation list ignored: {}", list.error().message);
      continue;
    }
    (void)take_revocation_list(*list, RevocationOrigin::Saved);
  }
}

Result<void> Daemon::Impl::open_revocations() {
  // The operator's list was loaded with the roots (load_trust), before discovery existed.
  if (!config.revocation_list.empty())
    if (auto file = identity::read_revocation_list_file(config.revocation_list))
      if (const auto* held = trust.revocation_lists().find(file->issuer());
          held != nullptr && held->encoded() == file->encoded())
        distribute_revocation_list(*held);
  load_saved_revocation_lists();
  serve_revocation_lists();
  if (workloads) {
    auto issuer =
        node::RevocationIssuer::open(workloads->state(), workloads->node_ca(), time.wall_now());
    if (!issuer) return fail("state_dir: " + issuer.error().message);
    revocation_issuer.emplace(std::move(*issuer));
    if (const auto& own = revocation_issuer->current())
      (void)take_revocation_list(*own, RevocationOrigin::NodeCa);
  }
  return {};
}

void Daemon::Impl::revoke_issued(const identity::Certificate& cert) {
  if (!revocation_issuer) return;
  auto list = revocation_issuer->revoke(cert, time.wall_now());
  if (!list) {
    spdlog::error("revoking {}: {}", cert.describe(), list.error().message);
    return;
  }
  (void)take_revocation_list(*list, RevocationOrigin::NodeCa);
}

void Daemon::Impl::carry_revocation_lists(const identity::TrustStore& from,
                                          identity::TrustStore& into) const {
  // Older than what the files gave, or from a root no longer trusted: refused, as it should be.
  for (const auto& [issuer, list] : from.revocation_lists().lists())
    (void)into.set_revocation_list(list, time.wall_now());
}

std::string_view to_string(RevocationOrigin origin) noexcept {
  switch (origin) {
    case RevocationOrigin::File: return "trust.revocation_list";
    case RevocationOrigin::Lighthouse: return "a lighthouse";
    case RevocationOrigin::Offered: return "a host (offered to our lighthouse)";
    case RevocationOrigin::Etcd: return "etcd";
    case RevocationOrigin::Saved: return "the state directory";
    case RevocationOrigin::NodeCa: return "our node CA";
  }
  return "?";
}

}  // namespace keymesh::daemon
