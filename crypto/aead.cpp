#include "crypto/aead.h"

#include <openssl/evp.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <fmt/format.h>

namespace keymesh::crypto {
namespace {

// WireGuard's AEAD nonce: 32 zero bits then the 64-bit little-endian counter.
void wg_nonce(std::uint8_t nonce[12], std::uint64_t counter) noexcept {
  std::memset(nonce, 0, 4);
  for (int i = 0; i < 8; ++i) nonce[4 + i] = std::uint8_t(counter >> (8 * i));
}

std::atomic<std::uint8_t> g_choice{0};

// sodium_init() takes a lock on every call; this checks it once per process.
bool sodium_ready() noexcept {
  static const bool ok = sodium_init() >= 0;
  return ok;
}  // bit 0: small uses OpenSSL, bit 1: large does

// ---- libsodium ----

void sodium_seal(MutSpan out, const std::uint8_t* key, const std::uint8_t* nonce, Span plaintext,
                 Span ad) noexcept {
  unsigned long long len = 0;
  crypto_aead_chacha20poly1305_ietf_encrypt(out.data(), &len, plaintext.data(), plaintext.size(),
                                            ad.data(), ad.size(), nullptr, nonce, key);
}

bool sodium_open(MutSpan out, const std::uint8_t* key, const std::uint8_t* nonce,
                 Span ciphertext, Span ad) noexcept {
  unsigned long long len = 0;
  return crypto_aead_chacha20poly1305_ietf_decrypt(out.data(), &len, nullptr, ciphertext.data(),
                                                   ciphertext.size(), ad.data(), ad.size(),
                                                   nonce, key) == 0;
}

// ---- OpenSSL 3 EVP ----
// One encrypt and one decrypt context per thread, bound to the cipher once; each message only
// sets key and nonce. The fetched cipher is process-wide (fetching per message is slow).

const EVP_CIPHER* chacha_cipher() noexcept {
  static EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
  return cipher;
}

class EvpContexts {
 public:
  EvpContexts() noexcept {
    const EVP_CIPHER* cipher = chacha_cipher();
    if (cipher == nullptr) return;
    enc_ = EVP_CIPHER_CTX_new();
    dec_ = EVP_CIPHER_CTX_new();
    if (enc_ == nullptr || dec_ == nullptr ||
        EVP_EncryptInit_ex2(enc_, cipher, nullptr, nullptr, nullptr) != 1 ||
        EVP_DecryptInit_ex2(dec_, cipher, nullptr, nullptr, nullptr) != 1) {
      release();
    }
  }
  ~EvpContexts() { release(); }
  EvpContexts(const EvpContexts&) = delete;
  EvpContexts& operator=(const EvpContexts&) = delete;

  EVP_CIPHER_CTX* enc() noexcept { return enc_; }
  EVP_CIPHER_CTX* dec() noexcept { return dec_; }

  // Overwrites the key schedules with an all-zero key (EVP_CIPHER_CTX_free cleanses too).
  void forget() noexcept {
    static constexpr std::uint8_t kZero[32] = {};
    if (enc_ != nullptr) EVP_EncryptInit_ex2(enc_, nullptr, kZero, kZero, nullptr);
    if (dec_ != nullptr) EVP_DecryptInit_ex2(dec_, nullptr, kZero, kZero, nullptr);
  }

 private:
  void release() noexcept {
    EVP_CIPHER_CTX_free(enc_);
    EVP_CIPHER_CTX_free(dec_);
    enc_ = dec_ = nullptr;
  }
  EVP_CIPHER_CTX* enc_ = nullptr;
  EVP_CIPHER_CTX* dec_ = nullptr;
};

EvpContexts& evp() noexcept {
  thread_local EvpContexts contexts;
  return contexts;
}

bool int_size(std::size_t n, int* out) noexcept {
  if (n > 0x7fffffff) return false;
  *out = int(n);
  return true;
}

bool evp_seal(MutSpan out, const std::uint8_t* key, const std::uint8_t* nonce, Span plaintext,
              Span ad) noexcept {
  EVP_CIPHER_CTX* ctx = evp().enc();
  int n = 0, ad_len = 0, len = 0;
  if (ctx == nullptr || !int_size(plaintext.size(), &n) || !int_size(ad.size(), &ad_len))
    return false;
  if (EVP_EncryptInit_ex2(ctx, nullptr, key, nonce, nullptr) != 1) return false;
  if (ad_len != 0 && EVP_EncryptUpdate(ctx, nullptr, &len, ad.data(), ad_len) != 1) return false;
  if (n != 0 && EVP_EncryptUpdate(ctx, out.data(), &len, plaintext.data(), n) != 1) return false;
  if (EVP_EncryptFinal_ex(ctx, out.data() + n, &len) != 1) return false;
  return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, int(kTagSize), out.data() + n) == 1;
}

// -1: OpenSSL unavailable (the caller falls back), 0: authentication failed, 1: opened.
int evp_open(MutSpan out, const std::uint8_t* key, const std::uint8_t* nonce, Span ciphertext,
             Span ad) noexcept {
  EVP_CIPHER_CTX* ctx = evp().dec();
  int n = 0, ad_len = 0, len = 0;
  if (ctx == nullptr || !int_size(ciphertext.size() - kTagSize, &n) ||
      !int_size(ad.size(), &ad_len))
    return -1;
  // The tag is copied into the context before any plaintext is written, so in place is safe.
  std::uint8_t tag[kTagSize];
  std::memcpy(tag, ciphertext.data() + n, kTagSize);
  if (EVP_DecryptInit_ex2(ctx, nullptr, key, nonce, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, int(kTagSize), tag) != 1)
    return -1;
  if (ad_len != 0 && EVP_DecryptUpdate(ctx, nullptr, &len, ad.data(), ad_len) != 1) return 0;
  if (n != 0 && EVP_DecryptUpdate(ctx, out.data(), &len, ciphertext.data(), n) != 1) return 0;
  return EVP_DecryptFinal_ex(ctx, out.data() + n, &len) == 1 ? 1 : 0;
}

// ---- measurement ----

template <typename F>
double best_ns_per_call(F&& f) noexcept {
  using Clock = std::chrono::steady_clock;
  double best = 1e18;
  for (int round = 0; round < 5; ++round) {
    constexpr int kCalls = 200;
    const auto t0 = Clock::now();
    for (int i = 0; i < kCalls; ++i) f(std::uint64_t(i));
    const auto t1 = Clock::now();
    best = std::min(best, std::chrono::duration<double, std::nano>(t1 - t0).count() / kCalls);
  }
  return best;
}

}  // namespace

std::string_view to_string(AeadImpl impl) noexcept {
  return impl == AeadImpl::OpenSsl ? "openssl" : "libsodium";
}

AeadChoice aead_choice() noexcept {
  const std::uint8_t bits = g_choice.load(std::memory_order_relaxed);
  return {(bits & 1) != 0 ? AeadImpl::OpenSsl : AeadImpl::Libsodium,
          (bits & 2) != 0 ? AeadImpl::OpenSsl : AeadImpl::Libsodium};
}

void use_aead(AeadChoice choice) noexcept {
  g_choice.store(std::uint8_t((choice.small == AeadImpl::OpenSsl ? 1 : 0) |
                              (choice.large == AeadImpl::OpenSsl ? 2 : 0)),
                 std::memory_order_relaxed);
}

void seal_with(AeadImpl impl, MutSpan out, const std::uint8_t* key, std::uint64_t counter,
               Span plaintext, Span ad) noexcept {
  std::uint8_t nonce[12];
  wg_nonce(nonce, counter);
  if (impl == AeadImpl::OpenSsl && evp_seal(out, key, nonce, plaintext, ad)) return;
  // OpenSSL unavailable (no provider, no memory): libsodium writes the same bytes. The input
  // is intact: EVP fails before it writes, except at Final, which does not fail for ChaCha.
  if (!sodium_ready()) return;
  sodium_seal(out, key, nonce, plaintext, ad);
}

bool open_with(AeadImpl impl, MutSpan out, const std::uint8_t* key, std::uint64_t counter,
               Span ciphertext, Span ad) noexcept {
  if (ciphertext.size() < kTagSize || out.size() < ciphertext.size() - kTagSize) return false;
  std::uint8_t nonce[12];
  wg_nonce(nonce, counter);
  if (impl == AeadImpl::OpenSsl) {
    const int opened = evp_open(out, key, nonce, ciphertext, ad);
    if (opened >= 0) return opened == 1;
  }
  if (!sodium_ready()) return false;
  return sodium_open(out, key, nonce, ciphertext, ad);
}

void forget_aead_keys() noexcept { evp().forget(); }

AeadTiming measure_aead() noexcept {
  AeadTiming t;
  std::array<std::uint8_t, 1420 + kTagSize> buf{};
  std::uint8_t key[32];
  random_bytes(MutSpan(key, sizeof key));
  auto cost = [&](AeadImpl impl, std::size_t size) {
    return best_ns_per_call([&](std::uint64_t counter) {
      seal_with(impl, MutSpan(buf.data(), size + kTagSize), key, counter, Span(buf.data(), size),
                Span());
    });
  };
  t.libsodium_64 = cost(AeadImpl::Libsodium, 64);
  t.libsodium_1420 = cost(AeadImpl::Libsodium, 1420);
  t.openssl_available = evp().enc() != nullptr;
  if (t.openssl_available) {
    t.openssl_64 = cost(AeadImpl::OpenSsl, 64);
    t.openssl_1420 = cost(AeadImpl::OpenSsl, 1420);
  }
  forget_aead_keys();
  sodium_memzero(key, sizeof key);
  return t;
}

AeadChoice fastest(const AeadTiming& t) noexcept {
  if (!t.openssl_available) return {};
  return {t.openssl_64 < t.libsodium_64 ? AeadImpl::OpenSsl : AeadImpl::Libsodium,
          t.openssl_1420 < t.libsodium_1420 ? AeadImpl::OpenSsl : AeadImpl::Libsodium};
}

std::string describe(const AeadChoice& choice, const AeadTiming& t) {
  if (!t.openssl_available)
    return fmt::format("aead: libsodium (OpenSSL's ChaCha20-Poly1305 unavailable)");
  return fmt::format(
      "aead: {} below {} B (64 B: libsodium {:.0f} ns, openssl {:.0f} ns), {} from {} B "
      "(1420 B: libsodium {:.0f} ns, openssl {:.0f} ns)",
      to_string(choice.small), kAeadLargeFrom, t.libsodium_64, t.openssl_64,
      to_string(choice.large), kAeadLargeFrom, t.libsodium_1420, t.openssl_1420);
}

}  // namespace keymesh::crypto
