// Secret<N>: fixed-size key material that wipes itself (sodium_memzero) when destroyed or
// cleared. Not copyable, so a key cannot be duplicated by accident; move copies the bytes
// and wipes the source. Never log one: there is deliberately no formatter for it.
#pragma once

#include <sodium.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace keymesh::crypto {

template <std::size_t N>
class Secret {
 public:
  Secret() noexcept { bytes_.fill(0); }
  explicit Secret(std::span<const std::uint8_t, N> from) noexcept { assign(from); }
  ~Secret() { clear(); }
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  Secret(Secret&& other) noexcept {
    bytes_ = other.bytes_;
    other.clear();
  }
  Secret& operator=(Secret&& other) noexcept {
    if (this != &other) {
      bytes_ = other.bytes_;
      other.clear();
    }
    return *this;
  }

  void assign(std::span<const std::uint8_t, N> from) noexcept {
    for (std::size_t i = 0; i < N; ++i) bytes_[i] = from[i];
  }
  void clear() noexcept { sodium_memzero(bytes_.data(), N); }
  bool is_zero() const noexcept { return sodium_is_zero(bytes_.data(), N) == 1; }

  std::uint8_t* data() noexcept { return bytes_.data(); }
  const std::uint8_t* data() const noexcept { return bytes_.data(); }
  std::span<std::uint8_t, N> span() noexcept { return std::span<std::uint8_t, N>(bytes_); }
  std::span<const std::uint8_t, N> span() const noexcept {
    return std::span<const std::uint8_t, N>(bytes_);
  }
  static constexpr std::size_t size() noexcept { return N; }

 private:
  std::array<std::uint8_t, N> bytes_;
};

using SecretKey = Secret<32>;

}  // namespace keymesh::crypto
