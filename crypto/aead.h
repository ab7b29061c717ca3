// The data-path AEAD (ChaCha20-Poly1305, RFC 8439) has two implementations, libsodium's and
// OpenSSL 3's EVP. Which is faster depends on the CPU and on the message size (on the CI box
// OpenSSL is ~1.8x faster at 1420 bytes and libsodium ~1.2x faster at 64 bytes), so keymeshd
// measures both once at start and uses the faster one per size class. crypto::seal/open
// (primitives.h) dispatch through the choice; seal_with/open_with name an implementation, for
// the known-answer tests and the measurement.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "crypto/primitives.h"

namespace keymesh::crypto {

enum class AeadImpl : std::uint8_t { Libsodium, OpenSsl };

std::string_view to_string(AeadImpl impl) noexcept;

// Messages shorter than kAeadLargeFrom bytes use `small`, the rest `large`.
inline constexpr std::size_t kAeadLargeFrom = 256;

struct AeadChoice {
  AeadImpl small = AeadImpl::Libsodium;
  AeadImpl large = AeadImpl::Libsodium;
};

// Nanoseconds per seal of 64 and of 1420 bytes, in place, for each implementation.
struct AeadTiming {
  double libsodium_64 = 0, libsodium_1420 = 0;
  double openssl_64 = 0, openssl_1420 = 0;
  bool openssl_available = false;
};

AeadChoice aead_choice() noexcept;
void use_aead(AeadChoice choice) noexcept;

// Times both implementations (a few milliseconds in all) and returns the figures.
AeadTiming measure_aead() noexcept;
// The faster implementation per size class according to `timing`.
AeadChoice fastest(const AeadTiming& timing) noexcept;
// One line for the log: "aead: openssl from 256 B (1420 B: 780 vs 1770 ns), libsodium below ...".
std::string describe(const AeadChoice& choice, const AeadTiming& timing);

void seal_with(AeadImpl impl, MutSpan out, const std::uint8_t* key, std::uint64_t counter,
               Span plaintext, Span ad) noexcept;
bool open_with(AeadImpl impl, MutSpan out, const std::uint8_t* key, std::uint64_t counter,
               Span ciphertext, Span ad) noexcept;

// OpenSSL keeps the last key's schedule in this thread's cipher context; Keypair's destructor
// calls this so a data key does not outlive its keypair there.
void forget_aead_keys() noexcept;

}  // namespace keymesh::crypto
