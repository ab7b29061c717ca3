#include "crypto/messages.h"

namespace keymesh::crypto {

MessageKind classify(std::span<const std::uint8_t> datagram) noexcept {
  if (datagram.size() < 4) return MessageKind::Invalid;
  if (datagram[1] != 0 || datagram[2] != 0 || datagram[3] != 0) return MessageKind::Invalid;
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
    default:
      return MessageKind::Invalid;
  }
}

}  // namespace keymesh::crypto
