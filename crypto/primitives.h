// Cryptographic primitives WireGuard is built from. Thin, allocation-free wrappers over
// libb2 (BLAKE2s) and libsodium (X25519, ChaCha20-Poly1305, XChaCha20-Poly1305).
// All functions take caller-owned buffers and keep no state; all are safe on any thread.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>

#include "common/clock.h"
#include "crypto/constants.h"
#include "crypto/secret.h"

namespace keymesh::crypto {

using Key = std::array<std::uint8_t, kKeySize>;   // public keys, hashes
using Hash = std::array<std::uint8_t, kHashSize>;
using Mac = std::array<std::uint8_t, kMacSize>;
using Span = std::span<const std::uint8_t>;
using MutSpan = std::span<std::uint8_t>;

// ---- BLAKE2s ----
// HASH(parts...) = BLAKE2s-256 over the concatenation of parts.
Hash hash(std::initializer_list<Span> parts) noexcept;
// MAC(key, input) = keyed BLAKE2s with 16-byte output (key up to 32 bytes).
Mac mac(Span key, Span input) noexcept;
// HMAC-BLAKE2s-256 (RFC 2104 with BLAKE2s, 64-byte block).
Hash hmac(Span key, Span input) noexcept;
// HKDF as WireGuard uses it (Kdf1/2/3 in the paper): t0 = HMAC(key, input);
// t1 = HMAC(t0, 0x1); t2 = HMAC(t0, t1 || 0x2); t3 = HMAC(t0, t2 || 0x3).
// Outputs may be null when not wanted. Intermediates are wiped.
void kdf(std::uint8_t* out1, std::uint8_t* out2, std::uint8_t* out3, Span key,
         Span input) noexcept;

// ---- X25519 ----
void generate_private_key(SecretKey& out) noexcept;  // clamped random scalar
Key public_key(const SecretKey& priv) noexcept;
// Returns false when the result is all zeros (low-order point): the handshake must fail.
bool dh(SecretKey& out, const SecretKey& priv, const Key& pub) noexcept;

// ---- AEAD ----
// ChaCha20-Poly1305 (IETF) with WireGuard's nonce: 4 zero bytes || little-endian counter.
// seal writes plaintext.size() + 16 bytes to out (out may alias plaintext).
void seal(MutSpan out, const std::uint8_t* key, std::uint64_t counter, Span plaintext,
          Span ad) noexcept;
// open writes ciphertext.size() - 16 bytes; returns false (and writes nothing usable) when
// authentication fails or ciphertext is shorter than the tag. out may alias ciphertext.
bool open(MutSpan out, const std::uint8_t* key, std::uint64_t counter, Span ciphertext,
          Span ad) noexcept;
// XChaCha20-Poly1305 (24-byte nonce), used for cookie replies.
void xseal(MutSpan out, const std::uint8_t* key, const std::uint8_t* nonce24, Span plaintext,
           Span ad) noexcept;
bool xopen(MutSpan out, const std::uint8_t* key, const std::uint8_t* nonce24, Span ciphertext,
           Span ad) noexcept;

void random_bytes(MutSpan out) noexcept;
std::uint32_t random_u32() noexcept;

// ---- TAI64N ----
using Timestamp = std::array<std::uint8_t, kTimestampSize>;
// 8-byte big-endian seconds (with the 2^62 TAI offset) and 4-byte big-endian nanoseconds.
// Nanoseconds are rounded down to a multiple of 2^24 ns (~16 ms, as WireGuard does) so the
// timestamp does not leak a precise clock.
Timestamp tai64n(WallTime t) noexcept;
// Byte-wise comparison is chronological for TAI64N.
bool timestamp_after(const Timestamp& a, const Timestamp& b) noexcept;

}  // namespace keymesh::crypto
