#include "daemon/rejection_audit.h"

namespace keymesh::daemon {

std::optional<policy::AuditEvent> RejectionAudit::admit(const std::string& source,
                                                        policy::AuditEvent e) {
  const std::string& key =
      pending_.size() >= kMaxSources && !pending_.contains(source) ? kOtherSources : source;
  auto [it, fresh] = pending_.try_emplace(key);
  Pending& p = it->second;
  if (!fresh && e.time < p.last_line + interval_) {
    ++p.count;
    return std::nullopt;
  }
  e.count = p.count + 1;
  if (key != source) e.reason += " (and other sources)";
  p.count = 0;
  p.last_line = e.time;
  p.last = e;  // what the next line of this source says, with its count
  return e;
}

bool RejectionAudit::count_quiet(const std::string& source, WallTime now) noexcept {
  auto it = pending_.find(source);
  if (it == pending_.end() && pending_.size() >= kMaxSources) it = pending_.find(kOtherSources);
  if (it == pending_.end() || now >= it->second.last_line + interval_) return false;
  ++it->second.count;
  return true;
}

std::vector<policy::AuditEvent> RejectionAudit::due(WallTime now) {
  std::vector<policy::AuditEvent> out;
  for (auto it = pending_.begin(); it != pending_.end();) {
    Pending& p = it->second;
    if (now < p.last_line + interval_) {
      ++it;
      continue;
    }
    if (p.count == 0) {
      it = pending_.erase(it);
      continue;
    }
    policy::AuditEvent line = std::move(p.last);
    line.time = now;
    line.count = p.count;
    out.push_back(std::move(line));
    p.count = 0;
    p.last_line = now;
    ++it;
  }
  return out;
}

}  // namespace keymesh::daemon
