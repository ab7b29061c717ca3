// Counters keyed by label values with a cap on how many distinct keys they keep, so a label
// fed from outside (rule names, identity names, host pairs) cannot grow a scrape without
// bound. The first `cap` distinct keys are counted under their own values; every key after
// that is counted under kOverflow in each label ("other"), so no count is ever lost and the
// sum over all keys stays the true total.
//
// Looking up a known key does not allocate (heterogeneous lookup with string_views); a new
// key allocates once. add() is noexcept: when that allocation fails, the count goes to the
// overflow key, whose slot is made when the counter is built. Single-threaded.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace keymesh::metrics {

inline constexpr std::string_view kOverflow = "other";

template <std::size_t N>
class BoundedCounter {
 public:
  using Key = std::array<std::string, N>;
  using KeyView = std::array<std::string_view, N>;

  explicit BoundedCounter(std::size_t cap) : cap_(cap) {
    Key other;
    other.fill(std::string(kOverflow));
    overflow_ = &counts_.try_emplace(std::move(other), 0).first->second;
  }
  BoundedCounter(const BoundedCounter&) = delete;
  BoundedCounter& operator=(const BoundedCounter&) = delete;

  void add(const KeyView& key, std::uint64_t n = 1) noexcept {
    if (auto it = counts_.find(key); it != counts_.end()) {
      it->second += n;
      return;
    }
    if (distinct_ >= cap_) {
      *overflow_ += n;
      return;
    }
    try {
      Key owned;
      for (std::size_t i = 0; i < N; ++i) owned[i] = std::string(key[i]);
      counts_.emplace(std::move(owned), n);
      ++distinct_;
    } catch (...) {
      *overflow_ += n;
    }
  }

  // Every key with its count, the overflow key included (zero until something overflowed).
  template <class Fn>
  void for_each(Fn&& fn) const {
    for (const auto& [key, count] : counts_) fn(key, count);
  }
  std::size_t distinct() const noexcept { return distinct_; }
  std::uint64_t overflowed() const noexcept { return *overflow_; }

 private:
  struct Less {
    using is_transparent = void;
    template <class A, class B>
    bool operator()(const A& a, const B& b) const noexcept {
      for (std::size_t i = 0; i < N; ++i) {
        const std::string_view x(a[i]), y(b[i]);
        if (x != y) return x < y;
      }
      return false;
    }
  };

  std::size_t cap_;
  std::size_t distinct_ = 0;  // keys other than the overflow key
  std::map<Key, std::uint64_t, Less> counts_;
  std::uint64_t* overflow_ = nullptr;  // map nodes are stable
};

}  // namespace keymesh::metrics
