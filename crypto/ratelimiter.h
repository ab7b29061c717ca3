// Per-source limits for handshake messages, as WireGuard's ratelimiter: a token bucket per
// source IP address in a fixed, bounded table (no allocation after construction), and a
// bounded set of recently seen messages (by their mac1) for cheap refusal of exact repeats.
//
// Sans-I/O (docs/style.md habit 3): the caller passes the time. Not synchronized: the loop
// thread. Every bucket starts full; a source that stays quiet refills to its burst.
//
// Each source has three buckets:
//   open    initiations without a valid mac2 (anyone may spoof the address, so a spoofer can
//           drain the victim's open bucket; the victim then proves its address with a cookie)
//   proven  initiations with a valid mac2: the cookie proves the address, so only the real
//           holder of the address drains this one
//   cookie  cookie replies sent to this address (a spoofed flood must not turn us into a
//           cookie-reply cannon aimed at its victim)
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "common/clock.h"

namespace keymesh::crypto {

// Source address bytes: 4 (IPv4) or 16 (IPv6). The port is not part of it: ports are free.
struct RateSource {
  std::array<std::uint8_t, 16> bytes{};
  std::uint8_t size = 0;
};

struct RateLimits {
  std::uint32_t per_second = 100;  // sustained initiations per source and bucket
  std::uint32_t burst = 250;       // a node of one /24 pool starting all its paths at once
  std::uint32_t cookies_per_second = 10;
};

class SourceRateLimiter {
 public:
  enum class Bucket : std::uint8_t { Open, Proven, Cookie };

  explicit SourceRateLimiter(RateLimits limits = {}) noexcept;
  // Takes one token from `source`'s bucket; false when it is empty. A full table evicts the
  // least recently seen of the slots the source hashes to (its bucket then starts full: an
  // eviction can only make a source freer, never lock one out).
  bool allow(const RateSource& source, Bucket bucket, TimePoint now) noexcept;
  // Whether allow() would succeed now; takes nothing.
  bool has_token(const RateSource& source, Bucket bucket, TimePoint now) noexcept;

  static constexpr std::size_t kSlots = 8192;
  static constexpr std::size_t kProbe = 8;

 private:
  struct Slot {
    RateSource source;
    TimePoint last{};
    std::array<std::int64_t, 3> tokens{};  // nanoseconds of credit per bucket
    bool used = false;
  };
  Slot& slot_for(const RateSource& source, TimePoint now) noexcept;
  Slot& refilled(const RateSource& source, TimePoint now) noexcept;
  std::int64_t cost(Bucket b) const noexcept;
  std::int64_t capacity(Bucket b) const noexcept;

  RateLimits limits_;
  std::array<std::uint8_t, 16> seed_{};
  std::array<Slot, kSlots> slots_{};
};

// The mac1 of the last kSlots handshake messages, each remembered for `ttl`: a message seen
// before is refused before any Diffie-Hellman or certificate work. mac1 is a MAC over every
// byte before it, so two messages share it only if they are the same message (for one
// responder key). Bounded: a full probe run overwrites its oldest entry, so a flood of
// distinct messages evicts old entries; what escapes here still meets the timestamp check.
class RecentMessages {
 public:
  explicit RecentMessages(Duration ttl) noexcept;
  // True when `mac1` was seen within ttl; otherwise remembers it and returns false.
  bool seen_before(std::span<const std::uint8_t> mac1, TimePoint now) noexcept;
  // True when `mac1` was seen within ttl; remembers nothing.
  bool contains(std::span<const std::uint8_t> mac1, TimePoint now) const noexcept;

  static constexpr std::size_t kSlots = 16384;
  static constexpr std::size_t kProbe = 4;

 private:
  struct Entry {
    std::array<std::uint8_t, 16> mac{};
    TimePoint at{};
    bool used = false;
  };
  Duration ttl_;
  std::array<std::uint8_t, 16> seed_{};
  std::array<Entry, kSlots> entries_{};
};

}  // namespace keymesh::crypto
