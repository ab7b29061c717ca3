// Weekly schedules in an IANA time zone: "mon-fri, 08:00-18:00, Europe/Berlin".
//
// Semantics (docs/policy.md, "Schedules"):
// - A schedule is evaluated on the local wall clock of its zone. A day in `days` is the day a
//   time range *starts*: "22:00-06:00" on fri runs from Friday 22:00 to Saturday 06:00.
// - Ranges are half-open [start, end). "00:00-24:00" is the whole day.
// - DST: a start or end that falls in a skipped hour (spring forward) takes effect at the
//   transition; a local time that occurs twice (fall back) is judged on each occurrence, so
//   "02:00-02:30" is in force during both.
// Time zones come from the system tzdata through Howard Hinnant's date library (GCC 12's
// libstdc++ has no std::chrono::locate_zone).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace date {
class time_zone;
}

namespace keymesh::policy {

inline constexpr int kMinutesPerDay = 24 * 60;

struct TimeRange {
  std::uint16_t start = 0;  // minutes after local midnight, 0..1439
  std::uint16_t end = 0;    // 1..1440; end < start means the range crosses midnight
  bool operator==(const TimeRange&) const = default;
};

struct Schedule {
  std::uint8_t days = 0x7f;      // bit d: d = 0 Sunday .. 6 Saturday
  std::vector<TimeRange> hours;  // empty: the whole day
  std::string zone_name = "UTC";
  const date::time_zone* zone = nullptr;  // from find_zone(); nullptr means UTC

  // Whether `now` falls in the schedule.
  bool active(WallTime now) const;
  // The first instant after `now` at which active() changes; nullopt if it never does.
  std::optional<WallTime> next_change(WallTime now) const;
};

// Looks up an IANA zone in the system tzdata ("UTC" always works). The pointer stays valid for
// the life of the process. Never throws.
Result<const date::time_zone*> find_zone(std::string_view name);

// Parses "HH:MM-HH:MM" (24:00 allowed as an end). Error text names the problem only.
Result<TimeRange> parse_time_range(std::string_view text);

// RFC 3339 timestamp: 2026-11-01T00:00:00Z, optional fraction, Z or +hh:mm / -hh:mm.
Result<WallTime> parse_rfc3339(std::string_view text);

// UTC with milliseconds: 2026-11-01T00:00:00.000Z.
std::string format_rfc3339_ms(WallTime t);

}  // namespace keymesh::policy
