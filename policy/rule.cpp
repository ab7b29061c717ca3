#include "policy/rule.h"

#include <algorithm>

namespace keymesh::policy {

std::string_view proto_name(Proto proto) noexcept {
  switch (proto) {
    case Proto::kTcp:
      return "tcp";
    case Proto::kUdp:
      return "udp";
    case Proto::kIcmp:
      return "icmp";
    case Proto::kOther:
      break;
  }
  return "other";
}

std::string describe_service(Proto proto, std::uint16_t port) {
  std::string out(proto_name(proto));
  if (proto == Proto::kTcp || proto == Proto::kUdp) out += "/" + std::to_string(port);
  return out;
}

bool glob_match(std::string_view pattern, std::string_view name) noexcept {
  // Greedy with one backtrack point (the last '*'): O(|pattern| * |name|) worst case.
  std::size_t p = 0, n = 0, star = std::string_view::npos, mark = 0;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
      ++p;
      ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = n;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

namespace {

bool within(const IpPrefix& inner, const IpPrefix& outer) noexcept {
  return inner.address.family == outer.address.family && inner.length >= outer.length &&
         outer.contains(inner.address);
}

bool all_match(const std::map<std::string, std::string>& wanted,
               const std::map<std::string, std::string>& have) {
  for (const auto& [key, value] : wanted) {
    const auto it = have.find(key);
    if (it == have.end() || it->second != value) return false;
  }
  return true;
}

}  // namespace

bool Selector::matches(const Subject& s) const {
  if (!all_match(context, s.context)) return false;
  if (issuer && (s.issuer.empty() || !glob_match(*issuer, s.issuer))) return false;
  if (issuer_sha256 && *issuer_sha256 != s.issuer_fingerprint) return false;
  return matches_ignoring_origin(s);
}

std::string Selector::unmet_origin(const Subject& s, std::string_view side) const {
  std::string out;
  const auto add = [&](std::string part) { out += (out.empty() ? "" : ", ") + part; };
  for (const auto& [key, value] : context) {
    const auto it = s.context.find(key);
    if (it != s.context.end() && it->second == value) continue;
    add(std::string(side) + "_context " + key + "=" + value + " (" + s.name +
        (it == s.context.end() ? " has no " + key
                               : " has " + key + "=" + it->second) + ")");
  }
  if (issuer && (s.issuer.empty() || !glob_match(*issuer, s.issuer)))
    add("issuer " + *issuer + " (" + s.name + " was issued by " +
        (s.issuer.empty() ? std::string("no CA") : s.issuer) + ")");
  if (issuer_sha256 && *issuer_sha256 != s.issuer_fingerprint)
    add("issuer_sha256 " + issuer_sha256->substr(0, 16) + " (" + s.name + " was issued by " +
        (s.issuer_fingerprint.empty() ? std::string("no CA") : s.issuer_fingerprint.substr(0, 16)) +
        ")");
  return out;
}

bool Selector::matches_ignoring_origin(const Subject& s) const {
  if (kind && *kind != s.kind) return false;
  if (name && !glob_match(*name, s.name)) return false;
  for (const auto& g : groups)
    if (std::find(s.groups.begin(), s.groups.end(), g) == s.groups.end()) return false;
  if (!all_match(labels, s.labels)) return false;
  if (spiffe) {
    const auto it = s.labels.find("k8s:spiffe");
    if (it == s.labels.end() || !glob_match(*spiffe, it->second)) return false;
  }
  if (!cidr.empty()) {
    const bool any = std::any_of(s.networks.begin(), s.networks.end(), [&](const IpPrefix& n) {
      return std::any_of(cidr.begin(), cidr.end(),
                         [&](const IpPrefix& c) { return within(n, c); });
    });
    if (!any) return false;
  }
  return true;
}

bool Rule::active(WallTime now) const {
  if (not_before && now < *not_before) return false;
  if (expires && now >= *expires) return false;
  return !schedule || schedule->active(now);
}

std::string_view Rule::inactive_reason(WallTime now) const {
  if (not_before && now < *not_before) return "not yet valid";
  if (expires && now >= *expires) return "expired";
  if (schedule && !schedule->active(now)) return "outside its schedule";
  return "";
}

std::optional<WallTime> Rule::next_change(WallTime now) const {
  if (expires && now >= *expires) return std::nullopt;  // never again
  if (not_before && expires && *expires <= *not_before) return std::nullopt;
  auto before_expiry = [&](std::optional<WallTime> t) -> std::optional<WallTime> {
    if (t && expires && *t >= *expires) return std::nullopt;
    return t;
  };
  if (not_before && now < *not_before) {
    if (active(*not_before)) return not_before;
    // Valid from not_before but outside the schedule then: it starts at the next opening.
    return before_expiry(schedule->next_change(*not_before));
  }
  const std::optional<WallTime> flip = schedule ? schedule->next_change(now) : std::nullopt;
  if (!active(now)) return before_expiry(flip);
  if (flip && (!expires || *flip < *expires)) return flip;
  return expires;
}

bool Rule::grants(Proto proto, std::uint16_t port) const noexcept {
  return std::any_of(allow.begin(), allow.end(),
                     [&](const Service& s) { return s.grants(proto, port); });
}

}  // namespace keymesh::policy
