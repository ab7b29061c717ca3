// Counters the tunnel keeps for metrics (docs/metrics.md) beyond the drop counters: traffic
// totals over every path and raw-key peer (which outlive any one path, so a closed path never
// makes a total go down), policy decisions, and the audit lines its rate limits folded.
//
// Label sets are bounded (metrics/bounded.h): at most kMaxRuleLabels rule names and
// kMaxDenialLabels (scope, direction, local, remote) keys; anything beyond is counted under
// "other". Bumped on the packet path: known keys cost a map lookup, no allocation.
// Loop thread only.
#pragma once

#include <cstddef>
#include <cstdint>

#include "metrics/bounded.h"

namespace keymesh::daemon {

inline constexpr std::size_t kMaxRuleLabels = 64;
inline constexpr std::size_t kMaxDenialLabels = 256;

struct TunnelCounters {
  // Authenticated data messages (keepalives included), as sealed/received on the underlay.
  std::uint64_t rx_packets = 0, rx_bytes = 0;
  std::uint64_t tx_packets = 0, tx_bytes = 0;
  // Paths opened, by the rule that granted them.
  metrics::BoundedCounter<1> paths_allowed{kMaxRuleLabels};
  // Denied packets and refused paths: {scope "packet"/"path", direction "inbound"/"outbound"
  // ("" for paths), local identity, remote identity or raw-key peer name}.
  metrics::BoundedCounter<4> denied{kMaxDenialLabels};
  std::uint64_t paths_refused = 0, packets_denied = 0;
  // Decisions the audit rate limits folded into a later line's count instead of a line of
  // their own (only while an audit log is configured).
  std::uint64_t audit_suppressed = 0;
};

}  // namespace keymesh::daemon
