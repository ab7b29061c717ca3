// keymesh policy check: the question keymeshd answers for a flow, asked offline. Loads a
// policy file, reads two certificates (optionally validating their chains), and prints the
// decision of Policy::check with the deciding rule or the reason for the denial.
#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "identity/cert_file.h"
#include "identity/chain.h"
#include "policy/loader.h"
#include "policy/schedule.h"
#include "tools/commands.h"
#include "ctl/control_client.h"
#include "tools/identity_cli.h"
#include "policy/subject_of.h"

namespace keymesh::tools {

namespace {

struct CheckOptions {
  std::string policy, from, to, port, at;
  std::string socket = ctl::kDefaultControlSocket;
  std::vector<std::string> roots;
  bool json = false;
};

struct Flow {
  policy::Proto proto = policy::Proto::kTcp;
  std::uint16_t port = 0;
};

// Exactly one service: "tcp/5432", "udp/53" or "icmp".
Result<Flow> parse_flow(const std::string& text) {
  auto service = policy::parse_service(text);
  if (!service) return fail("--port: " + service.error().message);
  using policy::Proto;
  for (Proto p : {Proto::kTcp, Proto::kUdp, Proto::kIcmp}) {
    if (service->protos != (1u << unsigned(p))) continue;
    if (p == Proto::kIcmp) return Flow{p, 0};
    if (service->lo == service->hi) return Flow{p, service->lo};
  }
  return fail("--port: \"" + text + "\" is not one service (tcp/PORT, udp/PORT or icmp)");
}

// RFC 3339 (Z or an offset) or unix seconds.
Result<WallTime> parse_at(const std::string& text) {
  if (auto t = policy::parse_rfc3339(text)) return *t;
  auto t = parse_time(text);
  if (!t) return fail("--at: \"" + text + "\" is not an RFC 3339 time (2026-11-22T07:00:00Z)");
  return WallTime(std::chrono::seconds(*t));
}

// The subject for one --from/--to file: validated against `store` when roots were given.
Result<policy::Subject> read_subject(const std::string& path, const identity::TrustStore* store,
                                     WallTime at) {
  auto chain = identity::read_certificates_file(path);
  if (!chain) return std::unexpected(chain.error());
  if (store) {
    auto id = store->validate(*chain, at);
    if (!id) return fail(path + ": " + id.error().message);
    return policy::subject_from(*id);
  }
  const identity::Certificate& leaf = chain->front();
  if (leaf.is_ca())
    return fail(path + ": " + leaf.describe() + " is a CA, not a node, workload or gateway");
  return policy::subject_from(leaf);
}

// The decision, then each side's context labels when it has any (they decide `when:` rules).
void print_decision(bool allow, const std::string& rule, const std::string& reason,
                    const std::string& from, const std::map<std::string, std::string>& from_ctx,
                    const std::string& to, const std::map<std::string, std::string>& to_ctx) {
  if (allow) std::cout << "allow (rule " << rule << ")\n";
  else std::cout << "deny: " << reason << "\n";
  for (const auto& [who, ctx] : {std::pair{&from, &from_ctx}, std::pair{&to, &to_ctx}}) {
    if (ctx->empty()) continue;
    std::string text;
    for (const auto& [k, v] : *ctx) text += (text.empty() ? "" : ", ") + k + "=" + v;
    std::cout << "  context of " << *who << ": " << text << "\n";
  }
}

// Without --policy: ask the running keymeshd, which knows its identities (and the remote ones
// it has seen) by name or fingerprint and enforces the policy it answers with.
Result<void> daemon_check(const CheckOptions& o, WallTime at, int& exit_status) {
  proto::Request request;
  auto* r = request.mutable_policy_check();
  r->set_from(o.from);
  r->set_to(o.to);
  r->set_port(o.port);
  if (!o.at.empty())
    r->set_at_unix(std::chrono::duration_cast<std::chrono::seconds>(at.time_since_epoch()).count());
  auto reply = ctl::ask_daemon(o.socket, request);
  if (!reply) return std::unexpected(reply.error());
  const auto& d = reply->policy_check();
  if (o.json) {
    nlohmann::ordered_json j;
    j["decision"] = d.allow() ? "allow" : "deny";
    j["rule"] = d.allow() ? nlohmann::ordered_json(d.rule()) : nlohmann::ordered_json(nullptr);
    j["reason"] = d.reason();
    j["from"] = o.from;
    j["to"] = o.to;
    j["service"] = o.port;
    j["at"] = policy::format_rfc3339_ms(at);
    j["source"] = "keymeshd";
    j["from_context"] = std::map<std::string, std::string>(d.from_context().begin(),
                                                           d.from_context().end());
    j["to_context"] = std::map<std::string, std::string>(d.to_context().begin(),
                                                         d.to_context().end());
    std::cout << j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
  } else {
    print_decision(d.allow(), d.rule(), d.reason(), o.from,
                   {d.from_context().begin(), d.from_context().end()}, o.to,
                   {d.to_context().begin(), d.to_context().end()});
  }
  exit_status = d.allow() ? 0 : 1;
  return {};
}

Result<void> policy_check(const CheckOptions& o, int& exit_status) {
  exit_status = 2;  // every error below
  auto flow = parse_flow(o.port);
  if (!flow) return std::unexpected(flow.error());
  WallTime at = std::chrono::system_clock::now();
  if (!o.at.empty()) {
    auto t = parse_at(o.at);
    if (!t) return std::unexpected(t.error());
    at = *t;
  }
  if (o.policy.empty()) return daemon_check(o, at, exit_status);
  auto policy = policy::load_policy_file(o.policy);
  if (!policy) return std::unexpected(policy.error());

  std::unique_ptr<identity::TrustStore> store;
  if (!o.roots.empty()) {
    store = std::make_unique<identity::TrustStore>();
    for (const auto& path : o.roots) {
      auto roots = identity::read_certificates_file(path);
      if (!roots) return std::unexpected(roots.error());
      for (const auto& root : *roots)
        if (auto r = store->add_root(root); !r) return fail(path + ": " + r.error().message);
    }
  }
  auto from = read_subject(o.from, store.get(), at);
  if (!from) return std::unexpected(from.error());
  auto to = read_subject(o.to, store.get(), at);
  if (!to) return std::unexpected(to.error());

  const policy::Decision d = policy->check(*from, *to, flow->proto, flow->port, at);
  if (o.json) {
    nlohmann::ordered_json j;
    j["decision"] = d.allow ? "allow" : "deny";
    j["rule"] = d.allow ? nlohmann::ordered_json(d.rule) : nlohmann::ordered_json(nullptr);
    j["reason"] = d.reason;
    j["from"] = {{"name", from->name}, {"fingerprint", from->fingerprint},
                 {"issuer", from->issuer}, {"context", from->context}};
    j["to"] = {{"name", to->name}, {"fingerprint", to->fingerprint},
               {"issuer", to->issuer}, {"context", to->context}};
    j["service"] = policy::describe_service(flow->proto, flow->port);
    j["at"] = policy::format_rfc3339_ms(at);
    j["validated"] = store != nullptr;
    std::cout << j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
  } else {
    print_decision(d.allow, d.rule, d.reason, from->name, from->context, to->name, to->context);
  }
  exit_status = d.allow ? 0 : 1;
  return {};
}

}  // namespace

void add_policy_commands(CLI::App& app, Outcome& outcome, int& exit_status) {
  auto* policy = app.add_subcommand("policy", "Check policy decisions (offline or in keymeshd)");
  policy->require_subcommand(1);

  auto c = std::make_shared<CheckOptions>();
  auto* check = policy->add_subcommand(
      "check", "Whether a policy lets one identity reach another on a service (exit 0 allow, "
               "1 deny, 2 error)");
  check->add_option("--policy", c->policy,
                    "Policy file (YAML): decide offline from certificate files. Without it, "
                    "ask keymeshd, with identity names or fingerprints for --from/--to");
  check->add_option("--from", c->from, "Sender: certificate file, or identity name/fingerprint")
      ->required();
  check->add_option("--to", c->to, "Receiver: certificate file, or identity name/fingerprint")
      ->required();
  check->add_option("--socket", c->socket, "keymeshd control socket (without --policy)")
      ->capture_default_str();
  check->add_option("--port", c->port, "Service: tcp/5432, udp/53 or icmp")->required();
  check->add_option("--at", c->at, "Decide at this time (RFC 3339; default now)");
  check->add_option("--ca", c->roots,
                    "Trusted root CA certificate (repeatable): validate both chains first");
  check->add_flag("--json", c->json, "Print JSON");
  check->callback([c, &outcome, &exit_status] { outcome = policy_check(*c, exit_status); });

  auto socket = std::make_shared<std::string>(ctl::kDefaultControlSocket);
  auto* reload = policy->add_subcommand(
      "reload", "Make keymeshd re-read its policy file now (as SIGHUP does); prints the effect");
  reload->add_option("--socket", *socket, "keymeshd control socket")->capture_default_str();
  reload->callback([socket, &outcome] {
    proto::Request request;
    request.mutable_policy_reload();
    auto reply = ctl::ask_daemon(*socket, request);
    if (!reply) {
      outcome = std::unexpected(reply.error());
      return;
    }
    const auto& r = reply->policy_reload();
    std::cout << "policy reloaded: " << r.rules() << " rule(s), " << r.paths_closed()
              << " path(s) closed\n";
  });
}

}  // namespace keymesh::tools
