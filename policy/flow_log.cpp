#include "policy/flow_log.h"

#include <sys/socket.h>

#include <cstdio>

#include "common/ip.h"
#include "common/json.h"
#include "policy/schedule.h"

namespace keymesh::policy {

std::string_view flow_end_name(FlowEnd e) noexcept {
  switch (e) {
    case FlowEnd::kTimeout:
      return "timeout";
    case FlowEnd::kFin:
      return "fin";
    case FlowEnd::kRst:
      return "rst";
    case FlowEnd::kRevoked:
      return "revoked";
    case FlowEnd::kPolicy:
      return "policy";
    case FlowEnd::kEvicted:
      return "evicted";
    case FlowEnd::kPathClosed:
      break;
  }
  return "path_closed";
}

namespace {

std::string protocol_name(std::uint8_t ip_proto) {
  switch (ip_proto) {
    case 6:
      return "tcp";
    case 17:
      return "udp";
    case 1:
      return "icmp";
    case 58:
      return "ipv6-icmp";
    default:
      return std::to_string(ip_proto);
  }
}

void append_endpoint(std::string& out, std::uint8_t version,
                     const std::array<std::uint8_t, 16>& ip, std::uint16_t port,
                     const AuditParty* party, std::uint64_t packets, std::uint64_t bytes) {
  IpAddress a;
  a.family = version == 6 ? AF_INET6 : AF_INET;
  a.bytes = ip;
  out += "{\"ip\":\"" + a.to_string() + "\",\"port\":" + std::to_string(port) + ",\"name\":";
  out += party ? json_string(party->name) : std::string("null");
  out += ",\"fingerprint\":";
  out += party && !party->fingerprint.empty() ? json_string(party->fingerprint)
                                              : std::string("null");
  out += ",\"groups\":[";
  if (party)
    for (std::size_t i = 0; i < party->groups.size(); ++i) {
      if (i) out += ',';
      out += json_string(party->groups[i]);
    }
  out += "],\"packets\":" + std::to_string(packets) + ",\"bytes\":" + std::to_string(bytes) + "}";
}

}  // namespace

std::string format_flow_line(const FlowRecord& r, WallTime now, const FlowEnd* end) {
  char id[17];
  std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(r.id));
  std::string out = "{\"time\":\"" + format_rfc3339_ms(now) + "\",\"event\":\"" +
                    (end ? "flow_ended" : "flow_started") + "\",\"flow_id\":\"" + id +
                    "\",\"protocol\":\"" + protocol_name(r.ip_proto) +
                    "\",\"ip_version\":" + std::to_string(r.ip_version) + ",\"source\":";
  append_endpoint(out, r.ip_version, r.source_ip, r.source_port, r.source, r.source_packets,
                  r.source_bytes);
  out += ",\"destination\":";
  append_endpoint(out, r.ip_version, r.destination_ip, r.destination_port, r.destination,
                  r.destination_packets, r.destination_bytes);
  out += ",\"rule\":";
  out += r.rule.empty() ? std::string("null") : json_string(r.rule);
  out += ",\"start\":\"" + format_rfc3339_ms(r.start) + "\",\"duration_ms\":" +
         std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(r.duration).count());
  out += ",\"end_reason\":";
  out += end ? "\"" + std::string(flow_end_name(*end)) + "\"" : std::string("null");
  out += "}\n";
  return out;
}

FlowLog::FlowLog(AuditSink& sink, std::uint32_t max_per_second) noexcept
    : sink_(sink),
      max_per_second_(max_per_second),
      // Ids stay unique across restarts of the daemon: the start second in the high bits.
      id_base_(std::uint64_t(std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count())
               << 24) {}

void FlowLog::started(const FlowRecord& r, WallTime now) noexcept { emit(r, nullptr, now); }

void FlowLog::ended(const FlowRecord& r, FlowEnd why, WallTime now) noexcept {
  emit(r, &why, now);
}

void FlowLog::emit(const FlowRecord& r, const FlowEnd* end, WallTime now) noexcept {
  std::lock_guard lock(mutex_);
  // End records carry their flow's last packet time, which may lie before the window:
  // they count against the current second.
  if (now >= window_ + std::chrono::seconds(1)) {
    write_dropped(now);
    window_ = now;
    in_window_ = 0;
  }
  if (in_window_ >= max_per_second_) {
    ++dropped_pending_;
    ++dropped_;
    return;
  }
  ++in_window_;
  try {
    sink_.write(format_flow_line(r, now, end));
    ++written_;
  } catch (...) {
    ++dropped_;  // out of memory while formatting: counted, not written
  }
}

void FlowLog::flush(WallTime now) noexcept {
  std::lock_guard lock(mutex_);
  if (dropped_pending_ > 0 && now >= window_ + std::chrono::seconds(1)) write_dropped(now);
}

void FlowLog::write_dropped(WallTime now) noexcept {
  if (dropped_pending_ == 0) return;
  try {
    sink_.write("{\"time\":\"" + format_rfc3339_ms(now) +
                "\",\"event\":\"flow_records_dropped\",\"count\":" +
                std::to_string(dropped_pending_) + ",\"reason\":\"more than " +
                std::to_string(max_per_second_) + " flow records in one second\"}\n");
  } catch (...) {
    return;  // kept pending: the next flush tries again
  }
  dropped_pending_ = 0;
}

}  // namespace keymesh::policy
