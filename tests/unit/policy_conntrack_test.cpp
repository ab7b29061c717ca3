// Connection tracking on one path. Local is 10.0.0.1 (web-1), remote is 10.0.0.2 (db-1);
// the policy grants web -> db tcp/5432, udp/53 and icmp, and nothing db -> web. So the
// only traffic from db-1 that may pass is replies to flows web-1 opened.
#define BOOST_TEST_MODULE policy_conntrack
#include <boost/test/unit_test.hpp>

#include <random>

#include "policy/conntrack.h"
#include "policy_test_util.h"

using namespace keymesh;
using namespace keymesh::policy;
using namespace keymesh::policy::test;
using namespace std::chrono_literals;
using tcpflag::kAck;
using tcpflag::kFin;
using tcpflag::kRst;
using tcpflag::kSyn;

namespace {

constexpr const char* kLocal = "10.0.0.1";
constexpr const char* kRemote = "10.0.0.2";
const WallTime kWall = utc("2026-03-27T12:00:00Z");

const char* kPolicy = R"(
rules:
  - name: web-to-db
    from: { groups: [web] }
    to: { groups: [db] }
    allow: [tcp/5432, udp/53, icmp]
)";

struct Path {
  Policy policy = policy_from(kPolicy);
  Subject local = subject("web-1", {"web"});
  Subject remote = subject("db-1", {"db"});
  TimePoint now{std::chrono::hours(1000)};
  ConnTrack ct;

  explicit Path(ConnTrackLimits limits = {})
      : ct(policy.compile_pair(local, remote), policy.compile_pair(remote, local), limits) {}
  Verdict out(const std::vector<std::uint8_t>& p) { return ct.on_outbound(view(p), now, kWall); }
  Verdict in(const std::vector<std::uint8_t>& p) { return ct.on_inbound(view(p), now, kWall); }
  std::optional<FlowState> state(const std::vector<std::uint8_t>& p) {
    return ct.state_of(view(p).tuple, now);
  }
};

}  // namespace

namespace keymesh::policy {
std::ostream& boost_test_print_type(std::ostream& os, Verdict v) { return os << verdict_name(v); }
std::ostream& boost_test_print_type(std::ostream& os, FlowState s) {
  return os << flow_state_name(s);
}
}  // namespace keymesh::policy

BOOST_AUTO_TEST_CASE(tcp_handshake_established_fin) {
  Path p;
  const auto syn = tcp(kLocal, 40000, kRemote, 5432, kSyn);
  BOOST_TEST(p.out(syn) == Verdict::kAllowedNew);
  BOOST_TEST(*p.state(syn) == FlowState::kTcpSynSent);
  BOOST_TEST(p.in(tcp(kRemote, 5432, kLocal, 40000, kSyn | kAck)) == Verdict::kAllowedTracked);
  BOOST_TEST(*p.state(syn) == FlowState::kTcpEstablished);
  BOOST_TEST(p.out(tcp(kLocal, 40000, kRemote, 5432, kAck)) == Verdict::kAllowedTracked);
  BOOST_TEST(p.in(tcp(kRemote, 5432, kLocal, 40000, kAck)) == Verdict::kAllowedTracked);
  // Established survives long idle periods below the timeout.
  p.now += 599s;
  BOOST_TEST(p.in(tcp(kRemote, 5432, kLocal, 40000, kAck)) == Verdict::kAllowedTracked);
  // Half close: the other side may go on sending.
  BOOST_TEST(p.out(tcp(kLocal, 40000, kRemote, 5432, kFin | kAck)) == Verdict::kAllowedTracked);
  BOOST_TEST(*p.state(syn) == FlowState::kTcpHalfClosed);
  p.now += 60s;
  BOOST_TEST(p.in(tcp(kRemote, 5432, kLocal, 40000, kAck)) == Verdict::kAllowedTracked);
  BOOST_TEST(p.in(tcp(kRemote, 5432, kLocal, 40000, kFin | kAck)) == Verdict::kAllowedTracked);
  BOOST_TEST(*p.state(syn) == FlowState::kTcpClosing);
  BOOST_TEST(p.out(tcp(kLocal, 40000, kRemote, 5432, kAck)) == Verdict::kAllowedTracked);
  // Closing lasts 10 s; then a late reply is unsolicited.
  p.now += 11s;
  BOOST_TEST(!p.state(syn).has_value());
  BOOST_TEST(p.in(tcp(kRemote, 5432, kLocal, 40000, kAck)) == Verdict::kDeniedPolicy);
}

BOOST_AUTO_TEST_CASE(unsolicited_inbound_is_denied_and_reply_allowed) {
  Path p;
  // db-1 may not open anything towards web-1, not even to the port web-1 would use.
  BOOST_TEST(p.in(tcp(kRemote, 5432, kLocal, 40000, kSyn)) == Verdict::kDeniedPolicy);
  BOOST_TEST(p.in(tcp(kRemote, 5432, kLocal, 40000, kSyn | kAck)) == Verdict::kDeniedPolicy);
  BOOST_TEST(p.in(udp(kRemote, 53, kLocal, 5555)) == Verdict::kDeniedPolicy);
  BOOST_TEST(p.in(icmp(kRemote, kLocal, 8, 7)) == Verdict::kDeniedPolicy);
  BOOST_TEST(p.ct.size() == 0u);
  // Outbound to a port that is not granted.
  BOOST_TEST(p.out(tcp(kLocal, 40000, kRemote, 22, kSyn)) == Verdict::kDeniedPolicy);
  // A reply on another port pair is not a reply.
  BOOST_TEST(p.out(tcp(kLocal, 40000, kRemote, 5432, kSyn)) == Verdict::kAllowedNew);
  BOOST_TEST(p.in(tcp(kRemote, 5432, kLocal, 40001, kSyn | kAck)) == Verdict::kDeniedPolicy);
  BOOST_TEST(p.in(tcp(kRemote, 5433, kLocal, 40000, kSyn | kAck)) == Verdict::kDeniedPolicy);
  BOOST_TEST(p.in(tcp(kRemote, 5432, kLocal, 40000, kSyn | kAck)) == Verdict::kAllowedTracked);
}

BOOST_AUTO_TEST_CASE(tcp_handshake_times_out) {
  Path p;
  BOOST_TEST(p.out(tcp(kLocal, 40000, kRemote, 5432, kSyn)) == Verdict::kAllowedNew);
  p.now += 29s;
  BOOST_TEST(p.ct.expire(p.now) == 0u);
  p.now += 2s;
  BOOST_TEST(p.ct.expire(p.now) == 1u);
  BOOST_TEST(p.ct.size() == 0u);
  BOOST_TEST(p.in(tcp(kRemote, 5432, kLocal, 40000, kSyn | kAck)) == Verdict::kDeniedPolicy);
}

BOOST_AUTO_TEST_CASE(tables_given_back_when_idle_track_again) {
  // The last flow's expiry frees the tables; the next flow must be tracked as before.
  Path p;
  BOOST_TEST(p.out(udp(kLocal, 5555, kRemote, 53)) == Verdict::kAllowedNew);
  BOOST_TEST(p.out(tcp(kLocal, 40000, kRemote, 5432, kSyn)) == Verdict::kAllowedNew);
  p.now += 120s;
  BOOST_TEST(p.ct.expire(p.now) == 2u);
  BOOST_TEST(p.ct.size() == 0u);
  BOOST_TEST(p.in(udp(kRemote, 53, kLocal, 5555)) == Verdict::kDeniedPolicy);
  for (std::uint16_t port = 6000; port < 6040; ++port)  // past the first table's 16 slots
    BOOST_TEST(p.out(udp(kLocal, port, kRemote, 53)) == Verdict::kAllowedNew);
  BOOST_TEST(p.ct.size() == 40u);
  for (std::uint16_t port = 6000; port < 6040; ++port)
    BOOST_TEST(p.in(udp(kRemote, 53, kLocal, port)) == Verdict::kAllowedTracked);
  BOOST_TEST(p.in(udp(kRemote, 53, kLocal, 5555)) == Verdict::kDeniedPolicy);
}

BOOST_AUTO_TEST_CASE(rst_closes_and_new_syn_reopens) {
  Path p;
  const auto syn = tcp(kLocal, 40000, kRemote, 5432, kSyn);
  BOOST_TEST(p.out(syn) == Verdict::kAllowedNew);
  BOOST_TEST(p.in(tcp(kRemote, 5432, kLocal, 40000, kRst | kAck)) == Verdict::kAllowedTracked);
  BOOST_TEST(*p.state(syn) == FlowState::kTcpClosing);
  BOOST_TEST(p.out(syn) == Verdict::kAllowedNew);  // port reuse: a fresh, checked flow
  BOOST_TEST(*p.state(syn) == FlowState::kTcpSynSent);
}

BOOST_AUTO_TEST_CASE(udp_reply_within_timeout_then_denied) {
  Path p;
  BOOST_TEST(p.out(udp(kLocal, 5555, kRemote, 53)) == Verdict::kAllowedNew);
  p.now += 59s;
  BOOST_TEST(p.in(udp(kRemote, 53, kLocal, 5555)) == Verdict::kAllowedTracked);  // refreshes
  p.now += 59s;
  BOOST_TEST(p.in(udp(kRemote, 53, kLocal, 5555)) == Verdict::kAllowedTracked);
  p.now += 61s;
  BOOST_TEST(p.in(udp(kRemote, 53, kLocal, 5555)) == Verdict::kDeniedPolicy);
}

BOOST_AUTO_TEST_CASE(icmp_echo_and_related_errors) {
  Path p;
  BOOST_TEST(p.out(icmp(kLocal, kRemote, 8, 77)) == Verdict::kAllowedNew);
  BOOST_TEST(p.in(icmp(kRemote, kLocal, 0, 77)) == Verdict::kAllowedTracked);
  BOOST_TEST(p.in(icmp(kRemote, kLocal, 0, 78)) == Verdict::kDeniedPolicy);  // other id
  p.now += 31s;
  BOOST_TEST(p.in(icmp(kRemote, kLocal, 0, 77)) == Verdict::kDeniedPolicy);

  // Port unreachable quoting our UDP query: related to a tracked flow.
  const auto query = udp(kLocal, 5555, kRemote, 53);
  BOOST_TEST(p.out(query) == Verdict::kAllowedNew);
  const std::vector<std::uint8_t> quoted(query.begin(), query.begin() + 28);
  BOOST_TEST(p.in(icmp(kRemote, kLocal, 3, 0, quoted)) == Verdict::kAllowedRelated);
  // The same error about a flow that does not exist is denied (no icmp grant db -> web).
  const auto other = udp(kLocal, 6666, kRemote, 53);
  const std::vector<std::uint8_t> quoted_other(other.begin(), other.begin() + 28);
  BOOST_TEST(p.in(icmp(kRemote, kLocal, 3, 0, quoted_other)) == Verdict::kDeniedPolicy);
}

BOOST_AUTO_TEST_CASE(ipv6_tcp_and_icmpv6) {
  Path p;
  BOOST_TEST(p.out(tcp("fd00::1", 40000, "fd00::2", 5432, kSyn)) == Verdict::kAllowedNew);
  BOOST_TEST(p.in(tcp("fd00::2", 5432, "fd00::1", 40000, kSyn | kAck)) == Verdict::kAllowedTracked);
  BOOST_TEST(p.in(tcp("fd00::2", 5432, "fd00::1", 40001, kSyn | kAck)) == Verdict::kDeniedPolicy);
  BOOST_TEST(p.out(icmp("fd00::1", "fd00::2", 128, 9)) == Verdict::kAllowedNew);
  BOOST_TEST(p.in(icmp("fd00::2", "fd00::1", 129, 9)) == Verdict::kAllowedTracked);
  // Packet Too Big about our TCP flow (PMTU discovery must work).
  const auto seg = tcp("fd00::1", 40000, "fd00::2", 5432, kAck);
  const std::vector<std::uint8_t> quoted(seg.begin(), seg.begin() + 48);
  BOOST_TEST(p.in(icmp("fd00::2", "fd00::1", 2, 0, quoted)) == Verdict::kAllowedRelated);
}

BOOST_AUTO_TEST_CASE(malformed_and_fragments) {
  Path p;
  BOOST_TEST(p.out({}) == Verdict::kDeniedMalformed);
  auto cut = tcp(kLocal, 40000, kRemote, 5432, kSyn);
  cut.resize(30);  // header says 40 bytes
  BOOST_TEST(p.out(cut) == Verdict::kDeniedMalformed);
  // A complete IP header whose TCP header is cut short.
  auto short_tcp = ip_packet(kLocal, kRemote, ipproto::kTcp, {0, 1, 0, 2});
  BOOST_TEST(p.out(short_tcp) == Verdict::kDeniedMalformed);
  // A non-first fragment: no ports; tcp is not granted on every port, so it is dropped.
  auto frag = tcp(kLocal, 40000, kRemote, 5432, kSyn);
  frag[6] = 0x00;
  frag[7] = 0x10;  // offset 16 * 8 bytes
  BOOST_TEST(p.out(frag) == Verdict::kDeniedFragment);
}

BOOST_AUTO_TEST_CASE(table_is_bounded_and_evicts_least_recently_used) {
  ConnTrackLimits limits;
  limits.max_flows = 64;
  Path p(limits);
  for (int i = 0; i < 64; ++i)
    BOOST_TEST_REQUIRE(p.out(udp(kLocal, std::uint16_t(10000 + i), kRemote, 53)) ==
                       Verdict::kAllowedNew);
  // Touch the first flow so it is the most recent; the second is now the oldest.
  BOOST_TEST(p.in(udp(kRemote, 53, kLocal, 10000)) == Verdict::kAllowedTracked);
  BOOST_TEST(p.out(udp(kLocal, 20000, kRemote, 53)) == Verdict::kAllowedNew);
  BOOST_TEST(p.ct.size() == 64u);
  BOOST_TEST(p.ct.evictions() == 1u);
  BOOST_TEST(p.in(udp(kRemote, 53, kLocal, 10001)) == Verdict::kDeniedPolicy);
  BOOST_TEST(p.in(udp(kRemote, 53, kLocal, 10000)) == Verdict::kAllowedTracked);
  BOOST_TEST(p.in(udp(kRemote, 53, kLocal, 20000)) == Verdict::kAllowedTracked);
  for (int i = 2; i < 64; ++i)
    BOOST_TEST_REQUIRE(p.in(udp(kRemote, 53, kLocal, std::uint16_t(10000 + i))) ==
                       Verdict::kAllowedTracked);
}

BOOST_AUTO_TEST_CASE(churn_keeps_the_table_consistent) {
  // Many inserts, expiries and evictions: every tracked flow stays findable (exercises
  // backward-shift deletion in the open-addressing index).
  ConnTrackLimits limits;
  limits.max_flows = 500;
  Path p(limits);
  std::mt19937 rng(7);
  for (int step = 0; step < 20000; ++step) {
    const auto port = std::uint16_t(1024 + rng() % 3000);
    p.out(udp(kLocal, port, kRemote, 53));
    if (step % 97 == 0) p.now += 7s;
    if (step % 1000 == 0) p.ct.expire(p.now);
  }
  BOOST_TEST(p.ct.size() <= 500u);
  std::size_t found = 0;
  for (int port = 1024; port < 4024; ++port)
    if (p.state(udp(kLocal, std::uint16_t(port), kRemote, 53))) ++found;
  BOOST_TEST(found == p.ct.size());
}

BOOST_AUTO_TEST_CASE(reload_drops_flows_no_longer_granted) {
  Path p;
  BOOST_TEST(p.out(tcp(kLocal, 40000, kRemote, 5432, kSyn)) == Verdict::kAllowedNew);
  BOOST_TEST(p.out(udp(kLocal, 5555, kRemote, 53)) == Verdict::kAllowedNew);
  const Policy narrower = policy_from(R"(
rules:
  - name: dns-only
    from: { groups: [web] }
    to: { groups: [db] }
    allow: [udp/53]
)");
  BOOST_TEST(p.ct.set_policy(narrower.compile_pair(p.local, p.remote),
                             narrower.compile_pair(p.remote, p.local), kWall) == 1u);
  BOOST_TEST(p.in(tcp(kRemote, 5432, kLocal, 40000, kSyn | kAck)) == Verdict::kDeniedPolicy);
  BOOST_TEST(p.in(udp(kRemote, 53, kLocal, 5555)) == Verdict::kAllowedTracked);
}

BOOST_AUTO_TEST_CASE(schedule_boundary_drops_flows) {
  const Policy office = policy_from(R"(
rules:
  - name: office
    from: { groups: [web] }
    to: { groups: [db] }
    allow: [tcp/22]
    schedule: { days: [fri], hours: "08:00-18:00", timezone: Europe/Berlin }
)");
  Path p;
  p.ct.set_policy(office.compile_pair(p.local, p.remote), office.compile_pair(p.remote, p.local),
                  kWall);
  BOOST_TEST(p.ct.on_outbound(view(tcp(kLocal, 40000, kRemote, 22, kSyn)), p.now, kWall) ==
             Verdict::kAllowedNew);
  const WallTime closing = *office.next_change(kWall);
  BOOST_TEST(format_rfc3339_ms(closing) == "2026-03-27T17:00:00.000Z");
  BOOST_TEST(p.ct.drop_flows_not_allowed(closing - 1s) == 0u);
  BOOST_TEST(p.ct.drop_flows_not_allowed(closing) == 1u);
  BOOST_TEST(p.ct.on_outbound(view(tcp(kLocal, 40001, kRemote, 22, kSyn)), p.now, closing) ==
             Verdict::kDeniedPolicy);
}

BOOST_AUTO_TEST_CASE(both_sides_may_open_when_both_are_granted) {
  Policy both = policy_from(R"(
rules:
  - name: mesh
    from: { groups: [web] }
    to: { groups: [web] }
    allow: [tcp/443]
)");
  Path p;
  p.remote = subject("web-2", {"web"});
  p.ct.set_policy(both.compile_pair(p.local, p.remote), both.compile_pair(p.remote, p.local),
                  kWall);
  BOOST_TEST(p.in(tcp(kRemote, 50000, kLocal, 443, kSyn)) == Verdict::kAllowedNew);
  BOOST_TEST(p.out(tcp(kLocal, 443, kRemote, 50000, kSyn | kAck)) == Verdict::kAllowedTracked);
  BOOST_TEST(p.out(tcp(kLocal, 50000, kRemote, 443, kSyn)) == Verdict::kAllowedNew);
}

BOOST_AUTO_TEST_CASE(packet_view_fields) {
  const auto pkt = tcp(kLocal, 40000, kRemote, 5432, kSyn);
  const PacketView v = view(pkt);
  BOOST_TEST(v.valid);
  BOOST_TEST(v.tuple.version == 4);
  BOOST_TEST((v.proto == Proto::kTcp));
  BOOST_TEST(v.tuple.src_port == 40000);
  BOOST_TEST(v.tuple.dst_port == 5432);
  BOOST_TEST(v.policy_port() == 5432);
  BOOST_TEST(v.tcp_flags == kSyn);
  // IPv6 with a hop-by-hop extension header before UDP.
  std::vector<std::uint8_t> l4 = {17, 0, 0, 0, 0, 0, 0, 0};  // next header UDP, length 0
  const std::vector<std::uint8_t> u = {0x13, 0x88, 0x00, 0x35, 0, 8, 0, 0};
  l4.insert(l4.end(), u.begin(), u.end());
  const auto v6 = ip_packet("fd00::1", "fd00::2", 0, l4);
  const PacketView w = view(v6);
  BOOST_TEST(w.valid);
  BOOST_TEST((w.proto == Proto::kUdp));
  BOOST_TEST(w.tuple.src_port == 5000);
  BOOST_TEST(w.tuple.dst_port == 53);
}
