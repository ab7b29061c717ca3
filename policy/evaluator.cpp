#include "policy/evaluator.h"

#include <algorithm>

namespace keymesh::policy {

namespace {

constexpr std::uint8_t bit(Proto p) { return std::uint8_t(1u << unsigned(p)); }

bool has_glob(std::string_view s) { return s.find_first_of("*?") != std::string_view::npos; }

std::string label_key(std::string_view k, std::string_view v) {
  std::string out;
  out.reserve(k.size() + v.size() + 1);
  out.append(k).append(1, '\0').append(v);  // NUL cannot appear in YAML keys we accept
  return out;
}

}  // namespace

// ---- PairPolicy ----

bool PairPolicy::in_ranges(const std::vector<PortRange>& r, std::uint16_t port) noexcept {
  if (r.size() <= 4) {
    for (const PortRange& p : r)
      if (port >= p.lo && port <= p.hi) return true;
    return false;
  }
  // First range starting after `port`; the one before it is the only candidate.
  auto it = std::upper_bound(r.begin(), r.end(), port,
                             [](std::uint16_t v, const PortRange& p) { return v < p.lo; });
  return it != r.begin() && port <= std::prev(it)->hi;
}

std::size_t PairPolicy::digest() const noexcept {
  // FNV-1a over the selecting rules and the shape of the grants; operator== decides.
  std::uint64_t h = 14695981039346656037ull;
  auto mix = [&h](std::uint64_t v) {
    for (int i = 0; i < 8; ++i, v >>= 8) h = (h ^ (v & 0xff)) * 1099511628211ull;
  };
  for (std::uint32_t r : matched_) mix(r);
  mix(protos_all_);
  mix(ports_[0].size() << 16 | ports_[1].size());
  mix(network_ ? 1u + network_->protos_all : 0u);
  return std::size_t(h);
}

bool PairPolicy::allows(Proto proto, std::uint16_t port, WallTime now) const noexcept {
  return rules_allow(proto, port, now) && (!network_ || network_->allows(proto, port));
}

bool PairPolicy::allows_all_ports(Proto proto, WallTime now) const noexcept {
  return rules_allow_all_ports(proto, now) && (!network_ || network_->allows_all_ports(proto));
}

bool PairPolicy::rules_allow(Proto proto, std::uint16_t port, WallTime now) const noexcept {
  if (protos_all_ & bit(proto)) return true;
  const bool ported = proto == Proto::kTcp || proto == Proto::kUdp;
  if (ported && in_ranges(ports_[unsigned(proto)], port)) return true;
  for (const Windowed& w : windowed_) {
    const bool grants = (w.protos_all & bit(proto)) ||
                        (ported && in_ranges(w.ports[unsigned(proto)], port));
    if (grants && rule(w.rule).active(now)) return true;
  }
  return false;
}

bool PairPolicy::rules_allow_all_ports(Proto proto, WallTime now) const noexcept {
  if (protos_all_ & bit(proto)) return true;
  for (const Windowed& w : windowed_)
    if ((w.protos_all & bit(proto)) && rule(w.rule).active(now)) return true;
  return false;
}

bool PairPolicy::grants_anything(WallTime now) const noexcept {
  if (network_ && network_->empty()) return false;
  if (protos_all_ || !ports_[0].empty() || !ports_[1].empty()) return true;
  for (const Windowed& w : windowed_)
    if (rule(w.rule).active(now)) return true;
  return false;
}

std::string_view PairPolicy::granting_rule(Proto proto, std::uint16_t port,
                                           WallTime now) const noexcept {
  if (network_ && !network_->allows(proto, port)) return {};
  for (std::uint32_t i : matched_) {
    const Rule& r = rule(i);
    if (r.grants(proto, port) && r.active(now)) return r.name;
  }
  return {};
}

std::vector<std::string> PairPolicy::rule_names() const {
  std::vector<std::string> names;
  for (std::uint32_t i : matched_) names.push_back(rule(i).name);
  return names;
}

std::optional<WallTime> PairPolicy::next_change(WallTime now) const {
  std::optional<WallTime> best;
  for (const Windowed& w : windowed_) {
    const auto t = rule(w.rule).next_change(now);
    if (t && (!best || *t < *best)) best = t;
  }
  return best;
}

namespace {

// Merges a rule's services into per-protocol "all ports" bits and tcp/udp port ranges.
template <class Ranges>
void add_services(const Rule& r, std::uint8_t& protos_all, Ranges& ports) {
  for (const Service& s : r.allow) {
    for (Proto p : {Proto::kTcp, Proto::kUdp}) {
      if (!(s.protos & bit(p))) continue;
      if (s.lo == 0 && s.hi == 65535)
        protos_all |= bit(p);
      else
        ports[unsigned(p)].push_back({s.lo, s.hi});
    }
    protos_all |= s.protos & (bit(Proto::kIcmp) | bit(Proto::kOther));
  }
}

// Sorts and merges overlapping or adjacent ranges; drops them when every port is granted.
template <class Range>
void normalize(std::vector<Range>& r, bool all) {
  if (all) {
    r.clear();
    r.shrink_to_fit();
    return;
  }
  std::sort(r.begin(), r.end(), [](const Range& a, const Range& b) { return a.lo < b.lo; });
  std::vector<Range> out;
  for (const Range& x : r) {
    if (!out.empty() && std::uint32_t(x.lo) <= std::uint32_t(out.back().hi) + 1)
      out.back().hi = std::max(out.back().hi, x.hi);
    else
      out.push_back(x);
  }
  r = std::move(out);
}

}  // namespace

// ---- Policy ----

void Policy::Index::add(const Selector& s, std::uint32_t rule) {
  if (s.name && !has_glob(*s.name))
    by_name[*s.name].push_back(rule);
  else if (!s.groups.empty())
    by_group[s.groups.front()].push_back(rule);
  else if (!s.labels.empty())
    by_label[label_key(s.labels.begin()->first, s.labels.begin()->second)].push_back(rule);
  else
    rest.push_back(rule);
}

template <class Fn>
void Policy::Index::for_each_bucket(const Subject& s, Fn&& fn) const {
  if (auto it = by_name.find(s.name); it != by_name.end()) fn(it->second);
  if (!by_group.empty()) {
    for (std::size_t i = 0; i < s.groups.size(); ++i) {
      const std::string& g = s.groups[i];
      // A group listed twice would visit its bucket twice.
      if (std::find(s.groups.begin(), s.groups.begin() + std::ptrdiff_t(i), g) !=
          s.groups.begin() + std::ptrdiff_t(i))
        continue;
      if (auto it = by_group.find(g); it != by_group.end()) fn(it->second);
    }
  }
  if (!by_label.empty()) {
    for (const auto& [k, v] : s.labels)
      if (auto it = by_label.find(label_key(k, v)); it != by_label.end()) fn(it->second);
  }
  fn(rest);
}

Policy::Policy() : rules_(std::make_shared<const std::vector<Rule>>()) {}

Policy::Policy(std::vector<Rule> rules)
    : rules_(std::make_shared<const std::vector<Rule>>(std::move(rules))) {
  for (std::uint32_t i = 0; i < rules_->size(); ++i) {
    from_index_.add((*rules_)[i].from, i);
    to_index_.add((*rules_)[i].to, i);
  }
}

std::vector<std::uint32_t> Policy::matching_rules(const Subject& from, const Subject& to) const {
  // Walk whichever side has fewer candidates, and check both selectors on each.
  std::size_t n_from = 0, n_to = 0;
  from_index_.for_each_bucket(from, [&](const auto& b) { n_from += b.size(); });
  to_index_.for_each_bucket(to, [&](const auto& b) { n_to += b.size(); });
  std::vector<std::uint32_t> out;
  auto visit = [&](const std::vector<std::uint32_t>& bucket) {
    for (std::uint32_t i : bucket) {
      const Rule& r = (*rules_)[i];
      if (r.from.matches(from) && r.to.matches(to)) out.push_back(i);
    }
  };
  if (n_from <= n_to)
    from_index_.for_each_bucket(from, visit);
  else
    to_index_.for_each_bucket(to, visit);
  std::sort(out.begin(), out.end());
  return out;
}

Policy Policy::with_network_policies(std::shared_ptr<const NetworkPolicies> network) const {
  Policy p = *this;
  p.network_ = std::move(network);
  return p;
}

bool Policy::rules_grant_path(const Subject& from, const Subject& to, WallTime now) const {
  for (std::uint32_t i : matching_rules(from, to))
    if ((*rules_)[i].active(now)) return true;
  return false;
}

bool Policy::path_granted(const Subject& a, const Subject& b, WallTime now) const {
  for (const auto& [x, y] : {std::pair{&a, &b}, std::pair{&b, &a}}) {
    if (!rules_grant_path(*x, *y, now)) continue;
    if (!network_) return true;
    const auto f = network_->filter(*x, *y);
    if (!f || !f->empty()) return true;
  }
  return false;
}

Decision Policy::check(const Subject& from, const Subject& to, Proto proto, std::uint16_t port,
                       WallTime now) const {
  const std::string what =
      describe_service(proto, port) + " from " + from.name + " to " + to.name;
  const Rule* idle = nullptr;  // the first rule that would grant, were it in force
  for (std::uint32_t i : matching_rules(from, to)) {
    const Rule& r = (*rules_)[i];
    if (!r.grants(proto, port)) continue;
    if (!r.active(now)) {
      if (!idle) idle = &r;
      continue;
    }
    std::string reason = "rule " + r.name + " grants " + what;
    if (!network_) return {true, r.name, std::move(reason)};
    const std::string np = network_->explain(from, to, proto, port);
    const auto f = network_->filter(from, to);
    if (f && !f->allows(proto, port)) return {false, "", std::move(reason) + ", but " + np};
    return {true, r.name, np.empty() ? std::move(reason) : std::move(reason) + "; " + np};
  }
  std::string reason = "no rule grants " + what;
  if (idle)
    reason += " now (rule " + idle->name + " is " + std::string(idle->inactive_reason(now)) + ")";
  else
    reason += origin_hint(from, to, [&](const Rule& r) { return r.grants(proto, port); });
  return {false, "", std::move(reason)};
}

std::string Policy::refusal_reason(const Subject& a, const Subject& b) const {
  if (network_ && (!matching_rules(a, b).empty() || !matching_rules(b, a).empty()))
    return "NetworkPolicy allows no traffic between " + a.name + " and " + b.name + " (" +
           network_->explain(a, b, Proto::kOther, 0) + ")";
  std::string reason = "no rule grants any traffic between " + a.name + " and " + b.name;
  std::string hint = origin_hint(a, b, [](const Rule&) { return true; });
  if (hint.empty()) hint = origin_hint(b, a, [](const Rule&) { return true; });
  return reason + hint;
}

std::string Policy::origin_hint(const Subject& from, const Subject& to,
                                const std::function<bool(const Rule&)>& grants) const {
  // A rule whose selectors would hold but for context or issuer: the operator's likely
  // question is "why not this one", so the refusal names the unmet condition.
  for (const Rule& r : *rules_) {
    if (!grants(r) || !r.from.matches_ignoring_origin(from) ||
        !r.to.matches_ignoring_origin(to))
      continue;
    std::string unmet = r.from.unmet_origin(from, "from");
    const std::string to_unmet = r.to.unmet_origin(to, "to");
    if (!to_unmet.empty()) unmet += (unmet.empty() ? "" : ", ") + to_unmet;
    if (!unmet.empty()) return " (rule " + r.name + " requires " + unmet + ")";
  }
  return "";
}

std::optional<WallTime> Policy::next_change(WallTime now) const {
  std::optional<WallTime> best;
  for (const Rule& r : *rules_) {
    if (!r.has_window()) continue;
    const auto t = r.next_change(now);
    if (t && (!best || *t < *best)) best = t;
  }
  return best;
}

PairPolicy Policy::compile_pair(const Subject& from, const Subject& to) const {
  PairPolicy p;
  p.rules_ = rules_;
  p.matched_ = matching_rules(from, to);
  for (std::uint32_t i : p.matched_) {
    const Rule& r = (*rules_)[i];
    if (!r.has_window()) {
      add_services(r, p.protos_all_, p.ports_);
      continue;
    }
    PairPolicy::Windowed w{i, 0, {}};
    add_services(r, w.protos_all, w.ports);
    for (Proto proto : {Proto::kTcp, Proto::kUdp})
      normalize(w.ports[unsigned(proto)], w.protos_all & bit(proto));
    p.windowed_.push_back(std::move(w));
  }
  for (Proto proto : {Proto::kTcp, Proto::kUdp})
    normalize(p.ports_[unsigned(proto)], p.protos_all_ & bit(proto));
  if (network_) p.network_ = network_->filter(from, to);
  // A windowed grant that the unconditional part already covers adds nothing.
  auto covered = [&](const std::vector<PairPolicy::PortRange>& have, PairPolicy::PortRange r) {
    // `have` is merged (disjoint, not adjacent), so a covered range lies within one entry.
    return std::any_of(have.begin(), have.end(),
                       [&](const auto& h) { return h.lo <= r.lo && r.hi <= h.hi; });
  };
  std::erase_if(p.windowed_, [&](const PairPolicy::Windowed& w) {
    if ((w.protos_all & ~p.protos_all_) != 0) return false;
    for (Proto proto : {Proto::kTcp, Proto::kUdp}) {
      if (p.protos_all_ & bit(proto)) continue;
      for (const auto& r : w.ports[unsigned(proto)])
        if (!covered(p.ports_[unsigned(proto)], r)) return false;
    }
    return true;
  });
  return p;
}

}  // namespace keymesh::policy
