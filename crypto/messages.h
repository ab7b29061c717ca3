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
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "crypto/constants.h"

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

inline constexpr std::size_t kDataOverhead = sizeof(MessageDataHeader) + kTagSize;  // 32
inline constexpr std::size_t kMinDataSize = kDataOverhead;  // a keepalive: no payload
// Bytes of a MAC-protected message that mac1 covers, and mac1+mac2 cover.
template <class M>
inline constexpr std::size_t kMac1Offset = offsetof(M, mac1);
template <class M>
inline constexpr std::size_t kMac2Offset = offsetof(M, mac2);

enum class MessageKind : std::uint8_t { Invalid, Initiation, Response, CookieReply, Data };

// Classify an outside (UDP) datagram by type byte and exact length. The three reserved bytes
// must be zero. Data messages need at least kMinDataSize bytes; their payload length is NOT
// required to be a multiple of 16, because senders cap padding at their MTU (a 1420-byte
// full-size packet from wireguard-go is not a multiple of 16). Never reads past `datagram`.
MessageKind classify(std::span<const std::uint8_t> datagram) noexcept;

}  // namespace keymesh::crypto
