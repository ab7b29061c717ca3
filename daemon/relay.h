// Relaying (issue 8, docs/sites.md "Relays"): two peers that cannot reach each other directly
// (both behind NAT that cannot be punched, e.g. symmetric NAT) exchange their messages through
// a third daemon with `relay: true`.
//
// What the relay sees: an *envelope* around one unchanged WireGuard/keymesh message (handshake
// or data), end-to-end encrypted between the two peers. The relay holds no key of theirs: it
// can drop or delay a message, never read it, and a changed byte fails authentication at the
// receiver (data_auth_failed, or a handshake drop).
//
// Not an open reflector. The relay forwards an envelope only when
//  1. the sender key id names a host identity that has a *live* path with the relay (a
//     current keypair young enough to be used) and the envelope came from that path's
//     endpoint: only a peer that completed a handshake with the relay, from where it did so;
//  2. the target key id names another host identity with a live path; the envelope goes to
//     that path's endpoint, unchanged.
// Everything else is dropped and counted (relay_disabled, relay_unknown_sender,
// relay_unknown_target, relay_malformed; relay_disabled also at a node that is no relay).
//
// Who uses which relay (Nebula-style): a node names the relays it can be reached through
// (`relays: [overlay address]`), keeps a path with each (persistent keepalive), and publishes
// them in its discovery records (`relays`, `host_key`). A peer whose handshake gets no answer
// directly within kRelayFallbackAfter (and that received nothing directly meanwhile) also
// sends it through the target's relays (it opens a path with such a relay itself when it has
// none). Paths prefer direct: a path moves to a
// relay when a handshake completes through one (its direct copy, sent first, would have won:
// a second copy is refused as a replay), or when relayed data arrives and nothing arrived
// directly for kDirectFresh; it moves back to direct on the first authenticated packet that
// arrives directly. While relayed, the path tries direct again every kDirectProbeInterval (a
// punch request and a new handshake to every direct endpoint only; its retransmits also go
// through the relay, as any rekey of a relayed path does).
//
// MTU: the envelope costs kRelayEnvelopeSize bytes. keymeshd reserves them in km0's MTU when
// relaying is possible (docs/sites.md), so a relayed full-size packet is never fragmented.
//
// Threading: everything here runs on the tunnel's thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/ip.h"
#include "crypto/primitives.h"
#include "daemon/drop_reason.h"
#include "daemon/identities.h"
#include "udp/endpoint.h"

namespace keymesh::daemon {

// ---- Envelope (wire format) ----
//
//   0               1               2               3
//  +---------------+-----------------------------------------------+
//  | type = 0x13   |                reserved (zero)                |
//  +---------------+-----------------------------------------------+
//  |                 sender key id (8 bytes, see key_id)           |
//  +---------------------------------------------------------------+
//  |                 target key id (8 bytes)                       |
//  +---------------------------------------------------------------+
//  | inner: one WireGuard or keymesh message, unchanged            |
//  | (never another envelope)                                      |
//
// Key ids are the first 8 bytes of the host identities' X25519 public keys (public, and
// unambiguous among one relay's paths: finding a key with the same 8 bytes as a given one
// costs 2^64 work).
inline constexpr std::uint8_t kTypeRelayEnvelope = 0x13;  // next to the keymesh 0x11, 0x12

struct RelayEnvelopeHeader {
  std::uint8_t type;
  std::uint8_t reserved[3];
  std::uint8_t sender[8];
  std::uint8_t target[8];
};
static_assert(sizeof(RelayEnvelopeHeader) == 20);
inline constexpr std::size_t kRelayEnvelopeSize = sizeof(RelayEnvelopeHeader);
// The smallest inner message: a cookie reply is 64, a keepalive 32; 32 is the floor.
inline constexpr std::size_t kRelayMinInner = 32;

using KeyId = std::uint64_t;
KeyId key_id(const crypto::Key& key) noexcept;

struct RelayEnvelope {
  KeyId sender = 0;
  KeyId target = 0;
  std::span<std::uint8_t> inner;  // points into the datagram
};

// Whether the datagram claims to be an envelope (type byte only).
inline bool is_relay_envelope(std::span<const std::uint8_t> datagram) noexcept {
  return !datagram.empty() && datagram[0] == kTypeRelayEnvelope;
}
// Type, reserved bytes zero, room for an inner message of at least kRelayMinInner bytes that
// is not itself an envelope. nullopt otherwise. Never reads past `datagram`.
std::optional<RelayEnvelope> parse_relay_envelope(std::span<std::uint8_t> datagram) noexcept;
// Writes the 20-byte header at the front of `out` (which must hold kRelayEnvelopeSize bytes).
void write_relay_envelope(std::span<std::uint8_t> out, KeyId sender, KeyId target) noexcept;

// ---- Forwarding decision (sans-I/O; the tunnel looks the two paths up) ----

// A relay's view of one of its paths.
struct RelayPathState {
  udp::Endpoint endpoint;
  bool live = false;  // a current keypair that may still be used
};

struct RelayDecision {
  std::optional<DropReason> refused;  // set: drop and count this
  udp::Endpoint to;                   // where the envelope goes otherwise
};

// `sender`/`target`: the relay's paths to the host identities the key ids name (null: none).
RelayDecision decide_relay(bool enabled, const RelayEnvelope& envelope, const udp::Endpoint& from,
                           const RelayPathState* sender, const RelayPathState* target) noexcept;

// ---- Timing (our own choices) ----
// A handshake that got no direct answer this long also goes through the target's relays (the
// punch retry comes at 300 ms, so a punchable path forms well before).
inline constexpr auto kRelayFallbackAfter = std::chrono::milliseconds(2000);
// A path that received directly within this time stays direct when a relayed packet arrives.
inline constexpr auto kDirectFresh = std::chrono::seconds(30);
// A relayed path tries direct again this often.
inline constexpr auto kDirectProbeInterval = std::chrono::seconds(20);
// Paths with `relays:` are kept alive this often.
inline constexpr auto kRelayKeepalive = std::chrono::seconds(25);
// Relayed pairs tracked for `keymesh status` (more are forwarded but counted in the total only).
inline constexpr std::size_t kMaxRelayPairs = 1024;

// ---- The tunnel's relay bookkeeping (relay.cpp) ----
struct RelayState {
  bool enabled = false;                 // `relay: true`
  std::vector<IpAddress> own_relays;    // `relays:`
  // How to reach a remote identity's host through relays (from its discovery record).
  struct RemoteRelays {
    std::vector<IpAddress> relays;
    crypto::Key host_key{};
  };
  std::unordered_map<crypto::Key, RemoteRelays, KeyHash> remotes;
  // Host paths by key id, rebuilt on tick when the number of paths changed.
  std::unordered_map<KeyId, crypto::Key> key_ids;
  std::size_t key_ids_built_for = SIZE_MAX;
  // Forwarded envelopes.
  struct Count {
    std::uint64_t packets = 0, bytes = 0;
  };
  std::map<std::pair<KeyId, KeyId>, Count> pairs;
  Count forwarded;
  // The envelope whose inner message is being handled: replies go back the same way.
  struct Rx {
    udp::Endpoint relay;
    KeyId sender = 0;
    bool handshake = false;  // the inner message is a handshake initiation or response
  };
  std::optional<Rx> rx;
  TimePoint next_upkeep{};
  bool open_wanted = false;
  bool probing = false;      // a direct probe's initiation: not through the relay  // a handshake fell back: open paths with its relays now
  // Path MTU (sendmsg EMSGSIZE) reporting.
  std::uint64_t too_big_seen = 0;
  std::optional<TimePoint> too_big_logged;
};

}  // namespace keymesh::daemon
