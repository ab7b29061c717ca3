// Connection tracking for one path (one local identity <-> one remote identity): lets replies
// of allowed flows through and nothing else, whichever side opened the flow.
//
//   inside (TUN) --on_outbound--> [ ConnTrack ] --> peer      outbound policy: local -> remote
//   inside (TUN) <--on_inbound--- [ ConnTrack ] <-- peer      inbound policy:  remote -> local
//
// A packet that belongs to a tracked flow passes in either direction; the first packet of a
// new flow passes only if the policy of its direction grants its protocol and destination
// port, and then starts a flow. TCP follows SYN -> established -> FIN/RST closing, each state
// with its own idle timeout; UDP and ICMP echo flows time out when idle.
//
// Packet path rules: on_outbound/on_inbound are noexcept and do not allocate for packets of
// tracked flows. The table grows (allocates) only when a new flow needs room, up to
// max_flows; past that the least recently used flow is evicted. Timeouts use the monotonic
// clock; policy time windows use wall time.
//
// Threading: not thread-safe; owned and used by the thread that handles the path.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "policy/evaluator.h"
#include "policy/flow_log.h"
#include "policy/packet.h"

namespace keymesh::policy {

// Idle timeouts per state (docs/policy.md, "Connection tracking").
struct ConnTrackTimeouts {
  std::chrono::seconds tcp_handshake{30};     // SYN sent, no SYN-ACK yet
  std::chrono::seconds tcp_established{600};
  std::chrono::seconds tcp_half_closed{120};  // FIN from one side only
  std::chrono::seconds tcp_closing{10};       // FIN from both sides, or RST
  std::chrono::seconds udp{60};
  std::chrono::seconds icmp{30};              // echo request/reply
  std::chrono::seconds other{60};             // other IP protocols (by address pair)
  friend bool operator==(const ConnTrackTimeouts&, const ConnTrackTimeouts&) = default;
};

struct ConnTrackLimits {
  std::size_t max_flows = 4096;  // per path; the least recently used flow is evicted past this
  ConnTrackTimeouts timeouts;
  std::uint64_t hash_seed = 0x6b6d2d6374;  // give each table its own to spread collisions
  friend bool operator==(const ConnTrackLimits&, const ConnTrackLimits&) = default;
};

enum class FlowState : std::uint8_t {
  kTcpSynSent,
  kTcpEstablished,
  kTcpHalfClosed,
  kTcpClosing,
  kUdp,
  kIcmpEcho,
  kOther,
};
std::string_view flow_state_name(FlowState s) noexcept;

enum class Verdict : std::uint8_t {
  kAllowedNew,        // first packet of a flow the policy grants; now tracked
  kAllowedTracked,    // belongs to a tracked flow (either direction)
  kAllowedRelated,    // an ICMP error about a tracked flow
  kAllowedUntracked,  // granted by policy without tracking (ICMP other than echo, fragments)
  kDeniedPolicy,      // no grant and no tracked flow
  kDeniedMalformed,   // not a complete IP packet, or a cut-short transport header
  kDeniedFragment,    // a non-first fragment whose protocol is not granted on every port
};
inline constexpr bool allowed(Verdict v) noexcept { return v <= Verdict::kAllowedUntracked; }
std::string_view verdict_name(Verdict v) noexcept;
// The audit sentence for a denied packet, as docs/policy.md documents it:
//   "no rule grants tcp/22 from web-1 to db-1"
//   "malformed packet (tcp/22) from web-1 to db-1"
//   "fragment of udp from web-1 to db-1: udp is not granted on every port"
std::string describe_denial(Verdict v, const PacketView& packet, std::string_view from,
                            std::string_view to);

// A compiled pair policy that many tables may hold at once (PairPolicyCache).
using SharedPairPolicy = std::shared_ptr<const PairPolicy>;

class ConnTrack {
 public:
  ConnTrack(SharedPairPolicy outbound, SharedPairPolicy inbound, ConnTrackLimits limits = {});
  ConnTrack(PairPolicy outbound, PairPolicy inbound, ConnTrackLimits limits = {});
  ~ConnTrack();  // ends the flows still tracked (FlowEnd::kPathClosed)
  ConnTrack(const ConnTrack&) = delete;
  ConnTrack& operator=(const ConnTrack&) = delete;

  // Flow records (policy/flow_log.h): from now on, every flow this table starts or forgets
  // is written to `log` (null: none; must outlive the table), naming `local` as the inside
  // party and `remote` as the other. Call again when an identity's certificate changes.
  void set_flow_log(FlowLog* log, AuditParty local, AuditParty remote);
  // Forgets every flow, writing each one's end record with `why` (the path is closing).
  void end_all(FlowEnd why) noexcept;

  // A packet from the inside (TUN) towards the remote identity.
  Verdict on_outbound(const PacketView& p, TimePoint now, WallTime wall) noexcept;
  // A packet from the remote identity (decrypted), towards the inside.
  Verdict on_inbound(const PacketView& p, TimePoint now, WallTime wall) noexcept;

  // Removes idle flows; returns how many. Lookups ignore expired flows anyway, so this only
  // returns memory and keeps size() honest; call it from a timer.
  std::size_t expire(TimePoint now) noexcept;
  // Removes flows that the current policies no longer grant at `wall` (call at
  // Policy::next_change boundaries). Returns how many.
  std::size_t drop_flows_not_allowed(WallTime wall) noexcept;
  // Reload: installs new policies and drops the flows they do not grant. Returns how many.
  std::size_t set_policy(SharedPairPolicy outbound, SharedPairPolicy inbound, WallTime wall);
  std::size_t set_policy(PairPolicy outbound, PairPolicy inbound, WallTime wall);

  const PairPolicy& outbound_policy() const noexcept { return *outbound_; }
  const PairPolicy& inbound_policy() const noexcept { return *inbound_; }
  std::size_t size() const noexcept { return count_; }
  std::uint64_t evictions() const noexcept { return evictions_; }
  // The state of the flow a packet with this tuple belongs to (either direction), if tracked
  // and not idle past its timeout.
  std::optional<FlowState> state_of(const FlowTuple& t, TimePoint now) const noexcept;

 private:
  static constexpr std::uint32_t kNil = 0xffffffff;
  struct Key {
    std::uint8_t a[16], b[16];  // canonical order: (a, a_port) <= (b, b_port)
    std::uint16_t a_port, b_port;
    std::uint8_t ip_proto, version;
    // Compared as bytes (there is no padding; make_key zeroes the unused address tail).
    bool operator==(const Key& o) const noexcept { return std::memcmp(this, &o, sizeof(Key)) == 0; }
  };
  struct Entry {
    Key key;
    FlowState state;
    bool initiator_is_a;   // which endpoint sent the first packet
    bool local_initiated;  // opened by on_outbound (checked against the outbound policy)
    std::uint8_t fin_from; // bit 0: FIN from a, bit 1: FIN from b
    bool rst_seen;
    TimePoint expires;
    std::uint32_t prev, next;  // LRU list when in use; `next` links the free list otherwise
    // Flow record counters, [0] from the initiator, [1] from the responder.
    std::uint64_t packets[2], bytes[2];
    TimePoint first_seen, last_seen;
    WallTime start;
    std::uint64_t id;     // FlowLog::next_id(); 0 without a flow log
    std::uint32_t rule;   // index into rule_names_
  };

  Verdict on_packet(const PacketView& p, bool outbound, TimePoint now, WallTime wall) noexcept;
  Verdict new_flow(const PacketView& p, const Key& key, bool swapped, bool outbound,
                   TimePoint now, WallTime wall) noexcept;
  void update(Entry& e, const PacketView& p, bool from_a, TimePoint now) noexcept;
  static Key make_key(const FlowTuple& t, bool& swapped) noexcept;
  std::uint64_t hash(const Key& k) const noexcept;
  std::uint32_t find(const Key& k) const noexcept;  // entry index or kNil
  std::uint32_t insert(const Key& k) noexcept;      // a fresh entry, linked; kNil if no memory
  void remove(std::uint32_t e) noexcept;
  void finish(std::uint32_t e, FlowEnd why) noexcept;  // end record (if logging), then remove
  FlowEnd end_of(const Entry& e) const noexcept;        // why an expired flow ended
  FlowRecord record_of(const Entry& e) const noexcept;
  std::uint32_t rule_index(std::string_view name) noexcept;
  void unlink(std::uint32_t e) noexcept;
  void link_newest(std::uint32_t e) noexcept;
  bool grow_index() noexcept;
  std::chrono::seconds timeout(FlowState s) const noexcept;
  bool still_allowed(const Entry& e, WallTime wall) const noexcept;
  void release_storage() noexcept;  // when the last flow went: the tables' memory back

  // A node holds one table per path (100,000 of them), so what paths share is held by
  // pointer: the compiled policies, and the flow log's parties only when there is a flow log.
  struct Parties {
    AuditParty local, remote;
  };
  SharedPairPolicy outbound_, inbound_;  // never null
  std::unique_ptr<const ConnTrackLimits> own_limits_;  // only when not the defaults
  const ConnTrackLimits* limits_;                      // the defaults or *own_limits_
  std::vector<Entry> entries_;       // pool; grows up to max_flows
  std::vector<std::uint32_t> index_; // open addressing (linear probing) into entries_
  std::uint32_t free_ = kNil;        // free list through Entry::next
  std::uint32_t oldest_ = kNil, newest_ = kNil;
  std::size_t count_ = 0;
  std::uint64_t evictions_ = 0;
  FlowLog* flow_log_ = nullptr;
  std::unique_ptr<const Parties> parties_;  // with flow_log_
  std::vector<std::string> rule_names_;  // granting rules seen, so entries keep an index
};

}  // namespace keymesh::policy
