// ICMP errors must be related to a tracked flow on their path even when the policy grants
// `icmp` in their direction: a granted peer must not be able to send "port unreachable" or
// "packet too big" about flows it is not part of. Local 10.0.0.1 (web-1), remote 10.0.0.2
// (db-1); icmp is granted both ways, udp/53 web -> db.
#define BOOST_TEST_MODULE policy_icmp_related
#include <boost/test/unit_test.hpp>

#include "policy/conntrack.h"
#include "policy_test_util.h"

using namespace keymesh;
using namespace keymesh::policy;
using namespace keymesh::policy::test;

namespace keymesh::policy {
std::ostream& boost_test_print_type(std::ostream& os, Verdict v) { return os << verdict_name(v); }
}  // namespace keymesh::policy

namespace {
constexpr const char* kLocal = "10.0.0.1";
constexpr const char* kRemote = "10.0.0.2";
const WallTime kWall = utc("2026-03-27T12:00:00Z");

struct Path {
  Policy policy = policy_from(R"(
rules:
  - name: web-to-db
    from: { groups: [web] }
    to: { groups: [db] }
    allow: [udp/53, icmp]
  - name: db-icmp
    from: { groups: [db] }
    to: { groups: [web] }
    allow: [icmp]
)");
  Subject local = subject("web-1", {"web"});
  Subject remote = subject("db-1", {"db"});
  TimePoint now{std::chrono::hours(1000)};
  ConnTrack ct{policy.compile_pair(local, remote), policy.compile_pair(remote, local), {}};
  Verdict out(const std::vector<std::uint8_t>& p) { return ct.on_outbound(view(p), now, kWall); }
  Verdict in(const std::vector<std::uint8_t>& p) { return ct.on_inbound(view(p), now, kWall); }
};

std::vector<std::uint8_t> head(const std::vector<std::uint8_t>& p, std::size_t n) {
  return {p.begin(), p.begin() + std::ptrdiff_t(n)};
}
}  // namespace

BOOST_AUTO_TEST_CASE(errors_about_untracked_flows_are_dropped_even_with_an_icmp_grant) {
  Path p;
  // Granted: echo both ways still works.
  BOOST_TEST(p.in(icmp(kRemote, kLocal, 8, 5)) == Verdict::kAllowedNew);
  // Port unreachable about a UDP flow web-1 never opened: refused.
  const auto never = udp(kLocal, 6666, kRemote, 53);
  BOOST_TEST(p.in(icmp(kRemote, kLocal, 3, 3, head(never, 28))) == Verdict::kDeniedPolicy);
  // An error quoting nothing parseable: refused.
  BOOST_TEST(p.in(icmp(kRemote, kLocal, 3, 3)) == Verdict::kDeniedPolicy);
  // Once the flow exists, the same error is related and passes.
  BOOST_TEST(p.out(never) == Verdict::kAllowedNew);
  BOOST_TEST(p.in(icmp(kRemote, kLocal, 3, 3, head(never, 28))) == Verdict::kAllowedRelated);
  // Outbound too: our host's errors about flows it does not track do not leave.
  const auto theirs = udp(kRemote, 7777, kLocal, 9);
  BOOST_TEST(p.out(icmp(kLocal, kRemote, 3, 3, head(theirs, 28))) == Verdict::kDeniedPolicy);
}

BOOST_AUTO_TEST_CASE(an_error_about_an_expired_flow_is_dropped) {
  Path p;
  const auto q = udp(kLocal, 5555, kRemote, 53);
  BOOST_TEST(p.out(q) == Verdict::kAllowedNew);
  p.now += std::chrono::minutes(10);
  BOOST_TEST(p.in(icmp(kRemote, kLocal, 3, 3, head(q, 28))) == Verdict::kDeniedPolicy);
}
