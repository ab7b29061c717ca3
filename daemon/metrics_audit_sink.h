// Counts the audit lines policy::AuditLog writes (keymesh_audit_events_total), then passes
// each on unchanged to the configured sinks, which must outlive it. Flow records go to those
// sinks directly, so they are not counted here. Any thread may write (policy::AuditLog serialises writes); the
// count is read on the loop thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>

#include "policy/audit.h"

namespace keymesh::daemon {

class CountingAuditSink final : public policy::AuditSink {
 public:
  explicit CountingAuditSink(policy::AuditSink& inner) : inner_(inner) {}
  void write(std::string_view line) override {
    written_.fetch_add(1, std::memory_order_relaxed);
    inner_.write(line);
  }
  std::uint64_t written() const noexcept { return written_.load(std::memory_order_relaxed); }

 private:
  policy::AuditSink& inner_;
  std::atomic<std::uint64_t> written_{0};
};

}  // namespace keymesh::daemon
