#include "discovery/lighthouse_messages.h"

namespace keymesh::discovery {

std::string_view to_string(DropReason reason) noexcept {
  switch (reason) {
    case DropReason::TooLarge:
      return "too_large";
    case DropReason::Malformed:
      return "malformed";
    case DropReason::BadVersion:
      return "bad_version";
    case DropReason::NoBody:
      return "no_body";
    case DropReason::WrongDirection:
      return "wrong_direction";
    case DropReason::UnknownSource:
      return "unknown_source";
    case DropReason::UnknownRequest:
      return "unknown_request";
    case DropReason::BadRecord:
      return "bad_record";
    case DropReason::SourceMismatch:
      return "source_mismatch";
    case DropReason::OverLimit:
      return "over_limit";
    case DropReason::RateLimited:
      return "rate_limited";
    case DropReason::BadQuery:
      return "bad_query";
  }
  return "?";
}

std::expected<LighthouseMessage, DropReason> decode_message(ByteSpan datagram) {
  if (datagram.size() > kMaxLighthouseMessage) return std::unexpected(DropReason::TooLarge);
  LighthouseMessage m;
  if (!m.ParseFromArray(datagram.data(), int(datagram.size())))
    return std::unexpected(DropReason::Malformed);
  if (m.version() != kLighthouseVersion) return std::unexpected(DropReason::BadVersion);
  if (m.body_case() == LighthouseMessage::BODY_NOT_SET) return std::unexpected(DropReason::NoBody);
  return m;
}

Bytes encode_message(LighthouseMessage& message) {
  message.set_version(kLighthouseVersion);
  Bytes out(message.ByteSizeLong());
  message.SerializeToArray(out.data(), int(out.size()));
  return out;
}

}  // namespace keymesh::discovery
