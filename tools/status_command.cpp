// keymesh status: asks keymeshd for its state and prints it the way `wg show` does.
#include <google/protobuf/util/json_util.h>

#include <map>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "tools/commands.h"
#include "identity/certificate.h"
#include "ctl/control_client.h"

namespace keymesh::tools {

namespace {

constexpr char kDefaultSocket[] = "/run/keymesh/keymesh.sock";

// "site=onprem, zone=b", keys in order (protobuf maps have none).
std::string context_text(const google::protobuf::Map<std::string, std::string>& context) {
  std::map<std::string, std::string> sorted(context.begin(), context.end());
  std::string out;
  for (const auto& [k, v] : sorted) out += (out.empty() ? "" : ", ") + k + "=" + v;
  return out;
}

std::string plural(std::uint64_t n, const char* unit) {
  return std::to_string(n) + " " + unit + (n == 1 ? "" : "s");
}

// "1 minute, 12 seconds ago", as wg prints it.
std::string ago(std::int64_t then_unix, std::int64_t now_unix) {
  if (now_unix <= then_unix) return "Now";
  std::uint64_t left = std::uint64_t(now_unix - then_unix);
  const std::uint64_t days = left / 86400, hours = left / 3600 % 24, minutes = left / 60 % 60,
                      seconds = left % 60;
  std::string out;
  const auto part = [&](std::uint64_t n, const char* unit) {
    if (n == 0) return;
    if (!out.empty()) out += ", ";
    out += plural(n, unit);
  };
  part(days, "day");
  part(hours, "hour");
  part(minutes, "minute");
  part(seconds, "second");
  return out + " ago";
}

std::string human_bytes(std::uint64_t n) {
  if (n < 1024) return std::to_string(n) + " B";
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  double v = double(n) / 1024;
  std::size_t unit = 0;
  while (v >= 1024 && unit + 1 < std::size(kUnits)) {
    v /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f %s", v, kUnits[unit]);
  return buf;
}

Result<void> status(const std::string& socket, bool json, bool all_drops) {
  auto client = ctl::ControlClient::connect(socket);
  if (!client) return std::unexpected(client.error());
  proto::Request request;
  request.mutable_status();
  auto reply = client->call(request);
  if (!reply) return std::unexpected(reply.error());
  if (!reply->error().empty()) return fail("keymeshd: " + reply->error());
  if (!reply->has_status()) return fail("keymeshd sent a reply without status");

  if (json) {
    if (auto r = print_json(reply->status()); !r) return r;
  } else {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
        std::chrono::system_clock::now().time_since_epoch());
    std::cout << format_status(reply->status(), all_drops, now.count());
  }
  std::cout.flush();
  if (!std::cout) return fail("cannot write to stdout");
  return {};
}

}  // namespace

Result<void> print_json(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(message, &out, options).ok())
    return fail("cannot render the reply as JSON");
  std::cout << out;
  if (out.empty() || out.back() != '\n') std::cout << "\n";
  return {};
}

std::string format_status(const proto::StatusReply& s, bool all_drops, std::int64_t now_unix) {
  std::string out;
  out += "interface: " + s.interface() + "\n";
  if (!s.public_key().empty()) out += "  public key: " + s.public_key() + "\n";
  if (s.listen_port() != 0) out += "  listening port: " + std::to_string(s.listen_port()) + "\n";
  if (s.mtu() != 0) out += "  mtu: " + std::to_string(s.mtu()) + "\n";
  if (!s.policy_file().empty())
    out += "  policy: " + s.policy_file() + " (" + plural(s.policy_rules(), "rule") + ")\n";

  for (const auto& id : s.identities()) {
    if (id.kind() == "raw" && s.identities_size() == 1) break;  // plain WireGuard mode
    out += "\nidentity: " + id.name() + " (" + id.kind() + ", " + id.source() + ")\n";
    if (!id.fingerprint().empty()) out += "  fingerprint: " + id.fingerprint() + "\n";
    if (id.networks_size() > 0) {
      out += "  networks: ";
      for (int i = 0; i < id.networks_size(); ++i) out += (i ? ", " : "") + id.networks(i);
      out += "\n";
    }
    if (id.groups_size() > 0) {
      out += "  groups: ";
      for (int i = 0; i < id.groups_size(); ++i) out += (i ? ", " : "") + id.groups(i);
      out += "\n";
    }
    if (!id.issuer().empty()) out += "  issuer: " + id.issuer() + "\n";
    if (!id.context().empty()) out += "  context: " + context_text(id.context()) + " (from its CA)\n";
    if (id.not_after_unix() != 0)
      out += "  valid until: " + identity::format_utc(id.not_after_unix()) + "\n";
    if (id.renew_at_unix() != 0) out += "  renews at: " + identity::format_utc(id.renew_at_unix()) + "\n";
    out += "  paths: " + std::to_string(id.paths()) + "\n";
  }

  for (const auto& p : s.peers()) {
    out += "\npeer: " + p.public_key();
    if (!p.name().empty()) out += " (" + p.name() + ")";
    out += "\n";
    if (p.preshared_key()) out += "  preshared key: (hidden)\n";
    if (!p.local_identity().empty()) {
      out += "  path: " + p.local_identity() + " <-> " + p.name() + "\n";
      if (!p.remote_fingerprint().empty())
        out += "  remote certificate: " + p.remote_fingerprint().substr(0, 16) + "\n";
      if (p.remote_groups_size() > 0) {
        out += "  remote groups: ";
        for (int i = 0; i < p.remote_groups_size(); ++i) out += (i ? ", " : "") + p.remote_groups(i);
        out += "\n";
      }
      if (!p.remote_issuer().empty()) out += "  remote issuer: " + p.remote_issuer() + "\n";
      if (!p.remote_context().empty())
        out += "  remote context: " + context_text(p.remote_context()) + " (verified from its chain)\n";
      out += "  tracked flows: " + std::to_string(p.flows()) + "\n";
    }
    if (!p.endpoint().empty()) out += "  endpoint: " + p.endpoint() + "\n";
    if (!p.local_identity().empty())
      out += "  route: " + (p.relay().empty() ? std::string("direct")
                                              : "relayed via " + p.relay() +
                                                    (p.relay_name().empty() ? "" : " (" + p.relay_name() + ")")) +
             "\n";
    out += "  allowed ips: ";
    if (p.allowed_ips().empty()) out += "(none)";
    for (int i = 0; i < p.allowed_ips_size(); ++i) {
      if (i) out += ", ";
      out += p.allowed_ips(i);
    }
    out += "\n";
    if (p.last_handshake_unix() != 0)
      out += "  latest handshake: " + ago(p.last_handshake_unix(), now_unix) + "\n";
    if (p.rx_bytes() != 0 || p.tx_bytes() != 0)
      out += "  transfer: " + human_bytes(p.rx_bytes()) + " received, " +
             human_bytes(p.tx_bytes()) + " sent\n";
    if (p.persistent_keepalive() != 0)
      out += "  persistent keepalive: every " + plural(p.persistent_keepalive(), "second") + "\n";
  }

  for (const auto& site : s.sites()) {  // networks with several gateways (docs/sites.md)
    out += "\nsite network: " + site.network() + "\n  via: " + site.via() + "\n  candidates: ";
    for (int i = 0; i < site.candidates_size(); ++i) out += (i ? ", " : "") + site.candidates(i);
    out += "\n  failovers: " + std::to_string(site.failovers()) + "\n";
  }
  if (s.has_relay() && (s.relay().enabled() || s.relay().relays_size() > 0)) {
    const auto& r = s.relay();
    out += "\nrelay: " + std::string(r.enabled() ? "on" : "off") + ", forwarded " +
           plural(r.forwarded_packets(), "packet") + " (" + human_bytes(r.forwarded_bytes()) + ")\n";
    for (const auto& a : r.relays()) out += "  through relay: " + a + "\n";
    for (const auto& p : r.pairs())
      out += "  " + p.from() + " -> " + p.to() + ": " + plural(p.packets(), "packet") + ", " +
             human_bytes(p.bytes()) + "\n";
  }

  if (s.has_control_socket()) {  // docs/config.md, "Control socket"
    const auto& c = s.control_socket();
    out += "\ncontrol socket: " + std::to_string(c.open()) + " of " +
           plural(c.max_open(), "connection") + " open, " + std::to_string(c.timed_out()) +
           " timed out (no request within " + std::to_string(c.request_deadline_ms()) +
           " ms), " + std::to_string(c.evicted()) + " evicted\n";
  }

  std::string drops;
  for (const auto& d : s.drops()) {
    if (d.count() == 0 && !all_drops) continue;
    drops += "  " + d.reason() + ": " + std::to_string(d.count()) + "\n";
  }
  if (!drops.empty()) out += "\ndrops:\n" + drops;
  return out;
}

void add_status_command(CLI::App& app, Outcome& outcome) {
  struct Options {
    std::string socket = kDefaultSocket;
    bool json = false;
    bool all_drops = false;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd =
      app.add_subcommand("status", "Show interface, peers and drop counters, like `wg show`");
  cmd->add_option("--socket", opts->socket, "keymeshd control socket")->capture_default_str();
  cmd->add_flag("--json", opts->json, "Print the status as JSON");
  cmd->add_flag("--all-drops", opts->all_drops, "List drop reasons whose count is zero too");
  cmd->callback([opts, &outcome] { outcome = status(opts->socket, opts->json, opts->all_drops); });
}

}  // namespace keymesh::tools
