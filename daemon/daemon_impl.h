// The daemon's parts, shared by the composition root (daemon.cpp), the control-socket request
// handlers (control_handlers.cpp) and the reloads (reload.cpp). Everything here lives on the
// loop thread.
#pragma once

#include <uv.h>

#include <memory>
#include <optional>
#include <set>
#include <string>

#include "common/clock.h"
#include "common/uv_handle.h"
#include "control.pb.h"
#include "daemon/config.h"
#include "daemon/control_server.h"
#include "daemon/masquerade.h"
#include "daemon/routes.h"
#include "daemon/daemon.h"
#include "daemon/edge_keeper.h"
#include "daemon/node_ca_claim.h"
#include "daemon/tunnel.h"
#include "identity/chain.h"
#include "discovery/directory_set.h"
#include "discovery/etcd_directory.h"
#include "discovery/lighthouse_client.h"
#include "discovery/lighthouse_server.h"
#include "discovery/static_directory.h"
#include "discovery/udp_transport.h"
#include "node/release_queue.h"
#include "node/revocation_issuer.h"
#include "node/workloads.h"
#include "policy/audit.h"
#include "policy/flow_log.h"
#include "policy/log_sinks.h"
#include "policy/evaluator.h"
#include "tun/linux_tun.h"
#include "udp/socket_bind.h"

namespace keymesh::daemon {

class DockerFrontDoor;
class KubePods;
class CountingAuditSink;
class MetricsHttpServer;
struct MetricsReply;

// Where a revocation list came from (revocations.cpp): decides whether we distribute it.
enum class RevocationOrigin { File, Lighthouse, Offered, Etcd, Saved, NodeCa };
std::string_view to_string(RevocationOrigin origin) noexcept;

struct Daemon::Impl {
  Config config;
  ShiftedTimeSource time{std::chrono::system_clock::duration::zero()};
  uv_loop_t loop{};
  std::unique_ptr<tun::LinuxTun> device;
  std::unique_ptr<udp::SocketBind> bind;
  std::unique_ptr<policy::LogSinks> audit_sink;  // audit_log and/or audit_syslog
  std::unique_ptr<policy::AuditLog> audit;
  std::unique_ptr<policy::FlowLog> flow_log;     // flow_log.enabled
  UvHandle<uv_timer_t> log_timer;                // follows a rotated audit_log
  std::unique_ptr<Tunnel> tunnel;
  std::shared_ptr<const policy::Policy> policy;  // what the tunnel enforces
  // Kubernetes NetworkPolicies intersected with `policy` (kubernetes.network_policy; nullptr
  // without): set before the first list as "not listed", which holds pod traffic.
  std::shared_ptr<const policy::NetworkPolicies> network_policies;
  identity::TrustStore trust;                     // roots + current CRL (copied into the tunnel)
  int mtu = 0;
  std::optional<node::WorkloadStore> workloads;  // with node_ca: minted identities
  NodeCaClaim node_ca_claim;                     // discovery's word on our node CA (node_ca_claim.h)
  UvHandle<uv_timer_t> renew_timer;
  UvHandle<uv_poll_t> device_poll;
  UvHandle<uv_poll_t> socket_poll;
  UvHandle<uv_timer_t> tick_timer;
  UvHandle<uv_signal_t> sigint, sigterm, sighup;
  UvHandle<uv_fs_poll_t> policy_watch, crl_watch;

  // Discovery (discovery.cpp). Untrusted: it only tells where to send a handshake.
  std::unique_ptr<discovery::StaticDirectory> static_directory;
  std::unique_ptr<discovery::EtcdDirectory> etcd_directory;
  std::unique_ptr<discovery::LighthouseClient> lighthouse_client;
  std::unique_ptr<discovery::UdpTransport> client_transport, server_transport;
  std::unique_ptr<discovery::LighthouseServer> lighthouse_server;
  std::unique_ptr<discovery::DirectorySet> directory;
  std::set<std::string> published;               // fingerprints we announced
  std::optional<std::uint64_t> published_generation;  // Tunnel::local_generation() then
  std::map<std::string, std::vector<udp::Endpoint>> learned;  // fingerprint -> endpoints
  UvHandle<uv_timer_t> discovery_timer;
  std::unique_ptr<ControlServer> control;
  std::unique_ptr<DockerFrontDoor> docker;  // config key docker:
  std::unique_ptr<KubePods> kube;           // config key kubernetes: (kube_pods.cpp)
  Result<void> open_kubernetes();
  // Kernel routes via the interface for remote site networks (routes.cpp).
  std::unique_ptr<SiteRoutes> site_routes;
  UvHandle<uv_timer_t> routes_timer;

  ~Impl();

  // reload.cpp
  Result<void> load_trust();                 // roots and CRL from the config's files
  Result<void> load_identities();            // host certificate, identities:, directory:
  Result<void> load_policy();                // first load: an error stops the daemon
  // The file's policy as enforced: the discovery rule added, the NetworkPolicies attached.
  std::shared_ptr<const policy::Policy> effective_policy(
      std::shared_ptr<const policy::Policy> file) const;
  void set_network_policies(std::shared_ptr<const policy::NetworkPolicies> np,
                            const std::string& why);  // reload.cpp
  void reload_policy(const char* why);       // SIGHUP / file change: keeps the old on error
  void reload_revocation_list(const char* why);
  void reload_trust(const char* why);        // SIGHUP: roots and revocation list from files
  void watch_files();
  // client_mode.cpp: a user certificate as host certificate (docs/access.md)
  Result<void> enter_client_mode(const identity::Certificate& host);  // client_mode.cpp

  // workloads.cpp
  Result<void> open_workloads();             // node CA + state; re-adds every stored identity
  Result<const LocalIdentity*> attach(const node::Workload& w);
  // WorkloadAdd/Del's work, for the control socket and the Docker driver alike.
  Result<const node::Workload*> add_workload(const node::WorkloadSpec& spec);
  Result<bool> remove_workload(const std::string& container_id, const std::string& ifname);
  void renew_due();                          // timer: re-mint certificates past renew_at
  proto::Reply workload_add(const proto::WorkloadAddRequest& r);
  proto::Reply workload_del(const proto::WorkloadDelRequest& r);
  proto::Reply workload_list();
  proto::Reply workload_gc(const proto::WorkloadGcRequest& r);
  proto::Reply identity_mint(const proto::IdentityAddRequest& r);
  // cni_releases.cpp: DELs that keymesh-cni queued while keymeshd was down
  std::optional<node::ReleaseQueue> release_queue;
  UvHandle<uv_timer_t> release_timer;
  void open_release_queue();
  void apply_queued_releases();
  Result<void> forget_minted(std::string_view name);  // identity remove of a minted identity
  void describe_workload(const node::Workload& w, proto::WorkloadInfo& out);

  // discovery.cpp
  Result<void> open_discovery();
  void close_discovery();
  void discovery_tick();
  void sync_published();
  void publish_now();  // after a local identity was added: Register before the reply goes
  void learn(const discovery::Record& record);
  std::vector<udp::Endpoint> own_endpoints() const;
  std::shared_ptr<const policy::Policy> with_discovery_rule(
      std::shared_ptr<const policy::Policy> policy) const;

  // nat.cpp: NAT traversal through the lighthouse
  std::optional<udp::Endpoint> observed;  // our public endpoint as a lighthouse saw it
  UvHandle<uv_timer_t> punch_timer;       // initiations again once the remote has punched
  struct PunchRetry {
    crypto::Key remote;   // whose pending handshakes are sent again
    std::uint64_t due;    // uv_now() milliseconds: kPunchRetryMillis after its own request
  };
  std::vector<PunchRetry> punch_pending;
  void retry_punched();
  void arm_punch_timer(std::uint64_t after_ms);
  void on_observed(const udp::Endpoint& lighthouse, const udp::Endpoint& seen);
  void on_punch(const discovery::PunchRequest& request);
  void want_punch(const discovery::Record& record);
  // path_stall.cpp: a path stopped answering (Tunnel::set_on_stall)
  void on_path_stalled(const Peer& path);

  // relay.cpp: relaying (`relay:`, `relays:`), the relay fields of records
  void open_relaying();
  void relay_fields(discovery::Record& record) const;
  void learn_relays(const discovery::Record& record);

  // routes.cpp: site_routes in line with the tunnel's remote identities (timer + after loads)
  void sync_routes();

  // masquerade.h: table ip keymesh while `masquerade:` is configured (deleted with Impl)
  std::unique_ptr<Masquerade> masquerade;

  // revocations.cpp: lists from every source, kept per issuer, saved, served, distributed
  std::optional<node::RevocationIssuer> revocation_issuer;  // with node_ca
  Result<void> open_revocations();  // saved lists, then the node CA's own (after discovery)
  bool take_revocation_list(ByteSpan bytes, RevocationOrigin origin);  // true: now in force
  bool take_revocation_list(const identity::RevocationList& list, RevocationOrigin origin);
  void serve_revocation_lists();        // our lighthouse serves what trust holds
  void distribute_revocation_list(const identity::RevocationList& list);  // offer, etcd put
  void take_offered_revocation_lists(); // hosts' offers to our lighthouse
  void save_revocation_list(const identity::RevocationList& list);
  void load_saved_revocation_lists();
  void revoke_issued(const identity::Certificate& cert);  // a workload went away
  void carry_revocation_lists(const identity::TrustStore& from, identity::TrustStore& into) const;
  // edge_keeper.h: keymeshd's share of table inet keymesh_edge (host grants, repair)
  std::unique_ptr<EdgeKeeper> edge;
  UvHandle<uv_timer_t> edge_timer;

  // control_handlers.cpp
  proto::Reply handle(const proto::Request& request);

  // metrics_page.cpp: /metrics, /healthz, /readyz on metrics_listen (docs/metrics.md)
  std::unique_ptr<MetricsHttpServer> metrics_http;
  std::unique_ptr<CountingAuditSink> audit_counter;  // between audit and audit_sink
  std::uint64_t discovery_lookups = 0;         // route misses asked of the directory
  std::uint64_t discovery_hits = 0;            // ... that it answered at once
  Result<void> open_metrics();
  MetricsReply serve_http(std::string_view path) const;
  std::string render_metrics() const;
  std::vector<std::string> not_ready() const;  // empty: ready
};

}  // namespace keymesh::daemon
