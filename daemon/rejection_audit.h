// Aggregation of handshake rejection audit events (docs/policy.md, "Audit"): at most one line
// per source address per second, carrying how many rejections it stands for. The first
// rejection from a source is written at once (count 1); later ones within the second are
// counted, and the next line (the first rejection a second or more after the last line, or
// due() once the second has passed) carries their count and the details of the line that
// opened the second. So a flood cannot fill the disk, and every rejection is counted in
// exactly one line. count_quiet() counts one without building its event: a flooded host
// pays a map lookup per rejection, not the strings of an audit line.
//
// Bounded: at most kMaxSources sources are tracked apart; past that, new sources share one
// entry ("other sources"), so a flood from many addresses still gives one line per second.
// A source quiet for a whole second is forgotten. Not synchronized: the loop thread.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "policy/audit.h"

namespace keymesh::daemon {

class RejectionAudit {
 public:
  explicit RejectionAudit(std::chrono::milliseconds interval = std::chrono::seconds(1))
      : interval_(interval) {}

  // The event to write now, or nullopt when it was counted for a later line.
  std::optional<policy::AuditEvent> admit(const std::string& source, policy::AuditEvent e);
  // True (and counted) when `source` already had its line within the interval; then the
  // caller builds nothing. False: call admit() with the event.
  bool count_quiet(const std::string& source, WallTime now) noexcept;
  // Lines for sources whose second has passed with rejections still uncounted.
  std::vector<policy::AuditEvent> due(WallTime now);
  std::size_t sources() const noexcept { return pending_.size(); }

  static constexpr std::size_t kMaxSources = 1024;
  static constexpr const char* kOtherSources = "other sources";

 private:
  struct Pending {
    WallTime last_line;
    std::uint64_t count = 0;  // rejections since last_line, not yet written
    policy::AuditEvent last;
  };
  std::chrono::milliseconds interval_;
  std::map<std::string, Pending> pending_;
};

}  // namespace keymesh::daemon
