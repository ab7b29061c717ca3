#include "crypto/messages.h"

#include <algorithm>

namespace keymesh::crypto {
namespace {

std::size_t load_le16(const std::uint8_t* p) noexcept {
  return std::size_t(p[0]) | std::size_t(p[1]) << 8;
}

bool reserved_zero(Span d) noexcept { return d[1] == 0 && d[2] == 0 && d[3] == 0; }

// Shared by both keymesh kinds: type, reserved bytes, payload_length at `length_offset`,
// bound and exact size.
std::optional<std::size_t> keymesh_payload_length(Span msg, std::uint32_t type,
                                                  std::size_t length_offset,
                                                  std::size_t min_size) noexcept {
  if (msg.size() < min_size || msg[0] != type || !reserved_zero(msg)) return std::nullopt;
  const std::size_t n = load_le16(msg.data() + length_offset);
  if (n > kMaxHandshakePayload || msg.size() != min_size + n) return std::nullopt;
  return n;
}

}  // namespace

MessageKind classify(std::span<const std::uint8_t> datagram) noexcept {
  if (datagram.size() < 4) return MessageKind::Invalid;
  if (!reserved_zero(datagram)) return MessageKind::Invalid;
  const std::size_t n = datagram.size();
  switch (datagram[0]) {
    case kTypeInitiation:
      return n == sizeof(MessageInitiation) ? MessageKind::Initiation : MessageKind::Invalid;
    case kTypeResponse:
      return n == sizeof(MessageResponse) ? MessageKind::Response : MessageKind::Invalid;
    case kTypeCookieReply:
      return n == sizeof(MessageCookieReply) ? MessageKind::CookieReply : MessageKind::Invalid;
    case kTypeData:
      return n >= kMinDataSize ? MessageKind::Data : MessageKind::Invalid;
    case kTypeKeymeshInitiation:
      return keymesh_initiation_payload_length(datagram) ? MessageKind::KeymeshInitiation
                                                         : MessageKind::Invalid;
    case kTypeKeymeshResponse:
      return keymesh_response_payload_length(datagram) ? MessageKind::KeymeshResponse
                                                       : MessageKind::Invalid;
    default:
      return MessageKind::Invalid;
  }
}

ReceiverHint receiver_hint(const Key& public_key) noexcept {
  const Hash h = hash({Span(reinterpret_cast<const std::uint8_t*>(kLabelHint),
                            sizeof kLabelHint - 1),
                       Span(public_key)});
  ReceiverHint out;
  std::copy_n(h.begin(), out.size(), out.begin());
  return out;
}

std::optional<std::size_t> keymesh_initiation_payload_length(Span msg) noexcept {
  return keymesh_payload_length(msg, kTypeKeymeshInitiation,
                                offsetof(KeymeshInitiationHeader, payload_length),
                                kKeymeshInitiationMinSize);
}

std::optional<std::size_t> keymesh_response_payload_length(Span msg) noexcept {
  return keymesh_payload_length(msg, kTypeKeymeshResponse,
                                offsetof(KeymeshResponseHeader, payload_length),
                                kKeymeshResponseMinSize);
}

const KeymeshInitiationHeader& keymesh_initiation_header(Span msg) noexcept {
  return *reinterpret_cast<const KeymeshInitiationHeader*>(msg.data());
}

const KeymeshResponseHeader& keymesh_response_header(Span msg) noexcept {
  return *reinterpret_cast<const KeymeshResponseHeader*>(msg.data());
}

ReceiverHint keymesh_receiver_hint(Span initiation) noexcept {
  ReceiverHint out;
  std::copy_n(keymesh_initiation_header(initiation).receiver_hint, out.size(), out.begin());
  return out;
}

Span keymesh_encrypted_payload(Span msg) noexcept {
  const std::size_t start = msg[0] == kTypeKeymeshInitiation ? sizeof(KeymeshInitiationHeader)
                                                             : sizeof(KeymeshResponseHeader);
  return msg.subspan(start, msg.size() - kMacTrailerSize - start);
}

Span mac1_of(Span handshake_msg) noexcept {
  return handshake_msg.subspan(handshake_msg.size() - kMacTrailerSize, kMacSize);
}

Span mac2_of(Span handshake_msg) noexcept {
  return handshake_msg.subspan(handshake_msg.size() - kMacSize, kMacSize);
}

}  // namespace keymesh::crypto
