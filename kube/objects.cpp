#include "kube/objects.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "common/json.h"
#include "common/ip.h"

namespace keymesh::kube {
namespace {

using nlohmann::json;

bool alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

bool valid_name_part(std::string_view s) {
  if (s.empty() || s.size() > 63 || !alnum(s.front()) || !alnum(s.back())) return false;
  for (char c : s)
    if (!alnum(c) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

bool valid_dns_subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (char c : s)
    if (!(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9') && c != '-' && c != '.') return false;
  return alnum(s.front()) && alnum(s.back());
}

// A string member, "" when absent; an error when present with another type.
std::expected<std::string, std::string> str(const json& obj, const char* key, std::size_t max = 1024) {
  if (!obj.is_object()) return std::string();
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::string();
  if (!it->is_string()) return std::unexpected(std::string(key) + ": not a string");
  const auto& s = it->get_ref<const std::string&>();
  if (s.size() > max) return std::unexpected(std::string(key) + ": longer than " + std::to_string(max) + " bytes");
  return s;
}

const json& member(const json& obj, const char* key) {
  static const json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

std::expected<Labels, std::string> labels_of(const json& meta) {
  Labels out;
  const json& l = member(meta, "labels");
  if (l.is_null()) return out;
  if (!l.is_object()) return std::unexpected("metadata.labels: not an object");
  if (l.size() > kMaxLabels) return std::unexpected("metadata.labels: more than " + std::to_string(kMaxLabels));
  for (auto it = l.begin(); it != l.end(); ++it) {
    if (!it.value().is_string()) return std::unexpected("metadata.labels[" + json_string(it.key()) + "]: not a string");
    const auto& v = it.value().get_ref<const std::string&>();
    if (!valid_label_key(it.key())) return std::unexpected("metadata.labels: invalid key " + json_string(it.key()));
    if (!valid_label_value(v)) return std::unexpected("metadata.labels[" + it.key() + "]: invalid value " + json_string(v));
    out.emplace(it.key(), v);
  }
  return out;
}

#define KM_TRY(var, expr)                                    \
  auto var##_r = (expr);                                     \
  if (!var##_r) return std::unexpected(var##_r.error());     \
  auto var = std::move(*var##_r)

std::expected<std::vector<NamedPort>, std::string> named_ports_of(const json& spec);

std::expected<Pod, std::string> pod_of(const json& o) {
  if (!o.is_object()) return std::unexpected("object: not an object");
  if (auto k = str(o, "kind"); k && !k->empty() && *k != "Pod") return std::unexpected("kind " + json_string(*k) + ", want Pod");
  const json& meta = member(o, "metadata");
  const json& spec = member(o, "spec");
  const json& status = member(o, "status");
  Pod p;
  KM_TRY(ns, str(meta, "namespace", 63));
  KM_TRY(name, str(meta, "name", 253));
  if (ns.empty() || name.empty()) return std::unexpected("metadata: namespace and name are required");
  KM_TRY(uid, str(meta, "uid", 64));
  KM_TRY(rv, str(meta, "resourceVersion", 64));
  KM_TRY(sa, str(spec, "serviceAccountName", 253));
  KM_TRY(node, str(spec, "nodeName", 253));
  KM_TRY(ip, str(status, "podIP", 64));
  KM_TRY(phase, str(status, "phase", 32));
  KM_TRY(labels, labels_of(meta));
  KM_TRY(named_ports, named_ports_of(spec));
  p.named_ports = std::move(named_ports);
  p.namespace_name = std::move(ns);
  p.name = std::move(name);
  p.uid = std::move(uid);
  p.resource_version = std::move(rv);
  p.service_account = sa.empty() ? "default" : std::move(sa);
  p.node_name = std::move(node);
  p.pod_ip = std::move(ip);
  p.phase = std::move(phase);
  p.labels = std::move(labels);
  const json& hn = member(spec, "hostNetwork");
  p.host_network = hn.is_boolean() && hn.get<bool>();
  p.terminating = !member(meta, "deletionTimestamp").is_null();
  return p;
}

bool valid_port_name(std::string_view s) {
  if (s.empty() || s.size() > 15 || s.front() == '-' || s.back() == '-') return false;
  bool letter = false;
  for (char c : s) {
    if (c >= 'a' && c <= 'z') letter = true;
    else if (!(c >= '0' && c <= '9') && c != '-') return false;
  }
  return letter;
}

std::expected<std::string, std::string> protocol_of(const json& o, const std::string& where) {
  KM_TRY(proto, str(o, "protocol", 8));
  if (proto.empty() || proto == "TCP") return std::string("tcp");
  if (proto == "UDP") return std::string("udp");
  if (proto == "SCTP") return std::string("sctp");
  return std::unexpected(where + ".protocol: " + json_string(proto) + " is not TCP, UDP or SCTP");
}

std::expected<std::vector<NamedPort>, std::string> named_ports_of(const json& spec) {
  std::vector<NamedPort> out;
  const json& containers = member(spec, "containers");
  if (!containers.is_array()) return out;
  for (const json& c : containers) {
    const json& ports = member(c, "ports");
    if (!ports.is_array()) continue;
    for (const json& p : ports) {
      KM_TRY(name, str(p, "name", 64));
      if (name.empty()) continue;
      if (!valid_port_name(name)) return std::unexpected("container port name " + json_string(name) + " is not valid");
      const json& n = member(p, "containerPort");
      if (!n.is_number_integer() || n.get<long long>() < 1 || n.get<long long>() > 65535)
        return std::unexpected("container port " + name + ": containerPort is not 1-65535");
      KM_TRY(proto, protocol_of(p, "port " + name));
      if (std::any_of(out.begin(), out.end(), [&](const NamedPort& x) { return x.name == name; }))
        continue;  // the API server refuses duplicates; the first one wins here
      if (out.size() == kMaxNamedPorts) return std::unexpected("more than " + std::to_string(kMaxNamedPorts) + " named ports");
      out.push_back({std::move(name), std::move(proto), std::uint16_t(n.get<long long>())});
    }
  }
  return out;
}

std::expected<policy::LabelSelector, std::string> selector_of(const json& o, const std::string& where) {
  if (!o.is_object()) return std::unexpected(where + ": not an object");
  policy::LabelSelector sel;
  const json& ml = member(o, "matchLabels");
  if (!ml.is_null()) {
    if (!ml.is_object() || ml.size() > kMaxSelectorTerms) return std::unexpected(where + ".matchLabels: not an object of at most " + std::to_string(kMaxSelectorTerms));
    for (auto it = ml.begin(); it != ml.end(); ++it) {
      if (!it.value().is_string() || !valid_label_key(it.key()) ||
          !valid_label_value(it.value().get_ref<const std::string&>()))
        return std::unexpected(where + ".matchLabels: invalid entry " + json_string(it.key()));
      sel.match_labels.emplace(it.key(), it.value().get<std::string>());
    }
  }
  const json& ex = member(o, "matchExpressions");
  if (!ex.is_null()) {
    if (!ex.is_array() || ex.size() > kMaxSelectorTerms) return std::unexpected(where + ".matchExpressions: not an array of at most " + std::to_string(kMaxSelectorTerms));
    for (const json& e : ex) {
      policy::LabelRequirement r;
      KM_TRY(key, str(e, "key", kMaxLabelKey));
      KM_TRY(op, str(e, "operator", 16));
      if (!valid_label_key(key)) return std::unexpected(where + ".matchExpressions: invalid key " + json_string(key));
      using Op = policy::LabelRequirement::Op;
      if (op == "In") r.op = Op::kIn;
      else if (op == "NotIn") r.op = Op::kNotIn;
      else if (op == "Exists") r.op = Op::kExists;
      else if (op == "DoesNotExist") r.op = Op::kDoesNotExist;
      else return std::unexpected(where + ".matchExpressions: unknown operator " + json_string(op));
      const json& values = member(e, "values");
      if (!values.is_null()) {
        if (!values.is_array() || values.size() > kMaxSelectorTerms) return std::unexpected(where + ".matchExpressions: values is not a short array");
        for (const json& v : values) {
          if (!v.is_string() || !valid_label_value(v.get_ref<const std::string&>()))
            return std::unexpected(where + ".matchExpressions: invalid value");
          r.values.push_back(v.get<std::string>());
        }
      }
      const bool set_op = r.op == Op::kIn || r.op == Op::kNotIn;
      if (set_op == r.values.empty()) return std::unexpected(where + ".matchExpressions: " + op + " with " + (set_op ? "no values" : "values"));
      r.key = std::move(key);
      sel.expressions.push_back(std::move(r));
    }
  }
  return sel;
}

std::expected<policy::NetworkPolicyPeer, std::string> peer_of(const json& o, const std::string& where) {
  if (!o.is_object()) return std::unexpected(where + ": not an object");
  policy::NetworkPolicyPeer peer;
  const json& ps = member(o, "podSelector");
  const json& ns = member(o, "namespaceSelector");
  const json& ip = member(o, "ipBlock");
  if (!ip.is_null()) {
    if (!ps.is_null() || !ns.is_null()) return std::unexpected(where + ": ipBlock together with a selector");
    KM_TRY(cidr, str(ip, "cidr", 64));
    auto prefix = IpPrefix::parse(cidr);
    if (!prefix || cidr.find('/') == std::string::npos) return std::unexpected(where + ".ipBlock.cidr: " + json_string(cidr) + " is not a CIDR");
    peer.cidr = prefix->network();
    const json& except = member(ip, "except");
    if (!except.is_null()) {
      if (!except.is_array() || except.size() > kMaxPolicyPeers) return std::unexpected(where + ".ipBlock.except: not an array");
      for (const json& e : except) {
        auto x = e.is_string() ? IpPrefix::parse(e.get_ref<const std::string&>()) : std::nullopt;
        if (!x) return std::unexpected(where + ".ipBlock.except: an entry is not a CIDR");
        peer.except.push_back(x->network());
      }
    }
    return peer;
  }
  if (ps.is_null() && ns.is_null()) return std::unexpected(where + ": none of podSelector, namespaceSelector and ipBlock");
  if (!ps.is_null()) {
    KM_TRY(sel, selector_of(ps, where + ".podSelector"));
    peer.pods = std::move(sel);
  }
  if (!ns.is_null()) {
    KM_TRY(sel, selector_of(ns, where + ".namespaceSelector"));
    peer.namespaces = std::move(sel);
  }
  return peer;
}

std::expected<policy::NetworkPolicyPort, std::string> policy_port_of(const json& o, const std::string& where) {
  if (!o.is_object()) return std::unexpected(where + ": not an object");
  policy::NetworkPolicyPort port;
  KM_TRY(proto, protocol_of(o, where));
  using P = policy::NetworkPolicyPort::Protocol;
  port.protocol = proto == "tcp" ? P::kTcp : proto == "udp" ? P::kUdp : P::kSctp;
  const json& n = member(o, "port");
  if (n.is_number_integer()) {
    if (n.get<long long>() < 1 || n.get<long long>() > 65535) return std::unexpected(where + ".port: not 1-65535");
    port.number = std::uint16_t(n.get<long long>());
  } else if (n.is_string()) {
    if (!valid_port_name(n.get_ref<const std::string&>())) return std::unexpected(where + ".port: " + json_string(n.get<std::string>()) + " is not a port name");
    port.name = n.get<std::string>();
  } else if (!n.is_null()) {
    return std::unexpected(where + ".port: neither a number nor a name");
  }
  const json& end = member(o, "endPort");
  if (!end.is_null()) {
    if (!port.number || !end.is_number_integer() || end.get<long long>() < *port.number || end.get<long long>() > 65535)
      return std::unexpected(where + ".endPort: needs a numeric port and must lie in port-65535");
    port.end_port = std::uint16_t(end.get<long long>());
  }
  return port;
}

std::expected<std::vector<policy::NetworkPolicyRule>, std::string> policy_rules_of(const json& spec, const char* key,
                                                                                const char* peers_key) {
  std::vector<policy::NetworkPolicyRule> out;
  const json& rules = member(spec, key);
  if (rules.is_null()) return out;
  if (!rules.is_array() || rules.size() > kMaxPolicyRules) return std::unexpected(std::string(key) + ": not an array of at most " + std::to_string(kMaxPolicyRules));
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const std::string where = std::string(key) + "[" + std::to_string(i) + "]";
    policy::NetworkPolicyRule rule;
    const json& peers = member(rules[i], peers_key);
    if (!peers.is_null()) {
      if (!peers.is_array() || peers.size() > kMaxPolicyPeers) return std::unexpected(where + "." + peers_key + ": not an array");
      for (std::size_t j = 0; j < peers.size(); ++j) {
        KM_TRY(peer, peer_of(peers[j], where + "." + peers_key + "[" + std::to_string(j) + "]"));
        rule.peers.push_back(std::move(peer));
      }
    }
    const json& ports = member(rules[i], "ports");
    if (!ports.is_null()) {
      if (!ports.is_array() || ports.size() > kMaxPolicyPorts) return std::unexpected(where + ".ports: not an array");
      for (std::size_t j = 0; j < ports.size(); ++j) {
        KM_TRY(port, policy_port_of(ports[j], where + ".ports[" + std::to_string(j) + "]"));
        rule.ports.push_back(std::move(port));
      }
    }
    out.push_back(std::move(rule));
  }
  return out;
}

// The parts after the name: an error here makes the policy deny-all for what it selects.
std::expected<void, std::string> policy_spec_of(const json& spec, policy::NetworkPolicy& np) {
  if (!spec.is_object()) return std::unexpected("spec: not an object");
  KM_TRY(sel, selector_of(member(spec, "podSelector").is_null() ? json::object() : member(spec, "podSelector"),
                          "spec.podSelector"));
  np.pod_selector = std::move(sel);
  KM_TRY(ingress, policy_rules_of(spec, "ingress", "from"));
  KM_TRY(egress, policy_rules_of(spec, "egress", "to"));
  const json& types = member(spec, "policyTypes");
  if (types.is_null()) {  // as the API server defaults it
    np.ingress = true;
    np.egress = !egress.empty();
  } else {
    if (!types.is_array()) return std::unexpected("spec.policyTypes: not an array");
    for (const json& t : types) {
      if (t == "Ingress") np.ingress = true;
      else if (t == "Egress") np.egress = true;
      else return std::unexpected("spec.policyTypes: unknown type");
    }
  }
  np.ingress_rules = std::move(ingress);
  np.egress_rules = std::move(egress);
  return {};
}

std::expected<policy::NetworkPolicy, std::string> network_policy_of(const json& o) {
  if (!o.is_object()) return std::unexpected("object: not an object");
  if (auto k = str(o, "kind"); k && !k->empty() && *k != "NetworkPolicy")
    return std::unexpected("kind " + json_string(*k) + ", want NetworkPolicy");
  const json& meta = member(o, "metadata");
  policy::NetworkPolicy np;
  KM_TRY(ns, str(meta, "namespace", 63));
  KM_TRY(name, str(meta, "name", 253));
  if (ns.empty() || name.empty()) return std::unexpected("metadata: namespace and name are required");
  KM_TRY(rv, str(meta, "resourceVersion", 64));
  np.namespace_name = std::move(ns);
  np.name = std::move(name);
  np.resource_version = std::move(rv);
  if (auto r = policy_spec_of(member(o, "spec"), np); !r) {
    // Fail closed: what it selects (its namespace, when even the selector is unreadable) is
    // isolated both ways with nothing allowed.
    auto sel = selector_of(member(member(o, "spec"), "podSelector"), "");
    np.pod_selector = sel ? std::move(*sel) : policy::LabelSelector{};
    np.ingress = np.egress = true;
    np.ingress_rules.clear();
    np.egress_rules.clear();
    np.invalid = r.error();
  }
  return np;
}

std::expected<Namespace, std::string> namespace_of(const json& o) {
  if (!o.is_object()) return std::unexpected("object: not an object");
  if (auto k = str(o, "kind"); k && !k->empty() && *k != "Namespace")
    return std::unexpected("kind " + json_string(*k) + ", want Namespace");
  const json& meta = member(o, "metadata");
  Namespace n;
  KM_TRY(name, str(meta, "name", 63));
  if (name.empty()) return std::unexpected("metadata.name is required");
  KM_TRY(rv, str(meta, "resourceVersion", 64));
  KM_TRY(labels, labels_of(meta));
  n.name = std::move(name);
  n.resource_version = std::move(rv);
  n.labels = std::move(labels);
  n.terminating = !member(meta, "deletionTimestamp").is_null();
  return n;
}

std::expected<json, std::string> parse_json(std::string_view text, std::size_t max) {
  if (text.size() > max) return std::unexpected("longer than " + std::to_string(max) + " bytes");
  if (json_nesting_depth(text) > kMaxNesting) return std::unexpected("nested deeper than " + std::to_string(kMaxNesting));
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return std::unexpected("not JSON");
  if (!j.is_object()) return std::unexpected("not a JSON object");
  return j;
}

}  // namespace

bool valid_label_key(std::string_view key) {
  auto slash = key.find('/');
  if (slash == std::string_view::npos) return valid_name_part(key);
  return valid_dns_subdomain(key.substr(0, slash)) && valid_name_part(key.substr(slash + 1));
}

bool valid_label_value(std::string_view value) { return value.empty() || valid_name_part(value); }

std::expected<WatchEvent, std::string> parse_watch_event(std::string_view line, Kind kind) {
  KM_TRY(j, parse_json(line, kMaxEventBytes));
  KM_TRY(type, str(j, "type", 16));
  const json& obj = member(j, "object");
  WatchEvent ev;
  if (type == "ADDED") ev.type = EventType::kAdded;
  else if (type == "MODIFIED") ev.type = EventType::kModified;
  else if (type == "DELETED") ev.type = EventType::kDeleted;
  else if (type == "BOOKMARK") ev.type = EventType::kBookmark;
  else if (type == "ERROR") ev.type = EventType::kError;
  else return std::unexpected("watch event: unknown type " + json_string(type));
  if (ev.type == EventType::kError) {
    const json& code = member(obj, "code");
    ev.error_code = code.is_number_integer() ? code.get<int>() : 0;
    KM_TRY(msg, str(obj, "message", 4096));
    ev.error_message = std::move(msg);
    return ev;
  }
  if (ev.type == EventType::kBookmark) {
    KM_TRY(rv, str(member(obj, "metadata"), "resourceVersion", 64));
    if (rv.empty()) return std::unexpected("bookmark without metadata.resourceVersion");
    ev.resource_version = std::move(rv);
    return ev;
  }
  if (kind == Kind::kPod) {
    auto p = pod_of(obj);
    if (!p) return std::unexpected("pod: " + p.error());
    ev.pod = std::move(*p);
    ev.resource_version = ev.pod.resource_version;
  } else if (kind == Kind::kNetworkPolicy) {
    auto np = network_policy_of(obj);
    if (!np) return std::unexpected("networkpolicy: " + np.error());
    ev.network_policy = std::move(*np);
    ev.resource_version = ev.network_policy.resource_version;
  } else {
    auto n = namespace_of(obj);
    if (!n) return std::unexpected("namespace: " + n.error());
    ev.ns = std::move(*n);
    ev.resource_version = ev.ns.resource_version;
  }
  return ev;
}

std::expected<List, std::string> parse_list(std::string_view body, Kind kind) {
  KM_TRY(j, parse_json(body, kMaxListBytes));
  List out;
  KM_TRY(rv, str(member(j, "metadata"), "resourceVersion", 64));
  out.resource_version = std::move(rv);
  const json& items = member(j, "items");
  if (items.is_null()) return out;
  if (!items.is_array()) return std::unexpected("items: not an array");
  // One bad item must not hide the others: it is skipped and counted.
  for (const auto& item : items) {
    if (kind == Kind::kPod) {
      if (auto p = pod_of(item)) out.pods.push_back(std::move(*p));
      else ++out.skipped;
    } else if (kind == Kind::kNetworkPolicy) {
      if (auto np = network_policy_of(item)) out.network_policies.push_back(std::move(*np));
      else ++out.skipped;
    } else {
      if (auto n = namespace_of(item)) out.namespaces.push_back(std::move(*n));
      else ++out.skipped;
    }
  }
  return out;
}

std::expected<Pod, std::string> parse_pod(std::string_view body) {
  KM_TRY(j, parse_json(body, kMaxEventBytes));
  auto p = pod_of(j);
  if (!p) return std::unexpected("pod: " + p.error());
  return std::move(*p);
}

}  // namespace keymesh::kube
