// WireGuard wire messages as fixed packed structs. All integers are little-endian on the
// wire; use the accessors in common/bytes.h (load_le32 ...) rather than reading the fields
// directly on a big-endian host. Parsing is "type and exact length": see classify().
//
//  Initiation (148 B)               Response (92 B)            Cookie reply (64 B)
//  +0   type=1 (u8) + 3 zero        +0  type=2 + 3 zero         +0  type=3 + 3 zero
//  +4   sender index                +4  sender index            +4  receiver index
//  +8   ephemeral public (32)       +8  receiver index          +8  nonce (24)
//  +40  encrypted static (32+16)    +12 ephemeral public (32)   +32 encrypted cookie (16+16)
//  +88  encrypted timestamp (12+16) +44 encrypted nothing (16)
//  +116 mac1 (16)                   +60 mac1 (16)               Data (>= 32 B)
//  +132 mac2 (16)                   +76 mac2 (16)               +0 type=4, +4 receiver index,
//                                                               +8 counter (u64), +16 sealed
//
// keymesh handshake variant (between two keymesh daemons; docs/protocol.md). Variable length:
// n = payload_length (u16 LE, n <= kMaxHandshakePayload); mac1/mac2 are always the last 32 B.
//
//  Keymesh initiation (154 + n B)              Keymesh response (94 + n B)
//  +0     type=0x11 (u8) + 3 zero              +0    type=0x12 (u8) + 3 zero
//  +4     sender index                         +4    sender index
//  +8     receiver hint (4)                    +8    receiver index
//  +12    ephemeral public (32)                +12   ephemeral public (32)
//  +44    encrypted static (32+16)             +44   payload_length n (u16 LE)
//  +92    payload_length n (u16 LE)            +46   encrypted payload (n+16)
//  +94    encrypted TAI64N||payload (12+n+16)  +62+n mac1 (16)
//  +122+n mac1 (16)                            +78+n mac2 (16)
//  +138+n mac2 (16)
//
// mac1 covers every byte before mac1, mac2 every byte before mac2, as in WireGuard. The fixed
// header before the encrypted payload is a packed struct; the variable part is reached through
// the accessors below, never through a struct.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "crypto/constants.h"
#include "crypto/primitives.h"

namespace keymesh::crypto {

#pragma pack(push, 1)
struct MessageInitiation {
  std::uint8_t type[4];
  std::uint8_t sender[4];
  std::uint8_t ephemeral[kKeySize];
  std::uint8_t encrypted_static[kKeySize + kTagSize];
  std::uint8_t encrypted_timestamp[kTimestampSize + kTagSize];
  std::uint8_t mac1[kMacSize];
  std::uint8_t mac2[kMacSize];
};
struct MessageResponse {
  std::uint8_t type[4];
  std::uint8_t sender[4];
  std::uint8_t receiver[4];
  std::uint8_t ephemeral[kKeySize];
  std::uint8_t encrypted_nothing[kTagSize];
  std::uint8_t mac1[kMacSize];
  std::uint8_t mac2[kMacSize];
};
struct MessageCookieReply {
  std::uint8_t type[4];
  std::uint8_t receiver[4];
  std::uint8_t nonce[kCookieNonceSize];
  std::uint8_t encrypted_cookie[kMacSize + kTagSize];
};
// Fixed headers of the keymesh messages; the encrypted payload, mac1 and mac2 follow.
struct KeymeshInitiationHeader {
  std::uint8_t type[4];
  std::uint8_t sender[4];
  std::uint8_t receiver_hint[kReceiverHintSize];
  std::uint8_t ephemeral[kKeySize];
  std::uint8_t encrypted_static[kKeySize + kTagSize];
  std::uint8_t payload_length[2];
};
struct KeymeshResponseHeader {
  std::uint8_t type[4];
  std::uint8_t sender[4];
  std::uint8_t receiver[4];
  std::uint8_t ephemeral[kKeySize];
  std::uint8_t payload_length[2];
};
struct MessageDataHeader {
  std::uint8_t type[4];
  std::uint8_t receiver[4];
  std::uint8_t counter[8];
};
#pragma pack(pop)

static_assert(sizeof(MessageInitiation) == 148);
static_assert(sizeof(MessageResponse) == 92);
static_assert(sizeof(MessageCookieReply) == 64);
static_assert(sizeof(MessageDataHeader) == 16);
static_assert(sizeof(KeymeshInitiationHeader) == 94);
static_assert(sizeof(KeymeshResponseHeader) == 46);

inline constexpr std::size_t kDataOverhead = sizeof(MessageDataHeader) + kTagSize;  // 32
inline constexpr std::size_t kMinDataSize = kDataOverhead;  // a keepalive: no payload
// Bytes of a MAC-protected message that mac1 covers, and mac1+mac2 cover.
template <class M>
inline constexpr std::size_t kMac1Offset = offsetof(M, mac1);
template <class M>
inline constexpr std::size_t kMac2Offset = offsetof(M, mac2);

enum class MessageKind : std::uint8_t {
  Invalid,
  Initiation,
  Response,
  CookieReply,
  Data,
  KeymeshInitiation,
  KeymeshResponse,
};

// Classify an outside (UDP) datagram by type byte and exact length. The three reserved bytes
// must be zero. Data messages need at least kMinDataSize bytes; their payload length is NOT
// required to be a multiple of 16, because senders cap padding at their MTU (a 1420-byte
// full-size packet from wireguard-go is not a multiple of 16). Keymesh messages must be
// exactly as long as their payload_length field implies, and that field must not exceed
// kMaxHandshakePayload. Never reads past `datagram`.
MessageKind classify(std::span<const std::uint8_t> datagram) noexcept;

// ---- keymesh handshake messages ----
using ReceiverHint = std::array<std::uint8_t, kReceiverHintSize>;

// Bytes of the two mac fields every handshake message (WireGuard or keymesh) ends with.
inline constexpr std::size_t kMacTrailerSize = 2 * kMacSize;
// Whole message sizes for a payload of `payload` bytes.
inline constexpr std::size_t kKeymeshInitiationMinSize =
    sizeof(KeymeshInitiationHeader) + kTimestampSize + kTagSize + kMacTrailerSize;  // 154
inline constexpr std::size_t kKeymeshResponseMinSize =
    sizeof(KeymeshResponseHeader) + kTagSize + kMacTrailerSize;  // 94
constexpr std::size_t keymesh_initiation_size(std::size_t payload) noexcept {
  return kKeymeshInitiationMinSize + payload;
}
constexpr std::size_t keymesh_response_size(std::size_t payload) noexcept {
  return kKeymeshResponseMinSize + payload;
}
// Neither can ever have a WireGuard handshake size, so mac offsets by size stay unambiguous.
static_assert(kKeymeshInitiationMinSize > sizeof(MessageInitiation));
static_assert(kKeymeshResponseMinSize > sizeof(MessageResponse));

// The receiver hint of an identity: the first kReceiverHintSize bytes of
// HASH(kLabelHint || public_key) (BLAKE2s-256, kLabelHint = "keymesh-hint" without NUL).
// Public: anyone who knows the public key can compute it; it only selects, mac1 confirms.
ReceiverHint receiver_hint(const Key& public_key) noexcept;

// Validated payload length of a keymesh initiation / response: the type and reserved bytes
// are right, payload_length <= kMaxHandshakePayload and the size matches it exactly.
// nullopt otherwise. These are what classify() uses.
std::optional<std::size_t> keymesh_initiation_payload_length(Span msg) noexcept;
std::optional<std::size_t> keymesh_response_payload_length(Span msg) noexcept;

// Accessors for a message that classify() accepted as KeymeshInitiation / KeymeshResponse
// (preconditions, not checked again).
const KeymeshInitiationHeader& keymesh_initiation_header(Span msg) noexcept;
const KeymeshResponseHeader& keymesh_response_header(Span msg) noexcept;
ReceiverHint keymesh_receiver_hint(Span initiation) noexcept;
// The encrypted field: TAI64N || payload || tag for an initiation, payload || tag for a
// response.
Span keymesh_encrypted_payload(Span msg) noexcept;

// mac1 / mac2 of any handshake message (WireGuard or keymesh, at least 32 bytes): the last
// 32 and last 16 bytes.
Span mac1_of(Span handshake_msg) noexcept;
Span mac2_of(Span handshake_msg) noexcept;

}  // namespace keymesh::crypto
