// Flow records: what connection tracking writes when a flow starts and ends (identities, rule,
// packets and bytes each way, duration, end reason), the rate limit with its count of dropped
// records, and the audit file sink's rotation (reopen after mv, follow without SIGHUP,
// copytruncate).
#define BOOST_TEST_MODULE policy_flow_log
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "policy/conntrack.h"
#include "policy/flow_log.h"
#include "policy_test_util.h"

using namespace keymesh;
using namespace keymesh::policy;
using namespace keymesh::policy::test;
using namespace std::chrono_literals;
using tcpflag::kAck;
using tcpflag::kFin;
using tcpflag::kRst;
using tcpflag::kSyn;
using nlohmann::json;

namespace {

constexpr const char* kLocal = "10.0.0.1";
constexpr const char* kRemote = "10.0.0.2";
const WallTime kWall = utc("2026-03-27T12:00:00Z");

const char* kPolicy = R"(
rules:
  - name: web-to-db
    from: { groups: [web] }
    to: { groups: [db] }
    allow: [tcp/5432, udp/53]
)";

struct Logged {
  MemoryAuditSink sink;
  FlowLog log;
  Policy policy = policy_from(kPolicy);
  Subject local = subject("web-1", {"web"});
  Subject remote = subject("db-1", {"db"});
  TimePoint now{std::chrono::hours(1000)};
  WallTime wall = kWall;
  std::unique_ptr<ConnTrack> ct;

  explicit Logged(std::uint32_t rate = 1000, ConnTrackLimits limits = {}) : log(sink, rate) {
    ct = std::make_unique<ConnTrack>(policy.compile_pair(local, remote),
                                     policy.compile_pair(remote, local), limits);
    ct->set_flow_log(&log, {"web-1", "fp-web", {"web"}}, {"db-1", "fp-db", {"db"}});
  }
  Verdict out(const std::vector<std::uint8_t>& p) { return ct->on_outbound(view(p), now, wall); }
  Verdict in(const std::vector<std::uint8_t>& p) { return ct->on_inbound(view(p), now, wall); }
  std::vector<json> records() const {
    std::vector<json> r;
    for (const auto& l : sink.lines) r.push_back(json::parse(l));
    return r;
  }
};

}  // namespace

namespace keymesh::policy {
std::ostream& boost_test_print_type(std::ostream& os, Verdict v) { return os << verdict_name(v); }
}  // namespace keymesh::policy

BOOST_AUTO_TEST_CASE(tcp_flow_start_and_fin_end_with_counts) {
  Logged p;
  const auto syn = tcp(kLocal, 40000, kRemote, 5432, kSyn);
  BOOST_TEST(p.out(syn) == Verdict::kAllowedNew);
  BOOST_REQUIRE_EQUAL(p.sink.lines.size(), 1u);
  const json start = p.records()[0];
  BOOST_TEST(start["event"] == "flow_started");
  BOOST_TEST(start["protocol"] == "tcp");
  BOOST_TEST(start["source"]["ip"] == kLocal);
  BOOST_TEST(start["source"]["port"] == 40000);
  BOOST_TEST(start["source"]["name"] == "web-1");
  BOOST_TEST(start["source"]["fingerprint"] == "fp-web");
  BOOST_TEST(start["source"]["groups"] == json::array({"web"}));
  BOOST_TEST(start["destination"]["ip"] == kRemote);
  BOOST_TEST(start["destination"]["port"] == 5432);
  BOOST_TEST(start["destination"]["name"] == "db-1");
  BOOST_TEST(start["rule"] == "web-to-db");
  BOOST_TEST(start["end_reason"].is_null());
  BOOST_TEST(start["start"] == "2026-03-27T12:00:00.000Z");

  std::uint64_t out_bytes = syn.size(), in_bytes = 0;
  auto send_out = [&](std::uint8_t flags, std::size_t payload) {
    auto pkt = tcp(kLocal, 40000, kRemote, 5432, flags);
    pkt.resize(pkt.size() + payload);
    put16(pkt, 2, std::uint16_t(pkt.size()));  // IPv4 total length
    out_bytes += pkt.size();
    BOOST_TEST(p.out(pkt) == Verdict::kAllowedTracked);
  };
  auto send_in = [&](std::uint8_t flags, std::size_t payload) {
    auto pkt = tcp(kRemote, 5432, kLocal, 40000, flags);
    pkt.resize(pkt.size() + payload);
    put16(pkt, 2, std::uint16_t(pkt.size()));
    in_bytes += pkt.size();
    BOOST_TEST(p.in(pkt) == Verdict::kAllowedTracked);
  };
  send_in(kSyn | kAck, 0);
  send_out(kAck, 1000);
  p.now += 2s;
  send_in(kAck, 300);
  send_out(kFin | kAck, 0);
  send_in(kFin | kAck, 0);
  send_out(kAck, 0);
  BOOST_TEST(p.sink.lines.size() == 1u);  // the end record waits until the flow is forgotten
  p.now += 11s;
  BOOST_TEST(p.ct->expire(p.now) == 1u);
  BOOST_REQUIRE_EQUAL(p.sink.lines.size(), 2u);
  const json end = p.records()[1];
  BOOST_TEST(end["event"] == "flow_ended");
  BOOST_TEST(end["flow_id"] == start["flow_id"]);
  BOOST_TEST(end["end_reason"] == "fin");
  BOOST_TEST(end["source"]["packets"] == 4);
  BOOST_TEST(end["source"]["bytes"] == out_bytes);
  BOOST_TEST(end["destination"]["packets"] == 3);
  BOOST_TEST(end["destination"]["bytes"] == in_bytes);
  BOOST_TEST(end["duration_ms"] == 2000);
  BOOST_TEST(end["rule"] == "web-to-db");
}

BOOST_AUTO_TEST_CASE(end_reasons_rst_timeout_policy_evicted_path_closed) {
  ConnTrackLimits small;
  small.max_flows = 2;
  Logged p(1000, small);
  BOOST_TEST(p.out(tcp(kLocal, 40000, kRemote, 5432, kSyn)) == Verdict::kAllowedNew);
  BOOST_TEST(p.in(tcp(kRemote, 5432, kLocal, 40000, kRst | kAck)) == Verdict::kAllowedTracked);
  BOOST_TEST(p.out(udp(kLocal, 5555, kRemote, 53)) == Verdict::kAllowedNew);
  p.now += 11s;
  p.ct->expire(p.now);  // the reset flow goes; udp (60 s) stays
  p.now += 60s;
  p.ct->expire(p.now);
  // Table of 2: the third flow evicts the oldest.
  BOOST_TEST(p.out(udp(kLocal, 1, kRemote, 53)) == Verdict::kAllowedNew);
  BOOST_TEST(p.out(udp(kLocal, 2, kRemote, 53)) == Verdict::kAllowedNew);
  BOOST_TEST(p.out(udp(kLocal, 3, kRemote, 53)) == Verdict::kAllowedNew);
  // A reload without udp/53 ends the udp flows with "policy".
  const Policy tcp_only = policy_from(R"(
rules:
  - { name: web-to-db, from: { groups: [web] }, to: { groups: [db] }, allow: [tcp/5432] }
)");
  BOOST_TEST(p.out(tcp(kLocal, 40001, kRemote, 5432, kSyn)) == Verdict::kAllowedNew);  // evicts 2
  p.ct->set_policy(tcp_only.compile_pair(p.local, p.remote), tcp_only.compile_pair(p.remote, p.local),
                   p.wall);
  p.ct.reset();  // the path closes with the tcp flow still open
  std::vector<std::string> reasons;
  for (const auto& r : p.records())
    if (r["event"] == "flow_ended") reasons.push_back(r["end_reason"]);
  const std::vector<std::string> want = {"rst", "timeout", "evicted", "evicted", "policy",
                                         "path_closed"};
  BOOST_TEST(reasons == want, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(no_record_for_denied_packets) {
  Logged p;
  BOOST_TEST(p.out(tcp(kLocal, 40000, kRemote, 22, kSyn)) == Verdict::kDeniedPolicy);
  BOOST_TEST(p.in(tcp(kRemote, 5432, kLocal, 40000, kSyn)) == Verdict::kDeniedPolicy);
  BOOST_TEST(p.sink.lines.empty());
}

BOOST_AUTO_TEST_CASE(inbound_flow_names_the_remote_as_source) {
  const Policy both = policy_from(R"(
rules:
  - { name: db-to-web, from: { groups: [db] }, to: { groups: [web] }, allow: [tcp/8080] }
)");
  Logged p;
  p.ct->set_policy(both.compile_pair(p.local, p.remote), both.compile_pair(p.remote, p.local),
                   p.wall);
  BOOST_TEST(p.in(tcp(kRemote, 33000, kLocal, 8080, kSyn)) == Verdict::kAllowedNew);
  const json start = p.records().at(0);
  BOOST_TEST(start["source"]["name"] == "db-1");
  BOOST_TEST(start["source"]["ip"] == kRemote);
  BOOST_TEST(start["destination"]["name"] == "web-1");
  BOOST_TEST(start["destination"]["port"] == 8080);
  BOOST_TEST(start["rule"] == "db-to-web");
}

BOOST_AUTO_TEST_CASE(rate_limit_counts_what_it_drops) {
  Logged p(3);
  for (std::uint16_t port = 1; port <= 10; ++port)
    BOOST_TEST(p.out(udp(kLocal, port, kRemote, 53)) == Verdict::kAllowedNew);
  BOOST_TEST(p.sink.lines.size() == 3u);
  BOOST_TEST(p.log.dropped() == 7u);
  p.log.flush(p.wall + 500ms);  // the second has not passed
  BOOST_TEST(p.sink.lines.size() == 3u);
  p.log.flush(p.wall + 1s);
  BOOST_REQUIRE_EQUAL(p.sink.lines.size(), 4u);
  const json d = p.records()[3];
  BOOST_TEST(d["event"] == "flow_records_dropped");
  BOOST_TEST(d["count"] == 7);
  p.log.flush(p.wall + 3s);  // nothing more to report
  BOOST_TEST(p.sink.lines.size() == 4u);
  // The next second writes again.
  p.wall += 2s;
  BOOST_TEST(p.out(udp(kLocal, 11, kRemote, 53)) == Verdict::kAllowedNew);
  BOOST_TEST(p.sink.lines.size() == 5u);
  BOOST_TEST(p.log.written() == 4u);
}

namespace {
std::vector<std::string> lines_of(const std::filesystem::path& f) {
  std::ifstream in(f);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}
}  // namespace

BOOST_AUTO_TEST_CASE(file_sink_reopens_after_mv_and_follows_truncation) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("km-flowlog-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = dir / "audit.jsonl";
  auto sink = FileAuditSink::open(path.string());
  BOOST_REQUIRE(sink.has_value());
  (*sink)->write("one\n");
  std::filesystem::rename(path, dir / "audit.jsonl.1");
  (*sink)->write("two\n");  // still the moved file until reopened
  BOOST_REQUIRE((*sink)->reopen().has_value());
  (*sink)->write("three\n");
  BOOST_TEST(lines_of(dir / "audit.jsonl.1") == (std::vector<std::string>{"one", "two"}),
             boost::test_tools::per_element());
  BOOST_TEST(lines_of(path) == std::vector<std::string>{"three"}, boost::test_tools::per_element());
  // Moved again without a reopen: follow() notices and starts a new file.
  std::filesystem::rename(path, dir / "audit.jsonl.2");
  (*sink)->follow();
  (*sink)->write("four\n");
  BOOST_TEST(lines_of(path) == std::vector<std::string>{"four"}, boost::test_tools::per_element());
  BOOST_TEST((*sink)->reopens() == 2u);
  // copytruncate: the next line lands at offset 0, no hole before it.
  (*sink)->write("five\n");
  (*sink)->follow();
  std::filesystem::resize_file(path, 0);
  (*sink)->follow();
  BOOST_TEST((*sink)->truncations() == 1u);
  (*sink)->write("six\n");
  BOOST_TEST(std::filesystem::file_size(path) == 4u);
  BOOST_TEST(lines_of(path) == std::vector<std::string>{"six"}, boost::test_tools::per_element());
  std::filesystem::remove_all(dir);
}
