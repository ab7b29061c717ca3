// Handshake admission and address ownership (daemon/handshake_guard.h, address_owners.h,
// rejection_audit.h, crypto/ratelimiter.h): what a flood, a replay or an older certificate
// meets before it can cost work or move a route.
#define BOOST_TEST_MODULE handshake_guard
#include <boost/test/unit_test.hpp>

#include "daemon/address_owners.h"
#include "daemon/handshake_guard.h"
#include "daemon/rejection_audit.h"

using namespace keymesh;
using namespace keymesh::daemon;
using namespace std::chrono_literals;

namespace {

udp::Endpoint ep(const char* text) { return *udp::Endpoint::parse(text); }
const TimePoint kT0 = TimePoint{} + 1000s;
const WallTime kWall = WallTime{} + std::chrono::seconds(1'800'000'000);

std::array<std::uint8_t, 16> mac(std::uint8_t n) {
  std::array<std::uint8_t, 16> m{};
  m[0] = n;
  m[1] = std::uint8_t(n >> 8);
  return m;
}

identity::ValidatedIdentity cert(std::uint8_t key, const char* net, std::int64_t not_before) {
  identity::ValidatedIdentity v;
  v.name = "w" + std::to_string(key);
  v.public_key[0] = key;
  v.networks = {*IpPrefix::parse(net)};
  v.not_before = not_before;
  v.not_after = not_before + 3600;
  return v;
}

const std::int64_t kNow = 1'800'000'000;
WallTime wall(std::int64_t s) { return WallTime{} + std::chrono::seconds(s); }

}  // namespace

BOOST_AUTO_TEST_CASE(one_source_gets_its_burst_then_its_rate) {
  crypto::SourceRateLimiter limiter({.per_second = 100, .burst = 250, .cookies_per_second = 10});
  const auto src = HandshakeGuard::source_of(ep("198.18.0.9:5000"));
  using B = crypto::SourceRateLimiter::Bucket;
  int allowed = 0;
  for (int i = 0; i < 100000; ++i) allowed += limiter.allow(src, B::Open, kT0);
  BOOST_TEST(allowed == 250);
  // One second later: 100 more, not 250 (the bucket refills at the rate, up to the burst).
  allowed = 0;
  for (int i = 0; i < 100000; ++i) allowed += limiter.allow(src, B::Open, kT0 + 1s);
  BOOST_TEST(allowed == 100);
  // Another source is untouched by the first one's flood.
  const auto other = HandshakeGuard::source_of(ep("198.18.0.10:5000"));
  BOOST_TEST(limiter.allow(other, B::Open, kT0 + 1s));
  // A proven (mac2) source has its own bucket, which a spoofer cannot drain.
  BOOST_TEST(limiter.allow(src, B::Proven, kT0 + 1s));
}

BOOST_AUTO_TEST_CASE(a_table_full_of_sources_stays_bounded_and_never_locks_one_out) {
  crypto::SourceRateLimiter limiter({.per_second = 1, .burst = 1, .cookies_per_second = 1});
  using B = crypto::SourceRateLimiter::Bucket;
  for (std::uint32_t i = 0; i < 100000; ++i) {
    udp::Endpoint e = ep("198.18.0.1:1");
    e.addr[2] = std::uint8_t(i >> 8);
    e.addr[3] = std::uint8_t(i);
    e.addr[1] = std::uint8_t(18 + (i >> 16));
    (void)limiter.allow(HandshakeGuard::source_of(e), B::Open, kT0);
  }
  // Fixed table: a new source may evict, which only ever hands it a full bucket.
  BOOST_TEST(limiter.allow(HandshakeGuard::source_of(ep("198.19.255.254:1")), B::Open, kT0));
}

BOOST_AUTO_TEST_CASE(an_exact_repeat_is_refused_before_any_work) {
  HandshakeGuard guard;
  const auto from = ep("198.18.0.9:5000");
  int mac2_asked = 0;
  auto mac2 = [&] { ++mac2_asked; return false; };
  BOOST_TEST((guard.admit(mac(1), from, kT0, mac2) == HandshakeGuard::Admit::Yes));
  BOOST_TEST((guard.admit(mac(1), from, kT0 + 1ms, mac2) == HandshakeGuard::Admit::Repeated));
  BOOST_TEST((guard.admit(mac(1), ep("198.18.0.10:1"), kT0 + 2ms, mac2) ==
              HandshakeGuard::Admit::Repeated));  // from anywhere
  BOOST_TEST((guard.admit(mac(2), from, kT0 + 3ms, mac2) == HandshakeGuard::Admit::Yes));
  BOOST_TEST(mac2_asked == 0);
}

BOOST_AUTO_TEST_CASE(a_flooding_source_gets_few_cookies_and_no_work) {
  HandshakeGuard guard;
  const auto from = ep("198.18.0.9:5000");
  int yes = 0, cookies = 0;
  for (int i = 0; i < 100000; ++i) {
    const auto a = guard.admit(mac(std::uint8_t(i % 251)) /* distinct enough */, from, kT0,
                               [] { return false; });
    (void)a;
  }
  for (int i = 0; i < 60000; ++i) {
    std::array<std::uint8_t, 16> m{};
    std::memcpy(m.data(), &i, sizeof i);
    m[15] = 0xaa;
    const auto a = guard.admit(m, from, kT0 + 1s, [] { return false; });
    yes += a == HandshakeGuard::Admit::Yes;
    cookies += a == HandshakeGuard::Admit::SendCookie;
  }
  BOOST_TEST(yes <= 100 + 1);
  BOOST_TEST(cookies <= 10 + 1);
}

// Step 0: what a flood sends is refused before its mac1 is hashed, exactly where admit()
// would refuse it after; screen() itself takes no token and remembers nothing.
BOOST_AUTO_TEST_CASE(the_screen_refuses_repeats_and_spent_sources_before_mac1) {
  HandshakeGuard guard;
  const auto from = ep("198.18.0.9:5000");
  const std::array<std::uint8_t, 16> no_mac2{};
  auto no_cookie = [] { return false; };
  using A = HandshakeGuard::Admit;
  BOOST_TEST((guard.screen(mac(1), no_mac2, from, kT0) == A::Yes));  // never seen: remembers nothing
  BOOST_TEST((guard.screen(mac(1), no_mac2, from, kT0) == A::Yes));
  BOOST_TEST((guard.admit(mac(1), from, kT0, no_cookie) == A::Yes));
  BOOST_TEST((guard.screen(mac(1), no_mac2, ep("198.18.0.10:1"), kT0 + 1ms) == A::Repeated));

  // A source that spent its open share and its cookie replies.
  int admitted = 0;
  for (int i = 2; i < 2000; ++i) {
    std::array<std::uint8_t, 16> m = mac(std::uint8_t(i));
    m[2] = std::uint8_t(i >> 8);
    m[15] = 0x5c;
    BOOST_TEST_REQUIRE((guard.screen(m, no_mac2, from, kT0) != A::Repeated));
    if (guard.screen(m, no_mac2, from, kT0) == A::RateLimited) break;
    const auto a = guard.admit(m, from, kT0, no_cookie);
    admitted += a == A::Yes || a == A::SendCookie;
  }
  BOOST_TEST(admitted == 249 + 10);  // the burst (mac(1) took one), the cookie replies, the screen
  std::array<std::uint8_t, 16> fresh = mac(7);
  fresh[15] = 0x77;
  BOOST_TEST((guard.screen(fresh, no_mac2, from, kT0) == A::RateLimited));
  std::array<std::uint8_t, 16> cookie{};
  cookie[3] = 1;  // a mac2 that may prove the address: admit() decides
  BOOST_TEST((guard.screen(fresh, cookie, from, kT0) == A::Yes));
  BOOST_TEST((guard.screen(fresh, no_mac2, ep("198.18.0.10:1"), kT0) == A::Yes));  // others unaffected
  BOOST_TEST((guard.screen(fresh, no_mac2, from, kT0 + 1s) == A::Yes));  // refilled
  BOOST_TEST((guard.screen(mac(1), no_mac2, from, kT0 + 61s) == A::Yes));  // forgotten after a minute
}

BOOST_AUTO_TEST_CASE(replay_memory_is_per_local_remote_pair_and_bounded_in_time) {
  HandshakeGuard guard;
  crypto::Key local{}, remote{}, other{};
  local[0] = 1;
  remote[0] = 2;
  other[0] = 3;
  const auto ts = crypto::tai64n(kWall);
  using E = crypto::HandshakeError;
  BOOST_TEST((guard.check(local, remote, ts, kT0, kWall) == E::None));
  BOOST_TEST(guard.commit(local, remote, ts, kT0));
  // The same initiation again, much later (its path long closed): still refused.
  BOOST_TEST((guard.check(local, remote, ts, kT0 + 60s, kWall + 60s) == E::ReplayedTimestamp));
  // Newer but within 20 ms of the last: flood.
  BOOST_TEST((guard.check(local, remote, crypto::tai64n(kWall + 1s), kT0 + 10ms, kWall) ==
              E::Flood));
  // Another remote key towards the same local identity is not affected.
  BOOST_TEST((guard.check(local, other, ts, kT0, kWall) == E::None));
  // Outside our clock by more than 5 minutes: refused even for a pair never seen.
  BOOST_TEST((guard.check(local, other, crypto::tai64n(kWall - 6min), kT0, kWall) ==
              E::ReplayedTimestamp));
  BOOST_TEST((guard.check(local, other, crypto::tai64n(kWall + 6min), kT0, kWall) ==
              E::ReplayedTimestamp));
  guard.prune(kT0 + 12min);
  BOOST_TEST(guard.pairs() == 0u);
}

BOOST_AUTO_TEST_CASE(newest_not_before_owns_an_address) {
  AddressOwners owners;
  const auto w1 = cert(1, "100.64.1.5/32", kNow - 100);
  const auto w2 = cert(2, "100.64.1.5/32", kNow - 10);
  BOOST_TEST(!owners.refusal(w1, wall(kNow)));
  BOOST_TEST(owners.claim(w1, wall(kNow), true).empty());
  // A newer certificate for the address takes it, displacing the older key.
  BOOST_TEST(!owners.refusal(w2, wall(kNow)));
  const auto displaced = owners.claim(w2, wall(kNow), true);
  BOOST_REQUIRE_EQUAL(displaced.size(), 1u);
  BOOST_TEST(displaced[0] == w1.public_key);
  // The older one is refused from then on, naming the rule.
  const auto why = owners.refusal(w1, wall(kNow));
  BOOST_REQUIRE(why);
  BOOST_TEST(why->find("older certificate for 100.64.1.5/32") != std::string::npos);
  // The holder itself is always welcome back; so is a tie only for the holder.
  BOOST_TEST(!owners.refusal(w2, wall(kNow)));
  BOOST_TEST(owners.refusal(cert(3, "100.64.1.5/32", kNow - 10), wall(kNow)).has_value());
  // Once the holder's certificate expired, the address is free again.
  BOOST_TEST(!owners.refusal(w1, wall(kNow + 4000)));
  // Gateways share subnets: outside the rule.
  auto gw = cert(4, "100.64.1.5/32", kNow - 1000);
  gw.kind = identity::Kind::Gateway;
  BOOST_TEST(!owners.refusal(gw, wall(kNow)));
}

BOOST_AUTO_TEST_CASE(discovery_never_displaces_a_confirmed_holder) {
  AddressOwners owners;
  const auto w2 = cert(2, "100.64.1.5/32", kNow - 10);
  const auto w3 = cert(3, "100.64.1.5/32", kNow - 5);  // newer, seen only in a record
  owners.claim(w2, wall(kNow), true);
  BOOST_TEST(owners.confirmed_elsewhere(w3, wall(kNow)));
  BOOST_TEST(!owners.confirmed_elsewhere(w2, wall(kNow)));
}

BOOST_AUTO_TEST_CASE(quiet_counting_builds_no_event_and_loses_no_rejection) {
  // The daemon's order: count_quiet first, admit (with a built event) only when it says no.
  RejectionAudit agg;
  std::uint64_t written = 0, counted = 0, built = 0;
  std::string last_reason;
  for (int ms = 0; ms < 2500; ++ms) {
    const WallTime t = kWall + std::chrono::milliseconds(ms);
    for (int i = 0; i < 40; ++i) {
      if (agg.count_quiet("198.18.0.9", t)) continue;
      ++built;
      policy::AuditEvent e;
      e.time = t;
      e.event = policy::AuditEventType::kHandshakeRejected;
      e.reason = "opened at " + std::to_string(ms);
      if (auto line = agg.admit("198.18.0.9", e)) ++written, counted += line->count;
    }
    for (auto& line : agg.due(t)) {
      ++written;
      counted += line.count;
      last_reason = line.reason;
    }
  }
  for (auto& line : agg.due(kWall + 10s)) ++written, counted += line.count, last_reason = line.reason;
  BOOST_TEST(counted == 100000u);  // every rejection in exactly one line
  BOOST_TEST(built <= 4u);         // an event built about once a second, not per rejection
  BOOST_TEST(written <= 5u);
  BOOST_TEST(last_reason == "opened at 2000");  // the counted line names what opened its second
}

BOOST_AUTO_TEST_CASE(rejections_give_one_line_per_source_per_second_with_a_count) {
  RejectionAudit agg;
  std::uint64_t written = 0, counted = 0;
  for (int ms = 0; ms < 3000; ++ms) {
    policy::AuditEvent e;
    e.time = kWall + std::chrono::milliseconds(ms);
    e.event = policy::AuditEventType::kHandshakeRejected;
    e.reason = "x";
    for (int i = 0; i < 30; ++i)  // 30,000 rejections a second from one source
      if (auto line = agg.admit("198.18.0.9", e)) {
        ++written;
        counted += line->count;
      }
    if (ms % 1000 == 999)
      for (auto& line : agg.due(kWall + std::chrono::milliseconds(ms + 1))) {
        ++written;
        counted += line.count;
      }
  }
  for (auto& line : agg.due(kWall + 10s)) {
    ++written;
    counted += line.count;
  }
  BOOST_TEST(written <= 4u);       // about one a second
  BOOST_TEST(counted == 90000u);   // every rejection counted exactly once
  // Many sources share one entry past the bound.
  for (int i = 0; i < 5000; ++i) {
    policy::AuditEvent e;
    e.time = kWall + 20s;
    (void)agg.admit("src" + std::to_string(i), e);
  }
  BOOST_TEST(agg.sources() <= RejectionAudit::kMaxSources + 1);
}
