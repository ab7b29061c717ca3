// Flow records: one JSON line when connection tracking starts a flow and one when it forgets
// it, for incident response ("who talked to the database, when, how much"). They go to the
// same sinks as the audit lines. docs/operations.md documents the format and its mapping to
// Elastic Common Schema and OCSF Network Activity.
//
//   {"time":"2026-03-29T08:00:00.000Z","event":"flow_started","flow_id":"5f3a00000001",
//    "protocol":"tcp","ip_version":4,
//    "source":{"ip":"100.64.1.10","port":40312,"name":"web-1","fingerprint":"ab12",
//              "groups":["web"],"packets":1,"bytes":60},
//    "destination":{"ip":"100.64.2.10","port":5432,"name":"db-1",...,"packets":0,"bytes":0},
//    "rule":"web-to-db","start":"2026-03-29T08:00:00.000Z","duration_ms":0,"end_reason":null}
//
// (one line). "source" is the side that sent the flow's first packet; its "packets"/"bytes"
// count what it sent (IP bytes, headers included), "destination"'s what came back.
// flow_ended lines carry the totals, "duration_ms" from the first to the last packet, and
// "end_reason" (flow_end_name).
//
// Rate limit: at most max_per_second lines per wall-clock second; past that a line costs a
// counter increment and the next flush (or the next second's first line) writes one
// {"event":"flow_records_dropped","count":N} line, so every record is either written or
// counted.
//
// Threading: one mutex; called from the thread that runs the tunnel.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "policy/audit.h"

namespace keymesh::policy {

enum class FlowEnd : std::uint8_t {
  kTimeout,     // idle past its state's timeout
  kFin,         // TCP closed with FIN from both sides (or one FIN, then idle)
  kRst,         // TCP reset
  kRevoked,     // a certificate of the path was revoked or expired, or its root lost trust
  kPolicy,      // a policy reload or schedule boundary took the grant away
  kEvicted,     // the path's table was full; the least recently used flow made room
  kPathClosed,  // the path went away (local identity removed, daemon stopped)
};
std::string_view flow_end_name(FlowEnd e) noexcept;

struct FlowRecord {
  std::uint64_t id = 0;
  std::uint8_t ip_version = 4;
  std::uint8_t ip_proto = 0;                  // IANA number
  std::array<std::uint8_t, 16> source_ip{};   // the initiator (4 or 16 bytes used)
  std::array<std::uint8_t, 16> destination_ip{};
  std::uint16_t source_port = 0, destination_port = 0;  // ICMP echo: the echo id as source_port
  const AuditParty* source = nullptr;         // identities; null: unknown
  const AuditParty* destination = nullptr;
  std::string_view rule;                      // the rule that granted the first packet
  WallTime start;                             // first packet
  std::chrono::nanoseconds duration{0};       // first to last packet
  std::uint64_t source_packets = 0, source_bytes = 0;            // initiator -> responder
  std::uint64_t destination_packets = 0, destination_bytes = 0;  // responder -> initiator
};

// The JSON line (with newline) for a record; `end` null for flow_started.
std::string format_flow_line(const FlowRecord& r, WallTime now, const FlowEnd* end);

class FlowLog {
 public:
  FlowLog(AuditSink& sink, std::uint32_t max_per_second) noexcept;

  // A fresh id for a flow (unique for this process: high bits from the start time).
  std::uint64_t next_id() noexcept { return id_base_ + ++ids_; }
  void started(const FlowRecord& r, WallTime now) noexcept;
  void ended(const FlowRecord& r, FlowEnd why, WallTime now) noexcept;
  // Writes the count of records dropped in a second that has passed; call from a ~1 s timer.
  void flush(WallTime now) noexcept;

  std::uint64_t written() const noexcept { return written_; }
  std::uint64_t dropped() const noexcept { return dropped_; }

 private:
  void emit(const FlowRecord& r, const FlowEnd* end, WallTime now) noexcept;
  void write_dropped(WallTime now) noexcept;  // mutex_ held

  AuditSink& sink_;
  const std::uint32_t max_per_second_;
  const std::uint64_t id_base_;
  std::uint64_t ids_ = 0;
  std::mutex mutex_;
  WallTime window_{};               // start of the current second; guarded by mutex_
  std::uint32_t in_window_ = 0;     // lines written in it
  std::uint64_t dropped_pending_ = 0;
  std::uint64_t written_ = 0, dropped_ = 0;
};

}  // namespace keymesh::policy
