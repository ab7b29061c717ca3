#include "crypto/cookie.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>

#include "common/bytes.h"
#include "crypto/noise.h"

namespace keymesh::crypto {
namespace {

struct MacOffsets {
  std::size_t mac1 = 0;
  std::size_t mac2 = 0;
};

// Only handshake messages carry macs; anything else has no valid offsets. WireGuard ones are
// known by their fixed size (as before); keymesh ones are variable-length, recognised by type
// and the exact length their payload_length implies, with mac1/mac2 as their last 32 bytes.
// The sizes cannot collide: a keymesh message is always longer than its WireGuard twin.
std::optional<MacOffsets> mac_offsets(Span msg) noexcept {
  if (msg.size() == sizeof(MessageInitiation))
    return MacOffsets{kMac1Offset<MessageInitiation>, kMac2Offset<MessageInitiation>};
  if (msg.size() == sizeof(MessageResponse))
    return MacOffsets{kMac1Offset<MessageResponse>, kMac2Offset<MessageResponse>};
  if (keymesh_initiation_payload_length(msg) || keymesh_response_payload_length(msg))
    return MacOffsets{msg.size() - kMacTrailerSize, msg.size() - kMacSize};
  return std::nullopt;
}

template <std::size_t N>
Span label(const char (&s)[N]) noexcept {
  return Span(reinterpret_cast<const std::uint8_t*>(s), N - 1);
}

bool mac_matches(const Mac& expected, const std::uint8_t* got) noexcept {
  return sodium_memcmp(expected.data(), got, kMacSize) == 0;
}

}  // namespace

// ---- Responder ----

CookieChecker::CookieChecker(const LocalStatic& local) noexcept : local_(local) {}

bool CookieChecker::check_mac1(Span msg) const noexcept {
  const auto off = mac_offsets(msg);
  if (!off) return false;
  const Mac expected = mac(Span(local_.mac1_key), msg.first(off->mac1));
  return mac_matches(expected, msg.data() + off->mac1);
}

bool CookieChecker::check_mac2(Span msg, const CookieSource& src, TimePoint now) noexcept {
  const auto off = mac_offsets(msg);
  if (!off) return false;
  // Zeros: the sender holds no cookie (skips a hash over the whole message).
  const std::uint8_t* mac2 = msg.data() + off->mac2;
  if (std::all_of(mac2, mac2 + kMacSize, [](std::uint8_t b) { return b == 0; })) return false;
  Mac cookie = cookie_for(src, now);
  const Mac expected = mac(Span(cookie), msg.first(off->mac2));
  sodium_memzero(cookie.data(), cookie.size());
  return mac_matches(expected, msg.data() + off->mac2);
}

void CookieChecker::create_reply(MessageCookieReply& out, Span msg, std::uint32_t receiver_index,
                                 const CookieSource& src, TimePoint now) noexcept {
  std::memset(&out, 0, sizeof out);
  store_le32(out.type, kTypeCookieReply);
  store_le32(out.receiver, receiver_index);
  const auto off = mac_offsets(msg);
  if (!off) return;  // not a handshake message: nothing to bind the reply to
  random_bytes(MutSpan(out.nonce));
  Mac cookie = cookie_for(src, now);
  // AD is the mac1 of the message we answer, so the reply only helps its real sender.
  xseal(MutSpan(out.encrypted_cookie), local_.cookie_key.data(), out.nonce, Span(cookie),
        msg.subspan(off->mac1, kMacSize));
  sodium_memzero(cookie.data(), cookie.size());
}

Mac CookieChecker::cookie_for(const CookieSource& src, TimePoint now) noexcept {
  if (!secret_born_ || now - *secret_born_ >= kCookieRefreshTime) {
    random_bytes(secret_.span());
    secret_born_ = now;
  }
  return mac(secret_.span(), src.span());
}

// ---- Initiator ----

CookieGenerator::CookieGenerator(const Key& remote_public) noexcept
    : mac1_key_(hash({label(kLabelMac1), Span(remote_public)})),
      cookie_key_(hash({label(kLabelCookie), Span(remote_public)})) {}

void CookieGenerator::add_macs(MutSpan msg, TimePoint now) noexcept {
  const Span bytes(msg.data(), msg.size());
  const auto off = mac_offsets(bytes);
  if (!off) return;
  last_mac1_ = mac(Span(mac1_key_), bytes.first(off->mac1));
  have_last_mac1_ = true;
  std::memcpy(msg.data() + off->mac1, last_mac1_.data(), kMacSize);

  if (cookie_received_ && now - *cookie_received_ < kCookieRefreshTime) {
    const Mac mac2 = mac(Span(cookie_), bytes.first(off->mac2));
    std::memcpy(msg.data() + off->mac2, mac2.data(), kMacSize);
  } else {
    std::memset(msg.data() + off->mac2, 0, kMacSize);
  }
}

bool CookieGenerator::consume_reply(const MessageCookieReply& reply, TimePoint now) noexcept {
  if (load_le32(reply.type) != kTypeCookieReply || !have_last_mac1_) return false;
  Mac cookie;
  if (!xopen(MutSpan(cookie), cookie_key_.data(), reply.nonce, Span(reply.encrypted_cookie),
             Span(last_mac1_)))
    return false;
  cookie_ = cookie;
  sodium_memzero(cookie.data(), cookie.size());
  cookie_received_ = now;
  have_last_mac1_ = false;  // one reply per stamped message; a second copy is a replay
  return true;
}

}  // namespace keymesh::crypto
