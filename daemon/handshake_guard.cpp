#include "daemon/handshake_guard.h"

#include <algorithm>
#include <cstring>

namespace keymesh::daemon {

HandshakeGuard::HandshakeGuard(crypto::RateLimits limits) noexcept : limiter_(limits) {}

crypto::RateSource HandshakeGuard::source_of(const udp::Endpoint& from) noexcept {
  crypto::RateSource s;
  s.size = from.family == AF_INET ? 4 : 16;
  std::memcpy(s.bytes.data(), from.addr.data(), s.size);
  return s;
}

std::size_t HandshakeGuard::PairHash::operator()(const PairKey& k) const noexcept {
  std::size_t a, b;  // keys are uniformly random
  std::memcpy(&a, k.data(), sizeof a);
  std::memcpy(&b, k.data() + crypto::kKeySize, sizeof b);
  return a ^ (b * 0x9e3779b97f4a7c15ull);
}

HandshakeGuard::PairKey HandshakeGuard::pair_of(const crypto::Key& local,
                                                const crypto::Key& remote) noexcept {
  PairKey k;
  std::memcpy(k.data(), local.data(), crypto::kKeySize);
  std::memcpy(k.data() + crypto::kKeySize, remote.data(), crypto::kKeySize);
  return k;
}

HandshakeGuard::Admit HandshakeGuard::screen(std::span<const std::uint8_t> mac1,
                                             std::span<const std::uint8_t> mac2,
                                             const udp::Endpoint& from, TimePoint now) noexcept {
  if (recent_.contains(mac1, now)) return Admit::Repeated;
  // A non-zero mac2 may be a cookie: admit() checks it. Zeros are what a sender without one
  // sends (a valid mac2 is zero with probability 2^-128).
  if (!std::ranges::all_of(mac2, [](std::uint8_t b) { return b == 0; })) return Admit::Yes;
  const crypto::RateSource src = source_of(from);
  using B = crypto::SourceRateLimiter::Bucket;
  return limiter_.has_token(src, B::Open, now) || limiter_.has_token(src, B::Cookie, now)
             ? Admit::Yes
             : Admit::RateLimited;
}

crypto::HandshakeError HandshakeGuard::check(const crypto::Key& local, const crypto::Key& remote,
                                             const crypto::Timestamp& ts, TimePoint now,
                                             WallTime wall) const noexcept {
  // Outside our clock's window: a capture replayed after we forgot its pair, or a sender
  // whose clock is off by more than certificates tolerate anyway.
  if (!crypto::timestamp_after(ts, crypto::tai64n(wall - kMaxInitiationSkew)) ||
      crypto::timestamp_after(ts, crypto::tai64n(wall + kMaxInitiationSkew)))
    return crypto::HandshakeError::ReplayedTimestamp;
  const auto it = replay_.find(pair_of(local, remote));
  if (it == replay_.end()) return crypto::HandshakeError::None;
  if (!crypto::timestamp_after(ts, it->second.latest))
    return crypto::HandshakeError::ReplayedTimestamp;
  if (now - it->second.at < crypto::kInitiationMinInterval) return crypto::HandshakeError::Flood;
  return crypto::HandshakeError::None;
}

bool HandshakeGuard::commit(const crypto::Key& local, const crypto::Key& remote,
                            const crypto::Timestamp& ts, TimePoint now) noexcept {
  try {
    const PairKey key = pair_of(local, remote);
    auto it = replay_.find(key);
    if (it == replay_.end()) {
      if (replay_.size() >= kMaxPairs) prune(now);
      if (replay_.size() >= kMaxPairs) return false;
      it = replay_.emplace(key, Seen{}).first;
    }
    it->second.latest = ts;
    it->second.at = now;
    return true;
  } catch (...) {
    return false;
  }
}

void HandshakeGuard::prune(TimePoint now) noexcept {
  std::erase_if(replay_, [&](const auto& kv) { return now - kv.second.at >= kForgetAfter; });
}

}  // namespace keymesh::daemon
