// A micro-benchmark, built but not run as a test: ns per in-place ChaCha20-Poly1305 seal and
// open at 64 and 1420 bytes for libsodium and OpenSSL, best of 7 rounds of 20,000 calls, and
// what keymeshd would choose. `build/tests/crypto_aead_bench`.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "crypto/aead.h"

using namespace keymesh::crypto;

namespace {

template <typename F>
double best_ns(F&& f) {
  using Clock = std::chrono::steady_clock;
  double best = 1e18;
  for (int round = 0; round < 7; ++round) {
    constexpr int kCalls = 20000;
    const auto t0 = Clock::now();
    for (int i = 0; i < kCalls; ++i) f(std::uint64_t(i));
    best = std::min(best,
                    std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / kCalls);
  }
  return best;
}

}  // namespace

int main() {
  std::vector<std::uint8_t> key(32, 0x42), buf(1420 + kTagSize, 0x5a);
  std::printf("%-10s %6s %10s %10s %8s\n", "impl", "bytes", "seal ns", "open ns", "GB/s");
  for (AeadImpl impl : {AeadImpl::Libsodium, AeadImpl::OpenSsl}) {
    for (std::size_t size : {std::size_t(64), std::size_t(1420)}) {
      const double seal_ns = best_ns([&](std::uint64_t c) {
        seal_with(impl, MutSpan(buf.data(), size + kTagSize), key.data(), c,
                  Span(buf.data(), size), Span());
      });
      seal_with(impl, MutSpan(buf.data(), size + kTagSize), key.data(), 1, Span(buf.data(), size),
                Span());
      std::vector<std::uint8_t> sealed(buf.begin(), buf.begin() + long(size + kTagSize));
      const double open_ns = best_ns([&](std::uint64_t) {
        std::copy(sealed.begin(), sealed.end(), buf.begin());  // open in place, every time
        (void)open_with(impl, MutSpan(buf.data(), size), key.data(), 1,
                        Span(buf.data(), size + kTagSize), Span());
      });
      std::printf("%-10s %6zu %10.0f %10.0f %8.2f\n", std::string(to_string(impl)).c_str(), size,
                  seal_ns, open_ns, double(size) / seal_ns);
    }
  }
  const AeadTiming t = measure_aead();
  std::printf("%s\n", describe(fastest(t), t).c_str());
}
