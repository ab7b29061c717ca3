#include "crypto/ratelimiter.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>

#include "crypto/primitives.h"

namespace keymesh::crypto {

namespace {

// Keyed (SipHash), so a remote sender cannot aim many sources at one probe run.
std::uint64_t keyed_hash(std::span<const std::uint8_t> data,
                         const std::array<std::uint8_t, 16>& seed) noexcept {
  std::array<std::uint8_t, crypto_shorthash_BYTES> out{};
  crypto_shorthash(out.data(), data.data(), data.size(), seed.data());
  std::uint64_t h = 0;
  std::memcpy(&h, out.data(), sizeof h);
  return h;
}

std::array<std::uint8_t, 16> key_of(std::span<const std::uint8_t> mac1) noexcept {
  std::array<std::uint8_t, 16> mac{};
  std::memcpy(mac.data(), mac1.data(), std::min(mac1.size(), mac.size()));
  return mac;
}

bool same(const RateSource& a, const RateSource& b) noexcept {
  return a.size == b.size && std::memcmp(a.bytes.data(), b.bytes.data(), a.size) == 0;
}

}  // namespace

SourceRateLimiter::SourceRateLimiter(RateLimits limits) noexcept : limits_(limits) {
  random_bytes(seed_);
}

// Credit is kept in nanoseconds: one token costs 1 s / rate; a bucket holds `burst` tokens
// (cookie replies: one second's worth).
std::int64_t SourceRateLimiter::cost(Bucket b) const noexcept {
  constexpr std::int64_t kSecond = 1'000'000'000;
  const std::uint32_t rate = b == Bucket::Cookie ? limits_.cookies_per_second : limits_.per_second;
  return kSecond / std::max<std::uint32_t>(rate, 1);
}

std::int64_t SourceRateLimiter::capacity(Bucket b) const noexcept {
  const std::uint32_t n = b == Bucket::Cookie ? limits_.cookies_per_second : limits_.burst;
  return cost(b) * std::max<std::uint32_t>(n, 1);
}

SourceRateLimiter::Slot& SourceRateLimiter::slot_for(const RateSource& source,
                                                     TimePoint now) noexcept {
  const std::size_t start =
      keyed_hash(std::span(source.bytes.data(), source.size), seed_) % kSlots;
  Slot* victim = nullptr;
  for (std::size_t i = 0; i < kProbe; ++i) {
    Slot& s = slots_[(start + i) % kSlots];
    if (s.used && same(s.source, source)) return s;
    if (!victim || !s.used || (victim->used && s.last < victim->last)) victim = &s;
  }
  victim->used = true;
  victim->source = source;
  victim->last = now;
  for (auto b : {Bucket::Open, Bucket::Proven, Bucket::Cookie})
    victim->tokens[std::size_t(b)] = capacity(b);
  return *victim;
}

SourceRateLimiter::Slot& SourceRateLimiter::refilled(const RateSource& source,
                                                     TimePoint now) noexcept {
  Slot& s = slot_for(source, now);
  const std::int64_t elapsed =
      std::max<std::int64_t>(0, std::chrono::nanoseconds(now - s.last).count());
  s.last = std::max(s.last, now);
  for (auto b : {Bucket::Open, Bucket::Proven, Bucket::Cookie}) {
    std::int64_t& t = s.tokens[std::size_t(b)];
    t = std::min(capacity(b), t + elapsed);
  }
  return s;
}

bool SourceRateLimiter::has_token(const RateSource& source, Bucket bucket,
                                  TimePoint now) noexcept {
  return refilled(source, now).tokens[std::size_t(bucket)] >= cost(bucket);
}

bool SourceRateLimiter::allow(const RateSource& source, Bucket bucket, TimePoint now) noexcept {
  std::int64_t& tokens = refilled(source, now).tokens[std::size_t(bucket)];
  if (tokens < cost(bucket)) return false;
  tokens -= cost(bucket);
  return true;
}

RecentMessages::RecentMessages(Duration ttl) noexcept : ttl_(ttl) { random_bytes(seed_); }

bool RecentMessages::contains(std::span<const std::uint8_t> mac1, TimePoint now) const noexcept {
  const auto mac = key_of(mac1);
  const std::size_t start = keyed_hash(mac, seed_) % kSlots;
  for (std::size_t i = 0; i < kProbe; ++i) {
    const Entry& e = entries_[(start + i) % kSlots];
    if (e.used && now - e.at < ttl_ && sodium_memcmp(e.mac.data(), mac.data(), mac.size()) == 0)
      return true;
  }
  return false;
}

bool RecentMessages::seen_before(std::span<const std::uint8_t> mac1, TimePoint now) noexcept {
  if (contains(mac1, now)) return true;
  const auto mac = key_of(mac1);
  const std::size_t start = keyed_hash(mac, seed_) % kSlots;
  Entry* victim = nullptr;
  for (std::size_t i = 0; i < kProbe; ++i) {
    Entry& e = entries_[(start + i) % kSlots];
    const bool live = e.used && now - e.at < ttl_;
    if (!victim || !live || (victim->used && e.at < victim->at)) victim = &e;
  }
  victim->mac = mac;
  victim->at = now;
  victim->used = true;
  return false;
}

}  // namespace keymesh::crypto
