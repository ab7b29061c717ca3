#include "policy/schedule.h"

#include <date/date.h>
#include <date/tz.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <exception>

namespace keymesh::policy {

namespace {

using std::chrono::minutes;
using LocalMinutes = date::local_time<minutes>;

date::local_seconds to_local(const date::time_zone* zone, WallTime t) {
  const auto s = std::chrono::floor<std::chrono::seconds>(t);
  if (zone == nullptr) return date::local_seconds{s.time_since_epoch()};
  return zone->to_local(date::sys_seconds{s});
}

bool has_day(std::uint8_t days, date::weekday wd) {
  return (days >> wd.c_encoding()) & 1u;
}

// Whether local time `local` is inside the schedule (see the header for the semantics).
bool active_local(const Schedule& s, date::local_seconds local) {
  const auto day = std::chrono::floor<date::days>(local);
  const int minute = int(std::chrono::floor<minutes>(local - day).count());
  const date::weekday today{day};
  const date::weekday yesterday = today - date::days{1};
  if (s.hours.empty()) return has_day(s.days, today);
  for (const TimeRange& r : s.hours) {
    if (r.start < r.end) {
      if (has_day(s.days, today) && minute >= r.start && minute < r.end) return true;
    } else {  // crosses midnight: [start, 24:00) today's part, [00:00, end) yesterday's tail
      if (has_day(s.days, today) && minute >= r.start) return true;
      if (has_day(s.days, yesterday) && minute < r.end) return true;
    }
  }
  return false;
}

bool parse_int(std::string_view s, int& out) {
  if (s.empty()) return false;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

// "HH:MM" to minutes; `allow_24` admits "24:00".
std::optional<int> parse_clock(std::string_view s, bool allow_24) {
  if (s.size() != 5 || s[2] != ':') return std::nullopt;
  int h = 0, m = 0;
  if (!parse_int(s.substr(0, 2), h) || !parse_int(s.substr(3, 2), m)) return std::nullopt;
  if (m > 59 || h > 24 || (h == 24 && (!allow_24 || m != 0))) return std::nullopt;
  return h * 60 + m;
}

}  // namespace

bool Schedule::active(WallTime now) const { return active_local(*this, to_local(zone, now)); }

std::optional<WallTime> Schedule::next_change(WallTime now) const {
  // Activity depends only on the local wall clock, so it can change only where the local
  // clock passes a range boundary or jumps (a zone transition). Collect those instants over
  // the coming week and a day on both sides, then take the first where activity differs.
  const bool current = active(now);
  const auto today = std::chrono::floor<date::days>(to_local(zone, now));
  std::vector<WallTime> candidates;
  auto add_local = [&](LocalMinutes lt) {
    if (zone == nullptr) {
      candidates.push_back(WallTime{lt.time_since_epoch()});
      return;
    }
    // Nonexistent local times map to the transition; ambiguous ones occur twice.
    candidates.push_back(WallTime{zone->to_sys(lt, date::choose::earliest).time_since_epoch()});
    candidates.push_back(WallTime{zone->to_sys(lt, date::choose::latest).time_since_epoch()});
  };
  std::vector<TimeRange> ranges = hours;
  if (ranges.empty()) ranges.push_back({0, kMinutesPerDay});
  for (int k = -1; k <= 8; ++k) {
    const LocalMinutes day{(today + date::days{k}).time_since_epoch()};
    for (const TimeRange& r : ranges) {
      add_local(day + minutes(r.start));
      const int end = r.end > r.start ? r.end : r.end + kMinutesPerDay;
      add_local(day + minutes(end));
    }
  }
  if (zone != nullptr) {
    const date::sys_seconds from{std::chrono::floor<std::chrono::seconds>(now)};
    const date::sys_seconds horizon = from + date::days{10};
    auto info = zone->get_info(from);
    // Compared in seconds before converting: a zone without DST ends its last period at a
    // far-future instant that nanoseconds cannot hold.
    for (int i = 0; i < 4 && info.end < horizon; ++i) {
      candidates.push_back(WallTime{info.end.time_since_epoch()});
      info = zone->get_info(info.end);
    }
  }
  std::sort(candidates.begin(), candidates.end());
  for (WallTime c : candidates)
    if (c > now && active(c) != current) return c;
  return std::nullopt;
}

Result<const date::time_zone*> find_zone(std::string_view name) {
  if (name == "UTC") return nullptr;
  try {
    return date::locate_zone(name);
  } catch (const std::exception&) {
    return fail("unknown time zone");
  }
}

Result<TimeRange> parse_time_range(std::string_view text) {
  const auto dash = text.find('-');
  if (dash == std::string_view::npos) return fail("expected HH:MM-HH:MM");
  const auto start = parse_clock(text.substr(0, dash), false);
  const auto end = parse_clock(text.substr(dash + 1), true);
  if (!start || !end) return fail("expected HH:MM-HH:MM (00:00 to 24:00)");
  if (*start == *end) return fail("range is empty (start equals end)");
  if (*end == kMinutesPerDay && *start == 0) return TimeRange{0, kMinutesPerDay};
  // "22:00-24:00" is an ordinary range; a crossing range ends before midnight of the next day.
  return TimeRange{std::uint16_t(*start), std::uint16_t(*end)};
}

Result<WallTime> parse_rfc3339(std::string_view t) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (t.size() < 20 || t[4] != '-' || t[7] != '-' || (t[10] != 'T' && t[10] != 't') ||
      t[13] != ':' || t[16] != ':' || !parse_int(t.substr(0, 4), y) ||
      !parse_int(t.substr(5, 2), mo) || !parse_int(t.substr(8, 2), d) ||
      !parse_int(t.substr(11, 2), h) || !parse_int(t.substr(14, 2), mi) ||
      !parse_int(t.substr(17, 2), s))
    return fail("expected an RFC 3339 time like 2026-11-01T00:00:00Z");
  std::size_t i = 19;
  std::chrono::nanoseconds frac{0};
  if (i < t.size() && t[i] == '.') {
    ++i;
    std::int64_t scale = 100'000'000;
    const std::size_t digits_start = i;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') {
      frac += std::chrono::nanoseconds((t[i] - '0') * scale);
      scale /= 10;
      ++i;
    }
    if (i == digits_start) return fail("expected digits after the decimal point");
  }
  std::chrono::minutes offset{0};
  const std::string_view zone = t.substr(i);
  if (zone == "Z" || zone == "z") {
  } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':') {
    int oh = 0, om = 0;
    if (!parse_int(zone.substr(1, 2), oh) || !parse_int(zone.substr(4, 2), om) || oh > 23 ||
        om > 59)
      return fail("bad UTC offset");
    offset = std::chrono::minutes(oh * 60 + om);
    if (zone[0] == '-') offset = -offset;
  } else {
    return fail("expected Z or a UTC offset like +01:00 at the end");
  }
  const date::year_month_day ymd{date::year{y}, date::month(unsigned(mo)), date::day(unsigned(d))};
  if (!ymd.ok() || h > 23 || mi > 59 || s > 60) return fail("not a valid date and time");
  // WallTime counts nanoseconds in 64 bits, which ends in 2262.
  if (y < 1970 || y > 2200) return fail("year must be 1970-2200");
  const auto secs = date::sys_days{ymd} + std::chrono::hours(h) + std::chrono::minutes(mi) +
                    std::chrono::seconds(std::min(s, 59)) - offset;
  return WallTime{std::chrono::duration_cast<WallTime::duration>(secs.time_since_epoch() + frac)};
}

std::string format_rfc3339_ms(WallTime t) {
  const auto ms = std::chrono::floor<std::chrono::milliseconds>(t);
  const auto day = std::chrono::floor<date::days>(ms);
  const date::year_month_day ymd{day};
  const date::hh_mm_ss<std::chrono::milliseconds> tod{ms - day};
  char buf[64];
  const int n = std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                              int(ymd.year()), unsigned(ymd.month()), unsigned(ymd.day()),
                              int(tod.hours().count()), int(tod.minutes().count()),
                              int(tod.seconds().count()), int(tod.subseconds().count()));
  return std::string(buf, n > 0 ? std::min(std::size_t(n), sizeof buf - 1) : 0);
}

}  // namespace keymesh::policy
