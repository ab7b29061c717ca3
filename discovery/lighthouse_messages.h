// Lighthouse protocol framing (proto/discovery.proto): one LighthouseMessage per UDP datagram,
// sent inside the overlay (the tunnel authenticates and encrypts it; see docs/discovery.md).
// Decoding never throws and never trusts a length: bad input becomes a DropReason that the
// client and server count.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <string_view>

#include "common/bytes.h"
#include "discovery.pb.h"

namespace keymesh::discovery {

// ---- From the protocol ----
inline constexpr std::uint32_t kLighthouseVersion = 1;
// The lighthouse's UDP port on its overlay address (config `lighthouses: [100.64.0.1]` means
// 100.64.0.1:4243). Our own choice, one above the usual 4242 of Nebula's lighthouses, so
// both can run side by side.
inline constexpr std::uint16_t kLighthousePort = 4243;

// ---- Our own limits ----
// Accepted on receipt: below the 65,507-byte UDP payload limit.
inline constexpr std::size_t kMaxLighthouseMessage = 60000;
inline constexpr std::size_t kMaxRecordsPerMessage = 64;
// What we send is split or trimmed to this size (a single record larger than it goes alone):
// inside the overlay a bigger datagram is fragmented, and a non-first fragment passes the
// policy only where every UDP port is granted, which the built-in discovery rule (udp/4243)
// is not. 1200 bytes fit in one packet for any km0 MTU from 1248 (an IPv6 overlay) up.
inline constexpr std::size_t kMaxUnfragmentedMessage = 1200;
// A query by address answers every record holding the longest matching network (gateways of
// one site), up to this many: a few chains of a few hundred bytes each.
inline constexpr std::size_t kMaxRecordsPerAddressReply = 8;
// Revocation lists stay well inside one datagram (a 32-byte fingerprint per revoked cert).
inline constexpr std::size_t kMaxRevocationListBytes = 48 * 1024;

// Why a datagram (or part of one) was dropped. Every drop is counted by reason.
enum class DropReason : std::uint8_t {
  TooLarge,         // datagram above kMaxLighthouseMessage
  Malformed,        // not a LighthouseMessage
  BadVersion,       // version != kLighthouseVersion
  NoBody,           // no message in the oneof
  WrongDirection,   // a reply sent to the server, or a request sent to the client
  UnknownSource,    // client: not from a configured lighthouse
  UnknownRequest,   // client: request_id matches nothing outstanding
  BadRecord,        // a record that does not parse or breaks the limits
  SourceMismatch,   // server: a fingerprint registered from another source address
  OverLimit,        // server: record or subscription caps reached
  RateLimited,      // client: query budget exhausted
  BadQuery,         // server: query without a usable key
};
inline constexpr std::size_t kDropReasonCount = std::size_t(DropReason::BadQuery) + 1;
std::string_view to_string(DropReason reason) noexcept;

using DropCounters = std::array<std::uint64_t, kDropReasonCount>;

using LighthouseMessage = proto::discovery::LighthouseMessage;

std::expected<LighthouseMessage, DropReason> decode_message(ByteSpan datagram);
// Sets the version; the caller fills request_id and the body.
Bytes encode_message(LighthouseMessage& message);

inline ByteSpan as_bytes(const std::string& s) noexcept {
  return ByteSpan(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

}  // namespace keymesh::discovery
