// The compiled policy: answers "may A talk to B at all" (the path gate), "may this packet
// pass" (per packet, through a PairPolicy compiled once per path), and "when must decisions be
// re-evaluated" (schedule and validity boundaries).
//
// Default deny: rules only allow, and a flow is allowed if any rule in force grants it. When
// several rules grant, the first in file order is the one named. With Kubernetes
// NetworkPolicies attached (with_network_policies), a flow must also be allowed by them
// (policy/network_policy.h): keymesh's rules are the ceiling, NetworkPolicy narrows within it.
//
// Threading: a Policy and a PairPolicy are immutable after construction; their const methods
// may be called from any number of threads. A PairPolicy keeps the rules it needs alive
// (shared ownership), so it stays valid after the Policy it came from is replaced.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "policy/network_policy.h"
#include "policy/rule.h"

namespace keymesh::policy {

struct Decision {
  bool allow = false;
  std::string rule;    // the deciding rule ("" when denied)
  std::string reason;  // "rule web-to-db grants tcp/5432 from web-1 to db-1" / "no rule grants ..."
};

// What one ordered pair (from -> to) may send, at any time. Built by Policy::compile_pair.
class PairPolicy {
 public:
  PairPolicy() = default;  // grants nothing

  // Per packet. Constant time for rules without a time window (tcp/udp: a scan of at most
  // a few merged port ranges, else a binary search); each matching windowed rule adds one
  // local-time conversion (a binary search in the zone's transitions). noexcept, no allocation.
  bool allows(Proto proto, std::uint16_t port, WallTime now) const noexcept;
  // Whether every port of `proto` is granted (for packets without a transport header, such
  // as non-first IP fragments).
  bool allows_all_ports(Proto proto, WallTime now) const noexcept;
  // Whether anything at all is granted at `now`.
  bool grants_anything(WallTime now) const noexcept;
  // Whether no rule selects this pair (nothing is ever granted).
  bool empty() const noexcept { return matched_.empty(); }
  // The first rule (file order) that grants the service at `now`, or "".
  std::string_view granting_rule(Proto proto, std::uint16_t port, WallTime now) const noexcept;
  // The rules that select this pair, in file order (names).
  std::vector<std::string> rule_names() const;
  // The next instant after `now` at which one of this pair's rules changes state.
  std::optional<WallTime> next_change(WallTime now) const;

  // Equal: compiled from the same Policy's rules, granting the same (PairPolicyCache).
  friend bool operator==(const PairPolicy&, const PairPolicy&) = default;
  // A hash over what decides equality, for PairPolicyCache.
  std::size_t digest() const noexcept;

 private:
  friend class Policy;
  struct PortRange {
    std::uint16_t lo, hi;
    friend bool operator==(const PortRange&, const PortRange&) = default;
  };
  struct Windowed {
    std::uint32_t rule;  // index into *rules_
    std::uint8_t protos_all;
    std::vector<PortRange> ports[2];  // tcp, udp
    friend bool operator==(const Windowed&, const Windowed&) = default;
  };
  static bool in_ranges(const std::vector<PortRange>& r, std::uint16_t port) noexcept;
  const Rule& rule(std::uint32_t i) const noexcept { return (*rules_)[i]; }
  bool rules_allow(Proto proto, std::uint16_t port, WallTime now) const noexcept;
  bool rules_allow_all_ports(Proto proto, WallTime now) const noexcept;

  std::uint8_t protos_all_ = 0;        // bit per Proto: every port granted, no window
  std::vector<PortRange> ports_[2];    // tcp, udp: sorted, disjoint, no window
  std::vector<Windowed> windowed_;     // rules with a schedule or validity period
  std::vector<std::uint32_t> matched_; // every selecting rule, ascending
  std::shared_ptr<const std::vector<Rule>> rules_;
  std::optional<PortFilter> network_;  // what NetworkPolicy lets through; none: no restriction
};

class Policy {
 public:
  Policy();  // no rules: denies everything
  explicit Policy(std::vector<Rule> rules);

  const std::vector<Rule>& rules() const noexcept { return *rules_; }
  // The same rules, with NetworkPolicies to intersect with (nullptr: none).
  Policy with_network_policies(std::shared_ptr<const NetworkPolicies> network) const;
  const NetworkPolicies* network_policies() const noexcept { return network_.get(); }

  // The path gate: whether any rule in force at `now` grants any traffic a -> b or b -> a.
  bool path_granted(const Subject& a, const Subject& b, WallTime now) const;
  // Full decision for one service, naming the deciding rule (control path, `policy check`).
  Decision check(const Subject& from, const Subject& to, Proto proto, std::uint16_t port,
                 WallTime now) const;
  // Why the path gate refuses a <-> b: "no rule grants any traffic between a and b", plus the
  // context or issuer condition a rule that would otherwise select them requires.
  std::string refusal_reason(const Subject& a, const Subject& b) const;
  // The next instant after `now` at which any rule's schedule or validity flips.
  std::optional<WallTime> next_change(WallTime now) const;
  // Compiles what `from` may send to `to`; call once per path and direction.
  PairPolicy compile_pair(const Subject& from, const Subject& to) const;
  // Indices of the rules whose selectors match from -> to, ascending, ignoring time.
  std::vector<std::uint32_t> matching_rules(const Subject& from, const Subject& to) const;

 private:
  // Each rule's selector is filed under one key (an exact name, its first group, its first
  // label, or "rest"); a subject's candidates are the buckets of its own name, groups and
  // labels plus "rest". Candidates are then checked with Selector::matches.
  struct Index {
    std::unordered_map<std::string, std::vector<std::uint32_t>> by_name, by_group, by_label;
    std::vector<std::uint32_t> rest;
    void add(const Selector& s, std::uint32_t rule);
    template <class Fn>
    void for_each_bucket(const Subject& s, Fn&& fn) const;
  };

  // " (rule R requires from_context site=onprem (web-2 has site=cloud))" or "".
  std::string origin_hint(const Subject& from, const Subject& to,
                          const std::function<bool(const Rule&)>& grants) const;

  bool rules_grant_path(const Subject& from, const Subject& to, WallTime now) const;

  std::shared_ptr<const std::vector<Rule>> rules_;
  Index from_index_, to_index_;
  std::shared_ptr<const NetworkPolicies> network_;
};

}  // namespace keymesh::policy
