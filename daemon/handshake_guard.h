// What stands between a keymesh initiation and the work it costs (docs/protocol.md,
// "Handshake floods and replays"). Checked in this order, each before anything changes:
//
//   0. screen   before mac1 is checked (a hash over the whole message, the one cost a flood
//               can still force): an exact repeat (1), or a source over its open share that
//               offers no mac2 and may get no cookie (2), is refused as admit() would refuse it,
//               for two table lookups
//   1. recent   an exact repeat of a message seen in the last minute (by its mac1): refused
//               before any Diffie-Hellman, chain or policy work
//   2. limiter  a token bucket per source IP (crypto/ratelimiter.h): a source over its share
//               is refused unless its mac2 proves its address (then its own, unspoofable
//               bucket applies); under a spoofed flood it gets a cookie reply, itself limited
//   3. replay   after the Noise work (2 DH) gives the initiator's static key and timestamp:
//               per (local identity, remote static key), the timestamp must be newer than
//               the last accepted one, at least kInitiationMinInterval after it, and within
//               kMaxInitiationSkew of our clock. This memory is the guard's, not the path's:
//               it outlives paths, so an initiation captured before a path closed (a policy
//               boundary, a removed identity) is refused afterwards too.
// Only an initiation that passed everything, including the chain and the policy gate,
// commits its timestamp (commit()).
//
// Memory is bounded: the limiter and recent set are fixed tables; the replay table holds one
// entry per (local, remote) pair that completed a handshake (which needs a valid certificate
// for the remote key), at most kMaxPairs, and forgets a pair kForgetAfter after its last
// initiation. Forgetting is safe because timestamps older than kMaxInitiationSkew are
// refused anyway, and kForgetAfter is longer than twice that.
// Not synchronized: the loop thread.
#pragma once

#include <array>
#include <cstdint>
#include <unordered_map>

#include "common/clock.h"
#include "crypto/cookie.h"
#include "crypto/noise.h"
#include "crypto/ratelimiter.h"
#include "udp/bind.h"

namespace keymesh::daemon {

inline constexpr auto kMaxInitiationSkew = std::chrono::minutes(5);
inline constexpr auto kForgetAfter = std::chrono::minutes(11);
inline constexpr auto kRecentMessageTtl = std::chrono::seconds(60);

// The address a cookie (mac2) binds to: IP and port.
crypto::CookieSource cookie_source_of(const udp::Endpoint& from) noexcept;

class HandshakeGuard {
 public:
  enum class Admit : std::uint8_t { Yes, Repeated, RateLimited, SendCookie };

  explicit HandshakeGuard(crypto::RateLimits limits = {}) noexcept;

  // Steps 1 and 2, on the message's mac1 and source. `mac2_valid` is called only when the
  // source is over its open share (computing mac2 costs a hash).
  template <typename Mac2Valid>
  Admit admit(std::span<const std::uint8_t> mac1, const udp::Endpoint& from, TimePoint now,
              Mac2Valid&& mac2_valid) noexcept {
    if (recent_.seen_before(mac1, now)) return Admit::Repeated;
    const crypto::RateSource src = source_of(from);
    using B = crypto::SourceRateLimiter::Bucket;
    if (limiter_.allow(src, B::Open, now)) return Admit::Yes;
    if (mac2_valid()) return limiter_.allow(src, B::Proven, now) ? Admit::Yes : Admit::RateLimited;
    return limiter_.allow(src, B::Cookie, now) ? Admit::SendCookie : Admit::RateLimited;
  }

  // Step 0, on the unchecked mac1 and mac2: Repeated, RateLimited, or Yes (check mac1, then
  // admit()). Takes no token and remembers nothing.
  Admit screen(std::span<const std::uint8_t> mac1, std::span<const std::uint8_t> mac2,
               const udp::Endpoint& from, TimePoint now) noexcept;
  // Step 3. None, ReplayedTimestamp (not newer, or outside our clock's skew) or Flood.
  crypto::HandshakeError check(const crypto::Key& local, const crypto::Key& remote,
                               const crypto::Timestamp& ts, TimePoint now,
                               WallTime wall) const noexcept;
  // Remembers an accepted initiation. False (nothing remembered) when the table is full.
  bool commit(const crypto::Key& local, const crypto::Key& remote, const crypto::Timestamp& ts,
              TimePoint now) noexcept;
  void prune(TimePoint now) noexcept;
  std::size_t pairs() const noexcept { return replay_.size(); }

  static constexpr std::size_t kMaxPairs = 262144;  // 100,000 paths within kForgetAfter, and room
  static crypto::RateSource source_of(const udp::Endpoint& from) noexcept;

 private:
  using PairKey = std::array<std::uint8_t, 2 * crypto::kKeySize>;
  struct PairHash {
    std::size_t operator()(const PairKey& k) const noexcept;
  };
  struct Seen {
    crypto::Timestamp latest{};
    TimePoint at{};
  };
  static PairKey pair_of(const crypto::Key& local, const crypto::Key& remote) noexcept;

  crypto::RecentMessages recent_{kRecentMessageTtl};
  crypto::SourceRateLimiter limiter_;
  std::unordered_map<PairKey, Seen, PairHash> replay_;
};

}  // namespace keymesh::daemon
