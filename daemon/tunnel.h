// Tunnel: the protocol engine between one tun::Device (inside) and one udp::Bind (outside).
// It owns the local identities, the peers and paths, the receiver-index table and the drop
// counters. It does no polling and reads the clock once per batch: the event loop
// (daemon.cpp) or a test hands it packets, and it writes to the device and bind it was given.
//
//   inside  packet -> send.cpp     (identities, path, policy, seal, send; stage + handshake)
//   outside datagram -> receive.cpp (classify, handshake driver or open, check source, write)
//   handshakes -> handshake.cpp (WireGuard messages), handshake_keymesh.cpp (certificates)
//   identities, paths, policy, audit -> paths.cpp
//   NAT traversal (initiations to every endpoint, punches, keepalive) -> nat.cpp; relays -> relay.cpp
//   several gateways for one network, failover -> site_failover.cpp; path liveness -> liveness.cpp
//   periodic tick -> timers.cpp     (retransmits, keepalives, rekeys, key wiping, rechecks)
//
// Threading: single-threaded today (the loop thread). The design keeps per-packet state in
// the peer and keypair so that several workers, each with its own TUN queue and socket, can
// later share peers behind per-peer locks without changing these entry points.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "control.pb.h"
#include "crypto/cookie.h"
#include "crypto/keypair.h"
#include "crypto/noise.h"
#include "daemon/address_owners.h"
#include "daemon/allowed_ips.h"
#include "daemon/ip_packet.h"
#include "daemon/config.h"
#include "daemon/drop_reason.h"
#include "daemon/handshake_guard.h"
#include "daemon/identities.h"
#include "daemon/peer.h"
#include "daemon/rejection_audit.h"
#include "daemon/relay.h"
#include "daemon/site_failover.h"
#include "daemon/tunnel_counters.h"
#include "identity/chain.h"
#include "policy/audit.h"
#include "policy/evaluator.h"
#include "policy/pair_cache.h"
#include "tun/device.h"
#include "tun/icmp_too_big.h"
#include "udp/bind.h"

namespace keymesh::daemon {

// A NAT hole-punching datagram (nat.cpp): one byte that is no message type. It opens the
// sender's NAT towards us and carries nothing; the receiver counts it as `nat_punch`.
inline constexpr std::uint8_t kPunchByte = 0xff;

class Tunnel {
 public:
  // `device`, `bind` and `time` must outlive the tunnel.
  Tunnel(const Config& config, tun::Device& device, udp::Bind& bind, const TimeSource& time);
  ~Tunnel();
  Tunnel(const Tunnel&) = delete;
  Tunnel& operator=(const Tunnel&) = delete;

  // ---- entry points (send.cpp, receive.cpp, timers.cpp) ----
  // Reads up to `budget` packets from the device and sends them; flushes the bind.
  void pump_inside(std::size_t budget) noexcept;
  // Receives up to `budget` datagrams from the bind and handles them; flushes the bind.
  void pump_outside(std::size_t budget) noexcept;
  // Handles one outside datagram (in place: `datagram` is decrypted where it lies), at the
  // time of the last pump or tick; pump_outside calls it for each datagram of a batch.
  void receive_outside(std::span<std::uint8_t> datagram, const udp::Endpoint& from) noexcept;
  // Runs every timer whose deadline has passed. Call at least every 100 ms.
  void tick() noexcept;

  // ---- control path ----
  proto::StatusReply status() const;
  const DropCounters& drops() const noexcept { return drops_; }
  const crypto::Key& public_key() const noexcept { return host_->statics.public_key; }
  std::uint64_t handshakes_completed() const noexcept { return handshakes_completed_; }
  // Traffic totals, policy decisions, folded audit lines (daemon/tunnel_counters.h).
  const TunnelCounters& counters() const noexcept { return counters_; }
  // Raw-key peer from the config.
  Peer* find_peer(const crypto::Key& public_key) noexcept;
  // The policy subject of a raw-key peer by name (null: none, or no policy file configured).
  const policy::Subject* find_raw_subject(std::string_view name) const noexcept;
  // Path of a local identity (by name) to a remote key; null when none.
  Peer* find_path(std::string_view local_name, const crypto::Key& remote) noexcept;
  std::size_t path_count() const noexcept;

  // ---- identities, trust, policy, audit (paths.cpp) ----
  // Trust roots and revocation lists. Replacing them rechecks every path at once.
  void set_trust(std::shared_ptr<const identity::TrustStore> trust);
  const identity::TrustStore* trust() const noexcept { return trust_.get(); }
  // Null or an empty policy: no certified path is granted (default deny). Replacing it closes
  // paths that lost their grant and drops tracked flows that did; returns what it closed.
  struct PolicyChange {
    std::uint32_t paths_closed = 0;
    std::uint32_t flows_dropped = 0;
  };
  PolicyChange set_policy(std::shared_ptr<const policy::Policy> policy);
  const policy::Policy* policy() const noexcept { return policy_.get(); }
  // Where audit events go (may be null: none). Must outlive the tunnel.
  void set_audit(policy::AuditLog* audit) noexcept { audit_ = audit; }
  // Where flow records go (may be null: none). Set before any path opens; must outlive the tunnel.
  void set_flow_log(policy::FlowLog* log) noexcept { flow_log_ = log; }

  // Validates the chain (when given) against the trust roots, checks that it names the key
  // and that its networks do not overlap another local identity's, and starts answering for
  // it. Errors say which check failed.
  Result<const LocalIdentity*> add_local_identity(LocalIdentitySpec spec);
  // Closes every path of the identity (audited) and forgets it. Returns how many paths closed.
  Result<std::uint32_t> remove_local_identity(std::string_view name);
  // A renewed certificate for the same key and networks: paths stay up, and each one
  // re-handshakes at once so the remote side sees the new certificate.
  Result<void> renew_local_identity(std::string_view name,
                                    std::vector<identity::Certificate> chain,
                                    std::optional<WallTime> renew_at);
  const LocalIdentity* find_local(std::string_view name_or_fingerprint) const noexcept;
  // Changes whenever a local identity is added, removed or given a new certificate.
  std::uint64_t local_generation() const noexcept { return local_generation_; }
  std::vector<const LocalIdentity*> local_identities() const;
  const RemoteIdentity* find_remote(std::string_view name_or_fingerprint) const noexcept;
  // A remote identity from a directory (static file today, discovery later): its validated
  // chain tells the key and networks to route, `endpoints` where to send the handshake.
  Result<const RemoteIdentity*> add_remote(std::span<const identity::Certificate> chain,
                                           std::vector<udp::Endpoint> endpoints);
  // The networks of every remote identity known now whose certificate still holds (not
  // expired, not revoked, root still trusted): site routes, daemon/routes.h.
  std::vector<IpPrefix> remote_networks() const;
  // Re-checks every path's remote certificate (expiry, revocation, roots) and grant now.
  void recheck_paths() noexcept;

  // Discovery (daemon/discovery.cpp): called on the send path when no remote identity holds
  // a destination. The packet waits (bounded, kUnroutedWait at most) while the directory
  // looks the address up; add_remote() then sends what waited for it.
  using RouteMissFn = std::function<void(const IpAddress& destination)>;
  void set_route_miss(RouteMissFn fn) { on_route_miss_ = std::move(fn); }
  // Calls the route-miss function again, once per destination that packets still wait for
  // (discovery's tick: the directory decides whether that sends a query, with backoff).
  void repeat_route_misses() noexcept;
  // The underlay endpoint of the path carrying traffic from `overlay_source`, if any (the
  // lighthouse reports it to the registering host as its public endpoint).
  std::optional<udp::Endpoint> endpoint_of(const IpAddress& overlay_source) const noexcept;

  // ---- NAT traversal (nat.cpp) ----
  // One empty datagram from the keymesh port to `to`, so our NAT lets `to`'s packets in.
  void send_punch(const udp::Endpoint& to) noexcept;
  // Sends every path's pending handshake initiation to `remote` again now (after a punch).
  void retry_pending_handshakes(const crypto::Key& remote) noexcept;
  // Persistent keepalive of every certified path, now and for paths opened later (zero: off).
  void set_path_keepalive(Duration keepalive) noexcept;
  // Paths to this remote get the liveness watch (liveness.cpp) whatever else holds: a
  // lighthouse, whose restart must not leave this host unheard until WireGuard's 15 s timer.
  void watch_liveness(const crypto::Key& remote) { watched_keys_.insert(remote); }

  // ---- several gateways per network, path liveness (site_failover.cpp, liveness.cpp) ----
  // Called (loop thread, inside tick) when a watched path stopped answering: data unanswered
  // for kProbeAfter and a handshake initiation unanswered for kProbeWait. The daemon asks
  // discovery again (our public endpoint may have moved: daemon/path_stall.cpp).
  using StallFn = std::function<void(const Peer& path)>;
  void set_on_stall(StallFn fn) { on_stall_ = std::move(fn); }
  // Networks held by two or more remote gateway identities (candidates), by prefix text.
  const std::map<std::string, SiteRoute>& sites() const noexcept { return sites_; }

  // ---- relaying (relay.cpp, daemon/relay.h) ----
  // `relay: true` (forward for others) and `relays:` (keep paths with these, send through them).
  void set_relaying(bool enabled, std::vector<IpAddress> own_relays);
  // The relays a remote identity's host is reachable through (from its discovery record).
  void set_remote_relays(const crypto::Key& remote, std::vector<IpAddress> relays,
                         const crypto::Key& host_key);
  // A relayed path's periodic direct attempt also asks the lighthouse to punch (daemon side).
  using DirectProbeFn = std::function<void(const RemoteIdentity& remote)>;
  void set_direct_probe(DirectProbeFn fn) { on_direct_probe_ = std::move(fn); }

 private:
  friend struct TimerHooks;

  // send.cpp
  void send_inside_packet(std::span<std::uint8_t> buffer, std::size_t size) noexcept;
  bool send_data(Peer& peer, std::span<const std::uint8_t> packet) noexcept;
  void send_keepalive(Peer& peer) noexcept;
  void send_staged(Peer& peer) noexcept;
  void keep_key_fresh_on_send(Peer& peer) noexcept;

  void wait_for_route(LocalIdentity& from, std::span<const std::uint8_t> packet,
                      const IpHeaderView& ip) noexcept;
  void retry_unrouted() noexcept;
  bool take_lookup_token(LocalIdentity& from) noexcept;  // directory lookups per source
  void await_endpoint(Peer& peer, std::span<const std::uint8_t> packet) noexcept;
  void transmit(Peer& peer, std::span<std::uint8_t> buffer,
                std::span<std::uint8_t> packet) noexcept;
  void deliver_local(LocalIdentity& from, LocalIdentity& to,
                     std::span<const std::uint8_t> packet) noexcept;

  // receive.cpp
  void receive_data(std::span<std::uint8_t> msg, const udp::Endpoint& from) noexcept;
  bool inbound_allowed(Peer& peer, const IpHeaderView& ip,
                       std::span<const std::uint8_t> packet) noexcept;
  void keep_key_fresh_on_receive(Peer& peer, const crypto::Keypair& kp) noexcept;

  // raw_policy.cpp: raw-key peers under policy (only when Peer::raw_policy is set)
  bool raw_policy_allows(Peer& peer, const IpHeaderView& ip, std::span<const std::uint8_t> packet,
                         bool inbound) noexcept;
  // Without a policy file: may a raw-key peer reach (or be reached from) our end of `ip`?
  // Only addresses no certified local identity but the host holds (fail closed, raw_policy.h).
  bool raw_unpoliced_allows(const IpHeaderView& ip, bool inbound) noexcept;
  // A certificate's networks must not overlap a raw-key peer's allowed_ips: one address, two
  // owners. The error names the peer and both prefixes.
  Result<void> refuse_raw_overlap(const std::vector<IpPrefix>& networks) const;
  std::uint32_t recompile_raw_policies(const LocalIdentity* only) noexcept;
  void forget_raw_trackers(const LocalIdentity& local) noexcept;
  void tick_raw_policies() noexcept;

  // handshake.cpp
  void send_initiation(Peer& peer, bool is_retry) noexcept;
  void receive_initiation(std::span<std::uint8_t> msg, const udp::Endpoint& from) noexcept;
  void receive_response(std::span<std::uint8_t> msg, const udp::Endpoint& from) noexcept;
  void receive_cookie_reply(std::span<std::uint8_t> msg) noexcept;
  bool cookie_demanded(crypto::CookieChecker& checker, std::span<std::uint8_t> msg,
                       const std::uint8_t* sender, const udp::Endpoint& from) noexcept;
  void responded(Peer& peer, std::span<std::uint8_t> response, crypto::SessionKeys&& keys,
                 const udp::Endpoint& from) noexcept;
  void initiator_completed(Peer& peer, crypto::SessionKeys&& keys,
                           const udp::Endpoint& from) noexcept;
  bool under_load() noexcept;

  // nat.cpp: to the path's endpoint and every other endpoint the directory named.
  void send_initiation_bytes(Peer& peer, std::span<const std::uint8_t> bytes) noexcept;

  // relay.cpp: envelopes in and out, the relayed/direct state of paths, relay upkeep.
  void receive_envelope(std::span<std::uint8_t> datagram, const udp::Endpoint& from) noexcept;
  void forward_envelope(const RelayEnvelope& envelope, std::span<const std::uint8_t> datagram,
                        const udp::Endpoint& from) noexcept;
  // Commits a sealed message of `size` bytes at the front of `buffer` to the peer: directly,
  // or wrapped in an envelope to its relay (the buffer must hold kRelayEnvelopeSize more).
  void commit_to_peer(Peer& peer, std::span<std::uint8_t> buffer, std::size_t size) noexcept;
  // An answer to the message being handled (handshake response, cookie reply): back the way
  // it came, through the relay when it came through one.
  void send_reply(const udp::Endpoint& from, std::span<const std::uint8_t> bytes) noexcept;
  void send_via_relays(Peer& peer, std::span<const std::uint8_t> bytes) noexcept;
  bool send_enveloped(const udp::Endpoint& relay, KeyId target,
                      std::span<const std::uint8_t> bytes) noexcept;
  // Whether an authenticated packet from `from` may move the path's endpoint (false when it
  // came through a relay: the relay state changes instead).
  bool note_authenticated_source(Peer& peer, const udp::Endpoint& from) noexcept;
  // The host's path with a relay; `open`: look it up in discovery, open it and start its
  // handshake when missing (appends to peers_: never while iterating over it).
  Peer* relay_path(const IpAddress& relay, bool open) noexcept;
  bool path_live(Peer& peer) const noexcept;
  void tick_relays() noexcept;
  void report_path_mtu() noexcept;
  // path_mtu.cpp: learn a path's MTU after EMSGSIZE; answer inner packets over it with ICMP.
  void learn_path_mtu() noexcept;
  bool over_path_limit(Peer& peer, std::span<const std::uint8_t> packet) noexcept;
  void describe_relay(const Peer& peer, proto::PeerStatus& out) const;
  void describe_relaying(proto::StatusReply& out) const;

  // handshake_keymesh.cpp
  void send_keymesh_initiation(Peer& peer, std::uint32_t index) noexcept;
  void receive_keymesh_initiation(std::span<std::uint8_t> msg, const udp::Endpoint& from);
  void receive_keymesh_response(std::span<std::uint8_t> msg, const udp::Endpoint& from);
  // The remote identity a handshake payload proves, or null (dropped, counted, audited).
  std::shared_ptr<RemoteIdentity> certified_remote(const LocalIdentity& local,
                                                   const crypto::Key& remote_static,
                                                   const udp::Endpoint& from);
  // Policy gate and address ownership (address_owners.h) for a validated remote; audits
  // (aggregated per source) what it refuses.
  bool remote_admitted(const LocalIdentity& local, const RemoteIdentity& remote,
                       const udp::Endpoint& from);
  // Drops and audits an initiation the guard refused (Repeated, RateLimited or SendCookie,
  // whose reply the caller sent).
  void refuse_initiation(HandshakeGuard::Admit why, const udp::Endpoint& from) noexcept;
  // Steps 1-2 of handshake_guard.h for an initiation; false when it was refused.
  bool initiation_admitted(crypto::CookieChecker& checker, std::span<std::uint8_t> msg,
                           const std::uint8_t* sender, const udp::Endpoint& from) noexcept;
  void audit_rejection(policy::AuditEventType type, const LocalIdentity* local,
                       const RemoteIdentity* remote, std::string_view reason,
                       const udp::Endpoint& from) noexcept;

  // paths.cpp
  Peer* path_for(LocalIdentity& local, RemoteIdentity& remote) noexcept;
  Peer* open_path(LocalIdentity& local, std::shared_ptr<const RemoteIdentity> remote);
  void give_endpoint_to_paths(const RemoteIdentity& remote) noexcept;
  bool path_granted(const LocalIdentity& local, const RemoteIdentity& remote,
                    std::string* rule) const;
  void attach_remote(Peer& peer, std::shared_ptr<const RemoteIdentity> remote);
  // What `from` may send to `to` under the current policy (nothing without one), the copy
  // shared with every other pair that compiles to the same (policy/pair_cache.h).
  policy::SharedPairPolicy compiled_pair(const policy::Subject& from, const policy::Subject& to);
  void close_path(Peer& peer, std::string_view reason) noexcept;
  void close_paths(const std::vector<Peer*>& doomed, std::string_view reason) noexcept;
  // Commits a remote identity that passed every check of a handshake: its certificate
  // becomes the confirmed owner of its networks and is routed (paths of keys it displaced
  // close). Call only after the policy gate, the ownership rule and the replay check.
  std::shared_ptr<const RemoteIdentity> learn_remote(std::shared_ptr<RemoteIdentity> remote,
                                                     const udp::Endpoint& from);
  void route_remote(const std::shared_ptr<RemoteIdentity>& remote);
  void check_paths_on_tick() noexcept;
  void audit(policy::AuditEventType type, const LocalIdentity* local,
             const RemoteIdentity* remote, std::string_view rule, std::string reason) noexcept;
  void audit_refused(const LocalIdentity& local, const RemoteIdentity& remote) noexcept;
  void audit_denied(Peer& peer, const LocalIdentity* from_local, const policy::PacketView& packet,
                    policy::Verdict verdict, bool inbound) noexcept;
  void report_denied(Peer& peer, const LocalIdentity* from_local, std::string reason) noexcept;
  WallTime wall_now() const noexcept { return wall_; }
  bool yields_to_own_initiation(const Peer& peer, const udp::Endpoint& from) const noexcept;
  std::uint32_t allocate_index(Peer& peer) noexcept;
  void release_index(std::uint32_t index) noexcept;
  void release_evicted(const crypto::Keypairs::Evicted& evicted) noexcept;
  void update_endpoint(Peer& peer, const udp::Endpoint& from) noexcept;
  void handshake_completed(Peer& peer, bool as_initiator) noexcept;

  // remote_prune.cpp: remote identities nobody can use any more (expired, revoked, root gone)
  // and no path holds are forgotten, routes and relay lists with them, every kPruneInterval.
  void prune_remotes() noexcept;

  // site_failover.cpp
  void route_candidate(const IpPrefix& prefix, RemoteIdentity* remote);
  void unroute_candidate(const IpPrefix& prefix, const RemoteIdentity& remote);
  void fail_over(const crypto::Key& dead, Duration silent) noexcept;
  bool has_answered(const crypto::Key& remote) const noexcept;
  bool candidate_usable(const crypto::Key& key) const noexcept;

  // liveness.cpp
  void liveness_sent(Peer& peer) noexcept;
  void liveness_received(Peer& peer) noexcept;
  bool watches_liveness(const Peer& peer) const noexcept;
  void check_liveness(Peer& peer, TimePoint now) noexcept;

  // timers.cpp: named hooks, called where WireGuard calls them.
  void timers_data_sent(Peer& peer) noexcept;
  void timers_data_received(Peer& peer) noexcept;
  void timers_any_authenticated_packet_sent(Peer& peer) noexcept;
  void timers_any_authenticated_packet_received(Peer& peer) noexcept;
  void timers_any_authenticated_packet_traversal(Peer& peer) noexcept;
  void timers_handshake_initiated(Peer& peer) noexcept;
  void timers_handshake_complete(Peer& peer) noexcept;
  void timers_session_derived(Peer& peer) noexcept;
  void tick_peer(Peer& peer, TimePoint now) noexcept;
  Duration jitter() noexcept;

  crypto::KeyLimits key_limits() const noexcept;
  void drop(DropReason r) noexcept { drops_.count(r); }
  // The time of the current batch: read once per entry point, not once per use, so a packet
  // costs no clock reads of its own.
  TimePoint now() const noexcept { return now_; }
  void refresh_now() noexcept {
    now_ = time_.now();
    wall_ = time_.wall_now();
  }

  tun::Device& device_;
  udp::Bind& bind_;
  // ICMP too-big answers (path_mtu.cpp): the answer being built, and this second's count.
  std::array<std::uint8_t, tun::kMaxTooBigAnswer> too_big_answer_{};
  TimePoint too_big_window_{};
  std::uint32_t too_big_answers_ = 0;
  const TimeSource& time_;
  TimePoint now_;
  WallTime wall_;
  TimerConfig timers_;
  std::uint32_t under_load_threshold_;
  std::size_t mtu_;
  Duration path_keepalive_{};  // nat.cpp: set while this node is behind NAT

  // Local identities. host_ is the config's key: it accepts raw-key peers.
  std::vector<std::unique_ptr<LocalIdentity>> locals_;
  LocalIdentity* host_ = nullptr;
  std::unordered_map<std::uint32_t, std::vector<LocalIdentity*>> locals_by_hint_;
  AllowedIps<LocalIdentity*> local_routes_;
  std::uint64_t local_generation_ = 0;

  // Remote identities by key, and their networks for routing.
  std::unordered_map<crypto::Key, std::shared_ptr<RemoteIdentity>, KeyHash> remotes_;
  AllowedIps<RemoteIdentity*> remote_routes_;
  // Networks with several candidates (site_failover.cpp); remote_routes_ holds the chosen one.
  std::map<std::string, SiteRoute> sites_;
  std::unordered_map<crypto::Key, std::uint32_t, KeyHash> site_candidate_keys_;  // -> sites
  std::unordered_set<crypto::Key, KeyHash> watched_keys_;  // watch_liveness
  StallFn on_stall_;

  std::vector<std::unique_ptr<Peer>> peers_;  // raw-key peers and paths
  std::unordered_map<crypto::Key, Peer*, KeyHash> peers_by_key_;  // raw-key peers
  AllowedIps<Peer*> allowed_ips_;                                 // raw-key peers
  std::unordered_map<std::uint32_t, Peer*> index_table_;

  // Same-host traffic between two local identities: one tracker per ordered pair
  // (first = the identity whose packet opened it).
  std::map<std::pair<const LocalIdentity*, const LocalIdentity*>,
           std::unique_ptr<policy::ConnTrack>>
      local_pairs_;

  std::shared_ptr<const identity::TrustStore> trust_;
  std::shared_ptr<const policy::Policy> policy_;
  policy::PairPolicyCache pair_policies_;
  policy::AuditLog* audit_ = nullptr;
  policy::FlowLog* flow_log_ = nullptr;
  std::optional<WallTime> policy_next_change_;
  TimePoint next_recheck_{};
  TimePoint next_prune_{};
  // path_refused lines are written once per pair per kRefusedAuditInterval.
  std::unordered_map<std::uint64_t, TimePoint> refused_audited_;
  // Handshake admission (handshake_guard.h), address ownership, aggregated rejection lines.
  std::unique_ptr<HandshakeGuard> guard_ = std::make_unique<HandshakeGuard>();
  AddressOwners owners_;
  RejectionAudit rejections_;

  // Packets waiting for discovery to name their destination's identity.
  struct Unrouted {
    std::vector<std::uint8_t> packet;
    TimePoint since;
    LocalIdentity* from = nullptr;  // the sending local identity (its packets leave with it)
  };
  std::deque<Unrouted> unrouted_;
  RouteMissFn on_route_miss_;

  // Handshake scratch: keymesh messages and the payload they carry.
  std::vector<std::uint8_t> handshake_buffer_;
  Bytes payload_;

  // Handshake load estimate: messages counted in the current one-second window.
  TimePoint load_window_start_{};
  std::uint32_t load_window_count_ = 0;

  RelayState relay_;  // relay.cpp
  DirectProbeFn on_direct_probe_;

  DropCounters drops_;
  TunnelCounters counters_;
  std::uint64_t handshakes_completed_ = 0;
  std::uint64_t cookies_sent_ = 0;

  // Receive batch buffers, allocated once and not zeroed (4 MiB): the kernel writes a
  // datagram's bytes only, so an idle daemon touches none of it and a busy one a page a slot.
  std::unique_ptr<std::uint8_t[]> rx_storage_;
  std::vector<udp::Datagram> rx_batch_;
};

// The control socket's view of a local identity (tunnel.cpp).
void describe_identity(const LocalIdentity& local, proto::IdentityInfo& out);

// The counted reason for a failed Noise step (handshake.cpp).
DropReason drop_for(crypto::HandshakeError e) noexcept;

}  // namespace keymesh::daemon
