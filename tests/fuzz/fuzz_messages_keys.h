// Fixed identities shared by fuzz_messages.cpp and the seed generator, so the seed corpus
// (a valid initiation, response, cookie reply and data message) matches what the fuzz target
// checks against. Test keys only.
#pragma once

#include <memory>

#include "crypto/cookie.h"
#include "crypto/keypair.h"
#include "crypto/noise.h"

namespace keymesh::crypto::fuzz {

inline SecretKey fixed_key(std::uint8_t seed) {
  SecretKey k;
  for (std::size_t i = 0; i < k.size(); ++i) k.data()[i] = std::uint8_t(seed * 31 + i * 7);
  k.data()[0] &= 248;
  k.data()[31] = (k.data()[31] & 127) | 64;
  return k;
}

// The fuzz target receives as `local`; `remote` is the peer that sends to it.
inline LocalStatic local_identity() { return LocalStatic::from_private(fixed_key(1)); }
inline LocalStatic remote_identity() { return LocalStatic::from_private(fixed_key(2)); }

inline constexpr std::uint32_t kInitiatorIndex = 0x11223344;  // the target's pending handshake
inline constexpr std::uint32_t kDataIndex = 0x55667788;       // the target's data keypair
inline const TimePoint kNow = TimePoint(std::chrono::hours(1000));

// The data keypair as seen by the target (receiving) or by the peer (sending to it).
inline std::unique_ptr<Keypair> data_keypair(bool target_side) {
  SessionKeys k;
  SecretKey a = fixed_key(3), b = fixed_key(4);
  k.recv = target_side ? std::move(a) : std::move(b);
  k.send = target_side ? std::move(b) : std::move(a);
  k.local_index = target_side ? kDataIndex : 1;
  k.remote_index = target_side ? 1 : kDataIndex;
  return Keypair::from_session(std::move(k), kNow);
}

// The message the target's CookieGenerator last stamped: a fixed, deterministic initiation
// so that a seed cookie reply can authenticate against its mac1.
inline MessageInitiation cookie_anchor_message() {
  MessageInitiation m{};
  m.type[0] = kTypeInitiation;
  m.sender[0] = 0x42;
  return m;
}

inline CookieSource fixed_source() {
  CookieSource s;
  s.bytes = {192, 0, 2, 1, 0xca, 0x6c};
  s.size = 6;
  return s;
}

}  // namespace keymesh::crypto::fuzz
