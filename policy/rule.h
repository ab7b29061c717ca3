// The policy's data model: subjects (what the daemon knows about each side of a flow), and
// rules as written in the YAML file (policy/loader.h), before compilation (policy/evaluator.h).
// Plain values; no I/O. Thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/ip.h"
#include "policy/schedule.h"

namespace keymesh::policy {

// One side of a flow, as the daemon knows it from a validated certificate. policy/ does not
// depend on identity/: the daemon fills this from the certificate it has verified.
struct Subject {
  std::string name;
  std::string kind;  // "node" | "workload" | "gateway" | "user" | "raw" (a raw-key peer)
  std::vector<std::string> groups;
  std::map<std::string, std::string> labels;
  std::vector<IpPrefix> networks;
  std::string fingerprint;
  // Labels of the node/site it lives on, asserted by the CAs of its chain (never by the leaf).
  std::map<std::string, std::string> context;
  std::string issuer;              // name of the CA that signed its certificate ("" for raw)
  std::string issuer_fingerprint;  // that CA's fingerprint, 64 lower-case hex digits
  std::string user_subject;        // a user's email-like subject (kind user); "" otherwise
};

// Transport protocol of a packet, as far as policy cares. kIcmp covers ICMPv4 and ICMPv6;
// kOther is every other IP protocol (GRE, ESP, SCTP...), granted only by "any".
enum class Proto : std::uint8_t { kTcp, kUdp, kIcmp, kOther };
inline constexpr std::size_t kProtoCount = 4;

// "tcp/22", "udp/53", "icmp", "other"; the wording used in decisions and audit reasons.
std::string describe_service(Proto proto, std::uint16_t port);
std::string_view proto_name(Proto proto) noexcept;

// One entry of a rule's `allow` list: a set of protocols and an inclusive port range (the
// range is ignored for ICMP and other protocols, which have no ports).
struct Service {
  std::uint8_t protos = 0;  // bit (1 << Proto)
  std::uint16_t lo = 0;
  std::uint16_t hi = 65535;

  bool grants(Proto proto, std::uint16_t port) const noexcept {
    if (!(protos & (1u << unsigned(proto)))) return false;
    if (proto == Proto::kTcp || proto == Proto::kUdp) return port >= lo && port <= hi;
    return true;
  }
};

// Selects subjects. Every condition that is set must hold (an empty selector selects all).
struct Selector {
  std::optional<std::string> name;            // glob: '*' any run, '?' one character
  std::vector<std::string> groups;            // the subject is in all of them
  std::map<std::string, std::string> labels;  // each label present with this exact value
  std::vector<IpPrefix> cidr;                 // some subject network lies within one of them
  std::optional<std::string> kind;            // node | workload | gateway | user | raw
  std::map<std::string, std::string> context; // from `when: {from_context|to_context}`
  std::optional<std::string> issuer;          // glob on the signing CA's name
  std::optional<std::string> issuer_sha256;   // the signing CA's fingerprint (64 hex digits)
  // Kubernetes pods (docs/kubernetes.md): glob on the label k8s:spiffe. The loader turns
  // `namespace:` and `serviceAccount:` into the labels k8s:namespace and k8s:serviceaccount.
  std::optional<std::string> spiffe;

  bool matches(const Subject& s) const;
  // Whether the conditions other than context and issuer hold (to explain a refusal).
  bool matches_ignoring_origin(const Subject& s) const;
  // What of context and issuer `s` does not meet, e.g. "from_context site=onprem (web-2 has
  // site=cloud)"; "" when they hold. `side` is "from" or "to".
  std::string unmet_origin(const Subject& s, std::string_view side) const;
};

// Glob match of `name` against `pattern` ('*' and '?'; no escapes). Linear in practice.
bool glob_match(std::string_view pattern, std::string_view name) noexcept;

struct Rule {
  std::string name;
  Selector from;
  Selector to;
  std::vector<Service> allow;
  std::optional<Schedule> schedule;
  std::optional<WallTime> not_before;  // inclusive
  std::optional<WallTime> expires;     // exclusive

  bool has_window() const noexcept { return schedule || not_before || expires; }
  // Whether the rule is in force at `now` (validity period and schedule).
  bool active(WallTime now) const;
  // The first instant after `now` at which active() changes, if any.
  std::optional<WallTime> next_change(WallTime now) const;
  // Why the rule is not in force at `now` ("expired", "not yet valid", "outside its schedule").
  std::string_view inactive_reason(WallTime now) const;
  bool grants(Proto proto, std::uint16_t port) const noexcept;
};

}  // namespace keymesh::policy
