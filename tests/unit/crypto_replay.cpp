// Anti-replay window edges: order, reorder, age, duplicates, the message limit, big jumps,
// and check() never moving the window by itself.
#define BOOST_TEST_MODULE crypto_replay
#include <boost/test/unit_test.hpp>

#include <set>

#include "crypto/replay.h"

using namespace keymesh::crypto;

BOOST_AUTO_TEST_CASE(in_order) {
  ReplayWindow w;
  for (std::uint64_t i = 0; i < 20000; ++i) BOOST_REQUIRE(w.commit(i));
  BOOST_TEST(!w.check(19999));
  BOOST_TEST(w.check(20000));
}

BOOST_AUTO_TEST_CASE(reordered_within_window) {
  ReplayWindow w;
  BOOST_TEST(w.commit(100));
  BOOST_TEST(w.commit(98));
  BOOST_TEST(w.commit(99));
  BOOST_TEST(w.commit(0));
  BOOST_TEST(w.commit(101));
  BOOST_TEST(w.commit(50));
  for (std::uint64_t c : {0, 50, 98, 99, 100, 101}) BOOST_TEST(!w.check(c));
  BOOST_TEST(w.check(97));
  BOOST_TEST(w.check(1));
}

BOOST_AUTO_TEST_CASE(duplicate_rejected) {
  ReplayWindow w;
  BOOST_TEST(w.commit(0));
  BOOST_TEST(!w.check(0));
  BOOST_TEST(!w.commit(0));
  BOOST_TEST(w.commit(7));
  BOOST_TEST(!w.commit(7));
}

BOOST_AUTO_TEST_CASE(window_edge) {
  ReplayWindow w;
  const std::uint64_t top = 100000;
  BOOST_TEST(w.commit(top));
  // Exactly kReplayWindowBits behind the highest is still tracked; one more is too old.
  BOOST_TEST(w.check(top - kReplayWindowBits));
  BOOST_TEST(!w.check(top - kReplayWindowBits - 1));
  BOOST_TEST(!w.commit(top - kReplayWindowBits - 1));
  BOOST_TEST(w.commit(top - kReplayWindowBits));
  BOOST_TEST(!w.check(top - kReplayWindowBits));
  // Moving the top by one pushes that oldest counter out.
  BOOST_TEST(w.commit(top + 1));
  BOOST_TEST(!w.check(top - kReplayWindowBits));
  BOOST_TEST(w.check(top - kReplayWindowBits + 1));
}

BOOST_AUTO_TEST_CASE(reject_after_messages) {
  ReplayWindow w;
  BOOST_TEST(!w.check(kRejectAfterMessages));
  BOOST_TEST(!w.commit(kRejectAfterMessages));
  BOOST_TEST(!w.check(~0ull));
  BOOST_TEST(w.check(kRejectAfterMessages - 1));
  BOOST_TEST(w.commit(kRejectAfterMessages - 1));
  BOOST_TEST(!w.check(kRejectAfterMessages - 1));
  BOOST_TEST(w.check(kRejectAfterMessages - 2));
  BOOST_TEST(!w.commit(kRejectAfterMessages));
}

BOOST_AUTO_TEST_CASE(big_jump_clears_stale_bits) {
  ReplayWindow w;
  for (std::uint64_t i = 0; i < 300; ++i) BOOST_REQUIRE(w.commit(i));
  // Jump by exactly one ring (128 blocks of 64): the blocks that held 0..299 now cover the
  // new counters and must read as unseen.
  const std::uint64_t jump = 128 * 64;
  BOOST_TEST(w.commit(jump + 299));
  for (std::uint64_t i = jump + 256; i < jump + 299; ++i) BOOST_TEST(w.check(i));
  BOOST_TEST(!w.check(jump + 299));
  // Old counters now behind the window are rejected even though their bits were cleared.
  BOOST_TEST(!w.check(0));
  BOOST_TEST(!w.check(200));
  // A huge jump (far beyond one ring) leaves only the new counter marked.
  const std::uint64_t far = 1ull << 40;
  BOOST_TEST(w.commit(far));
  for (std::uint64_t i = far - kReplayWindowBits; i < far; i += 61) BOOST_TEST(w.check(i));
  BOOST_TEST(!w.check(far));
}

BOOST_AUTO_TEST_CASE(partial_jump_keeps_recent_bits) {
  ReplayWindow w;
  BOOST_TEST(w.commit(5));
  BOOST_TEST(w.commit(70));
  BOOST_TEST(w.commit(5 + 64 * 10));  // ten blocks forward: 5 and 70 stay inside the window
  BOOST_TEST(!w.check(5));
  BOOST_TEST(!w.check(70));
  for (std::uint64_t i = 128; i < 5 + 64 * 10; ++i) BOOST_TEST(w.check(i));
}

BOOST_AUTO_TEST_CASE(check_without_commit_does_not_advance) {
  ReplayWindow w;
  BOOST_TEST(w.commit(10));
  BOOST_TEST(w.check(1'000'000));  // a forged far-future counter, never committed
  BOOST_TEST(w.check(9));          // the window did not move: 9 is still acceptable
  BOOST_TEST(w.check(1'000'000));
  BOOST_TEST(w.commit(9));
}

BOOST_AUTO_TEST_CASE(reset_forgets) {
  ReplayWindow w;
  BOOST_TEST(w.commit(12345));
  w.reset();
  BOOST_TEST(w.check(12345));
  BOOST_TEST(w.check(0));
}

BOOST_AUTO_TEST_CASE(matches_naive_reference_on_random_walk) {
  // Differential test against a set-based model of the same rule.
  ReplayWindow w;
  std::set<std::uint64_t> seen;
  std::uint64_t highest = 0;
  bool any = false;
  std::uint64_t x = 88172645463325252ull;
  std::uint64_t base = 0;
  for (int step = 0; step < 200000; ++step) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    if (x % 1000 == 0) base += x % 20000;  // occasional jumps
    const std::uint64_t c = base + (x >> 20) % 9000;
    const bool model = !(any && (c + kReplayWindowBits < highest || seen.count(c)));
    BOOST_REQUIRE_EQUAL(w.check(c), model);
    if (model) {
      BOOST_REQUIRE(w.commit(c));
      seen.insert(c);
      if (!any || c > highest) highest = c;
      any = true;
    }
  }
}
