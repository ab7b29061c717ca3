#include "policy/conntrack.h"

#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

namespace keymesh::policy {

std::string_view flow_state_name(FlowState s) noexcept {
  switch (s) {
    case FlowState::kTcpSynSent:
      return "tcp_syn_sent";
    case FlowState::kTcpEstablished:
      return "tcp_established";
    case FlowState::kTcpHalfClosed:
      return "tcp_half_closed";
    case FlowState::kTcpClosing:
      return "tcp_closing";
    case FlowState::kUdp:
      return "udp";
    case FlowState::kIcmpEcho:
      return "icmp_echo";
    case FlowState::kOther:
      break;
  }
  return "other";
}

std::string_view verdict_name(Verdict v) noexcept {
  switch (v) {
    case Verdict::kAllowedNew:
      return "allowed_new";
    case Verdict::kAllowedTracked:
      return "allowed_tracked";
    case Verdict::kAllowedRelated:
      return "allowed_related";
    case Verdict::kAllowedUntracked:
      return "allowed_untracked";
    case Verdict::kDeniedPolicy:
      return "denied_policy";
    case Verdict::kDeniedMalformed:
      return "denied_malformed";
    case Verdict::kDeniedFragment:
      break;
  }
  return "denied_fragment";
}

std::string describe_denial(Verdict v, const PacketView& packet, std::string_view from,
                            std::string_view to) {
  const std::string service = describe_service(packet.proto, packet.policy_port());
  const std::string parties = std::string(" from ") + std::string(from) + " to " + std::string(to);
  switch (v) {
    case Verdict::kDeniedMalformed:
      return "malformed packet (" + service + ")" + parties;
    case Verdict::kDeniedFragment: {
      const std::string proto(proto_name(packet.proto));
      return "fragment of " + proto + parties + ": " + proto + " is not granted on every port";
    }
    default:
      return "no rule grants " + service + parties;
  }
}

namespace {
const ConnTrackLimits kDefaultLimits{};  // what almost every table uses: held once
}  // namespace

ConnTrack::ConnTrack(SharedPairPolicy outbound, SharedPairPolicy inbound, ConnTrackLimits limits)
    : outbound_(std::move(outbound)),
      inbound_(std::move(inbound)),
      own_limits_(limits == ConnTrackLimits{} ? nullptr
                                              : std::make_unique<const ConnTrackLimits>(limits)),
      limits_(own_limits_ ? own_limits_.get() : &kDefaultLimits) {
  if (!outbound_ || !inbound_) throw std::invalid_argument("ConnTrack: null pair policy");
}

ConnTrack::ConnTrack(PairPolicy outbound, PairPolicy inbound, ConnTrackLimits limits)
    : ConnTrack(std::make_shared<const PairPolicy>(std::move(outbound)),
                std::make_shared<const PairPolicy>(std::move(inbound)), limits) {}

ConnTrack::~ConnTrack() { end_all(FlowEnd::kPathClosed); }

// ---- Flow records ----

void ConnTrack::set_flow_log(FlowLog* log, AuditParty local, AuditParty remote) {
  parties_ = log ? std::make_unique<const Parties>(std::move(local), std::move(remote)) : nullptr;
  flow_log_ = log;
}

std::uint32_t ConnTrack::rule_index(std::string_view name) noexcept {
  // New flows may allocate (docs/style.md habit 6 holds for packets of tracked flows); the
  // table of names stays as small as the number of rules that granted this path's flows.
  for (std::uint32_t i = 0; i < rule_names_.size(); ++i)
    if (rule_names_[i] == name) return i;
  try {
    rule_names_.emplace_back(name);
  } catch (...) {
    return kNil;
  }
  return std::uint32_t(rule_names_.size() - 1);
}

FlowRecord ConnTrack::record_of(const Entry& e) const noexcept {
  FlowRecord r;
  r.id = e.id;
  r.ip_version = e.key.version;
  r.ip_proto = e.key.ip_proto;
  const std::size_t n = e.key.version == 6 ? 16 : 4;
  std::memcpy(r.source_ip.data(), e.initiator_is_a ? e.key.a : e.key.b, n);
  std::memcpy(r.destination_ip.data(), e.initiator_is_a ? e.key.b : e.key.a, n);
  r.source_port = e.initiator_is_a ? e.key.a_port : e.key.b_port;
  r.destination_port = e.initiator_is_a ? e.key.b_port : e.key.a_port;
  static const Parties kNobody;
  const Parties& p = parties_ ? *parties_ : kNobody;
  r.source = e.local_initiated ? &p.local : &p.remote;
  r.destination = e.local_initiated ? &p.remote : &p.local;
  if (e.rule < rule_names_.size()) r.rule = rule_names_[e.rule];
  r.start = e.start;
  r.duration = e.last_seen - e.first_seen;
  r.source_packets = e.packets[0];
  r.source_bytes = e.bytes[0];
  r.destination_packets = e.packets[1];
  r.destination_bytes = e.bytes[1];
  return r;
}

FlowEnd ConnTrack::end_of(const Entry& e) const noexcept {
  if (e.state == FlowState::kTcpClosing) return e.rst_seen ? FlowEnd::kRst : FlowEnd::kFin;
  if (e.state == FlowState::kTcpHalfClosed) return FlowEnd::kFin;
  return FlowEnd::kTimeout;
}

void ConnTrack::finish(std::uint32_t e, FlowEnd why) noexcept {
  if (flow_log_ != nullptr) {
    const Entry& x = entries_[e];
    // Stamped with the flow's last packet: the table has no wall clock of its own.
    flow_log_->ended(record_of(x), why,
                     x.start + std::chrono::duration_cast<WallTime::duration>(x.last_seen -
                                                                              x.first_seen));
  }
  remove(e);
}

void ConnTrack::end_all(FlowEnd why) noexcept {
  while (oldest_ != kNil) finish(oldest_, why);
}

// ---- Table ----

ConnTrack::Key ConnTrack::make_key(const FlowTuple& t, bool& swapped) noexcept {
  Key k;
  std::memset(&k, 0, sizeof k);  // padding-free, but the unused address tail must be zero
  const std::size_t n = t.version == 6 ? 16 : 4;
  const int order = std::memcmp(t.src, t.dst, n);
  swapped = order > 0 || (order == 0 && t.src_port > t.dst_port);
  std::memcpy(k.a, swapped ? t.dst : t.src, n);
  std::memcpy(k.b, swapped ? t.src : t.dst, n);
  k.a_port = swapped ? t.dst_port : t.src_port;
  k.b_port = swapped ? t.src_port : t.dst_port;
  k.ip_proto = t.ip_proto;
  k.version = t.version;
  return k;
}

std::uint64_t ConnTrack::hash(const Key& k) const noexcept {
  static_assert(sizeof(Key) == 38, "Key must have no padding: it is hashed and compared as bytes");
  const auto* p = reinterpret_cast<const unsigned char*>(&k);
  std::uint64_t h = limits_->hash_seed;
  for (std::size_t i = 0; i + 8 <= sizeof(Key); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = (h ^ w) * 0x9e3779b97f4a7c15ull;
    h ^= h >> 29;
  }
  std::uint64_t tail = 0;
  std::memcpy(&tail, p + 32, sizeof(Key) - 32);
  h = (h ^ tail) * 0xbf58476d1ce4e5b9ull;
  return h ^ (h >> 31);
}

std::uint32_t ConnTrack::find(const Key& k) const noexcept {
  if (index_.empty()) return kNil;
  const std::size_t mask = index_.size() - 1;
  for (std::size_t i = hash(k) & mask;; i = (i + 1) & mask) {
    const std::uint32_t e = index_[i];
    if (e == kNil) return kNil;
    if (entries_[e].key == k) return e;
  }
}

bool ConnTrack::grow_index() noexcept {
  const std::size_t size = index_.empty() ? 16 : index_.size() * 2;
  std::vector<std::uint32_t> bigger;
  try {
    bigger.assign(size, kNil);
  } catch (const std::bad_alloc&) {
    return false;
  }
  const std::size_t mask = size - 1;
  for (std::uint32_t e = oldest_; e != kNil; e = entries_[e].next) {
    std::size_t i = hash(entries_[e].key) & mask;
    while (bigger[i] != kNil) i = (i + 1) & mask;
    bigger[i] = e;
  }
  index_.swap(bigger);
  return true;
}

void ConnTrack::unlink(std::uint32_t e) noexcept {
  Entry& x = entries_[e];
  (x.prev == kNil ? oldest_ : entries_[x.prev].next) = x.next;
  (x.next == kNil ? newest_ : entries_[x.next].prev) = x.prev;
}

void ConnTrack::link_newest(std::uint32_t e) noexcept {
  Entry& x = entries_[e];
  x.prev = newest_;
  x.next = kNil;
  (newest_ == kNil ? oldest_ : entries_[newest_].next) = e;
  newest_ = e;
}

std::uint32_t ConnTrack::insert(const Key& k) noexcept {
  if (limits_->max_flows == 0) return kNil;
  auto evict = [&] {
    finish(oldest_, FlowEnd::kEvicted);
    ++evictions_;
  };
  if (count_ >= limits_->max_flows) evict();
  if ((count_ + 1) * 2 > index_.size() && !grow_index()) {
    if (count_ == 0) return kNil;
    evict();  // the index held count_ flows at half load, so it holds one fewer plus this
  }
  std::uint32_t e = free_;
  if (e != kNil) {
    free_ = entries_[e].next;
  } else {
    bool grown = true;
    try {
      entries_.emplace_back();
    } catch (const std::bad_alloc&) {
      grown = false;
    }
    if (grown) {
      e = std::uint32_t(entries_.size() - 1);
    } else {
      if (count_ == 0) return kNil;
      evict();
      e = free_;
      free_ = entries_[e].next;
    }
  }
  entries_[e].key = k;
  const std::size_t mask = index_.size() - 1;
  std::size_t i = hash(k) & mask;
  while (index_[i] != kNil) i = (i + 1) & mask;
  index_[i] = e;
  link_newest(e);
  ++count_;
  return e;
}

void ConnTrack::remove(std::uint32_t e) noexcept {
  const std::size_t mask = index_.size() - 1;
  std::size_t i = hash(entries_[e].key) & mask;
  while (index_[i] != e) i = (i + 1) & mask;
  // Backward-shift deletion keeps every probe chain unbroken without tombstones.
  for (std::size_t j = (i + 1) & mask; index_[j] != kNil; j = (j + 1) & mask) {
    const std::size_t home = hash(entries_[index_[j]].key) & mask;
    // The entry at j may move to i only if its home slot is not in the cyclic range (i, j].
    const bool stays = i < j ? (home > i && home <= j) : (home > i || home <= j);
    if (stays) continue;
    index_[i] = index_[j];
    i = j;
  }
  index_[i] = kNil;
  unlink(e);
  entries_[e].next = free_;
  free_ = e;
  --count_;
}

// ---- States ----

std::chrono::seconds ConnTrack::timeout(FlowState s) const noexcept {
  const ConnTrackTimeouts& t = limits_->timeouts;
  switch (s) {
    case FlowState::kTcpSynSent:
      return t.tcp_handshake;
    case FlowState::kTcpEstablished:
      return t.tcp_established;
    case FlowState::kTcpHalfClosed:
      return t.tcp_half_closed;
    case FlowState::kTcpClosing:
      return t.tcp_closing;
    case FlowState::kUdp:
      return t.udp;
    case FlowState::kIcmpEcho:
      return t.icmp;
    case FlowState::kOther:
      break;
  }
  return t.other;
}

void ConnTrack::update(Entry& e, const PacketView& p, bool from_a, TimePoint now) noexcept {
  if (p.proto == Proto::kTcp) {
    const std::uint8_t f = p.tcp_flags;
    const bool from_initiator = from_a == e.initiator_is_a;
    if (f & tcpflag::kRst) {
      e.state = FlowState::kTcpClosing;
      e.rst_seen = true;
    } else {
      if (e.state == FlowState::kTcpSynSent && !from_initiator && (f & tcpflag::kSyn) &&
          (f & tcpflag::kAck))
        e.state = FlowState::kTcpEstablished;
      if (f & tcpflag::kFin) {
        e.fin_from |= from_a ? 1 : 2;
        e.state = e.fin_from == 3 ? FlowState::kTcpClosing : FlowState::kTcpHalfClosed;
      }
    }
  }
  e.expires = now + timeout(e.state);
  const int from = from_a == e.initiator_is_a ? 0 : 1;
  ++e.packets[from];
  e.bytes[from] += p.size;
  e.last_seen = now;
}

bool ConnTrack::still_allowed(const Entry& e, WallTime wall) const noexcept {
  const PairPolicy& policy = e.local_initiated ? *outbound_ : *inbound_;
  const Proto proto = packet_detail::proto_of(e.key.ip_proto);
  const std::uint16_t responder_port = e.initiator_is_a ? e.key.b_port : e.key.a_port;
  const bool ported = proto == Proto::kTcp || proto == Proto::kUdp;
  return policy.allows(proto, ported ? responder_port : 0, wall);
}

// ---- Packets ----

Verdict ConnTrack::on_outbound(const PacketView& p, TimePoint now, WallTime wall) noexcept {
  return on_packet(p, true, now, wall);
}

Verdict ConnTrack::on_inbound(const PacketView& p, TimePoint now, WallTime wall) noexcept {
  return on_packet(p, false, now, wall);
}

Verdict ConnTrack::on_packet(const PacketView& p, bool outbound, TimePoint now,
                             WallTime wall) noexcept {
  if (!p.valid || p.truncated) return Verdict::kDeniedMalformed;
  const PairPolicy& policy = outbound ? *outbound_ : *inbound_;
  // Without a transport header there are no ports to check: such a fragment passes only
  // where every port of its protocol is granted.
  if (p.fragment)
    return policy.allows_all_ports(p.proto, wall) ? Verdict::kAllowedUntracked
                                                  : Verdict::kDeniedFragment;
  if (p.icmp == IcmpKind::kError) {
    // An error passes only about a flow tracked on this path, whatever `icmp` grants: an
    // unrelated "unreachable" or "packet too big" is a way to reset or shrink flows of others.
    if (!p.inner_valid) return Verdict::kDeniedPolicy;
    bool swapped = false;
    const std::uint32_t e = find(make_key(p.inner, swapped));
    return e != kNil && entries_[e].expires > now ? Verdict::kAllowedRelated
                                                  : Verdict::kDeniedPolicy;
  }
  if (p.icmp == IcmpKind::kOther)
    return policy.allows(Proto::kIcmp, 0, wall) ? Verdict::kAllowedUntracked
                                                : Verdict::kDeniedPolicy;

  bool swapped = false;
  const Key key = make_key(p.tuple, swapped);
  std::uint32_t e = find(key);
  if (e != kNil) {
    Entry& x = entries_[e];
    const bool fresh_syn = p.proto == Proto::kTcp && (p.tcp_flags & tcpflag::kSyn) &&
                           !(p.tcp_flags & tcpflag::kAck);
    // An idle flow is gone; a new SYN on a closing flow is a new connection on the same
    // ports and must be granted afresh.
    if (x.expires <= now || (fresh_syn && x.state == FlowState::kTcpClosing)) {
      finish(e, end_of(x));
      e = kNil;
    }
  }
  if (e == kNil) return new_flow(p, key, swapped, outbound, now, wall);
  update(entries_[e], p, !swapped, now);
  if (e != newest_) {
    unlink(e);
    link_newest(e);
  }
  return Verdict::kAllowedTracked;
}

Verdict ConnTrack::new_flow(const PacketView& p, const Key& key, bool swapped, bool outbound,
                            TimePoint now, WallTime wall) noexcept {
  const PairPolicy& policy = outbound ? *outbound_ : *inbound_;
  if (!policy.allows(p.proto, p.policy_port(), wall)) return Verdict::kDeniedPolicy;
  FlowState state = FlowState::kOther;
  std::uint8_t fin = 0;
  switch (p.proto) {
    case Proto::kTcp:
      if (p.tcp_flags & tcpflag::kRst) return Verdict::kAllowedUntracked;
      if ((p.tcp_flags & tcpflag::kSyn) && !(p.tcp_flags & tcpflag::kAck)) {
        state = FlowState::kTcpSynSent;
      } else if (p.tcp_flags & tcpflag::kFin) {
        state = FlowState::kTcpHalfClosed;
        fin = swapped ? 2 : 1;
      } else {
        state = FlowState::kTcpEstablished;  // picked up mid-stream (after a reload or expiry)
      }
      break;
    case Proto::kUdp:
      state = FlowState::kUdp;
      break;
    case Proto::kIcmp:
      // Only an echo request opens a flow; a granted stray reply passes untracked.
      if (p.icmp != IcmpKind::kEchoRequest) return Verdict::kAllowedUntracked;
      state = FlowState::kIcmpEcho;
      break;
    case Proto::kOther:
      break;
  }
  const std::uint32_t e = insert(key);
  if (e == kNil) return Verdict::kAllowedUntracked;  // out of memory: granted, not tracked
  Entry& x = entries_[e];
  x.state = state;
  x.initiator_is_a = !swapped;
  x.local_initiated = outbound;
  x.fin_from = fin;
  x.rst_seen = false;
  x.expires = now + timeout(state);
  x.packets[0] = 1;
  x.bytes[0] = p.size;
  x.packets[1] = x.bytes[1] = 0;
  x.first_seen = x.last_seen = now;
  x.start = wall;
  x.id = 0;
  x.rule = kNil;
  if (flow_log_ != nullptr) {
    x.id = flow_log_->next_id();
    x.rule = rule_index(policy.granting_rule(p.proto, p.policy_port(), wall));
    flow_log_->started(record_of(x), wall);
  }
  return Verdict::kAllowedNew;
}

// ---- Housekeeping ----

std::size_t ConnTrack::expire(TimePoint now) noexcept {
  std::size_t removed = 0;
  for (std::uint32_t e = oldest_; e != kNil;) {
    const std::uint32_t next = entries_[e].next;
    if (entries_[e].expires <= now) {
      finish(e, end_of(entries_[e]));
      ++removed;
    }
    e = next;
  }
  if (removed != 0 && count_ == 0) release_storage();
  return removed;
}

void ConnTrack::release_storage() noexcept {
  // An idle path keeps no flow tables: a node may hold 100,000 paths that carry nothing.
  std::vector<Entry>().swap(entries_);
  std::vector<std::uint32_t>().swap(index_);
  std::vector<std::string>().swap(rule_names_);
  free_ = oldest_ = newest_ = kNil;
}

std::size_t ConnTrack::drop_flows_not_allowed(WallTime wall) noexcept {
  std::size_t removed = 0;
  for (std::uint32_t e = oldest_; e != kNil;) {
    const std::uint32_t next = entries_[e].next;
    if (!still_allowed(entries_[e], wall)) {
      finish(e, FlowEnd::kPolicy);
      ++removed;
    }
    e = next;
  }
  return removed;
}

std::size_t ConnTrack::set_policy(SharedPairPolicy outbound, SharedPairPolicy inbound,
                                  WallTime wall) {
  if (!outbound || !inbound) throw std::invalid_argument("ConnTrack: null pair policy");
  outbound_ = std::move(outbound);
  inbound_ = std::move(inbound);
  return drop_flows_not_allowed(wall);
}

std::size_t ConnTrack::set_policy(PairPolicy outbound, PairPolicy inbound, WallTime wall) {
  return set_policy(std::make_shared<const PairPolicy>(std::move(outbound)),
                    std::make_shared<const PairPolicy>(std::move(inbound)), wall);
}

std::optional<FlowState> ConnTrack::state_of(const FlowTuple& t, TimePoint now) const noexcept {
  bool swapped = false;
  const std::uint32_t e = find(make_key(t, swapped));
  if (e == kNil || entries_[e].expires <= now) return std::nullopt;
  return entries_[e].state;
}

}  // namespace keymesh::policy
