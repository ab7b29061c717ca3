// Noise_IKpsk2 handshake exactly as WireGuard (paper §5.4). Sans-I/O: callers pass message
// structs, indices and the time; this file never touches a socket or a clock.
//
// Initiator:  create_initiation() -> [send] -> consume_response() -> SessionKeys
// Responder:  consume_initiation(local, msg) identifies the remote static key; the caller
//             finds that peer's Handshake, then accept_initiation() (timestamp replay and
//             flood checks) and create_response() -> SessionKeys.
// mac1/mac2 are not handled here: see cookie.h (checked before any DH is spent).
//
// keymesh variant (docs/protocol.md): the same pattern and steps, but the transcript starts
// from HASH(HASH(Construction) || kKeymeshIdentifier) instead of the WireGuard identifier, the
// initiator's timestamp field encrypts TAI64N || payload and the responder's "nothing" field
// encrypts its payload (empty payload: still a 16-byte tag). A WireGuard message can never
// be consumed as a keymesh one nor the reverse: every AEAD open would fail. A handshake
// stays in the variant it started in (a keymesh initiation is answered by a keymesh response).
// The keymesh calls take variable-length spans and may allocate (payload vectors).
// One Handshake per (local identity, remote peer). Not thread-safe: the owner serializes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "common/bytes.h"
#include "common/clock.h"
#include "crypto/messages.h"
#include "crypto/primitives.h"

namespace keymesh::crypto {

// A local static identity: its private key plus values derived from the public key once.
struct LocalStatic {
  SecretKey private_key;
  Key public_key{};
  Hash mac1_key{};    // HASH(kLabelMac1 || public_key): checks mac1 of messages sent to us
  Hash cookie_key{};  // HASH(kLabelCookie || public_key): seals our cookie replies
  ReceiverHint receiver_hint{};  // receiver_hint(public_key): selects us in keymesh initiations

  static LocalStatic from_private(const SecretKey& priv) noexcept;
};

enum class HandshakeError : std::uint8_t {
  None,
  WrongType,          // message type is not what this step expects
  WrongState,         // e.g. a response while no initiation is outstanding
  DecryptFailed,      // an AEAD field did not authenticate: wrong key or forged
  DhFailed,           // a DH produced all zeros (low-order point)
  UnknownPeer,        // (set by callers) decrypted static key belongs to no configured peer
  ReplayedTimestamp,  // initiation timestamp not newer than the last accepted one
  Flood,              // initiations from this peer faster than kInitiationMinInterval
  BadLength,          // keymesh: malformed length, payload too large or output span too small
  WrongReceiver,      // keymesh: the initiation's receiver hint is not this identity's
};
const char* to_string(HandshakeError e) noexcept;

// The keys a completed handshake yields. Indices are the receiver indices used on the wire:
// we put remote_index in messages we send, the peer puts local_index in messages to us.
struct SessionKeys {
  SecretKey send;
  SecretKey recv;
  std::uint32_t local_index = 0;
  std::uint32_t remote_index = 0;
  bool initiator = false;
};

// What a responder learns from an initiation before it knows which peer sent it.
struct ConsumedInitiation {
  Key remote_static{};
  Key remote_ephemeral{};
  Timestamp timestamp{};
  std::uint32_t remote_index = 0;
  Hash hash{};
  SecretKey chaining_key;
  bool keymesh = false;  // came from a keymesh initiation: answer with a keymesh response
};

// Responder step 1: decrypts the initiator's static key and timestamp with our static key.
// Does not check mac1 (the caller already did). On error, `out` holds nothing useful.
HandshakeError consume_initiation(const LocalStatic& local, const MessageInitiation& msg,
                                  ConsumedInitiation& out) noexcept;

// Responder step 1 of the keymesh variant. `msg` is a whole keymesh initiation (classify() says
// KeymeshInitiation; lengths are checked again). Checks the receiver hint against `local`
// (WrongReceiver), then decrypts as consume_initiation; the initiator's payload is written to
// `payload_out` (resized to it; cleared on error).
HandshakeError consume_keymesh_initiation(const LocalStatic& local, Span msg,
                                          ConsumedInitiation& out, Bytes& payload_out);

class Handshake {
 public:
  // `local` must outlive this object. `psk` may be null (all-zero preshared key).
  Handshake(const LocalStatic& local, const Key& remote_static, const SecretKey* psk) noexcept;
  ~Handshake() { clear(); }
  Handshake(const Handshake&) = delete;
  Handshake& operator=(const Handshake&) = delete;

  const Key& remote_static() const noexcept { return remote_static_; }
  void set_preshared_key(const SecretKey* psk) noexcept;

  // Initiator. Fills every field but mac1/mac2. local_index is our fresh receiver index.
  HandshakeError create_initiation(MessageInitiation& out, std::uint32_t local_index,
                                   WallTime wall) noexcept;
  // Initiator. The caller matched msg.receiver to the index of the outstanding initiation.
  HandshakeError consume_response(const MessageResponse& msg, SessionKeys& keys) noexcept;

  // Responder. Takes over `init` if its timestamp is newer than any accepted before and the
  // last accepted initiation is at least kInitiationMinInterval old.
  HandshakeError accept_initiation(ConsumedInitiation&& init, TimePoint now) noexcept;
  // Responder. Fills every field but mac1/mac2 and derives the session.
  HandshakeError create_response(MessageResponse& out, std::uint32_t local_index,
                                 SessionKeys& keys) noexcept;

  // ---- keymesh variant. mac1/mac2 are left zero (stamp them with CookieGenerator::add_macs).
  // Initiator. Writes keymesh_initiation_size(payload.size()) bytes to the front of `out` and
  // sets `written`. BadLength if payload exceeds kMaxHandshakePayload or `out` is too small.
  HandshakeError create_keymesh_initiation(MutSpan out, std::uint32_t local_index, WallTime wall,
                                           Span payload, std::size_t& written) noexcept;
  // Initiator. `msg` is a whole keymesh response; the responder's payload goes to
  // `payload_out` (cleared on error). A forged response leaves the initiation outstanding.
  HandshakeError consume_keymesh_response(Span msg, SessionKeys& keys, Bytes& payload_out);
  // Responder, after accept_initiation() of a keymesh ConsumedInitiation. Writes
  // keymesh_response_size(payload.size()) bytes to `out` and derives the session.
  HandshakeError create_keymesh_response(MutSpan out, std::uint32_t local_index, Span payload,
                                         SessionKeys& keys, std::size_t& written) noexcept;

  // Index of the outstanding initiation we sent, if any.
  std::optional<std::uint32_t> pending_local_index() const noexcept;
  // Forget ephemeral state of both roles (not the timestamp/flood memory, which must survive).
  void clear() noexcept;

 private:
  // Initiator progress. The responder side is `accepted_`, kept apart (see accept_initiation).
  enum class State : std::uint8_t { Zeroed, InitiationCreated, KeymeshInitiationCreated };

  // Steps shared by both variants, up to the field that differs (see noise.cpp).
  HandshakeError start_initiation(bool keymesh, std::uint32_t local_index,
                                  std::uint8_t* ephemeral_out,
                                  std::uint8_t* encrypted_static_out, SecretKey& key) noexcept;
  HandshakeError response_keys(const std::uint8_t* ephemeral, Hash& h, SecretKey& ck,
                               SecretKey& key) const noexcept;
  HandshakeError start_response(std::uint8_t* ephemeral_out, Hash& h, SecretKey& ck,
                                SecretKey& key, std::uint32_t& remote_index) noexcept;

  const LocalStatic& local_;
  Key remote_static_{};
  ReceiverHint remote_hint_{};  // receiver_hint(remote_static_), put in keymesh initiations
  // DH(local static, remote static): computed at the first initiation we send, then kept. A
  // responder never needs it (the initiation carries what it takes), so a path opened by the
  // remote costs no Diffie-Hellman here.
  SecretKey precomputed_ss_;
  bool ss_computed_ = false;
  SecretKey psk_;
  State state_ = State::Zeroed;
  Hash hash_{};
  SecretKey chaining_key_;
  SecretKey ephemeral_private_;
  std::uint32_t local_index_ = 0;
  ConsumedInitiation accepted_;
  bool has_accepted_ = false;
  Timestamp latest_timestamp_{};
  std::optional<TimePoint> last_initiation_consumed_;
};

}  // namespace keymesh::crypto
