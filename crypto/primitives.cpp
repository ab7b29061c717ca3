#include "crypto/primitives.h"

#include "crypto/aead.h"

#include <blake2.h>
#include <sodium.h>

#include <cstring>

namespace keymesh::crypto {
namespace {

// The library initialises libsodium itself so that no caller can forget to; sodium_init() is
// idempotent and thread-safe, and the function-local static makes the check one load.
void ensure_sodium() noexcept {
  static const bool ok = sodium_init() >= 0;
  (void)ok;
}

constexpr std::size_t kBlake2sBlock = 64;

void hmac_parts(std::uint8_t out[kHashSize], Span key, std::initializer_list<Span> parts) noexcept {
  std::uint8_t block[kBlake2sBlock] = {};
  if (key.size() > kBlake2sBlock) {
    blake2s(block, key.data(), nullptr, kHashSize, key.size(), 0);
  } else if (!key.empty()) {
    std::memcpy(block, key.data(), key.size());
  }
  std::uint8_t pad[kBlake2sBlock];
  std::uint8_t inner[kHashSize];
  blake2s_state st;

  for (std::size_t i = 0; i < kBlake2sBlock; ++i) pad[i] = block[i] ^ 0x36;
  blake2s_init(&st, kHashSize);
  blake2s_update(&st, pad, sizeof pad);
  for (const Span& p : parts) blake2s_update(&st, p.data(), p.size());
  blake2s_final(&st, inner, kHashSize);

  for (std::size_t i = 0; i < kBlake2sBlock; ++i) pad[i] = block[i] ^ 0x5c;
  blake2s_init(&st, kHashSize);
  blake2s_update(&st, pad, sizeof pad);
  blake2s_update(&st, inner, kHashSize);
  blake2s_final(&st, out, kHashSize);

  sodium_memzero(block, sizeof block);
  sodium_memzero(pad, sizeof pad);
  sodium_memzero(inner, sizeof inner);
  sodium_memzero(&st, sizeof st);
}

}  // namespace

// ---- BLAKE2s ----

Hash hash(std::initializer_list<Span> parts) noexcept {
  Hash out;
  blake2s_state st;
  blake2s_init(&st, kHashSize);
  for (const Span& p : parts) blake2s_update(&st, p.data(), p.size());
  blake2s_final(&st, out.data(), out.size());
  sodium_memzero(&st, sizeof st);  // may have absorbed key material (chaining keys)
  return out;
}

Mac mac(Span key, Span input) noexcept {
  Mac out{};  // stays zero if libb2 refuses the key (longer than 32 bytes)
  blake2s(out.data(), input.data(), key.data(), out.size(), input.size(), key.size());
  return out;
}

Hash hmac(Span key, Span input) noexcept {
  Hash out;
  hmac_parts(out.data(), key, {input});
  return out;
}

void kdf(std::uint8_t* out1, std::uint8_t* out2, std::uint8_t* out3, Span key,
         Span input) noexcept {
  // Outputs may alias `key` (ck = KDF(ck, ...)), so every output is computed before any is
  // written.
  std::uint8_t t0[kHashSize], t1[kHashSize], t2[kHashSize], t3[kHashSize];
  const std::uint8_t one = 1, two = 2, three = 3;
  hmac_parts(t0, key, {input});
  hmac_parts(t1, Span(t0), {Span(&one, 1)});
  if (out2 || out3) hmac_parts(t2, Span(t0), {Span(t1), Span(&two, 1)});
  if (out3) hmac_parts(t3, Span(t0), {Span(t2), Span(&three, 1)});
  if (out1) std::memcpy(out1, t1, kHashSize);
  if (out2) std::memcpy(out2, t2, kHashSize);
  if (out3) std::memcpy(out3, t3, kHashSize);
  sodium_memzero(t0, sizeof t0);
  sodium_memzero(t1, sizeof t1);
  sodium_memzero(t2, sizeof t2);
  sodium_memzero(t3, sizeof t3);
}

// ---- X25519 ----

void generate_private_key(SecretKey& out) noexcept {
  ensure_sodium();
  randombytes_buf(out.data(), out.size());
  // Clamp as RFC 7748 does, so the stored key is what `wg genkey` would print.
  out.data()[0] &= 248;
  out.data()[31] = (out.data()[31] & 127) | 64;
}

Key public_key(const SecretKey& priv) noexcept {
  ensure_sodium();
  Key pub;
  crypto_scalarmult_base(pub.data(), priv.data());
  return pub;
}

bool dh(SecretKey& out, const SecretKey& priv, const Key& pub) noexcept {
  ensure_sodium();
  // libsodium returns -1 when the shared point is all zeros (low-order input).
  if (crypto_scalarmult(out.data(), priv.data(), pub.data()) != 0) {
    out.clear();
    return false;
  }
  return true;
}

// ---- AEAD ----

// seal and open dispatch by size to the implementation chosen in crypto/aead.cpp.
void seal(MutSpan out, const std::uint8_t* key, std::uint64_t counter, Span plaintext,
          Span ad) noexcept {
  const AeadChoice choice = aead_choice();
  seal_with(plaintext.size() < kAeadLargeFrom ? choice.small : choice.large, out, key, counter,
            plaintext, ad);
}

bool open(MutSpan out, const std::uint8_t* key, std::uint64_t counter, Span ciphertext,
          Span ad) noexcept {
  const AeadChoice choice = aead_choice();
  return open_with(ciphertext.size() < kAeadLargeFrom + kTagSize ? choice.small : choice.large,
                   out, key, counter, ciphertext, ad);
}

void xseal(MutSpan out, const std::uint8_t* key, const std::uint8_t* nonce24, Span plaintext,
           Span ad) noexcept {
  ensure_sodium();
  unsigned long long len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(out.data(), &len, plaintext.data(), plaintext.size(),
                                             ad.data(), ad.size(), nullptr, nonce24, key);
}

bool xopen(MutSpan out, const std::uint8_t* key, const std::uint8_t* nonce24, Span ciphertext,
           Span ad) noexcept {
  if (ciphertext.size() < kTagSize || out.size() < ciphertext.size() - kTagSize) return false;
  ensure_sodium();
  unsigned long long len = 0;
  return crypto_aead_xchacha20poly1305_ietf_decrypt(out.data(), &len, nullptr, ciphertext.data(),
                                                    ciphertext.size(), ad.data(), ad.size(),
                                                    nonce24, key) == 0;
}

void random_bytes(MutSpan out) noexcept {
  if (out.empty()) return;  // an empty span may have a null data(), which libsodium forbids
  ensure_sodium();
  randombytes_buf(out.data(), out.size());
}

std::uint32_t random_u32() noexcept {
  ensure_sodium();
  return randombytes_random();
}

// ---- TAI64N ----

Timestamp tai64n(WallTime t) noexcept {
  using namespace std::chrono;
  // TAI64 labels second s of the Unix epoch as 2^62 + 10 + s (the 10 s TAI-UTC offset of
  // 1970, which WireGuard's implementations also add).
  constexpr std::uint64_t kTai64Base = 0x400000000000000aull;
  const auto since_epoch = t.time_since_epoch();
  const auto secs = floor<seconds>(since_epoch);
  const auto nanos = duration_cast<nanoseconds>(since_epoch - secs).count();
  const std::uint64_t s = kTai64Base + std::uint64_t(std::int64_t(secs.count()));
  // Rounding to 2^24 ns hides the sender's precise clock from an observer of the handshake.
  const std::uint32_t ns = std::uint32_t(nanos) & ~std::uint32_t(0xffffff);
  Timestamp out;
  for (int i = 0; i < 8; ++i) out[i] = std::uint8_t(s >> (56 - 8 * i));
  for (int i = 0; i < 4; ++i) out[8 + i] = std::uint8_t(ns >> (24 - 8 * i));
  return out;
}

bool timestamp_after(const Timestamp& a, const Timestamp& b) noexcept {
  return std::memcmp(a.data(), b.data(), a.size()) > 0;
}

}  // namespace keymesh::crypto
