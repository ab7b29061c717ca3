// A remote peer as the tunnel sees it: its static key, handshake and transport keys, where it
// is (endpoint), what it may send (allowed IPs), its timer deadlines and counters.
// Owned by Tunnel; touched only on the tunnel's thread.
//
// Two kinds: a raw-key peer from the config (WireGuard semantics: it may send from its
// allowed IPs; when a policy file is configured, policy and connection tracking on every
// packet as well, daemon/raw_policy.h), and a *path* between one local identity and
// one certified remote identity (keymesh handshake variant, policy and connection tracking
// on every packet, closed when the certificate or the grant goes away).
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/ip.h"
#include "crypto/cookie.h"
#include "crypto/keypair.h"
#include "crypto/noise.h"
#include "daemon/raw_policy.h"
#include "policy/conntrack.h"
#include "udp/endpoint.h"

namespace keymesh::daemon {

// Packets waiting for a handshake (bounded, as WireGuard's staged queue). Staging happens only
// while a path has no keypair, so the queue allocates per packet and gives everything back
// once drained: an established or idle path carries no buffers (a node holds 100,000 paths).
class StagedPackets {
 public:
  bool push(std::span<const std::uint8_t> packet);  // false when full
  bool empty() const noexcept { return head_ == slots_.size(); }
  std::size_t size() const noexcept { return slots_.size() - head_; }
  std::span<const std::uint8_t> front() const noexcept;
  void pop() noexcept;
  std::size_t clear() noexcept;  // returns how many were dropped

 private:
  void release() noexcept;

  std::vector<std::vector<std::uint8_t>> slots_;  // from head_ on: waiting, oldest first
  std::size_t head_ = 0;
};

struct LocalIdentity;
struct RemoteIdentity;

// The Noise state and the cookie MACs of one peer's handshakes (512 bytes).
struct HandshakeState {
  HandshakeState(const crypto::LocalStatic& local, const crypto::Key& remote,
                 const crypto::SecretKey* psk) noexcept
      : noise(local, remote, psk), cookies(remote) {}
  crypto::Handshake noise;
  crypto::CookieGenerator cookies;
};

struct Peer {
  // A raw-key peer (`path` false) keeps its handshake state for good: it holds the preshared
  // key and WireGuard's replay timestamp. A path's exists only while a handshake is under
  // way: replay and flood memory for paths is the HandshakeGuard's (handshake_guard.h), so a
  // path that finished its handshake, or went idle, holds none (a node holds 100,000 paths).
  Peer(const crypto::LocalStatic& local, const crypto::Key& remote, const crypto::SecretKey* psk,
       bool path = false)
      : public_key(remote), keymesh(path), local_static_(&local) {
    if (!path) state_ = std::make_unique<HandshakeState>(local, remote, psk);
  }

  // The handshake state, created when a path starts one.
  crypto::Handshake& handshake() { return state().noise; }
  crypto::CookieGenerator& cookies() { return state().cookies; }
  bool has_handshake_state() const noexcept { return state_ != nullptr; }
  // The local index of our initiation in flight, if any.
  std::optional<std::uint32_t> pending_initiation() const noexcept {
    return state_ ? state_->noise.pending_local_index() : std::nullopt;
  }
  // A handshake ended (completed, or its keys expired): a path gives its state back unless an
  // initiation of its own is still in flight; a raw-key peer's only forgets the ephemeral.
  void handshake_done(bool abandon_pending = false) noexcept {
    if (!state_) return;
    if (abandon_pending) state_->noise.clear();
    if (keymesh && !state_->noise.pending_local_index()) state_.reset();
  }

  std::string name;
  crypto::Key public_key;
  bool has_preshared_key = false;
  crypto::Keypairs keypairs;
  udp::Endpoint endpoint;
  std::vector<IpPrefix> allowed_ips;
  Duration persistent_keepalive{};
  StagedPackets staged;
  // Raw-key peers only, and only when a policy file is configured (raw_policy.h).
  std::unique_ptr<RawPeerPolicy> raw_policy;

  // Paths only (keymesh == true).
  bool keymesh = false;  // set by the constructor
  LocalIdentity* local = nullptr;                 // our side; outlives the path
  std::shared_ptr<const RemoteIdentity> remote;   // what the peer's certificate said last
  std::unique_ptr<policy::ConnTrack> conntrack;   // outbound: local -> remote
  bool announced = false;                         // path_opened written
  std::uint64_t denied_unreported = 0;            // denied packets not yet in an audit line
  std::optional<TimePoint> denied_reported_at;

  // Handshake progress (initiator side).
  std::optional<TimePoint> last_initiation_sent;
  std::uint32_t handshake_attempts = 0;

  // Timer deadlines (timers.cpp owns their meaning). nullopt: not armed.
  std::optional<TimePoint> retransmit_handshake_at;
  std::optional<TimePoint> send_keepalive_at;
  std::optional<TimePoint> new_handshake_at;
  std::optional<TimePoint> zero_key_material_at;
  std::optional<TimePoint> persistent_keepalive_at;

  // Liveness (liveness.cpp): data sent since the last authenticated packet received, and
  // the handshake initiation sent to ask whether the peer is still there.
  std::optional<TimePoint> unanswered_since;
  std::optional<TimePoint> probe_sent_at;

  // Relaying (relay.cpp): direct or through a relay, and when direct was last seen working.
  struct Relay {
    std::optional<udp::Endpoint> via;        // the relay the path runs through; nullopt: direct
    std::uint64_t target = 0;                // the remote host's key id for envelopes
    std::optional<TimePoint> last_direct;    // last authenticated packet that came directly
    std::optional<TimePoint> pending_since;  // a handshake is outstanding since
    bool fallback = false;                   // initiations go through the relays too
    std::optional<TimePoint> next_probe;     // next try of direct while relayed
  } relay;

  // Path MTU (path_mtu.cpp): inner packets over path_limit get an ICMP too-big answer until
  // path_limit_until; 0: no limit known (km0's MTU fits).
  std::uint32_t path_limit = 0;
  TimePoint path_limit_until{};

  // Observability.
  std::optional<WallTime> last_handshake;
  std::uint64_t rx_bytes = 0;
  std::uint64_t tx_bytes = 0;

 private:
  HandshakeState& state() {
    if (!state_) state_ = std::make_unique<HandshakeState>(*local_static_, public_key, nullptr);
    return *state_;
  }

  const crypto::LocalStatic* local_static_;
  std::unique_ptr<HandshakeState> state_;
};

}  // namespace keymesh::daemon
