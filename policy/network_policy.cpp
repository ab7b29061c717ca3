#include "policy/network_policy.h"

#include <algorithm>
#include <charconv>

namespace keymesh::policy {
namespace {

constexpr std::uint8_t bit(Proto p) { return std::uint8_t(1u << unsigned(p)); }
constexpr std::uint8_t kEveryProto =
    bit(Proto::kTcp) | bit(Proto::kUdp) | bit(Proto::kIcmp) | bit(Proto::kOther);

constexpr std::string_view kNamespaceKey = "k8s:namespace";
constexpr std::string_view kNamespacePrefix = "k8s:ns:";
constexpr std::string_view kPortPrefix = "k8s:port:";
constexpr std::string_view kNamespaceNameLabel = "kubernetes.io/metadata.name";

bool same_family(const IpAddress& a, const IpAddress& b) { return a.family == b.family; }

// Whether every address of `inner` lies within `outer`.
bool within(const IpPrefix& inner, const IpPrefix& outer) {
  return same_family(inner.address, outer.address) && inner.length >= outer.length &&
         outer.contains(inner.address);
}

bool overlaps(const IpPrefix& a, const IpPrefix& b) { return within(a, b) || within(b, a); }

// ipBlock: every address the subject holds lies in the block and none in an exception.
bool ip_block_matches(const NetworkPolicyPeer& peer, const Subject& s) {
  if (s.networks.empty()) return false;
  for (const IpPrefix& n : s.networks) {
    if (!within(n, *peer.cidr)) return false;
    for (const IpPrefix& e : peer.except)
      if (overlaps(n, e)) return false;
  }
  return true;
}

bool peer_matches(const NetworkPolicyPeer& peer, const Subject& s, std::string_view policy_ns) {
  if (peer.cidr) return ip_block_matches(peer, s);
  const auto pod = pod_view(s);
  if (!pod) return false;
  if (peer.namespaces) {
    if (!peer.namespaces->matches(pod->namespace_labels)) return false;
  } else if (pod->namespace_name != policy_ns) {
    return false;  // a podSelector alone selects in the policy's own namespace
  }
  return !peer.pods || peer.pods->matches(pod->labels);
}

// The destination's named port NAME for PROTOCOL ("k8s:port:http" = "tcp/8080").
std::optional<std::uint16_t> named_port(const Subject& to, const std::string& name,
                                        NetworkPolicyPort::Protocol protocol) {
  auto it = to.labels.find(std::string(kPortPrefix) + name);
  if (it == to.labels.end()) return std::nullopt;
  const std::string_view v = it->second;
  const auto slash = v.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const std::string_view proto = v.substr(0, slash);
  const bool match = (protocol == NetworkPolicyPort::Protocol::kTcp && proto == "tcp") ||
                     (protocol == NetworkPolicyPort::Protocol::kUdp && proto == "udp");
  if (!match) return std::nullopt;
  unsigned n = 0;
  const auto num = v.substr(slash + 1);
  auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), n);
  if (ec != std::errc() || p != num.data() + num.size() || n == 0 || n > 65535) return std::nullopt;
  return std::uint16_t(n);
}

void add_rule_ports(const NetworkPolicyRule& rule, const Subject& to, PortFilter& f) {
  if (rule.ports.empty()) {
    f.protos_all |= kEveryProto;
    return;
  }
  for (const NetworkPolicyPort& p : rule.ports) {
    if (p.protocol == NetworkPolicyPort::Protocol::kSctp) continue;  // fails closed
    const Proto proto = p.protocol == NetworkPolicyPort::Protocol::kTcp ? Proto::kTcp : Proto::kUdp;
    if (!p.number && p.name.empty()) {
      f.protos_all |= bit(proto);
      continue;
    }
    std::optional<std::uint16_t> lo = p.number;
    if (!p.name.empty()) lo = named_port(to, p.name, p.protocol);
    if (!lo) continue;  // a named port the destination does not have admits nothing
    const std::uint16_t hi = (p.number && p.end_port && *p.end_port >= *lo) ? *p.end_port : *lo;
    f.ports[unsigned(proto)].push_back({*lo, hi});
  }
}

void normalize(PortFilter& f) {
  for (Proto proto : {Proto::kTcp, Proto::kUdp}) {
    auto& r = f.ports[unsigned(proto)];
    if (f.protos_all & bit(proto)) {
      r.clear();
      continue;
    }
    std::sort(r.begin(), r.end(), [](const auto& a, const auto& b) { return a.lo < b.lo; });
    std::vector<PortFilter::Range> out;
    for (const auto& x : r) {
      if (!out.empty() && std::uint32_t(x.lo) <= std::uint32_t(out.back().hi) + 1)
        out.back().hi = std::max(out.back().hi, x.hi);
      else
        out.push_back(x);
    }
    r = std::move(out);
  }
}

PortFilter intersect(const PortFilter& a, const PortFilter& b) {
  PortFilter out;
  out.protos_all = a.protos_all & b.protos_all;
  for (Proto proto : {Proto::kTcp, Proto::kUdp}) {
    const unsigned i = unsigned(proto);
    if (out.protos_all & bit(proto)) continue;
    if (a.protos_all & bit(proto)) {
      out.ports[i] = b.ports[i];
    } else if (b.protos_all & bit(proto)) {
      out.ports[i] = a.ports[i];
    } else {
      for (const auto& x : a.ports[i])
        for (const auto& y : b.ports[i]) {
          const auto lo = std::max(x.lo, y.lo), hi = std::min(x.hi, y.hi);
          if (lo <= hi) out.ports[i].push_back({lo, hi});
        }
    }
  }
  normalize(out);
  return out;
}

bool rule_grants(const NetworkPolicyRule& rule, const Subject& to, Proto proto, std::uint16_t port) {
  PortFilter f;
  add_rule_ports(rule, to, f);
  return f.allows(proto, port);
}

}  // namespace

bool LabelSelector::matches(const std::map<std::string, std::string>& labels) const {
  for (const auto& [k, v] : match_labels) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  for (const LabelRequirement& r : expressions) {
    auto it = labels.find(r.key);
    const bool has = it != labels.end();
    const bool listed =
        has && std::find(r.values.begin(), r.values.end(), it->second) != r.values.end();
    switch (r.op) {
      case LabelRequirement::Op::kIn: if (!listed) return false; break;
      case LabelRequirement::Op::kNotIn: if (listed) return false; break;
      case LabelRequirement::Op::kExists: if (!has) return false; break;
      case LabelRequirement::Op::kDoesNotExist: if (has) return false; break;
    }
  }
  return true;
}

bool PortFilter::allows(Proto proto, std::uint16_t port) const noexcept {
  if (protos_all & bit(proto)) return true;
  if (proto != Proto::kTcp && proto != Proto::kUdp) return false;
  for (const Range& r : ports[unsigned(proto)])
    if (port >= r.lo && port <= r.hi) return true;
  return false;
}

bool PortFilter::allows_all_ports(Proto proto) const noexcept { return protos_all & bit(proto); }

std::optional<PodView> pod_view(const Subject& s) {
  auto ns = s.labels.find(std::string(kNamespaceKey));
  if (ns == s.labels.end()) return std::nullopt;
  PodView v;
  v.namespace_name = ns->second;
  for (const auto& [k, val] : s.labels) {
    if (k.find(':') == std::string::npos)
      v.labels.emplace(k, val);
    else if (k.starts_with(kNamespacePrefix))
      v.namespace_labels.emplace(k.substr(kNamespacePrefix.size()), val);
  }
  v.namespace_labels.insert_or_assign(std::string(kNamespaceNameLabel), v.namespace_name);
  return v;
}

NetworkPolicies::NetworkPolicies(std::vector<NetworkPolicy> policies, bool listed)
    : policies_(std::move(policies)), listed_(listed) {}

NetworkPolicies::Verdict NetworkPolicies::decide(Side side, const Subject& from, const Subject& to,
                                                 const Proto* proto, std::uint16_t port) const {
  Verdict v;
  const Subject& selected = side == Side::kIngress ? to : from;
  const Subject& peer = side == Side::kIngress ? from : to;
  const auto pod = pod_view(selected);
  if (!pod) return v;
  if (!listed_) {
    v.isolated = true;
    return v;
  }
  for (const NetworkPolicy& p : policies_) {
    if (!(side == Side::kIngress ? p.ingress : p.egress)) continue;
    if (p.namespace_name != pod->namespace_name || !p.pod_selector.matches(pod->labels)) continue;
    v.isolated = true;
    v.selecting.push_back(p.namespace_name + "/" + p.name);
    for (const NetworkPolicyRule& r : side == Side::kIngress ? p.ingress_rules : p.egress_rules) {
      const bool admits =
          r.peers.empty() || std::any_of(r.peers.begin(), r.peers.end(), [&](const auto& x) {
            return peer_matches(x, peer, p.namespace_name);
          });
      if (!admits) continue;
      add_rule_ports(r, to, v.filter);
      if (proto && v.admitting.empty() && rule_grants(r, to, *proto, port))
        v.admitting = p.namespace_name + "/" + p.name;
    }
  }
  normalize(v.filter);
  return v;
}

std::optional<PortFilter> NetworkPolicies::filter(const Subject& from, const Subject& to) const {
  const Verdict e = decide(Side::kEgress, from, to, nullptr, 0);
  const Verdict i = decide(Side::kIngress, from, to, nullptr, 0);
  if (!e.isolated && !i.isolated) return std::nullopt;
  if (!e.isolated) return i.filter;
  if (!i.isolated) return e.filter;
  return intersect(e.filter, i.filter);
}

std::string NetworkPolicies::explain(const Subject& from, const Subject& to, Proto proto,
                                     std::uint16_t port) const {
  const std::string svc = describe_service(proto, port);
  if (!listed_) {
    if (!pod_view(from) && !pod_view(to)) return "";
    return "NetworkPolicies not listed from the API server yet: pod traffic is held";
  }
  std::string out;
  // One side's verdict: `self` is the pod that side isolates, `peer` the other end.
  auto add = [&](const Verdict& v, std::string_view side, std::string_view into_out,
                 std::string_view to_from, const std::string& self, const std::string& peer) {
    if (!v.isolated) return;
    out += out.empty() ? "" : "; ";
    if (!v.admitting.empty())
      out += "NetworkPolicy " + v.admitting + " allows " + svc + " " + std::string(into_out) +
             " " + self;
    else
      out += "NetworkPolicy " + v.selecting.front() + " isolates " + self + " for " +
             std::string(side) + " and none allows " + svc + " " + std::string(to_from) + " " +
             peer;
  };
  add(decide(Side::kEgress, from, to, &proto, port), "egress", "out of", "to", from.name, to.name);
  add(decide(Side::kIngress, from, to, &proto, port), "ingress", "into", "from", to.name,
      from.name);
  return out;
}

}  // namespace keymesh::policy
