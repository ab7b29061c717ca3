// mac1/mac2 and cookie replies (WireGuard paper §5.4.4, §5.4.7). Sans-I/O.
//
// Every Initiation/Response carries mac1 = MAC(HASH(kLabelMac1 || receiver public), msg up to
// mac1): proof the sender knows whom it talks to; checked before any DH. Under load a responder
// also wants mac2 = MAC(cookie, msg up to mac2), where cookie = MAC(Rm, source ip || port) with a
// secret Rm rotated every two minutes; lacking it, the responder answers with a cookie reply
// (XChaCha20-Poly1305 sealed under HASH(kLabelCookie || responder public), AD = the msg's mac1).
#pragma once

#include <optional>
#include <span>

#include "common/clock.h"
#include "crypto/messages.h"
#include "crypto/noise.h"  // LocalStatic
#include "crypto/primitives.h"

namespace keymesh::crypto {

// Source address bytes as the cookie binds them: IPv4 (4) or IPv6 (16) address followed by
// the UDP port in network byte order. At most 18 bytes.
struct CookieSource {
  std::array<std::uint8_t, 18> bytes{};
  std::size_t size = 0;
  Span span() const noexcept { return Span(bytes.data(), size); }
};

// Responder side: one per local identity.
class CookieChecker {
 public:
  explicit CookieChecker(const LocalStatic& local) noexcept;  // `local` must outlive this
  // msg is a whole Initiation (148 B), Response (92 B), or keymesh initiation/response (its
  // exact length per payload_length; mac1/mac2 are its last 32 bytes). Other sizes: false.
  bool check_mac1(Span msg) const noexcept;
  bool check_mac2(Span msg, const CookieSource& src, TimePoint now) noexcept;
  // Answers msg (whose sender index becomes the reply's receiver index).
  void create_reply(MessageCookieReply& out, Span msg, std::uint32_t receiver_index,
                    const CookieSource& src, TimePoint now) noexcept;

 private:
  Mac cookie_for(const CookieSource& src, TimePoint now) noexcept;
  const LocalStatic& local_;
  SecretKey secret_;
  std::optional<TimePoint> secret_born_;
};

// Initiator side: one per remote peer. Stamps outgoing handshake messages.
class CookieGenerator {
 public:
  explicit CookieGenerator(const Key& remote_public) noexcept;
  // msg is a whole Initiation or Response being sent, WireGuard or keymesh (exactly
  // keymesh_*_size(payload) bytes); writes mac1, and mac2 if we hold a cookie younger than
  // kCookieRefreshTime (zeros otherwise). Anything else is left untouched.
  void add_macs(MutSpan msg, TimePoint now) noexcept;
  // Accepts a reply to the last message we stamped. False if it does not authenticate.
  bool consume_reply(const MessageCookieReply& reply, TimePoint now) noexcept;

 private:
  Hash mac1_key_{};
  Hash cookie_key_{};
  Mac last_mac1_{};
  bool have_last_mac1_ = false;
  Mac cookie_{};
  std::optional<TimePoint> cookie_received_;
};

}  // namespace keymesh::crypto
