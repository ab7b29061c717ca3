// Tunnel: the protocol engine between one tun::Device (inside) and one udp::Bind (outside).
// It owns the local static identity, the peers, the receiver-index table and the drop
// counters. It does no polling and reads no clock: the event loop (daemon.cpp) or a test
// hands it packets and `now`, and it writes to the device and bind it was given.
//
//   inside  packet -> send.cpp     (route, seal, send; stage + handshake when no key)
//   outside datagram -> receive.cpp (classify, handshake driver or open, check source, write)
//   periodic tick -> timers.cpp     (retransmits, keepalives, rekeys, key wiping)
//
// Threading: single-threaded today (the loop thread). The design keeps per-packet state in
// the peer and keypair so that several workers, each with its own TUN queue and socket, can
// later share peers behind per-peer locks without changing these entry points.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "control.pb.h"
#include "crypto/cookie.h"
#include "crypto/keypair.h"
#include "crypto/noise.h"
#include "daemon/allowed_ips.h"
#include "daemon/config.h"
#include "daemon/drop_reason.h"
#include "daemon/peer.h"
#include "tun/device.h"
#include "udp/bind.h"

namespace keymesh::daemon {

struct KeyHash {
  std::size_t operator()(const crypto::Key& k) const noexcept {
    std::size_t h;
    std::memcpy(&h, k.data(), sizeof h);  // keys are uniformly random
    return h;
  }
};

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
  const crypto::Key& public_key() const noexcept { return local_.public_key; }
  std::uint64_t handshakes_completed() const noexcept { return handshakes_completed_; }
  Peer* find_peer(const crypto::Key& public_key) noexcept;

 private:
  friend struct TimerHooks;

  // send.cpp
  void send_inside_packet(std::span<std::uint8_t> buffer, std::size_t size) noexcept;
  bool send_data(Peer& peer, std::span<const std::uint8_t> packet) noexcept;
  void send_keepalive(Peer& peer) noexcept;
  void send_staged(Peer& peer) noexcept;
  void keep_key_fresh_on_send(Peer& peer) noexcept;

  // receive.cpp
  void receive_data(std::span<std::uint8_t> msg, const udp::Endpoint& from) noexcept;
  void keep_key_fresh_on_receive(Peer& peer, const crypto::Keypair& kp) noexcept;

  // handshake.cpp
  void send_initiation(Peer& peer, bool is_retry) noexcept;
  void receive_initiation(std::span<std::uint8_t> msg, const udp::Endpoint& from) noexcept;
  void receive_response(std::span<std::uint8_t> msg, const udp::Endpoint& from) noexcept;
  void receive_cookie_reply(std::span<std::uint8_t> msg) noexcept;
  bool under_load() noexcept;
  bool yields_to_own_initiation(const Peer& peer) const noexcept;
  std::uint32_t allocate_index(Peer& peer) noexcept;
  void release_index(std::uint32_t index) noexcept;
  void release_evicted(const crypto::Keypairs::Evicted& evicted) noexcept;
  void update_endpoint(Peer& peer, const udp::Endpoint& from) noexcept;
  void handshake_completed(Peer& peer, bool as_initiator) noexcept;

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
  void refresh_now() noexcept { now_ = time_.now(); }

  tun::Device& device_;
  udp::Bind& bind_;
  const TimeSource& time_;
  TimePoint now_;
  TimerConfig timers_;
  std::uint32_t under_load_threshold_;
  std::size_t mtu_;

  crypto::LocalStatic local_;
  crypto::CookieChecker cookie_checker_;
  std::vector<std::unique_ptr<Peer>> peers_;
  std::unordered_map<crypto::Key, Peer*, KeyHash> peers_by_key_;
  AllowedIps<Peer*> allowed_ips_;
  std::unordered_map<std::uint32_t, Peer*> index_table_;

  // Handshake load estimate: messages counted in the current one-second window.
  TimePoint load_window_start_{};
  std::uint32_t load_window_count_ = 0;

  DropCounters drops_;
  std::uint64_t handshakes_completed_ = 0;
  std::uint64_t cookies_sent_ = 0;

  // Receive batch buffers, allocated once.
  std::vector<std::uint8_t> rx_storage_;
  std::vector<udp::Datagram> rx_batch_;
};

}  // namespace keymesh::daemon
