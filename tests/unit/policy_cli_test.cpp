// `keymesh policy check` and `keymesh audit tail` as an operator runs them: a root CA, two
// workloads (groups web and db) and a policy granting web -> db tcp/5432 on a schedule; the
// decision, its reason and the exit code (0 allow, 1 deny, 2 error) for flows inside and
// outside the grant; then audit lines printed, including a malformed one, and followed.
#define BOOST_TEST_MODULE policy_cli
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "tests/unit/identity_test_util.h"

using keymesh::test::Run;
using keymesh::test::TempDir;
using keymesh::test::has;
using keymesh::test::slurp;

namespace {

const std::string kCli = KEYMESH_CLI;



void write_file(const std::string& path, const std::string& text, bool append = false) {
  std::ofstream out(path, append ? std::ios::binary | std::ios::app : std::ios::binary);
  out << text;
}

Run run(const std::string& args) {
  Run r = keymesh::test::run_shell(kCli + " " + args);
  BOOST_TEST_MESSAGE("$ keymesh " << args << "\n" << r.out << r.err << "(exit " << r.code << ")");
  return r;
}


// Tomorrow (UTC) at hh:mm, RFC 3339: inside the 30-day certificates issued below.
std::string tomorrow_at(const char* hhmm) {
  const std::time_t t = std::time(nullptr) + 86400;
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char date[16];
  std::strftime(date, sizeof date, "%Y-%m-%d", &tm);
  return std::string(date) + "T" + hhmm + ":00Z";
}

// Root CA, workloads web-1 (group web) and db-1 (group db), another root that signed
// neither, and a policy: web -> db tcp/5432 every day 08:00-18:00 UTC.
struct Setup {
  TempDir dir;
  std::string root = dir / "root.crt", other = dir / "other.crt";
  std::string web = dir / "web.crt", db = dir / "db.crt";
  std::string policy = dir / "policy.yaml";
  Setup() {
    BOOST_REQUIRE(run("ca init --name acme-root --out " + root + " --key-out " +
                      dir / "root.key").code == 0);
    BOOST_REQUIRE(run("ca init --name other-root --out " + other + " --key-out " +
                      dir / "other.key").code == 0);
    BOOST_REQUIRE(run("cert sign --ca " + root + " --ca-key " + dir / "root.key" +
                      " --kind workload --name web-1 --groups web --labels app=web"
                      " --networks 10.1.0.5/32 --lifetime 720h --key-out " + dir / "web.key" +
                      " --out " + web).code == 0);
    BOOST_REQUIRE(run("cert sign --ca " + root + " --ca-key " + dir / "root.key" +
                      " --kind workload --name db-1 --groups db --networks 10.1.0.6/32"
                      " --lifetime 720h --key-out " + dir / "db.key" + " --out " + db).code == 0);
    write_file(policy,
               "rules:\n"
               "  - name: web-to-db\n"
               "    from: { groups: [web] }\n"
               "    to:   { groups: [db] }\n"
               "    allow: [tcp/5432]\n"
               "    schedule: { hours: \"08:00-18:00\", timezone: UTC }\n");
  }
  Run check(const std::string& from, const std::string& to, const std::string& extra) {
    return run("policy check --policy " + policy + " --from " + from + " --to " + to + " " +
               extra);
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(policy_check)

BOOST_AUTO_TEST_CASE(allow_inside_the_schedule) {
  Setup s;
  const Run r = s.check(s.web, s.db, "--port tcp/5432 --at " + tomorrow_at("10:00"));
  BOOST_TEST(r.code == 0);
  BOOST_TEST(r.out == "allow (rule web-to-db)\n");
  // Validated against the root: the same answer.
  const Run v =
      s.check(s.web, s.db, "--port tcp/5432 --ca " + s.root + " --at " + tomorrow_at("10:00"));
  BOOST_TEST(v.code == 0);
  BOOST_TEST(v.out == "allow (rule web-to-db)\n");
}

BOOST_AUTO_TEST_CASE(deny_other_port_with_reason) {
  Setup s;
  const Run r = s.check(s.web, s.db, "--port tcp/22 --at " + tomorrow_at("10:00"));
  BOOST_TEST(r.code == 1);
  BOOST_TEST(r.out == "deny: no rule grants tcp/22 from web-1 to db-1\n");
  const Run u = s.check(s.web, s.db, "--port udp/5432 --at " + tomorrow_at("10:00"));
  BOOST_TEST(u.code == 1);
  BOOST_TEST(u.out == "deny: no rule grants udp/5432 from web-1 to db-1\n");
  const Run i = s.check(s.web, s.db, "--port icmp --at " + tomorrow_at("10:00"));
  BOOST_TEST(i.code == 1);
  BOOST_TEST(i.out == "deny: no rule grants icmp from web-1 to db-1\n");
}

BOOST_AUTO_TEST_CASE(deny_outside_the_schedule) {
  Setup s;
  const Run r = s.check(s.web, s.db, "--port tcp/5432 --at " + tomorrow_at("20:00"));
  BOOST_TEST(r.code == 1);
  BOOST_TEST(r.out ==
             "deny: no rule grants tcp/5432 from web-1 to db-1 now (rule web-to-db is outside "
             "its schedule)\n");
  // Half-open hours: 18:00 is outside, 08:00 inside.
  BOOST_TEST(s.check(s.web, s.db, "--port tcp/5432 --at " + tomorrow_at("18:00")).code == 1);
  BOOST_TEST(s.check(s.web, s.db, "--port tcp/5432 --at " + tomorrow_at("08:00")).code == 0);
}

BOOST_AUTO_TEST_CASE(deny_reverse_direction) {
  Setup s;
  const Run r = s.check(s.db, s.web, "--port tcp/5432 --at " + tomorrow_at("10:00"));
  BOOST_TEST(r.code == 1);
  BOOST_TEST(r.out == "deny: no rule grants tcp/5432 from db-1 to web-1\n");
}

BOOST_AUTO_TEST_CASE(json_output) {
  Setup s;
  const Run r = s.check(s.web, s.db, "--port tcp/5432 --json --at " + tomorrow_at("10:00"));
  BOOST_TEST(r.code == 0);
  BOOST_TEST(has(r.out, "\"decision\":\"allow\",\"rule\":\"web-to-db\""));
  BOOST_TEST(has(r.out, "\"reason\":\"rule web-to-db grants tcp/5432 from web-1 to db-1\""));
  BOOST_TEST(has(r.out, "\"service\":\"tcp/5432\""));
  const Run d = s.check(s.web, s.db, "--port tcp/22 --json --at " + tomorrow_at("10:00"));
  BOOST_TEST(d.code == 1);
  BOOST_TEST(has(d.out, "\"decision\":\"deny\",\"rule\":null"));
}

BOOST_AUTO_TEST_CASE(broken_policy_is_an_error) {
  Setup s;
  const std::string bad = s.dir / "bad.yaml";
  write_file(bad,
             "rules:\n"
             "  - name: web-to-db\n"
             "    from: { groups: [web] }\n"
             "    to:   { groups: [db] }\n"
             "    allow: [tcp/70000]\n");
  const Run r = run("policy check --policy " + bad + " --from " + s.web + " --to " + s.db +
                    " --port tcp/5432");
  BOOST_TEST(r.code == 2);
  BOOST_TEST(r.out.empty());
  BOOST_TEST(r.err ==
             "keymesh: " + bad + ": rules[0] (web-to-db).allow[0]: \"tcp/70000\" port out of range\n");
}

BOOST_AUTO_TEST_CASE(invalid_chain_is_refused) {
  Setup s;
  // web-1 was not issued by other-root.
  const Run r = s.check(s.web, s.db, "--port tcp/5432 --ca " + s.other);
  BOOST_TEST(r.code == 2);
  BOOST_TEST(r.out.empty());
  BOOST_TEST(has(r.err, "keymesh: " + s.web + ": certificate \"web-1\""));
  BOOST_TEST(has(r.err, "is not a trusted root"));
  // A CA certificate is not an identity.
  const Run ca = s.check(s.root, s.db, "--port tcp/5432");
  BOOST_TEST(ca.code == 2);
  BOOST_TEST(has(ca.err, "is a CA"));
}

BOOST_AUTO_TEST_CASE(bad_arguments_are_errors) {
  Setup s;
  const Run range = s.check(s.web, s.db, "--port tcp/1-2");
  BOOST_TEST(range.code == 2);
  BOOST_TEST(has(range.err, "is not one service"));
  const Run port = s.check(s.web, s.db, "--port tcp/70000");
  BOOST_TEST(port.code == 2);
  BOOST_TEST(has(port.err, "port out of range"));
  const Run at = s.check(s.web, s.db, "--port tcp/5432 --at yesterday");
  BOOST_TEST(at.code == 2);
  BOOST_TEST(has(at.err, "--at"));
  const Run missing = s.check(s.dir / "nope.crt", s.db, "--port tcp/5432");
  BOOST_TEST(missing.code == 2);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(audit_tail)

const std::string kOpened =
    R"({"time":"2026-11-22T07:00:00.123Z","event":"path_opened","local":{"name":"web-1","fingerprint":"ab12","groups":["web"]},"remote":{"name":"db-1","fingerprint":"cd34","groups":["db"]},"rule":"web-to-db","reason":"rule web-to-db grants tcp/5432 from web-1 to db-1"})";
const std::string kRefused =
    R"({"time":"2026-11-22T07:00:01.000Z","event":"path_refused","local":{"name":"web-1","fingerprint":"ab12","groups":["web"]},"remote":{"name":"db-1","fingerprint":"cd34","groups":["db"]},"rule":null,"reason":"no rule grants tcp/22 from web-1 to db-1"})";
const std::string kDenied =
    R"({"time":"2026-11-22T07:00:02.000Z","event":"packet_denied","local":{"name":"web-1","fingerprint":"ab12","groups":["web"]},"remote":{"name":"db-1","fingerprint":"cd34","groups":["db"]},"rule":null,"reason":"no rule grants tcp/22 from web-1 to db-1","count":7})";
const std::string kReloaded =
    R"({"time":"2026-11-22T07:00:03.000Z","event":"policy_reloaded","local":null,"remote":null,"rule":null,"reason":"policy reloaded: 3 rules"})";
const std::string kMalformed = R"({"time":"2026-11-22T07:00:04.000Z","event":)";

const std::string kOpenedText =
    "2026-11-22T07:00:00.123Z path_opened web-1 -> db-1 rule=web-to-db reason=rule web-to-db "
    "grants tcp/5432 from web-1 to db-1";
const std::string kRefusedText =
    "2026-11-22T07:00:01.000Z path_refused web-1 -> db-1 rule=- reason=no rule grants tcp/22 "
    "from web-1 to db-1";
const std::string kDeniedText =
    "2026-11-22T07:00:02.000Z packet_denied web-1 -> db-1 rule=- count=7 reason=no rule grants "
    "tcp/22 from web-1 to db-1";
const std::string kReloadedText =
    "2026-11-22T07:00:03.000Z policy_reloaded - -> - rule=- reason=policy reloaded: 3 rules";

BOOST_AUTO_TEST_CASE(prints_formatted_lines_and_marks_malformed_ones) {
  TempDir dir;
  const std::string log = dir / "audit.log";
  write_file(log, kOpened + "\n" + kRefused + "\n" + kDenied + "\n" + kMalformed + "\n" +
                      kReloaded + "\n");
  const Run r = run("audit tail --file " + log);
  BOOST_TEST(r.code == 0);
  BOOST_TEST(r.out == kOpenedText + "\n" + kRefusedText + "\n" + kDeniedText + "\n[malformed] " +
                          kMalformed + "\n" + kReloadedText + "\n");
  // -n: only the last lines.
  const Run two = run("audit tail -n 2 --file " + log);
  BOOST_TEST(two.code == 0);
  BOOST_TEST(two.out == "[malformed] " + kMalformed + "\n" + kReloadedText + "\n");
  // --json: the lines as they are.
  const Run json = run("audit tail --json -n 3 --file " + log);
  BOOST_TEST(json.code == 0);
  BOOST_TEST(json.out == kDenied + "\n" + kMalformed + "\n" + kReloaded + "\n");
}

BOOST_AUTO_TEST_CASE(default_is_the_last_twenty_lines) {
  TempDir dir;
  const std::string log = dir / "audit.log";
  std::string text;
  for (int i = 0; i < 25; ++i) text += kRefused + "\n";
  text += kOpened;  // no trailing newline: still a line
  write_file(log, text);
  const Run r = run("audit tail --file " + log);
  BOOST_TEST(r.code == 0);
  std::string expect;
  for (int i = 0; i < 19; ++i) expect += kRefusedText + "\n";
  expect += kOpenedText + "\n";
  BOOST_TEST(r.out == expect);
}

BOOST_AUTO_TEST_CASE(missing_file_is_an_error) {
  TempDir dir;
  const Run r = run("audit tail --file " + dir / "none.log");
  BOOST_TEST(r.code == 1);
  BOOST_TEST(has(r.err, "none.log: No such file or directory"));
}

// Waits up to 5 s for `path` to contain `part`.
bool eventually_contains(const std::string& path, const std::string& part) {
  for (int i = 0; i < 100; ++i) {
    if (has(slurp(path), part)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

BOOST_AUTO_TEST_CASE(follow_picks_up_appended_truncated_and_rotated_files) {
  TempDir dir;
  const std::string log = dir / "audit.log", out = dir / "out";
  write_file(log, kOpened + "\n");
  // `timeout` bounds the run should the kill below never come.
  const pid_t pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    std::freopen(out.c_str(), "w", stdout);
    ::execl("/usr/bin/timeout", "timeout", "20", kCli.c_str(), "audit", "tail", "--follow",
            "--file", log.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  BOOST_TEST(eventually_contains(out, kOpenedText + "\n"));
  // Appended after start; the second part of a line written in two pieces.
  write_file(log, kRefused + "\n", true);
  BOOST_TEST(eventually_contains(out, kRefusedText + "\n"));
  write_file(log, kDenied.substr(0, 40), true);
  std::this_thread::sleep_for(std::chrono::milliseconds(450));
  write_file(log, kDenied.substr(40) + "\n", true);
  BOOST_TEST(eventually_contains(out, kDeniedText + "\n"));
  // Truncated: read again from the start.
  write_file(log, kReloaded + "\n");
  BOOST_TEST(eventually_contains(out, kReloadedText + "\n"));
  // Rotated: the old file moved away, a new one at the path.
  BOOST_REQUIRE(std::rename(log.c_str(), (dir / "audit.log.1").c_str()) == 0);
  write_file(log, kMalformed + "\n");
  BOOST_TEST(eventually_contains(out, "[malformed] " + kMalformed + "\n"));

  ::kill(pid, SIGTERM);
  int status = 0;
  BOOST_REQUIRE(::waitpid(pid, &status, 0) == pid);
  BOOST_TEST(slurp(out) == kOpenedText + "\n" + kRefusedText + "\n" + kDeniedText + "\n" +
                               kReloadedText + "\n[malformed] " + kMalformed + "\n");
}

BOOST_AUTO_TEST_SUITE_END()
