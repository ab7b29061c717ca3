// keymeshd configuration: one YAML file, every key documented in README.md ("Configuration").
// Loading validates everything up front; an error names the key path (e.g. "peers[1].endpoint")
// and the problem, and nothing is half-applied.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/ip.h"
#include "common/result.h"
#include "crypto/primitives.h"
#include "crypto/secret.h"
#include "udp/endpoint.h"
#include "daemon/kube_config.h"

namespace keymesh::daemon {

struct PeerConfig {
  std::string name;                 // optional label shown in status ("" -> key prefix)
  crypto::Key public_key{};
  std::optional<crypto::SecretKey> preshared_key;  // from preshared_key_file
  std::optional<udp::Endpoint> endpoint;
  std::vector<IpPrefix> allowed_ips;
  std::chrono::seconds persistent_keepalive{0};  // 0: off
  // Policy subject facts (daemon/raw_policy.h): used only when a policy is configured.
  std::vector<std::string> groups;
  std::map<std::string, std::string> labels;
};

// Protocol timers. Defaults are WireGuard's; the `testing:` section may shorten them so tests
// can exercise rekeying in seconds. Not meant for production, and README says so.
struct TimerConfig {
  std::chrono::milliseconds rekey_after_time{120'000};
  std::chrono::milliseconds reject_after_time{180'000};
  std::chrono::milliseconds rekey_attempt_time{90'000};
  std::chrono::milliseconds rekey_timeout{5'000};
  std::chrono::milliseconds keepalive_timeout{10'000};
  std::uint64_t rekey_after_messages = 1ull << 60;
  // Policy schedules and certificate validity are judged by a wall clock that starts here
  // and runs at real speed (tests of schedule boundaries). 0: the system clock.
  std::int64_t wall_clock_start_unix = 0;
};

// A local identity loaded from files at start (`identities:`).
struct IdentityFiles {
  std::string certificate;  // chain file, leaf first
  std::string key;          // WireGuard-format X25519 key, 0600
};

// A remote identity known without discovery (`directory:`): its chain and where it listens.
struct DirectoryEntry {
  std::string certificate;
  std::vector<udp::Endpoint> endpoints;
};

// The node CA (`node_ca:`): lets keymeshd mint workload identities (CNI, Docker, API).
struct NodeCaConfig {
  std::string certificate;  // node CA chain: node CA first, then intermediates
  std::string key;          // its Ed25519 key file (keymesh ca key format), 0600
  std::chrono::seconds workload_lifetime{24 * 3600};
  double renew_fraction = 2.0 / 3.0;  // renew when this much of the lifetime has passed
};

// A lighthouse this node registers with and asks (`lighthouses:`).
struct LighthouseConfig {
  IpAddress address;          // its overlay address (it listens on UDP 4243 there)
  std::string certificate;    // its host certificate chain: key and networks to reach it
  std::vector<udp::Endpoint> endpoints;  // its underlay endpoints
};

struct EtcdConfig {
  std::vector<std::string> endpoints;  // "http://127.0.0.1:2379"
  std::string prefix = "/keymesh/v1";
  std::chrono::seconds lease_ttl{30};
};

// The Docker network and IPAM driver (`docker:`, docs/docker.md). Needs node_ca.
struct DockerConfig {
  std::string socket = "/run/docker/plugins/keymesh.sock";  // dockerd finds plugins there
};

// A gateway's LAN side (`gateway:`, docs/guarantees.md): the interfaces besides workload
// veths that may forward into the TUN. Everything else is dropped in table inet keymesh_edge.
struct GatewayConfig {
  std::vector<std::string> lan_interfaces;
};

struct Config {
  std::string path;  // the file it was loaded from
  crypto::SecretKey private_key;  // from private_key_file (must be 0600 or stricter)
  std::string private_key_file;
  std::uint16_t listen_port = 51820;
  std::string interface_name = "km0";
  std::vector<IpPrefix> addresses;
  std::optional<int> mtu;               // unset: underlay MTU minus 80
  std::string control_socket = "/run/keymesh/keymesh.sock";
  // /metrics, /healthz, /readyz over HTTP (docs/metrics.md). "": off. The default address
  // is best effort (a port already taken logs a warning); a configured one must bind.
  std::string metrics_listen = "127.0.0.1:9830";
  bool metrics_listen_configured = false;
  std::string log_level = "info";
  int socket_buffer_bytes = 4 << 20;    // SO_RCVBUF/SO_SNDBUF (forced as root)
  bool udp_offload = true;              // UDP GSO/GRO when the kernel has them (udp_offload: off)
  std::uint32_t handshakes_per_second_under_load = 1000;  // above: demand cookies
  std::vector<PeerConfig> peers;
  TimerConfig timers;

  // Certificates, trust, policy (docs/config.md, "Identity and policy").
  std::string certificate;                // chain of the host key (private_key_file)
  std::vector<std::string> trust_roots;   // root CA certificate files
  std::string revocation_list;            // CRL file, re-read when it changes
  std::vector<IdentityFiles> identities;
  std::vector<DirectoryEntry> directory;
  std::string policy_file;                // re-read on SIGHUP and when it changes
  std::string audit_log;                  // "": none; "-": stdout; else a file (appended)
  bool audit_syslog = false;              // also to syslog(3) (docs/operations.md)
  struct FlowLogConfig {
    bool enabled = false;                 // flow_started/flow_ended lines beside the audit ones
    std::uint32_t max_per_second = 1000;  // past this, dropped and counted
  } flow_log;
  std::optional<NodeCaConfig> node_ca;
  std::string state_dir = "/var/lib/keymesh";

  // Discovery (docs/config.md, "Discovery").
  bool lighthouse = false;                  // serve discovery to other nodes
  std::vector<LighthouseConfig> lighthouses;
  std::string discovery_static;             // static directory file (reloaded on SIGHUP)
  std::optional<EtcdConfig> etcd;
  std::vector<udp::Endpoint> advertise;     // endpoints to publish; empty: local addresses
  bool relay = false;                       // forward envelopes between peers (daemon/relay.h)
  std::vector<IpAddress> relays;            // relays this node keeps paths with and publishes

  std::optional<DockerConfig> docker;       // unset: no Docker driver
  std::optional<KubernetesConfig> kubernetes;  // unset: pod identities from the CNI conflist

  // LAN sources rewritten to the first IPv4 interface address as they enter the interface
  // (daemon/masquerade.h). Empty: off, and nftables is not touched.
  std::vector<IpPrefix> masquerade;

  std::optional<GatewayConfig> gateway;     // unset: no LAN interfaces (and no table without workloads)
};

// Parses YAML text (no file access except for key files it names, which are read relative
// to `base_dir` when not absolute). Unknown keys are errors (typos must not pass silently).
Result<Config> parse_config(std::string_view yaml_text, std::string_view base_dir);
// Reads `path` and calls parse_config with its directory.
Result<Config> load_config(const std::string& path);

// Reads a WireGuard-style base64 key file (44 chars + optional newline). Refuses files
// readable by group or others when `require_private` (keys on disk are 0600).
Result<crypto::SecretKey> read_key_file(const std::string& path, bool require_private);

// Decodes WireGuard base64 key text (44 characters; surrounding whitespace is ignored).
// The error never quotes the text, which may be a secret. Shared with `keymesh key pub`.
Result<crypto::SecretKey> decode_key(std::string_view text);

}  // namespace keymesh::daemon
