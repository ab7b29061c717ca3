// Schedules in Europe/Berlin across the 2026 DST changes (29 March: 02:00 CET -> 03:00 CEST;
// 25 October: 03:00 CEST -> 02:00 CET), ranges across midnight, validity periods
// (not_before / expires), and next_change.
#define BOOST_TEST_MODULE policy_schedule
#include <boost/test/unit_test.hpp>

#include "policy_test_util.h"

using namespace keymesh;
using namespace keymesh::policy;
using namespace keymesh::policy::test;

namespace {

Schedule berlin(std::uint8_t days, std::vector<std::string_view> hours) {
  Schedule s;
  s.days = days;
  for (auto h : hours) {
    auto r = parse_time_range(h);
    BOOST_REQUIRE(r);
    s.hours.push_back(*r);
  }
  auto zone = find_zone("Europe/Berlin");
  BOOST_REQUIRE(zone);
  s.zone = *zone;
  s.zone_name = "Europe/Berlin";
  return s;
}

constexpr std::uint8_t kWeekdays = 0b0111110;  // mon..fri
constexpr std::uint8_t kEveryDay = 0x7f;
constexpr std::uint8_t kFriday = 1 << 5;

std::string show(std::optional<WallTime> t) { return t ? format_rfc3339_ms(*t) : "never"; }

}  // namespace

BOOST_AUTO_TEST_CASE(office_hours_follow_berlin_local_time_across_spring_forward) {
  const Schedule s = berlin(kWeekdays, {"08:00-18:00"});
  // Friday 27 March: CET (UTC+1), 08:00 local = 07:00Z.
  BOOST_TEST(!s.active(utc("2026-03-27T06:59:59Z")));
  BOOST_TEST(s.active(utc("2026-03-27T07:00:00Z")));
  BOOST_TEST(s.active(utc("2026-03-27T16:59:59Z")));
  BOOST_TEST(!s.active(utc("2026-03-27T17:00:00Z")));
  // Weekend: closed.
  BOOST_TEST(!s.active(utc("2026-03-28T10:00:00Z")));
  // Monday 30 March: CEST (UTC+2), 08:00 local = 06:00Z.
  BOOST_TEST(!s.active(utc("2026-03-30T05:59:59Z")));
  BOOST_TEST(s.active(utc("2026-03-30T06:00:00Z")));
  BOOST_TEST(!s.active(utc("2026-03-30T16:00:00Z")));
  BOOST_TEST(show(s.next_change(utc("2026-03-27T12:00:00Z"))) == "2026-03-27T17:00:00.000Z");
  BOOST_TEST(show(s.next_change(utc("2026-03-27T17:00:00Z"))) == "2026-03-30T06:00:00.000Z");
}

BOOST_AUTO_TEST_CASE(office_hours_across_fall_back) {
  const Schedule s = berlin(kWeekdays, {"08:00-18:00"});
  BOOST_TEST(s.active(utc("2026-10-23T06:00:00Z")));   // Fri 08:00 CEST
  BOOST_TEST(!s.active(utc("2026-10-23T16:00:00Z")));  // Fri 18:00 CEST
  BOOST_TEST(!s.active(utc("2026-10-26T06:30:00Z")));  // Mon 07:30 CET
  BOOST_TEST(s.active(utc("2026-10-26T07:00:00Z")));   // Mon 08:00 CET
  BOOST_TEST(show(s.next_change(utc("2026-10-23T16:00:00Z"))) == "2026-10-26T07:00:00.000Z");
}

BOOST_AUTO_TEST_CASE(range_starting_in_the_skipped_hour_starts_at_the_transition) {
  // 29 March: local 02:00-03:00 does not exist; 02:30 takes effect at 03:00 CEST = 01:00Z.
  const Schedule s = berlin(kEveryDay, {"02:30-04:00"});
  BOOST_TEST(!s.active(utc("2026-03-29T00:59:59Z")));  // 01:59:59 CET
  BOOST_TEST(s.active(utc("2026-03-29T01:00:00Z")));   // 03:00 CEST
  BOOST_TEST(s.active(utc("2026-03-29T01:59:59Z")));   // 03:59:59 CEST
  BOOST_TEST(!s.active(utc("2026-03-29T02:00:00Z")));  // 04:00 CEST
  BOOST_TEST(show(s.next_change(utc("2026-03-29T00:00:00Z"))) == "2026-03-29T01:00:00.000Z");
  BOOST_TEST(show(s.next_change(utc("2026-03-29T01:00:00Z"))) == "2026-03-29T02:00:00.000Z");
  // The day before, the same range is a normal 90 minutes in CET.
  BOOST_TEST(show(s.next_change(utc("2026-03-28T00:00:00Z"))) == "2026-03-28T01:30:00.000Z");
}

BOOST_AUTO_TEST_CASE(range_ending_in_the_skipped_hour_ends_at_the_transition) {
  const Schedule s = berlin(kEveryDay, {"01:00-02:30"});
  BOOST_TEST(s.active(utc("2026-03-29T00:59:59Z")));  // 01:59:59 CET
  BOOST_TEST(!s.active(utc("2026-03-29T01:00:00Z")));  // 03:00 CEST
  BOOST_TEST(show(s.next_change(utc("2026-03-29T00:30:00Z"))) == "2026-03-29T01:00:00.000Z");
}

BOOST_AUTO_TEST_CASE(repeated_hour_is_judged_on_each_occurrence) {
  // 25 October: local 02:00-03:00 happens twice (CEST = 00:00-01:00Z, then CET = 01:00-02:00Z).
  const Schedule s = berlin(kEveryDay, {"02:00-02:30"});
  BOOST_TEST(s.active(utc("2026-10-25T00:15:00Z")));
  BOOST_TEST(!s.active(utc("2026-10-25T00:45:00Z")));
  BOOST_TEST(s.active(utc("2026-10-25T01:15:00Z")));
  BOOST_TEST(!s.active(utc("2026-10-25T01:45:00Z")));
  WallTime t = utc("2026-10-24T23:59:00Z");
  std::vector<std::string> changes;
  for (int i = 0; i < 4; ++i) {
    auto next = s.next_change(t);
    BOOST_REQUIRE(next);
    changes.push_back(format_rfc3339_ms(*next));
    t = *next;
  }
  BOOST_TEST(changes == (std::vector<std::string>{"2026-10-25T00:00:00.000Z",
                                                  "2026-10-25T00:30:00.000Z",
                                                  "2026-10-25T01:00:00.000Z",
                                                  "2026-10-25T01:30:00.000Z"}));
}

BOOST_AUTO_TEST_CASE(night_range_crosses_midnight_and_belongs_to_its_start_day) {
  Schedule s;  // UTC
  s.days = kFriday;
  s.hours = {*parse_time_range("22:00-06:00")};
  BOOST_TEST(s.hours[0].start == 22 * 60);
  BOOST_TEST(s.hours[0].end == 6 * 60);
  BOOST_TEST(!s.active(utc("2026-03-27T05:00:00Z")));  // Fri early: Thursday's night, not listed
  BOOST_TEST(!s.active(utc("2026-03-27T21:59:59Z")));
  BOOST_TEST(s.active(utc("2026-03-27T22:00:00Z")));   // Fri 22:00
  BOOST_TEST(s.active(utc("2026-03-28T05:59:59Z")));   // Sat 05:59
  BOOST_TEST(!s.active(utc("2026-03-28T06:00:00Z")));
  BOOST_TEST(!s.active(utc("2026-03-28T23:00:00Z")));  // Sat night: not listed
  BOOST_TEST(show(s.next_change(utc("2026-03-27T12:00:00Z"))) == "2026-03-27T22:00:00.000Z");
  BOOST_TEST(show(s.next_change(utc("2026-03-27T22:00:00Z"))) == "2026-03-28T06:00:00.000Z");
  BOOST_TEST(show(s.next_change(utc("2026-03-28T06:00:00Z"))) == "2026-04-03T22:00:00.000Z");
}

BOOST_AUTO_TEST_CASE(night_range_over_the_dst_night_is_seven_hours) {
  // Sat 28 March 22:00 CET (21:00Z) to Sun 29 March 06:00 CEST (04:00Z).
  const Schedule s = berlin(kEveryDay, {"22:00-06:00"});
  BOOST_TEST(show(s.next_change(utc("2026-03-28T12:00:00Z"))) == "2026-03-28T21:00:00.000Z");
  BOOST_TEST(show(s.next_change(utc("2026-03-28T21:00:00Z"))) == "2026-03-29T04:00:00.000Z");
  BOOST_TEST(s.active(utc("2026-03-29T01:30:00Z")));
  BOOST_TEST(!s.active(utc("2026-03-29T04:00:00Z")));
}

BOOST_AUTO_TEST_CASE(whole_days_and_constant_schedules) {
  Schedule weekend;
  weekend.days = 0b1000001;  // sat, sun
  BOOST_TEST(!weekend.active(utc("2026-03-27T23:59:59Z")));
  BOOST_TEST(weekend.active(utc("2026-03-28T00:00:00Z")));
  BOOST_TEST(show(weekend.next_change(utc("2026-03-27T12:00:00Z"))) == "2026-03-28T00:00:00.000Z");
  BOOST_TEST(show(weekend.next_change(utc("2026-03-28T00:00:00Z"))) == "2026-03-30T00:00:00.000Z");

  Schedule always;
  BOOST_TEST(always.active(utc("2026-03-29T01:00:00Z")));
  BOOST_TEST(!always.next_change(utc("2026-03-29T01:00:00Z")).has_value());
  Schedule all_day = berlin(kEveryDay, {"00:00-24:00"});
  BOOST_TEST(all_day.active(utc("2026-10-25T01:30:00Z")));
  BOOST_TEST(!all_day.next_change(utc("2026-10-24T00:00:00Z")).has_value());
}

BOOST_AUTO_TEST_CASE(zone_without_dst) {
  // Tokyo has no transitions ahead (its current period ends in the far future).
  Schedule s;
  s.hours = {*parse_time_range("09:00-17:00")};
  s.zone = *find_zone("Asia/Tokyo");
  s.zone_name = "Asia/Tokyo";
  BOOST_TEST(s.active(utc("2026-03-27T00:00:00Z")));
  BOOST_TEST(show(s.next_change(utc("2026-03-27T00:00:00Z"))) == "2026-03-27T08:00:00.000Z");
  BOOST_TEST(show(s.next_change(utc("2026-03-27T08:00:00Z"))) == "2026-03-28T00:00:00.000Z");
}

BOOST_AUTO_TEST_CASE(validity_period_and_rule_next_change) {
  Rule r;
  r.name = "jit";
  r.not_before = utc("2026-11-01T00:00:00Z");
  r.expires = utc("2026-12-01T00:00:00Z");
  BOOST_TEST(!r.active(utc("2026-10-31T23:59:59Z")));
  BOOST_TEST(r.inactive_reason(utc("2026-10-31T23:59:59Z")) == "not yet valid");
  BOOST_TEST(r.active(utc("2026-11-01T00:00:00Z")));
  BOOST_TEST(r.active(utc("2026-11-30T23:59:59Z")));
  BOOST_TEST(!r.active(utc("2026-12-01T00:00:00Z")));
  BOOST_TEST(r.inactive_reason(utc("2026-12-01T00:00:00Z")) == "expired");
  BOOST_TEST(show(r.next_change(utc("2026-10-01T00:00:00Z"))) == "2026-11-01T00:00:00.000Z");
  BOOST_TEST(show(r.next_change(utc("2026-11-15T00:00:00Z"))) == "2026-12-01T00:00:00.000Z");
  BOOST_TEST(!r.next_change(utc("2026-12-01T00:00:00Z")).has_value());

  // With office hours: valid from a Sunday, so it first opens on Monday morning.
  r.schedule = berlin(kWeekdays, {"08:00-18:00"});
  r.not_before = utc("2026-11-01T00:00:00Z");  // Sunday
  BOOST_TEST(show(r.next_change(utc("2026-10-01T00:00:00Z"))) == "2026-11-02T07:00:00.000Z");
  BOOST_TEST(r.inactive_reason(utc("2026-11-01T12:00:00Z")) == "outside its schedule");
  // Last working day: closes at 18:00 local on Monday 30 November, then expires.
  BOOST_TEST(show(r.next_change(utc("2026-11-30T12:00:00Z"))) == "2026-11-30T17:00:00.000Z");
  BOOST_TEST(!r.next_change(utc("2026-11-30T17:00:00Z")).has_value());
}

BOOST_AUTO_TEST_CASE(policy_next_change_is_the_earliest_boundary) {
  const Policy p = policy_from(R"(
rules:
  - name: always
    from: {}
    to: {}
    allow: [icmp]
  - name: office
    from: { groups: [web] }
    to: { groups: [db] }
    allow: [tcp/5432]
    schedule: { days: [mon, tue, wed, thu, fri], hours: "08:00-18:00", timezone: Europe/Berlin }
  - name: jit
    from: { name: alice }
    to: { name: db-1 }
    allow: [tcp/22]
    expires: 2026-03-27T12:30:00Z
)");
  BOOST_TEST(show(p.next_change(utc("2026-03-27T12:00:00Z"))) == "2026-03-27T12:30:00.000Z");
  BOOST_TEST(show(p.next_change(utc("2026-03-27T12:30:00Z"))) == "2026-03-27T17:00:00.000Z");
  BOOST_TEST(show(p.next_change(utc("2026-03-27T17:00:00Z"))) == "2026-03-30T06:00:00.000Z");
  BOOST_TEST(!policy_from("rules: []").next_change(utc("2026-03-27T12:00:00Z")).has_value());
}

BOOST_AUTO_TEST_CASE(rfc3339_parse_and_format) {
  BOOST_TEST(format_rfc3339_ms(utc("2026-03-29T01:02:03.4567Z")) == "2026-03-29T01:02:03.456Z");
  BOOST_TEST(format_rfc3339_ms(utc("2026-03-29T03:00:00+02:00")) == "2026-03-29T01:00:00.000Z");
  BOOST_TEST(format_rfc3339_ms(utc("2026-03-28T20:00:00-05:30")) == "2026-03-29T01:30:00.000Z");
  BOOST_TEST(!parse_rfc3339("2026-03-29 01:00:00Z").has_value());
  BOOST_TEST(!parse_rfc3339("2026-03-29T25:00:00Z").has_value());
  BOOST_TEST(!parse_rfc3339("2026-03-29T01:00:00").has_value());
  BOOST_TEST(!parse_rfc3339("2026-03-29T01:00:00.Z").has_value());
  BOOST_TEST(parse_rfc3339("9999-01-01T00:00:00Z").error().message == "year must be 1970-2200");
  BOOST_TEST(parse_rfc3339("1969-12-31T23:59:59Z").error().message == "year must be 1970-2200");
}
