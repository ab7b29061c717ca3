// Audit lines: exact format, JSON validity (parsed back with nlohmann::json) including
// hostile strings, the packet_denied rate limit, and the file sink appending.
#define BOOST_TEST_MODULE policy_audit
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "policy/audit.h"
#include "policy_test_util.h"

using namespace keymesh;
using namespace keymesh::policy;
using namespace keymesh::policy::test;
using namespace std::chrono_literals;

namespace {

AuditParty party(std::string name, std::string fp, std::vector<std::string> groups) {
  return {std::move(name), std::move(fp), std::move(groups)};
}

AuditEvent denied(WallTime t, std::string remote = "db-1") {
  AuditEvent e;
  e.time = t;
  e.event = AuditEventType::kPacketDenied;
  e.local = party("web-1", "fp-web-1", {"web"});
  e.remote = party(remote, "fp-" + remote, {"db"});
  e.reason = "no rule grants tcp/22 from web-1 to " + remote;
  return e;
}

}  // namespace

BOOST_AUTO_TEST_CASE(path_opened_line_is_exact) {
  AuditEvent e;
  e.time = utc("2026-03-29T01:00:00.123Z");
  e.event = AuditEventType::kPathOpened;
  e.local = party("web-1", "ab12", {"web", "prod"});
  e.remote = party("db-1", "cd34", {"db"});
  e.rule = "web-to-db";
  e.reason = "rule web-to-db grants tcp/5432 from web-1 to db-1";
  BOOST_TEST(format_audit_line(e) ==
             R"({"time":"2026-03-29T01:00:00.123Z","event":"path_opened",)"
             R"("local":{"name":"web-1","fingerprint":"ab12","groups":["web","prod"]},)"
             R"("remote":{"name":"db-1","fingerprint":"cd34","groups":["db"]},)"
             R"("rule":"web-to-db","reason":"rule web-to-db grants tcp/5432 from web-1 to db-1"})"
             "\n");
}

BOOST_AUTO_TEST_CASE(absent_parties_and_rule_are_null) {
  AuditEvent e;
  e.time = utc("2026-03-29T01:00:00Z");
  e.event = AuditEventType::kPolicyReloaded;
  e.reason = "12 rules from /etc/keymesh/policy.yaml";
  BOOST_TEST(format_audit_line(e) ==
             R"({"time":"2026-03-29T01:00:00.000Z","event":"policy_reloaded","local":null,)"
             R"("remote":null,"rule":null,"reason":"12 rules from /etc/keymesh/policy.yaml"})"
             "\n");
}

BOOST_AUTO_TEST_CASE(every_event_name) {
  const std::vector<std::pair<AuditEventType, std::string>> names = {
      {AuditEventType::kPathOpened, "path_opened"},
      {AuditEventType::kPathRefused, "path_refused"},
      {AuditEventType::kPathClosed, "path_closed"},
      {AuditEventType::kPacketDenied, "packet_denied"},
      {AuditEventType::kHandshakeRejected, "handshake_rejected"},
      {AuditEventType::kCertificateRejected, "certificate_rejected"},
      {AuditEventType::kPolicyReloaded, "policy_reloaded"}};
  for (const auto& [type, name] : names) {
    AuditEvent e;
    e.event = type;
    const auto j = nlohmann::json::parse(format_audit_line(e));
    BOOST_TEST(j["event"].get<std::string>() == name);
    BOOST_TEST(j.contains("count") == (type == AuditEventType::kPacketDenied || type == AuditEventType::kHandshakeRejected || type == AuditEventType::kCertificateRejected || type == AuditEventType::kPathRefused));
  }
}

BOOST_AUTO_TEST_CASE(hostile_strings_round_trip) {
  AuditEvent e;
  e.time = utc("2026-03-29T01:00:00Z");
  e.event = AuditEventType::kCertificateRejected;
  const std::string nasty = std::string("a\"b\\c\nd\te\x01\x7f") + "\xc3\xa9" + "\xe2\x82\xac" +
                            "\xf0\x9f\x94\x91" + std::string(1, '\0') + "}";
  e.remote = party(nasty, "ff", {"g\"1", ""});
  e.reason = "bad \xff\xfe bytes \xc0\xaf overlong \xed\xa0\x80 surrogate";
  const std::string line = format_audit_line(e);
  BOOST_TEST(line.find('\n') == line.size() - 1);  // one line exactly
  const auto j = nlohmann::json::parse(line);
  BOOST_TEST(j["remote"]["name"].get<std::string>() == nasty);
  BOOST_TEST(j["remote"]["groups"][0].get<std::string>() == "g\"1");
  const std::string replaced = j["reason"].get<std::string>();
  BOOST_TEST(replaced.find("\xef\xbf\xbd") != std::string::npos);
  BOOST_TEST(j["rule"].is_null());
}

BOOST_AUTO_TEST_CASE(packet_denied_is_rate_limited_per_pair) {
  MemoryAuditSink sink;
  AuditLog log(sink);
  const WallTime t0 = utc("2026-03-29T01:00:00Z");
  // A flood from one pair: 1,000 packets per second for 3 seconds.
  for (int i = 0; i < 3000; ++i) log.record(denied(t0 + std::chrono::milliseconds(i)));
  // Another pair is not held back by the first.
  log.record(denied(t0 + 10ms, "db-2"));
  log.flush(t0 + 3500ms);
  log.flush(t0 + 5000ms);  // nothing pending; forgets the pairs
  std::vector<nlohmann::json> lines;
  for (const auto& l : sink.lines) lines.push_back(nlohmann::json::parse(l));
  std::uint64_t total = 0;
  std::vector<std::string> times;
  for (const auto& j : lines) {
    if (j["remote"]["name"] == "db-1") {
      total += j["count"].get<std::uint64_t>();
      times.push_back(j["time"].get<std::string>());
    }
  }
  BOOST_TEST(total == 3000u);  // every denied packet counted once
  BOOST_TEST(times == (std::vector<std::string>{"2026-03-29T01:00:00.000Z",
                                                "2026-03-29T01:00:01.000Z",
                                                "2026-03-29T01:00:02.000Z",
                                                "2026-03-29T01:00:03.500Z"}));
  BOOST_TEST(lines[0]["count"] == 1);
  BOOST_TEST(lines.size() == 5u);
  // After the pair was forgotten, the next denied packet is reported at once again.
  log.record(denied(t0 + 6000ms));
  BOOST_TEST(sink.lines.size() == 6u);
  BOOST_TEST(nlohmann::json::parse(sink.lines.back())["count"] == 1);
}

BOOST_AUTO_TEST_CASE(other_events_are_never_rate_limited) {
  MemoryAuditSink sink;
  AuditLog log(sink);
  AuditEvent e;
  e.event = AuditEventType::kPathRefused;
  e.time = utc("2026-03-29T01:00:00Z");
  for (int i = 0; i < 5; ++i) log.record(e);
  BOOST_TEST(sink.lines.size() == 5u);
}

BOOST_AUTO_TEST_CASE(file_sink_appends_lines) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("keymesh-audit-" + std::to_string(::getpid()) + ".log");
  std::filesystem::remove(path);
  {
    std::ofstream(path) << "existing\n";
    auto sink = FileAuditSink::open(path.string());
    BOOST_REQUIRE(sink);
    AuditLog log(**sink);
    AuditEvent e;
    e.event = AuditEventType::kPathClosed;
    e.time = utc("2026-03-29T01:00:00Z");
    e.reason = "policy reload: no rule grants any traffic";
    log.record(e);
    log.record(e);
    BOOST_TEST((*sink)->write_errors() == 0u);
  }
  std::ifstream in(path);
  std::string line;
  std::vector<std::string> lines;
  while (std::getline(in, line)) lines.push_back(line);
  BOOST_REQUIRE_EQUAL(lines.size(), 3u);
  BOOST_TEST(lines[0] == "existing");
  BOOST_TEST(nlohmann::json::parse(lines[2])["event"] == "path_closed");
  std::filesystem::remove(path);

  auto bad = FileAuditSink::open("/nonexistent-dir/audit.log");
  BOOST_REQUIRE(!bad);
  BOOST_TEST(bad.error().message ==
             "cannot open audit log /nonexistent-dir/audit.log: No such file or directory");
}
