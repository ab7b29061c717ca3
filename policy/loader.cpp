#include "policy/loader.h"

#include "common/yaml_fields.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <span>
#include <sstream>
#include <system_error>

namespace keymesh::policy {

namespace {

// Large enough for tens of thousands of rules; keeps a wrong path (/dev/zero) from being
// slurped into memory.
constexpr std::size_t kMaxPolicyBytes = 64u << 20;
constexpr std::size_t kMaxName = 253;  // a DNS name's length; rule and identity names fit

constexpr std::array<std::string_view, 1> kRootKeys = {"rules"};
constexpr std::array<std::string_view, 8> kRuleKeys = {
    "name", "from", "to", "allow", "schedule", "not_before", "expires", "when"};
constexpr std::array<std::string_view, 10> kSelectorKeys = {
    "name", "groups", "labels", "cidr", "kind", "issuer", "issuer_sha256",
    "namespace", "serviceAccount", "spiffe"};
constexpr std::array<std::string_view, 3> kScheduleKeys = {"days", "hours", "timezone"};
constexpr std::array<std::string_view, 2> kWhenKeys = {"from_context", "to_context"};
constexpr std::array<std::string_view, 5> kKinds = {"node", "workload", "gateway", "user", "raw"};
// Indexed by date::weekday::c_encoding (0 = Sunday).
constexpr std::array<std::string_view, 7> kDays = {"sun", "mon", "tue", "wed",
                                                   "thu", "fri", "sat"};

using namespace keymesh::yaml;  // quote, at, child, check_map, get_string, ... (common/)

// ---- Typed readers. Each returns an error naming `path`. ----

Result<std::string> get_name(const YAML::Node& n, const std::string& path) {
  auto s = get_string(n, path);
  if (!s) return s;
  if (s->empty()) return fail(at(path, "is empty"));
  if (s->size() > kMaxName)
    return fail(at(path, "is longer than " + std::to_string(kMaxName) + " characters"));
  for (unsigned char c : *s)
    if (c < 0x20 || c == 0x7f) return fail(at(path, quote(*s) + " contains a control character"));
  return s;
}

// A map of plain names to plain values (labels, context conditions).
Result<std::map<std::string, std::string>> get_string_map(const YAML::Node& n,
                                                          const std::string& path) {
  std::map<std::string, std::string> out;
  if (!n.IsDefined() || n.IsNull()) return out;
  if (!n.IsMap()) return fail(at(path, "expected a map, got " + describe(n)));
  for (auto it = n.begin(); it != n.end(); ++it) {
    if (!it->first.IsScalar())
      return fail(at(path, "keys must be plain names, got " + describe(it->first)));
    const std::string& key = it->first.Scalar();
    auto key_ok = get_name(it->first, path);
    if (!key_ok) return fail(at(path, "label names must not be empty"));
    const std::string key_path = child(path, key);
    auto value = get_string(it->second, key_path);
    if (!value) return std::unexpected(value.error());
    if (!out.emplace(key, *value).second)
      return fail(at(path, "key " + quote(key) + " appears more than once"));
  }
  return out;
}

// ---- Sections ----

Result<Selector> parse_selector(const YAML::Node& n, const std::string& path) {
  if (!n.IsDefined()) return fail(at(path, "is required (write {} to select everyone)"));
  if (auto r = check_map(n, path, kSelectorKeys); !r) return std::unexpected(r.error());
  Selector s;
  if (const auto name = field(n, "name"); name.IsDefined()) {
    auto v = get_name(name, child(path, "name"));
    if (!v) return std::unexpected(v.error());
    s.name = *v;
  }
  if (const auto groups = field(n, "groups"); groups.IsDefined()) {
    const std::string gpath = child(path, "groups");
    auto r = for_each_item(groups, gpath, [&](const YAML::Node& g, const std::string& p) {
      auto v = get_name(g, p);
      if (!v) return Result<void>(std::unexpected(v.error()));
      s.groups.push_back(*v);
      return Result<void>{};
    });
    if (!r) return std::unexpected(r.error());
  }
  if (const auto labels = field(n, "labels"); labels.IsDefined()) {
    auto v = get_string_map(labels, child(path, "labels"));
    if (!v) return std::unexpected(v.error());
    s.labels = std::move(*v);
  }
  // Kubernetes pods (docs/kubernetes.md, "Identity from the API server"): shorthands for the
  // labels keymeshd gives them.
  const auto k8s_label = [&](const char* key, const std::string& label,
                             const std::string& value) -> Result<void> {
    const auto [it, fresh] = s.labels.emplace(label, value);
    if (!fresh && it->second != value)
      return fail(at(child(path, key), quote(value) + " contradicts labels." + label + " " +
                                           quote(it->second)));
    return {};
  };
  if (const auto ns = field(n, "namespace"); ns.IsDefined()) {
    auto v = get_name(ns, child(path, "namespace"));
    if (!v) return std::unexpected(v.error());
    if (auto r = k8s_label("namespace", "k8s:namespace", *v); !r) return std::unexpected(r.error());
  }
  if (const auto sa = field(n, "serviceAccount"); sa.IsDefined()) {
    auto v = get_name(sa, child(path, "serviceAccount"));
    if (!v) return std::unexpected(v.error());
    // "payments" (in any namespace) or "shop/payments"
    const auto slash = v->find('/');
    if (slash != std::string::npos) {
      if (slash == 0 || slash + 1 == v->size() || v->find('/', slash + 1) != std::string::npos)
        return fail(at(child(path, "serviceAccount"),
                       quote(*v) + " is not NAME or NAMESPACE/NAME"));
      if (auto r = k8s_label("serviceAccount", "k8s:namespace", v->substr(0, slash)); !r)
        return std::unexpected(r.error());
    }
    if (auto r = k8s_label("serviceAccount", "k8s:serviceaccount",
                           slash == std::string::npos ? *v : v->substr(slash + 1));
        !r)
      return std::unexpected(r.error());
  }
  if (const auto spiffe = field(n, "spiffe"); spiffe.IsDefined()) {
    auto v = get_name(spiffe, child(path, "spiffe"));
    if (!v) return std::unexpected(v.error());
    if (!v->starts_with("spiffe://"))
      return fail(at(child(path, "spiffe"), quote(*v) + " is not a SPIFFE ID (spiffe://...)"));
    s.spiffe = *v;
  }
  if (const auto cidr = field(n, "cidr"); cidr.IsDefined()) {
    const std::string cpath = child(path, "cidr");
    auto r = for_each_item(cidr, cpath, [&](const YAML::Node& c, const std::string& p) {
      auto text = get_string(c, p);
      if (!text) return Result<void>(std::unexpected(text.error()));
      auto prefix = IpPrefix::parse(*text);
      if (!prefix) return Result<void>(fail(at(p, quote(*text) + " is not a CIDR")));
      s.cidr.push_back(*prefix);
      return Result<void>{};
    });
    if (!r) return std::unexpected(r.error());
    if (s.cidr.empty()) return fail(at(cpath, "is empty (it would select no one)"));
  }
  if (const auto kind = field(n, "kind"); kind.IsDefined()) {
    auto v = get_string(kind, child(path, "kind"));
    if (!v) return std::unexpected(v.error());
    if (std::find(kKinds.begin(), kKinds.end(), *v) == kKinds.end())
      return fail(at(child(path, "kind"), quote(*v) + " is not a kind (expected " +
                                              one_of(kKinds) + ")"));
    s.kind = *v;
  }
  if (const auto issuer = field(n, "issuer"); issuer.IsDefined()) {
    auto v = get_name(issuer, child(path, "issuer"));
    if (!v) return std::unexpected(v.error());
    s.issuer = *v;
  }
  if (const auto sha = field(n, "issuer_sha256"); sha.IsDefined()) {
    auto v = get_string(sha, child(path, "issuer_sha256"));
    if (!v) return std::unexpected(v.error());
    std::string hex = *v;
    for (char& c : hex) c = char(std::tolower(static_cast<unsigned char>(c)));
    if (hex.size() != 64 || hex.find_first_not_of("0123456789abcdef") != std::string::npos)
      return fail(at(child(path, "issuer_sha256"),
                     quote(*v) + " is not a certificate fingerprint (64 hex digits, as "
                                 "`keymesh cert show` prints it)"));
    s.issuer_sha256 = std::move(hex);
  }
  return s;
}

Result<Schedule> parse_schedule(const YAML::Node& n, const std::string& path) {
  if (auto r = check_map(n, path, kScheduleKeys); !r) return std::unexpected(r.error());
  Schedule s;
  if (const auto days = field(n, "days"); days.IsDefined()) {
    s.days = 0;
    auto r = for_each_item(days, child(path, "days"), [&](const YAML::Node& d, const std::string& p) {
      auto v = get_string(d, p);
      if (!v) return Result<void>(std::unexpected(v.error()));
      const auto it = std::find(kDays.begin(), kDays.end(), *v);
      if (it == kDays.end())
        return Result<void>(fail(at(p, quote(*v) + " is not a day (expected mon, tue, wed, "
                                                    "thu, fri, sat or sun)")));
      s.days |= std::uint8_t(1u << (it - kDays.begin()));
      return Result<void>{};
    });
    if (!r) return std::unexpected(r.error());
    if (s.days == 0) return fail(at(child(path, "days"), "is empty (the rule would never apply)"));
  }
  if (const auto hours = field(n, "hours"); hours.IsDefined()) {
    auto add = [&](const YAML::Node& h, const std::string& p) {
      auto v = get_string(h, p);
      if (!v) return Result<void>(std::unexpected(v.error()));
      auto range = parse_time_range(*v);
      if (!range) return Result<void>(fail(at(p, quote(*v) + " " + range.error().message)));
      s.hours.push_back(*range);
      return Result<void>{};
    };
    const std::string hpath = child(path, "hours");
    auto r = hours.IsScalar() ? add(hours, hpath) : for_each_item(hours, hpath, add);
    if (!r) return std::unexpected(r.error());
    if (s.hours.empty()) return fail(at(hpath, "is empty (the rule would never apply)"));
  }
  if (const auto tz = field(n, "timezone"); tz.IsDefined()) {
    const std::string tpath = child(path, "timezone");
    auto v = get_string(tz, tpath);
    if (!v) return std::unexpected(v.error());
    auto zone = find_zone(*v);
    if (!zone) return fail(at(tpath, "unknown time zone " + quote(*v)));
    s.zone_name = *v;
    s.zone = *zone;
  }
  return s;
}

Result<WallTime> parse_time(const YAML::Node& n, const std::string& path) {
  auto v = get_string(n, path);
  if (!v) return std::unexpected(v.error());
  auto t = parse_rfc3339(*v);
  if (!t) return fail(at(path, quote(*v) + " " + t.error().message));
  return t;
}

Result<Rule> parse_rule(const YAML::Node& n, const std::string& index_path) {
  if (!n.IsMap()) return fail(at(index_path, "expected a map (a rule), got " + describe(n)));
  Rule rule;
  // The name comes first so that every later error can show it.
  const auto name = field(n, "name");
  if (!name.IsDefined()) return fail(at(child(index_path, "name"), "is required"));
  auto rule_name = get_name(name, child(index_path, "name"));
  if (!rule_name) return std::unexpected(rule_name.error());
  rule.name = *rule_name;
  const std::string path = index_path + " (" + rule.name + ")";
  if (auto r = check_map(n, path, kRuleKeys); !r) return std::unexpected(r.error());

  auto from = parse_selector(field(n, "from"), child(path, "from"));
  if (!from) return std::unexpected(from.error());
  rule.from = std::move(*from);
  auto to = parse_selector(field(n, "to"), child(path, "to"));
  if (!to) return std::unexpected(to.error());
  rule.to = std::move(*to);

  const auto allow = field(n, "allow");
  const std::string apath = child(path, "allow");
  if (!allow.IsDefined()) return fail(at(apath, "is required (rules only allow)"));
  auto r = for_each_item(allow, apath, [&](const YAML::Node& a, const std::string& p) {
    auto text = get_string(a, p);
    if (!text) return Result<void>(std::unexpected(text.error()));
    auto service = parse_service(*text);
    if (!service) return Result<void>(fail(at(p, service.error().message)));
    rule.allow.push_back(*service);
    return Result<void>{};
  });
  if (!r) return std::unexpected(r.error());
  if (rule.allow.empty()) return fail(at(apath, "is empty (the rule would allow nothing)"));

  if (const auto s = field(n, "schedule"); s.IsDefined()) {
    auto schedule = parse_schedule(s, child(path, "schedule"));
    if (!schedule) return std::unexpected(schedule.error());
    rule.schedule = std::move(*schedule);
  }
  if (const auto t = field(n, "not_before"); t.IsDefined()) {
    auto v = parse_time(t, child(path, "not_before"));
    if (!v) return std::unexpected(v.error());
    rule.not_before = *v;
  }
  if (const auto t = field(n, "expires"); t.IsDefined()) {
    auto v = parse_time(t, child(path, "expires"));
    if (!v) return std::unexpected(v.error());
    rule.expires = *v;
    if (rule.not_before && *rule.expires <= *rule.not_before)
      return fail(at(child(path, "expires"), "is not after not_before"));
  }
  if (const auto w = field(n, "when"); w.IsDefined()) {
    const std::string wpath = child(path, "when");
    if (auto c = check_map(w, wpath, kWhenKeys); !c) return std::unexpected(c.error());
    auto fc = get_string_map(field(w, "from_context"), child(wpath, "from_context"));
    if (!fc) return std::unexpected(fc.error());
    auto tc = get_string_map(field(w, "to_context"), child(wpath, "to_context"));
    if (!tc) return std::unexpected(tc.error());
    rule.from.context = std::move(*fc);
    rule.to.context = std::move(*tc);
  }
  return rule;
}

Result<Policy> parse_document(std::string_view yaml_text) {
  if (yaml_text.size() > kMaxPolicyBytes) return fail("policy is larger than 64 MiB");
  const std::string text(yaml_text);
  const YAML::Node root = YAML::Load(text);
  if (count_documents(text) > 1) return fail("expected one YAML document, found more");
  if (root.IsNull() || !root.IsDefined()) return fail("policy is empty (write rules: [] to deny all)");
  if (!root.IsMap()) return fail("expected a map with rules at the top level, got " + describe(root));
  if (auto r = check_map(root, "", kRootKeys); !r) return std::unexpected(r.error());
  const auto rules_node = field(root, "rules");
  if (!rules_node.IsDefined()) return fail("rules: is required (write rules: [] to deny all)");

  std::vector<Rule> rules;
  std::map<std::string, std::size_t> names;
  auto r = for_each_item(rules_node, "rules", [&](const YAML::Node& n, const std::string& p) {
    auto rule = parse_rule(n, p);
    if (!rule) return Result<void>(std::unexpected(rule.error()));
    const auto [it, fresh] = names.emplace(rule->name, rules.size());
    if (!fresh)
      return Result<void>(fail(at(child(p + " (" + rule->name + ")", "name"),
                                  quote(rule->name) + " is already used by rules[" +
                                      std::to_string(it->second) + "]")));
    rules.push_back(std::move(*rule));
    return Result<void>{};
  });
  if (!r) return std::unexpected(r.error());
  return Policy(std::move(rules));
}

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

}  // namespace

Result<Service> parse_service(std::string_view text) {
  const std::string q = quote(text);
  const auto slash = text.find('/');
  const std::string_view proto = text.substr(0, slash);
  Service s;
  if (proto == "any" || proto == "icmp") {
    if (slash != std::string_view::npos) return fail(q + " " + std::string(proto) + " takes no port");
    s.protos = proto == "any" ? std::uint8_t((1u << kProtoCount) - 1) : std::uint8_t(1u << unsigned(Proto::kIcmp));
    return s;
  }
  if (proto != "tcp" && proto != "udp")
    return fail(q + " unknown protocol (expected tcp, udp, icmp or any)");
  s.protos = std::uint8_t(1u << unsigned(proto == "tcp" ? Proto::kTcp : Proto::kUdp));
  if (slash == std::string_view::npos) return s;  // every port
  const std::string_view ports = text.substr(slash + 1);
  const auto dash = ports.find('-');
  auto port = [&](std::string_view p) -> Result<std::uint16_t> {
    std::uint32_t v = 0;
    const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (p.empty() || end != p.data() + p.size() || (ec != std::errc() && ec != std::errc::result_out_of_range))
      return fail(q + " port is not a number");
    if (ec == std::errc::result_out_of_range || v == 0 || v > 65535)
      return fail(q + " port out of range");
    return std::uint16_t(v);
  };
  auto lo = port(ports.substr(0, dash));
  if (!lo) return std::unexpected(lo.error());
  auto hi = dash == std::string_view::npos ? lo : port(ports.substr(dash + 1));
  if (!hi) return std::unexpected(hi.error());
  if (*hi < *lo) return fail(q + " port range is reversed");
  s.lo = *lo;
  s.hi = *hi;
  return s;
}

Result<Policy> parse_policy(std::string_view yaml_text) {
  // yaml-cpp reports syntax errors (and its nesting limit) by throwing; they stop here.
  try {
    return parse_document(yaml_text);
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) return fail("YAML error: " + e.msg);
    return fail("line " + std::to_string(e.mark.line + 1) + ", column " +
                std::to_string(e.mark.column + 1) + ": YAML syntax error: " + e.msg);
  } catch (const std::bad_alloc&) {
    return fail("policy too large to parse (out of memory)");
  } catch (const std::exception& e) {
    return fail(std::string("cannot parse policy: ") + e.what());
  }
}

Result<Policy> load_policy_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail("cannot read policy " + path + ": " + errno_text(errno));
  std::string text;
  std::array<char, 65536> chunk;
  while (in.read(chunk.data(), chunk.size()) || in.gcount() > 0) {
    text.append(chunk.data(), std::size_t(in.gcount()));
    if (text.size() > kMaxPolicyBytes) return fail(path + ": policy is larger than 64 MiB");
  }
  if (in.bad()) return fail("cannot read policy " + path + ": read error");
  auto policy = parse_policy(text);
  if (!policy) return fail(path + ": " + policy.error().message);
  return policy;
}

Result<std::shared_ptr<const Policy>> reload_policy_file(const std::string& path,
                                                         std::shared_ptr<const Policy>& current) {
  auto policy = load_policy_file(path);
  if (!policy) return std::unexpected(policy.error());
  try {
    current = std::make_shared<const Policy>(std::move(*policy));
  } catch (const std::bad_alloc&) {
    return fail(path + ": out of memory");
  }
  return current;
}

}  // namespace keymesh::policy
