#include "daemon/config.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <span>
#include <sstream>
#include <system_error>

#include "common/bytes.h"
#include "common/files.h"
#include "common/yaml_fields.h"
#include "identity/key_file.h"

namespace keymesh::daemon {

namespace {

// A config file is a few kilobytes; the cap keeps a wrong path (a disk image, /dev/zero)
// from being slurped into memory.
constexpr std::size_t kMaxConfigBytes = 1 << 20;
constexpr std::size_t kMaxPeerName = 64;
constexpr std::size_t kMaxInterfaceName = 15;  // IFNAMSIZ - 1
constexpr std::size_t kMaxSocketPath = 107;    // sizeof(sockaddr_un::sun_path) - 1
constexpr std::int64_t kMaxTimerMs = 86'400'000;

constexpr std::array<std::string_view, 31> kRootKeys = {"private_key_file",
                                                        "lighthouse",
                                                        "relay",
                                                        "relays",
                                                        "lighthouses",
                                                        "discovery",
                                                        "advertise",
                                                        "certificate",
                                                        "trust",
                                                        "identities",
                                                        "directory",
                                                        "policy",
                                                        "audit_log",
                                                        "audit_syslog",
                                                        "flow_log",
                                                        "node_ca",
                                                        "state_dir",
                                                       "listen_port",
                                                       "interface",
                                                       "control_socket",
                                                       "metrics_listen",
                                                       "log_level",
                                                       "socket_buffer_bytes",
                                                       "udp_offload",
                                                       "under_load_handshakes_per_second",
                                                       "peers",
                                                       "testing",
                                                        "docker",
                                                        "kubernetes",
                                                        "masquerade",
                                                        "gateway"};
constexpr std::array<std::string_view, 3> kLighthouseKeys = {"address", "certificate",
                                                             "endpoints"};
constexpr std::array<std::string_view, 2> kDiscoveryKeys = {"static", "etcd"};
constexpr std::array<std::string_view, 3> kEtcdKeys = {"endpoints", "prefix", "lease_ttl_seconds"};
constexpr std::array<std::string_view, 2> kTrustKeys = {"roots", "revocation_list"};
constexpr std::array<std::string_view, 2> kIdentityKeys = {"certificate", "key"};
constexpr std::array<std::string_view, 2> kDirectoryKeys = {"certificate", "endpoints"};
constexpr std::array<std::string_view, 4> kNodeCaKeys = {"certificate", "key",
                                                         "workload_lifetime_seconds",
                                                         "renew_at_percent"};
constexpr std::array<std::string_view, 2> kFlowLogKeys = {"enabled", "max_per_second"};
constexpr std::array<std::string_view, 3> kInterfaceKeys = {"name", "addresses", "mtu"};
constexpr std::array<std::string_view, 8> kPeerKeys = {
    "name",        "public_key",           "preshared_key_file", "endpoint",
    "allowed_ips", "persistent_keepalive", "groups",             "labels"};
constexpr std::array<std::string_view, 7> kTestingKeys = {
    "rekey_after_time_ms", "reject_after_time_ms", "rekey_attempt_time_ms",
    "rekey_timeout_ms",    "keepalive_timeout_ms", "rekey_after_messages",
    "wall_clock_start_unix"};
constexpr std::array<std::string_view, 5> kLogLevels = {"trace", "debug", "info", "warn", "error"};

using namespace keymesh::yaml;  // quote, at, child, check_map, get_string, ... (common/)

// ---- Typed readers. Each returns an error naming `path`. ----

bool present(const YAML::Node& n) { return n.IsDefined(); }

Result<IpPrefix> get_prefix(const YAML::Node& n, const std::string& path) {
  auto text = get_string(n, path);
  if (!text) return std::unexpected(text.error());
  auto prefix = IpPrefix::parse(*text);
  if (!prefix) return fail(at(path, quote(*text) + " is not a CIDR"));
  return *prefix;
}

Result<std::string> get_path(const YAML::Node& n, const std::string& path,
                             std::string_view base_dir) {
  auto text = get_string(n, path);
  if (!text) return text;
  if (text->empty()) return fail(at(path, "is empty"));
  if (text->find('\0') != std::string::npos) return fail(at(path, "contains a NUL byte"));
  if (text->front() == '/' || base_dir.empty()) return text;
  std::string joined(base_dir);
  if (joined.back() != '/') joined += '/';
  return joined + *text;
}

Result<udp::Endpoint> get_endpoint(const YAML::Node& n, const std::string& path) {
  auto s = get_string(n, path);
  if (!s) return std::unexpected(s.error());
  auto ep = udp::Endpoint::parse(*s);
  if (!ep || !ep->valid())
    return fail(path + ": " + quote(*s) +
                " is not an address:port (198.18.0.2:51820 or [2001:db8::2]:51820)");
  if (ep->port == 0) return fail(path + ": port must be 1-65535, got 0");
  return *ep;
}

using identity::decode_key_bytes;

std::string_view trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n";
  const auto b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(kSpace) - b + 1);
}

// Group names and label keys of a raw-key peer: what a certificate allows for them
// (identity::valid_name: printable ASCII, no spaces, at most 255 characters).
constexpr std::size_t kMaxSubjectName = 255;
constexpr std::size_t kMaxSubjectEntries = 64;
constexpr std::size_t kMaxLabelValue = 1024;

bool printable(std::string_view s, bool spaces_ok) {
  return std::all_of(s.begin(), s.end(), [&](char c) {
    return (c > 0x20 && c < 0x7f) || (spaces_ok && c == ' ');
  });
}

bool valid_subject_name(std::string_view s) {
  return !s.empty() && s.size() <= kMaxSubjectName && printable(s, false);
}

bool valid_interface_name(std::string_view name) {
  if (name.empty() || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return c > 0x20 && c < 0x7f && c != '/' && c != ':'; });
}

// ---- Sections ----

Result<void> parse_interface(const YAML::Node& n, Config& config) {
  const std::string path = "interface";
  if (auto r = check_map(n, path, kInterfaceKeys); !r) return r;
  if (auto name = field(n, "name"); present(name)) {
    auto s = get_string(name, "interface.name");
    if (!s) return std::unexpected(s.error());
    if (s->size() > kMaxInterfaceName)
      return fail("interface.name: " + quote(*s) + " is longer than 15 characters");
    if (!valid_interface_name(*s))
      return fail("interface.name: " + quote(*s) +
                  " is not a valid interface name (no spaces, '/' or ':')");
    config.interface_name = *s;
  }
  if (auto addresses = field(n, "addresses"); present(addresses)) {
    auto r = for_each_item(addresses, "interface.addresses",
                           [&](const YAML::Node& a, const std::string& p) -> Result<void> {
                             auto prefix = get_prefix(a, p);
                             if (!prefix) return std::unexpected(prefix.error());
                             if (std::find(config.addresses.begin(), config.addresses.end(),
                                           *prefix) != config.addresses.end())
                               return fail(p + ": " + prefix->to_string() + " is listed twice");
                             config.addresses.push_back(*prefix);
                             return {};
                           });
    if (!r) return r;
  }
  if (auto mtu = field(n, "mtu"); present(mtu)) {
    auto v = get_int(mtu, "interface.mtu", 576, 9000);
    if (!v) return std::unexpected(v.error());
    const bool has_v6 = std::any_of(config.addresses.begin(), config.addresses.end(),
                                    [](const IpPrefix& p) { return p.address.family == AF_INET6; });
    if (has_v6 && *v < 1280)
      return fail(
          "interface.mtu: must be at least 1280 when the interface has an IPv6 "
          "address, got " +
          std::to_string(*v));
    config.mtu = int(*v);
  }
  return {};
}

Result<void> parse_testing(const YAML::Node& n, TimerConfig& timers) {
  if (auto r = check_map(n, "testing", kTestingKeys); !r) return r;
  struct Timer {
    std::string_view key;
    std::chrono::milliseconds* target;
  };
  const std::array<Timer, 5> timer_fields = {{
      {"rekey_after_time_ms", &timers.rekey_after_time},
      {"reject_after_time_ms", &timers.reject_after_time},
      {"rekey_attempt_time_ms", &timers.rekey_attempt_time},
      {"rekey_timeout_ms", &timers.rekey_timeout},
      {"keepalive_timeout_ms", &timers.keepalive_timeout},
  }};
  for (const auto& t : timer_fields) {
    if (auto node = field(n, t.key); present(node)) {
      auto v = get_int(node, child("testing", t.key), 1, kMaxTimerMs);
      if (!v) return std::unexpected(v.error());
      *t.target = std::chrono::milliseconds(*v);
    }
  }
  if (auto node = field(n, "rekey_after_messages"); present(node)) {
    auto v = get_int(node, "testing.rekey_after_messages", 1, std::int64_t(1) << 60);
    if (!v) return std::unexpected(v.error());
    timers.rekey_after_messages = std::uint64_t(*v);
  }
  if (auto node = field(n, "wall_clock_start_unix"); present(node)) {
    auto v = get_int(node, "testing.wall_clock_start_unix", 1, 253'402'300'799);
    if (!v) return std::unexpected(v.error());
    timers.wall_clock_start_unix = *v;
  }
  // WireGuard relies on a key being renewed before it is refused.
  if (timers.reject_after_time <= timers.rekey_after_time)
    return fail("testing.reject_after_time_ms: must be greater than rekey_after_time (" +
                std::to_string(timers.rekey_after_time.count()) + " ms), got " +
                std::to_string(timers.reject_after_time.count()));
  return {};
}

// groups: [a, b] and labels: { site: cloud-x }: what policy rules may select a raw-key peer
// by, with the same limits a certificate has.
Result<void> parse_peer_subject(const YAML::Node& n, const std::string& path, PeerConfig& peer) {
  if (auto groups = field(n, "groups"); present(groups)) {
    const std::string gpath = child(path, "groups");
    auto r = for_each_item(groups, gpath, [&](const YAML::Node& g, const std::string& p)
                                              -> Result<void> {
      auto v = get_string(g, p);
      if (!v) return std::unexpected(v.error());
      if (!valid_subject_name(*v))
        return fail(p + ": " + quote(*v) +
                    " is not a group name (1-255 printable characters, no spaces)");
      if (std::find(peer.groups.begin(), peer.groups.end(), *v) != peer.groups.end())
        return fail(p + ": " + quote(*v) + " is listed twice");
      if (peer.groups.size() == kMaxSubjectEntries)
        return fail(gpath + ": more than " + std::to_string(kMaxSubjectEntries) + " groups");
      peer.groups.push_back(*v);
      return {};
    });
    if (!r) return r;
  }
  if (auto labels = field(n, "labels"); present(labels)) {
    const std::string lpath = child(path, "labels");
    if (!labels.IsMap()) return fail(at(lpath, "expected a map (site: cloud-x), got " + describe(labels)));
    for (auto it = labels.begin(); it != labels.end(); ++it) {
      if (!it->first.IsScalar())
        return fail(at(lpath, "keys must be plain names, got " + describe(it->first)));
      const std::string& key = it->first.Scalar();
      if (!valid_subject_name(key) || key.find('=') != std::string::npos)
        return fail(at(lpath, quote(key) + " is not a label name (1-255 printable "
                                           "characters, no spaces or '=')"));
      auto value = get_string(it->second, child(lpath, key));
      if (!value) return std::unexpected(value.error());
      if (value->size() > kMaxLabelValue || !printable(*value, true))
        return fail(child(lpath, key) + ": must be at most 1024 printable characters");
      if (peer.labels.size() == kMaxSubjectEntries)
        return fail(lpath + ": more than " + std::to_string(kMaxSubjectEntries) + " labels");
      if (!peer.labels.emplace(key, *value).second)
        return fail(at(lpath, "key " + quote(key) + " appears more than once"));
    }
  }
  return {};
}

Result<PeerConfig> parse_peer(const YAML::Node& n, const std::string& path,
                              std::string_view base_dir) {
  PeerConfig peer;
  if (!n.IsMap()) return fail(at(path, "expected a map, got " + describe(n)));
  if (auto r = check_map(n, path, kPeerKeys); !r) return std::unexpected(r.error());

  if (auto name = field(n, "name"); present(name)) {
    auto s = get_string(name, child(path, "name"));
    if (!s) return std::unexpected(s.error());
    if (s->size() > kMaxPeerName)
      return fail(child(path, "name") + ": longer than " + std::to_string(kMaxPeerName) +
                  " characters");
    if (std::any_of(s->begin(), s->end(),
                    [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }))
      return fail(child(path, "name") + ": " + quote(*s) + " contains control characters");
    peer.name = *s;
  }

  const auto key = field(n, "public_key");
  if (!present(key)) return fail(child(path, "public_key") + ": is required");
  auto key_text = get_string(key, child(path, "public_key"));
  if (!key_text) return std::unexpected(key_text.error());
  // The text is not quoted back: someone may have pasted a private key here by mistake.
  if (!decode_key_bytes(trim(*key_text), peer.public_key.data()))
    return fail(child(path, "public_key") + ": not a 32-byte base64 key");

  if (auto psk = field(n, "preshared_key_file"); present(psk)) {
    const std::string p = child(path, "preshared_key_file");
    auto file = get_path(psk, p, base_dir);
    if (!file) return std::unexpected(file.error());
    auto secret = read_key_file(*file, true);
    if (!secret) return fail(p + ": " + secret.error().message);
    peer.preshared_key = std::move(*secret);
  }

  if (auto endpoint = field(n, "endpoint"); present(endpoint)) {
    auto ep = get_endpoint(endpoint, child(path, "endpoint"));
    if (!ep) return std::unexpected(ep.error());
    peer.endpoint = *ep;
  }

  if (auto allowed = field(n, "allowed_ips"); present(allowed)) {
    auto r = for_each_item(allowed, child(path, "allowed_ips"),
                           [&](const YAML::Node& a, const std::string& p) -> Result<void> {
                             auto prefix = get_prefix(a, p);
                             if (!prefix) return std::unexpected(prefix.error());
                             // Routing looks at the network part only, as `wg` does.
                             peer.allowed_ips.push_back(prefix->network());
                             return {};
                           });
    if (!r) return std::unexpected(r.error());
  }

  if (auto keepalive = field(n, "persistent_keepalive"); present(keepalive)) {
    auto v = get_int(keepalive, child(path, "persistent_keepalive"), 0, 65535);
    if (!v) return std::unexpected(v.error());
    peer.persistent_keepalive = std::chrono::seconds(*v);
  }
  if (auto r = parse_peer_subject(n, path, peer); !r) return std::unexpected(r.error());
  return peer;
}

// The sections about certificates, trust and policy. Files are only named here; keymeshd
// reads and checks them at start, and errors then name the file.
Result<void> parse_identity_sections(const YAML::Node& root, std::string_view base_dir,
                                     Config& config) {
  auto path_of = [&](const YAML::Node& n, const std::string& p) { return get_path(n, p, base_dir); };
  if (auto n = field(root, "certificate"); present(n)) {
    auto f = path_of(n, "certificate");
    if (!f) return std::unexpected(f.error());
    config.certificate = *f;
  }
  if (auto n = field(root, "trust"); present(n)) {
    if (auto r = check_map(n, "trust", kTrustKeys); !r) return r;
    if (auto roots = field(n, "roots"); present(roots)) {
      auto r = for_each_item(roots, "trust.roots",
                             [&](const YAML::Node& a, const std::string& p) -> Result<void> {
                               auto f = path_of(a, p);
                               if (!f) return std::unexpected(f.error());
                               config.trust_roots.push_back(*f);
                               return {};
                             });
      if (!r) return r;
    }
    if (auto crl = field(n, "revocation_list"); present(crl)) {
      auto f = path_of(crl, "trust.revocation_list");
      if (!f) return std::unexpected(f.error());
      config.revocation_list = *f;
    }
  }
  if (auto n = field(root, "identities"); present(n)) {
    auto r = for_each_item(n, "identities", [&](const YAML::Node& e, const std::string& p)
                                                -> Result<void> {
      if (!e.IsMap()) return fail(at(p, "expected a map, got " + describe(e)));
      if (auto c = check_map(e, p, kIdentityKeys); !c) return c;
      IdentityFiles files;
      for (auto [key, out] : {std::pair{"certificate", &files.certificate},
                              std::pair{"key", &files.key}}) {
        const auto v = field(e, key);
        if (!present(v)) return fail(child(p, key) + ": is required");
        auto f = path_of(v, child(p, key));
        if (!f) return std::unexpected(f.error());
        *out = *f;
      }
      config.identities.push_back(std::move(files));
      return {};
    });
    if (!r) return r;
  }
  if (auto n = field(root, "directory"); present(n)) {
    auto r = for_each_item(n, "directory", [&](const YAML::Node& e, const std::string& p)
                                               -> Result<void> {
      if (!e.IsMap()) return fail(at(p, "expected a map, got " + describe(e)));
      if (auto c = check_map(e, p, kDirectoryKeys); !c) return c;
      DirectoryEntry entry;
      const auto cert = field(e, "certificate");
      if (!present(cert)) return fail(child(p, "certificate") + ": is required");
      auto f = path_of(cert, child(p, "certificate"));
      if (!f) return std::unexpected(f.error());
      entry.certificate = *f;
      if (auto eps = field(e, "endpoints"); present(eps)) {
        auto each = for_each_item(eps, child(p, "endpoints"),
                                  [&](const YAML::Node& a, const std::string& ep) -> Result<void> {
                                    auto v = get_endpoint(a, ep);
                                    if (!v) return std::unexpected(v.error());
                                    entry.endpoints.push_back(*v);
                                    return {};
                                  });
        if (!each) return each;
      }
      config.directory.push_back(std::move(entry));
      return {};
    });
    if (!r) return r;
  }
  if (auto n = field(root, "policy"); present(n)) {
    auto f = path_of(n, "policy");
    if (!f) return std::unexpected(f.error());
    config.policy_file = *f;
  }
  if (auto n = field(root, "audit_log"); present(n)) {
    auto s = get_string(n, "audit_log");
    if (!s) return std::unexpected(s.error());
    if (*s == "-") {
      config.audit_log = "-";
    } else {
      auto f = path_of(n, "audit_log");
      if (!f) return std::unexpected(f.error());
      config.audit_log = *f;
    }
  }
  // Sinks and flow records (docs/operations.md).
  auto flag = [](const YAML::Node& n, const std::string& path) -> Result<bool> {
    if (!n.IsScalar() || (n.Scalar() != "true" && n.Scalar() != "false"))
      return fail(path + ": expected true or false, got " + describe(n));
    return n.Scalar() == "true";
  };
  if (auto n = field(root, "audit_syslog"); present(n)) {
    auto v = flag(n, "audit_syslog");
    if (!v) return std::unexpected(v.error());
    config.audit_syslog = *v;
  }
  if (auto n = field(root, "flow_log"); present(n)) {
    if (auto r = check_map(n, "flow_log", kFlowLogKeys); !r) return r;
    if (auto v = field(n, "enabled"); present(v)) {
      auto on = flag(v, "flow_log.enabled");
      if (!on) return std::unexpected(on.error());
      config.flow_log.enabled = *on;
    }
    if (auto v = field(n, "max_per_second"); present(v)) {
      auto rate = get_int(v, "flow_log.max_per_second", 1, 1'000'000);
      if (!rate) return std::unexpected(rate.error());
      config.flow_log.max_per_second = std::uint32_t(*rate);
    }
    if (config.flow_log.enabled && config.audit_log.empty() && !config.audit_syslog)
      return fail("flow_log.enabled: flow records need a sink: set audit_log or audit_syslog");
  }
  if (auto n = field(root, "node_ca"); present(n)) {
    if (auto r = check_map(n, "node_ca", kNodeCaKeys); !r) return r;
    NodeCaConfig ca;
    for (auto [key, out] : {std::pair{"certificate", &ca.certificate}, std::pair{"key", &ca.key}}) {
      const auto v = field(n, key);
      if (!present(v)) return fail(child("node_ca", key) + ": is required");
      auto f = path_of(v, child("node_ca", key));
      if (!f) return std::unexpected(f.error());
      *out = *f;
    }
    if (auto v = field(n, "workload_lifetime_seconds"); present(v)) {
      auto secs = get_int(v, "node_ca.workload_lifetime_seconds", 60, 366 * 86400);
      if (!secs) return std::unexpected(secs.error());
      ca.workload_lifetime = std::chrono::seconds(*secs);
    }
    if (auto v = field(n, "renew_at_percent"); present(v)) {
      auto pct = get_int(v, "node_ca.renew_at_percent", 10, 95);
      if (!pct) return std::unexpected(pct.error());
      ca.renew_fraction = double(*pct) / 100.0;
    }
    config.node_ca = std::move(ca);
  }
  if (auto n = field(root, "state_dir"); present(n)) {
    auto f = path_of(n, "state_dir");
    if (!f) return std::unexpected(f.error());
    config.state_dir = *f;
  }
  return {};
}

Result<void> parse_discovery_sections(const YAML::Node& root, std::string_view base_dir,
                                      Config& config) {
  if (auto n = field(root, "lighthouse"); present(n)) {
    if (!n.IsScalar() || (n.Scalar() != "true" && n.Scalar() != "false"))
      return fail("lighthouse: expected true or false, got " + describe(n));
    config.lighthouse = n.Scalar() == "true";
  }
  // Relaying (docs/sites.md, daemon/relay.h).
  if (auto n = field(root, "relay"); present(n)) {
    if (!n.IsScalar() || (n.Scalar() != "true" && n.Scalar() != "false"))
      return fail("relay: expected true or false, got " + describe(n));
    config.relay = n.Scalar() == "true";
  }
  if (auto n = field(root, "relays"); present(n)) {
    auto r = for_each_item(n, "relays", [&](const YAML::Node& a, const std::string& p)
                                            -> Result<void> {
      auto text = get_string(a, p);
      if (!text) return std::unexpected(text.error());
      auto parsed = IpAddress::parse(*text);
      if (!parsed) return fail(p + ": " + quote(*text) + " is not an overlay IP address");
      if (config.relays.size() == 4) return fail(p + ": at most 4 relays");
      config.relays.push_back(*parsed);
      return {};
    });
    if (!r) return r;
  }
  auto endpoints = [](const YAML::Node& list, const std::string& p,
                      std::vector<udp::Endpoint>& out) {
    return for_each_item(list, p, [&](const YAML::Node& a, const std::string& ep) -> Result<void> {
      auto v = get_endpoint(a, ep);
      if (!v) return std::unexpected(v.error());
      out.push_back(*v);
      return {};
    });
  };
  if (auto n = field(root, "lighthouses"); present(n)) {
    auto r = for_each_item(n, "lighthouses", [&](const YAML::Node& e, const std::string& p)
                                                 -> Result<void> {
      if (!e.IsMap()) return fail(at(p, "expected a map, got " + describe(e)));
      if (auto c = check_map(e, p, kLighthouseKeys); !c) return c;
      LighthouseConfig lh;
      for (const char* key : {"address", "certificate", "endpoints"})
        if (!present(field(e, key))) return fail(child(p, key) + ": is required");
      auto addr = get_string(field(e, "address"), child(p, "address"));
      if (!addr) return std::unexpected(addr.error());
      auto parsed = IpAddress::parse(*addr);
      if (!parsed) return fail(child(p, "address") + ": " + quote(*addr) + " is not an IP address");
      lh.address = *parsed;
      auto cert = get_path(field(e, "certificate"), child(p, "certificate"), base_dir);
      if (!cert) return std::unexpected(cert.error());
      lh.certificate = *cert;
      if (auto r2 = endpoints(field(e, "endpoints"), child(p, "endpoints"), lh.endpoints); !r2)
        return r2;
      config.lighthouses.push_back(std::move(lh));
      return {};
    });
    if (!r) return r;
  }
  if (auto n = field(root, "discovery"); present(n)) {
    if (auto r = check_map(n, "discovery", kDiscoveryKeys); !r) return r;
    if (auto st = field(n, "static"); present(st)) {
      auto f = get_path(st, "discovery.static", base_dir);
      if (!f) return std::unexpected(f.error());
      config.discovery_static = *f;
    }
    if (auto e = field(n, "etcd"); present(e)) {
      if (auto r = check_map(e, "discovery.etcd", kEtcdKeys); !r) return r;
      EtcdConfig etcd;
      const auto eps = field(e, "endpoints");
      if (!present(eps)) return fail("discovery.etcd.endpoints: is required");
      auto r = for_each_item(eps, "discovery.etcd.endpoints",
                             [&](const YAML::Node& a, const std::string& p) -> Result<void> {
                               auto url = get_string(a, p);
                               if (!url) return std::unexpected(url.error());
                               if (!url->starts_with("http://") && !url->starts_with("https://"))
                                 return fail(p + ": " + quote(*url) + " is not an http(s) URL");
                               etcd.endpoints.push_back(*url);
                               return {};
                             });
      if (!r) return r;
      if (auto pf = field(e, "prefix"); present(pf)) {
        auto v = get_string(pf, "discovery.etcd.prefix");
        if (!v) return std::unexpected(v.error());
        etcd.prefix = *v;
      }
      if (auto t = field(e, "lease_ttl_seconds"); present(t)) {
        auto v = get_int(t, "discovery.etcd.lease_ttl_seconds", 5, 3600);
        if (!v) return std::unexpected(v.error());
        etcd.lease_ttl = std::chrono::seconds(*v);
      }
      config.etcd = std::move(etcd);
    }
  }
  if (auto n = field(root, "advertise"); present(n))
    if (auto r = endpoints(n, "advertise", config.advertise); !r) return r;
  if ((config.lighthouse || !config.lighthouses.empty()) && config.certificate.empty())
    return fail("lighthouse/lighthouses: discovery runs between node identities, so the host "
                "key needs a certificate (key `certificate`)");
  return {};
}

// Checks that need every peer: a key or a route may belong to one peer only.
Result<void> check_peers(const Config& config, const crypto::Key& own_public) {
  const auto& peers = config.peers;
  for (std::size_t i = 0; i < peers.size(); ++i) {
    const std::string p = item("peers", i);
    if (equal_ct(peers[i].public_key, own_public))
      return fail(p + ".public_key: is this node's own public key");
    for (std::size_t j = 0; j < i; ++j) {
      if (peers[i].public_key == peers[j].public_key)
        return fail(p + ".public_key: same key as " + item("peers", j));
      if (!peers[i].name.empty() && peers[i].name == peers[j].name)
        return fail(p + ".name: " + quote(peers[i].name) + " is already used by " +
                    item("peers", j));
    }
    for (std::size_t a = 0; a < peers[i].allowed_ips.size(); ++a) {
      const IpPrefix& prefix = peers[i].allowed_ips[a];
      for (std::size_t j = 0; j <= i; ++j) {
        const auto& other = peers[j].allowed_ips;
        const std::size_t end = j == i ? a : other.size();
        for (std::size_t b = 0; b < end; ++b) {
          if (other[b] == prefix)
            return fail(item(p + ".allowed_ips", a) + ": " + prefix.to_string() +
                        " is already routed to " + item("peers", j));
        }
      }
    }
  }
  return {};
}

// docker: { socket: PATH } (an empty map enables the driver on the default socket).
Result<void> parse_docker(const YAML::Node& root, std::string_view base_dir, Config& config) {
  const auto n = field(root, "docker");
  if (!present(n)) return {};
  static constexpr std::array<std::string_view, 1> kDockerKeys = {"socket"};
  if (n.IsNull()) return fail("docker: expected a map (docker: {} for the defaults), got null");
  if (auto r = check_map(n, "docker", kDockerKeys); !r) return r;
  DockerConfig docker;
  if (auto s = field(n, "socket"); present(s)) {
    auto f = get_path(s, "docker.socket", base_dir);
    if (!f) return std::unexpected(f.error());
    if (f->size() > kMaxSocketPath)
      return fail("docker.socket: longer than " + std::to_string(kMaxSocketPath) +
                  " bytes (the limit of a Unix socket path)");
    docker.socket = *f;
  }
  if (!config.node_ca)
    return fail("docker: needs node_ca (the driver mints an identity for each container)");
  config.docker = std::move(docker);
  return {};
}

// masquerade: [198.19.1.0/24]: LAN sources the gateway rewrites to its first IPv4 interface
// address. Needs that address, and must not cover the overlay itself (overlay sources keep
// their addresses, which name their identities).
Result<void> parse_masquerade(const YAML::Node& root, Config& config) {
  const auto n = field(root, "masquerade");
  if (!present(n)) return {};
  if (!n.IsSequence())
    return fail("masquerade: expected a list of IPv4 CIDRs ([198.19.1.0/24]), got " + describe(n));
  auto r = for_each_item(n, "masquerade", [&](const YAML::Node& a, const std::string& p)
                                              -> Result<void> {
    auto prefix = get_prefix(a, p);
    if (!prefix) return std::unexpected(prefix.error());
    if (prefix->address.family != AF_INET)
      return fail(p + ": " + prefix->to_string() + " is not IPv4 (masquerade is IPv4 only)");
    const IpPrefix net = prefix->network();
    for (const auto& own : config.addresses) {
      const IpPrefix overlay = own.network();
      if (overlay.address.family != AF_INET) continue;
      if (overlay.contains(net.address) || net.contains(overlay.address))
        return fail(p + ": " + net.to_string() + " overlaps the overlay (interface.addresses " +
                    own.to_string() + "); only LAN sources outside it are rewritten");
    }
    if (std::find(config.masquerade.begin(), config.masquerade.end(), net) !=
        config.masquerade.end())
      return fail(p + ": " + net.to_string() + " is listed twice");
    config.masquerade.push_back(net);
    return {};
  });
  if (!r) return r;
  const bool has_v4 = std::any_of(config.addresses.begin(), config.addresses.end(),
                                  [](const IpPrefix& a) { return a.address.family == AF_INET; });
  if (!config.masquerade.empty() && !has_v4)
    return fail("masquerade: needs an IPv4 address in interface.addresses (LAN sources are "
                "rewritten to it)");
  return {};
}

// gateway: { lan_interfaces: [eth1] }: the interfaces besides workload veths that may forward
// into the TUN (docs/guarantees.md); names go into nftables, so only plain characters.
Result<void> parse_gateway(const YAML::Node& root, Config& config) {
  const auto n = field(root, "gateway");
  if (!present(n)) return {};
  static constexpr std::array<std::string_view, 1> kGatewayKeys = {"lan_interfaces"};
  if (!n.IsMap()) return fail("gateway: expected a map ({ lan_interfaces: [eth1] }), got " + describe(n));
  if (auto r = check_map(n, "gateway", kGatewayKeys); !r) return r;
  GatewayConfig gateway;
  if (auto list = field(n, "lan_interfaces"); present(list)) {
    auto r = for_each_item(list, "gateway.lan_interfaces",
                           [&](const YAML::Node& a, const std::string& p) -> Result<void> {
      auto name = get_string(a, p);
      if (!name) return std::unexpected(name.error());
      const bool plain = !name->empty() && name->size() <= kMaxInterfaceName &&
                         std::all_of(name->begin(), name->end(), [](char c) {
                           return std::isalnum(static_cast<unsigned char>(c)) || c == '-' ||
                                  c == '_' || c == '.';
                         });
      if (!plain)
        return fail(p + ": " + quote(*name) + " is not an interface name (1-15 letters, digits, '-', '_', '.')");
      if (*name == config.interface_name || *name == "lo")
        return fail(p + ": " + quote(*name) + " is not a LAN interface");
      if (std::find(gateway.lan_interfaces.begin(), gateway.lan_interfaces.end(), *name) !=
          gateway.lan_interfaces.end())
        return fail(p + ": " + quote(*name) + " is listed twice");
      gateway.lan_interfaces.push_back(*name);
      return {};
    });
    if (!r) return r;
  }
  config.gateway = std::move(gateway);
  return {};
}

Result<Config> parse_document(std::string_view yaml_text, std::string_view base_dir) {
  if (yaml_text.size() > kMaxConfigBytes) return fail("config is larger than 1 MiB");
  const std::string text(yaml_text);
  const YAML::Node root = YAML::Load(text);  // the first document
  if (count_documents(text) > 1) return fail("expected one YAML document, found more");
  if (root.IsNull() || !root.IsDefined())
    return fail("config is empty (private_key_file is required)");
  if (!root.IsMap())
    return fail("expected a map of settings at the top level, got " + describe(root));
  if (auto r = check_map(root, "", kRootKeys); !r) return std::unexpected(r.error());

  Config config;

  const auto key_file = field(root, "private_key_file");
  if (!present(key_file)) return fail("private_key_file: is required");
  auto key_path = get_path(key_file, "private_key_file", base_dir);
  if (!key_path) return std::unexpected(key_path.error());
  auto private_key = read_key_file(*key_path, true);
  if (!private_key) return fail("private_key_file: " + private_key.error().message);
  config.private_key = std::move(*private_key);
  config.private_key_file = *key_path;

  if (auto n = field(root, "listen_port"); present(n)) {
    auto v = get_int(n, "listen_port", 1, 65535);
    if (!v) return std::unexpected(v.error());
    config.listen_port = std::uint16_t(*v);
  }

  if (auto n = field(root, "interface"); present(n)) {
    if (auto r = parse_interface(n, config); !r) return std::unexpected(r.error());
  }

  if (auto n = field(root, "control_socket"); present(n)) {
    auto s = get_path(n, "control_socket", "");
    if (!s) return std::unexpected(s.error());
    if (s->front() != '/')
      return fail("control_socket: must be an absolute path, got " + quote(*s));
    if (s->size() > kMaxSocketPath)
      return fail("control_socket: longer than " + std::to_string(kMaxSocketPath) +
                  " bytes (the limit of a Unix socket path)");
    config.control_socket = *s;
  }

  if (auto n = field(root, "metrics_listen"); present(n)) {
    auto s = get_string(n, "metrics_listen");
    if (!s) return std::unexpected(s.error());
    const auto address = s->empty() ? std::nullopt : udp::Endpoint::parse(*s);
    if (!s->empty() && (!address || address->port == 0))
      return fail("metrics_listen: expected ADDRESS:PORT (\"127.0.0.1:9830\", \"[::1]:9830\") "
                  "or \"\" for off, got " + quote(*s));
    config.metrics_listen = *s;
    config.metrics_listen_configured = true;
  }

  if (auto n = field(root, "log_level"); present(n)) {
    auto s = get_string(n, "log_level");
    if (!s) return std::unexpected(s.error());
    if (std::find(kLogLevels.begin(), kLogLevels.end(), *s) == kLogLevels.end())
      return fail("log_level: must be one of trace, debug, info, warn, error, got " + quote(*s));
    config.log_level = *s;
  }

  if (auto n = field(root, "socket_buffer_bytes"); present(n)) {
    auto v = get_int(n, "socket_buffer_bytes", 65536, 268435456);
    if (!v) return std::unexpected(v.error());
    config.socket_buffer_bytes = int(*v);
  }

  if (auto n = field(root, "udp_offload"); present(n)) {
    auto s = get_string(n, "udp_offload");
    if (!s) return std::unexpected(s.error());
    if (*s != "on" && *s != "off") return fail("udp_offload: must be on or off, got " + quote(*s));
    config.udp_offload = *s == "on";
  }

  if (auto n = field(root, "under_load_handshakes_per_second"); present(n)) {
    auto v = get_int(n, "under_load_handshakes_per_second", 1, 1'000'000);
    if (!v) return std::unexpected(v.error());
    config.handshakes_per_second_under_load = std::uint32_t(*v);
  }

  if (auto n = field(root, "peers"); present(n)) {
    auto r = for_each_item(n, "peers",
                           [&](const YAML::Node& p, const std::string& path) -> Result<void> {
                             auto peer = parse_peer(p, path, base_dir);
                             if (!peer) return std::unexpected(peer.error());
                             config.peers.push_back(std::move(*peer));
                             return {};
                           });
    if (!r) return std::unexpected(r.error());
  }

  if (auto n = field(root, "testing"); present(n)) {
    if (auto r = parse_testing(n, config.timers); !r) return std::unexpected(r.error());
  }

  if (auto r = parse_identity_sections(root, base_dir, config); !r)
    return std::unexpected(r.error());
  if (auto r = parse_discovery_sections(root, base_dir, config); !r)
    return std::unexpected(r.error());

  if (auto r = parse_docker(root, base_dir, config); !r) return std::unexpected(r.error());
  auto kubernetes = parse_kubernetes(root, base_dir, config.node_ca.has_value(), ::getenv);
  if (!kubernetes) return std::unexpected(kubernetes.error());
  config.kubernetes = std::move(*kubernetes);
  if (auto r = parse_masquerade(root, config); !r) return std::unexpected(r.error());
  if (auto r = parse_gateway(root, config); !r) return std::unexpected(r.error());

  if (auto r = check_peers(config, crypto::public_key(config.private_key)); !r)
    return std::unexpected(r.error());
  return config;
}

}  // namespace

// The key-file reading lives in identity/key_file.h; these keep the daemon's own callers.
Result<crypto::SecretKey> decode_key(std::string_view text) { return identity::decode_key(text); }

Result<crypto::SecretKey> read_key_file(const std::string& path, bool require_private) {
  return identity::read_key_file(path, require_private);
}

Result<Config> parse_config(std::string_view yaml_text, std::string_view base_dir) {
  // yaml-cpp reports syntax errors (and a few of its own limits, like nesting depth) by
  // throwing; this is the boundary where they become ordinary errors.
  try {
    return parse_document(yaml_text, base_dir);
  } catch (const YAML::DeepRecursion& e) {
    return fail("line " + std::to_string(e.mark.line + 1) + ", column " +
                std::to_string(e.mark.column + 1) + ": YAML nested too deeply");
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) return fail("YAML error: " + e.msg);
    return fail("line " + std::to_string(e.mark.line + 1) + ", column " +
                std::to_string(e.mark.column + 1) + ": YAML syntax error: " + e.msg);
  } catch (const std::bad_alloc&) {
    return fail("config too large to parse (out of memory)");
  } catch (const std::exception& e) {
    return fail(std::string("cannot parse config: ") + e.what());
  }
}

Result<Config> load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail("cannot read config " + path + ": " + errno_text(errno));
  std::string text;
  std::array<char, 8192> chunk;
  while (in.read(chunk.data(), chunk.size()) || in.gcount() > 0) {
    text.append(chunk.data(), std::size_t(in.gcount()));
    if (text.size() > kMaxConfigBytes) return fail(path + ": config is larger than 1 MiB");
  }
  if (in.bad()) return fail("cannot read config " + path + ": read error");
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  auto config = parse_config(text, dir);
  if (!config) return fail(path + ": " + config.error().message);
  config->path = path;
  return config;
}

}  // namespace keymesh::daemon
