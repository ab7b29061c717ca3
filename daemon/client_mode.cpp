// Client mode (docs/access.md): keymeshd on a person's machine, whose host certificate is a
// user certificate from an access CA. Such a host is a member of the overlay like any other,
// but it hosts nothing: no workloads (node CA, Docker, extra identities), no site (gateway,
// masquerade), no lighthouse, no relaying for others. Those keys are refused at start with
// one error naming them.
//
// Policy: without a `policy:` file a client gets one built-in rule, `keymesh-user-client`,
// that lets its own user identity open flows to anything. The other side's policy decides
// what the person may reach; nobody may open a connection to the laptop (the rule grants
// from the user only; replies of its own flows pass through connection tracking). With a
// `policy:` file, that file alone decides, as on any host.
#include <spdlog/spdlog.h>

#include "common/bytes.h"
#include "daemon/daemon_impl.h"
#include "identity/certificate.h"

namespace keymesh::daemon {

namespace {
constexpr const char* kClientRule = "keymesh-user-client";

// What a client host may not be configured with, and why not in one phrase each.
std::vector<std::string> server_keys(const Config& c) {
  std::vector<std::string> keys;
  if (c.node_ca) keys.emplace_back("node_ca");
  if (c.docker) keys.emplace_back("docker");
  if (!c.identities.empty()) keys.emplace_back("identities");
  if (c.gateway) keys.emplace_back("gateway");
  if (!c.masquerade.empty()) keys.emplace_back("masquerade");
  if (c.lighthouse) keys.emplace_back("lighthouse");
  if (c.relay) keys.emplace_back("relay");
  // The built-in discovery rule is between node identities; not yet for people.
  if (!c.lighthouses.empty()) keys.emplace_back("lighthouses");
  return keys;
}
}  // namespace

Result<void> Daemon::Impl::enter_client_mode(const identity::Certificate& host) {
  if (host.kind() != identity::Kind::User) return {};
  if (const auto keys = server_keys(config); !keys.empty()) {
    std::string list;
    for (const auto& k : keys) list += (list.empty() ? "" : ", ") + k;
    return fail("certificate: " + host.describe() + " is a user certificate (client mode): a "
                "person's machine hosts no workloads, sites or services for others; remove " +
                list);
  }
  spdlog::info("client mode: user {} ({}, groups {}), certificate {}", host.name(),
               host.fields().subject, host.fields().groups.size(), host.short_fingerprint());
  if (!config.policy_file.empty()) return {};
  // Only this user's own identity, pinned to its access CA, may open flows.
  policy::Rule rule;
  rule.name = kClientRule;
  rule.from.kind = "user";
  rule.from.name = host.name();
  rule.from.issuer_sha256 = to_hex(*host.fields().issuer);
  rule.allow.push_back(policy::Service{.protos = (1u << policy::kProtoCount) - 1});
  std::vector<policy::Rule> rules{std::move(rule)};
  if (policy)
    for (const auto& r : policy->rules()) rules.push_back(r);
  policy = std::make_shared<const policy::Policy>(std::move(rules));
  tunnel->set_policy(policy);
  return {};
}

}  // namespace keymesh::daemon
