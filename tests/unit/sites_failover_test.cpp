// next_candidate (daemon/site_failover.h): which gateway of a site takes over when the chosen
// one stops answering. Preference order, hold-down of failed ones, retry of the one that
// failed longest ago when every other one failed too, unusable ones skipped.
#define BOOST_TEST_MODULE sites_failover
#include <boost/test/unit_test.hpp>

#include "daemon/site_failover.h"

using namespace keymesh;
using namespace keymesh::daemon;
using namespace std::chrono_literals;

namespace {

SiteRoute route(std::size_t n) {
  SiteRoute r;
  for (std::size_t i = 0; i < n; ++i) {
    SiteCandidate c;
    c.key[0] = std::uint8_t(i + 1);
    c.name = "gw-b" + std::to_string(i + 1);
    r.candidates.push_back(c);
  }
  r.chosen = r.candidates[0].key;
  return r;
}

const auto kAll = [](const SiteCandidate&) { return true; };

}  // namespace

BOOST_AUTO_TEST_CASE(preference_is_by_name_then_key) {
  SiteCandidate a{{}, "gw-b1", {}}, b{{}, "gw-b2", {}};
  BOOST_TEST(prefer(a, b));
  BOOST_TEST(!prefer(b, a));
  b.name = "gw-b1";
  b.key[0] = 1;
  BOOST_TEST(prefer(a, b));
}

BOOST_AUTO_TEST_CASE(the_next_one_in_order_takes_over) {
  const TimePoint now{100s};
  auto r = route(3);
  BOOST_TEST(next_candidate(r, now, 30s, kAll).value() == 1u);
  r.chosen = r.candidates[1].key;
  BOOST_TEST(next_candidate(r, now, 30s, kAll).value() == 0u);
}

BOOST_AUTO_TEST_CASE(a_recently_failed_one_waits_unless_it_is_the_only_other) {
  const TimePoint now{100s};
  auto r = route(3);
  r.chosen = r.candidates[2].key;
  r.candidates[0].failed_at = now - 5s;  // gw-b1 died 5 s ago
  BOOST_TEST(next_candidate(r, now, 30s, kAll).value() == 1u);
  r.candidates[1].failed_at = now - 2s;  // gw-b2 too, more recently: back to gw-b1
  BOOST_TEST(next_candidate(r, now, 30s, kAll).value() == 0u);
  r.candidates[0].failed_at = now - 40s;  // past the hold-down: in order again
  r.candidates[1].failed_at = now - 40s;
  BOOST_TEST(next_candidate(r, now, 30s, kAll).value() == 0u);
}

BOOST_AUTO_TEST_CASE(unusable_candidates_are_skipped) {
  const TimePoint now{100s};
  auto r = route(3);
  auto not_b2 = [](const SiteCandidate& c) { return c.name != "gw-b2"; };
  BOOST_TEST(next_candidate(r, now, 30s, not_b2).value() == 2u);
  auto none = [](const SiteCandidate&) { return false; };
  BOOST_TEST(!next_candidate(r, now, 30s, none).has_value());
  BOOST_TEST(!next_candidate(route(1), now, 30s, kAll).has_value());
}
