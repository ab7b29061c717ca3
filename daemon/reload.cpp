// Files keymeshd reads at start and again while it runs: trust roots and the revocation list,
// local identities and the static directory, the policy. A reload that fails keeps what is
// in force and says so (log and audit); a reload that succeeds takes effect at once, closing
// paths that lost their certificate or their grant.
#include <spdlog/spdlog.h>

#include "daemon/daemon_impl.h"
#include "identity/cert_file.h"
#include "identity/revocation.h"
#include "policy/loader.h"

namespace keymesh::daemon {

namespace {
constexpr unsigned kWatchIntervalMs = 250;  // a revoked identity loses its paths within a second

void audit_reload(policy::AuditLog* audit, WallTime now, std::string reason) {
  if (audit == nullptr) return;
  policy::AuditEvent e;
  e.time = now;
  e.event = policy::AuditEventType::kPolicyReloaded;
  e.reason = std::move(reason);
  audit->record(e);
}
}  // namespace

namespace {
// Roots and revocation list as the config's files say now.
Result<identity::TrustStore> read_trust(const Config& config) {
  identity::TrustStore store;
  for (const auto& file : config.trust_roots) {
    auto certs = identity::read_certificates_file(file);
    if (!certs) return fail("trust.roots: " + certs.error().message);
    for (const auto& cert : *certs)
      if (auto r = store.add_root(cert); !r)
        return fail("trust.roots: " + file + ": " + r.error().message);
  }
  if (!config.revocation_list.empty()) {
    auto list = identity::read_revocation_list_file(config.revocation_list);
    if (!list) return fail("trust.revocation_list: " + list.error().message);
    if (auto r = store.set_revocation_list(*list); !r)
      return fail("trust.revocation_list: " + config.revocation_list + ": " + r.error().message);
  }
  return store;
}
}  // namespace

Result<void> Daemon::Impl::load_trust() {
  if (config.trust_roots.empty()) {
    if (!config.certificate.empty() || !config.identities.empty() || !config.directory.empty() ||
        config.node_ca)
      return fail("trust.roots: is required when certificates are configured");
    return {};
  }
  auto store = read_trust(config);
  if (!store) return std::unexpected(store.error());
  trust = std::move(*store);
  tunnel->set_trust(std::make_shared<const identity::TrustStore>(trust));
  return {};
}

void Daemon::Impl::reload_trust(const char* why) {
  // CA rotation: add the new root's file to trust.roots, SIGHUP; later remove the old one,
  // SIGHUP again: paths whose chains end at the removed root close at once.
  if (config.trust_roots.empty()) return;
  auto store = read_trust(config);
  if (!store) {
    spdlog::error("trust reload ({}) failed, keeping the previous roots and list: {}", why,
                  store.error().message);
    return;
  }
  // Lists received from discovery or our node CA stay (newest per issuer wins).
  carry_revocation_lists(trust, *store);
  trust = std::move(*store);
  const std::size_t before = tunnel->path_count();
  tunnel->set_trust(std::make_shared<const identity::TrustStore>(trust));
  spdlog::info("trust reloaded ({}): {} root(s), {} list(s), {} path(s) closed", why,
               trust.roots().size(), trust.revocation_lists().lists().size(),
               before - tunnel->path_count());
  serve_revocation_lists();
}

Result<void> Daemon::Impl::load_identities() {
  if (!config.certificate.empty()) {
    auto chain = identity::read_certificates_file(config.certificate);
    if (!chain) return fail("certificate: " + chain.error().message);
    const identity::Certificate host = chain->front();
    if (auto r = tunnel->renew_local_identity("host", std::move(*chain), std::nullopt); !r)
      return fail("certificate: " + config.certificate + ": " + r.error().message);
    if (auto r = enter_client_mode(host); !r) return r;
  }
  for (std::size_t i = 0; i < config.identities.size(); ++i) {
    const auto& files = config.identities[i];
    const std::string where = "identities[" + std::to_string(i) + "]";
    auto chain = identity::read_certificates_file(files.certificate);
    if (!chain) return fail(where + ".certificate: " + chain.error().message);
    auto key = read_key_file(files.key, true);
    if (!key) return fail(where + ".key: " + key.error().message);
    LocalIdentitySpec spec;
    spec.private_key = std::move(*key);
    spec.chain = std::move(*chain);
    spec.source = "config";
    if (auto r = tunnel->add_local_identity(std::move(spec)); !r)
      return fail(where + ": " + files.certificate + ": " + r.error().message);
  }
  for (std::size_t i = 0; i < config.directory.size(); ++i) {
    const auto& entry = config.directory[i];
    const std::string where = "directory[" + std::to_string(i) + "]";
    auto chain = identity::read_certificates_file(entry.certificate);
    if (!chain) return fail(where + ".certificate: " + chain.error().message);
    // A directory entry that does not validate is skipped, not fatal: the directory is
    // untrusted input, and one stale certificate must not keep a node from starting.
    if (auto r = tunnel->add_remote(*chain, entry.endpoints); !r)
      spdlog::warn("{}: {}: ignored: {}", where, entry.certificate, r.error().message);
  }
  return {};
}

std::shared_ptr<const policy::Policy> Daemon::Impl::effective_policy(
    std::shared_ptr<const policy::Policy> file) const {
  auto p = with_discovery_rule(std::move(file));
  if (!p || !network_policies) return p;
  return std::make_shared<const policy::Policy>(p->with_network_policies(network_policies));
}

void Daemon::Impl::set_network_policies(std::shared_ptr<const policy::NetworkPolicies> np,
                                        const std::string& why) {
  network_policies = std::move(np);
  if (!policy) return;
  policy = std::make_shared<const policy::Policy>(policy->with_network_policies(network_policies));
  const auto change = tunnel->set_policy(policy);
  const std::string summary = std::to_string(network_policies->size()) + " NetworkPolic" +
                              (network_policies->size() == 1 ? "y" : "ies") + " (" + why + "); " +
                              std::to_string(change.paths_closed) + " path(s) closed, " +
                              std::to_string(change.flows_dropped) + " flow(s) dropped";
  spdlog::info("kubernetes: {}", summary);
  audit_reload(audit.get(), time.wall_now(), "kubernetes: " + summary);
}

Result<void> Daemon::Impl::load_policy() {
  if (config.kubernetes && config.kubernetes->network_policy)
    network_policies = std::make_shared<const policy::NetworkPolicies>(
        std::vector<policy::NetworkPolicy>{}, false);
  if (!config.policy_file.empty()) {
    auto loaded = policy::load_policy_file(config.policy_file);
    if (!loaded) return fail("policy: " + loaded.error().message);
    policy = std::make_shared<const policy::Policy>(std::move(*loaded));
    spdlog::info("policy {}: {} rule(s)", config.policy_file, policy->rules().size());
  }
  policy = effective_policy(policy);
  if (policy) tunnel->set_policy(policy);
  return {};
}

void Daemon::Impl::reload_policy(const char* why) {
  if (config.policy_file.empty()) return;
  if (static_directory)
    if (auto r = static_directory->reload(); !r)
      spdlog::error("discovery.static reload ({}) failed, keeping the previous entries: {}", why,
                    r.error().message);
  std::shared_ptr<const policy::Policy> current;
  auto reloaded = policy::reload_policy_file(config.policy_file, current);
  if (!reloaded) {
    spdlog::error("policy reload ({}) failed, keeping the previous policy: {}", why,
                  reloaded.error().message);
    audit_reload(audit.get(), time.wall_now(),
                 std::string("reload failed, previous policy kept: ") + reloaded.error().message);
    return;
  }
  policy = effective_policy(*reloaded);
  const auto change = tunnel->set_policy(policy);
  const std::string summary = std::to_string(policy->rules().size()) + " rule(s); " +
                              std::to_string(change.paths_closed) + " path(s) closed, " +
                              std::to_string(change.flows_dropped) + " flow(s) dropped";
  spdlog::info("policy reloaded ({}): {}", why, summary);
  audit_reload(audit.get(), time.wall_now(), std::string("reloaded (") + why + "): " + summary);
}

void Daemon::Impl::reload_revocation_list(const char* why) {
  if (config.revocation_list.empty()) return;
  auto list = identity::read_revocation_list_file(config.revocation_list);
  if (!list) {
    spdlog::error("revocation list reload ({}) failed, keeping the previous one: {}", why,
                  list.error().message);
    return;
  }
  // Applied, saved, served by our lighthouse and offered to the others (revocations.cpp).
  (void)take_revocation_list(*list, RevocationOrigin::File);
}

void Daemon::Impl::watch_files() {
  // uv_fs_poll compares stat() results once a second: simple, and it sees a file replaced by
  // rename (how editors and `keymesh crl sign` write) as well as one rewritten in place.
  auto start = [this](UvHandle<uv_fs_poll_t>& handle, const std::string& path,
                      uv_fs_poll_cb cb) {
    if (path.empty()) return;
    uv_fs_poll_init(&loop, handle.get());
    handle.get()->data = this;
    uv_fs_poll_start(handle.get(), cb, path.c_str(), kWatchIntervalMs);
  };
  start(policy_watch, config.policy_file, [](uv_fs_poll_t* h, int status, const uv_stat_t*,
                                             const uv_stat_t*) {
    if (status == 0) static_cast<Impl*>(h->data)->reload_policy("file changed");
  });
  start(crl_watch, config.revocation_list, [](uv_fs_poll_t* h, int status, const uv_stat_t*,
                                              const uv_stat_t*) {
    if (status == 0) static_cast<Impl*>(h->data)->reload_revocation_list("file changed");
  });
}

}  // namespace keymesh::daemon
