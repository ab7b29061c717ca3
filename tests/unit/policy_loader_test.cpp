// Policy loading: a full example, exact error messages (rule index and name, key path,
// problem), unknown keys, and reload keeping the old policy on error.
#define BOOST_TEST_MODULE policy_loader
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "policy_test_util.h"

using namespace keymesh;
using namespace keymesh::policy;
using namespace keymesh::policy::test;

namespace {

std::string error_of(std::string_view yaml) {
  auto p = parse_policy(yaml);
  BOOST_REQUIRE_MESSAGE(!p.has_value(), "expected an error for:\n" << yaml);
  return p.error().message;
}

// Wraps one rule body (indented two spaces under "rules:") after a valid first rule.
std::string with_rule(std::string_view body) {
  return "rules:\n"
         "  - name: ok\n"
         "    from: {}\n"
         "    to: {}\n"
         "    allow: [icmp]\n"
         "  - name: web-to-db\n" +
         std::string(body);
}

}  // namespace

BOOST_AUTO_TEST_CASE(full_example_loads) {
  const Policy p = policy_from(R"(
rules:
  - name: web-to-db
    from: { groups: [web] }
    to:   { groups: [db], kind: workload }
    allow: [tcp/5432, udp/53, icmp, "tcp/8000-8080"]
    schedule: { days: [mon, tue, wed, thu, fri], hours: "08:00-18:00", timezone: Europe/Berlin }
    not_before: 2026-11-01T00:00:00Z
    expires: 2026-12-01T00:00:00+01:00
    when: { from_context: { site: onprem }, to_context: { site: cloud } }
  - name: admins
    from: { name: "admin-*", labels: { team: ops }, cidr: [10.0.0.0/8, "fd00::/8"] }
    to: {}
    allow: [any]
)");
  BOOST_REQUIRE_EQUAL(p.rules().size(), 2u);
  const Rule& r = p.rules()[0];
  BOOST_TEST(r.name == "web-to-db");
  BOOST_TEST(r.from.groups == std::vector<std::string>{"web"});
  BOOST_TEST(*r.to.kind == "workload");
  BOOST_TEST(r.allow.size() == 4u);
  BOOST_REQUIRE(r.schedule);
  BOOST_TEST(r.schedule->days == 0b0111110);
  BOOST_TEST(r.schedule->zone_name == "Europe/Berlin");
  BOOST_REQUIRE_EQUAL(r.schedule->hours.size(), 1u);
  BOOST_TEST(r.schedule->hours[0].start == 8 * 60);
  BOOST_TEST(r.schedule->hours[0].end == 18 * 60);
  BOOST_TEST((*r.not_before == utc("2026-11-01T00:00:00Z")));
  BOOST_TEST((*r.expires == utc("2026-11-30T23:00:00Z")));
  BOOST_TEST(r.from.context.at("site") == "onprem");
  BOOST_TEST(r.to.context.at("site") == "cloud");
  const Rule& a = p.rules()[1];
  BOOST_TEST(*a.from.name == "admin-*");
  BOOST_TEST(a.from.labels.at("team") == "ops");
  BOOST_TEST(a.from.cidr.size() == 2u);
}

BOOST_AUTO_TEST_CASE(empty_rule_list_denies_all) {
  const Policy p = policy_from("rules: []\n");
  BOOST_TEST(p.rules().empty());
  BOOST_TEST(!p.path_granted(subject("a"), subject("b"), utc("2026-01-01T00:00:00Z")));
}

BOOST_AUTO_TEST_CASE(errors_name_rule_key_and_problem) {
  BOOST_TEST(error_of(with_rule("    from: {}\n    to: {}\n    allow: [tcp/22, \"tcp/70000\"]\n")) ==
             "rules[1] (web-to-db).allow[1]: \"tcp/70000\" port out of range");
  BOOST_TEST(error_of(with_rule("    from: {}\n    to: {}\n    allow: [sctp/1]\n")) ==
             "rules[1] (web-to-db).allow[0]: \"sctp/1\" unknown protocol (expected tcp, udp, "
             "icmp or any)");
  BOOST_TEST(error_of(with_rule("    from: {}\n    to: {}\n    allow: []\n")) ==
             "rules[1] (web-to-db).allow: is empty (the rule would allow nothing)");
  BOOST_TEST(error_of(with_rule("    from: {}\n    to: {}\n")) ==
             "rules[1] (web-to-db).allow: is required (rules only allow)");
  BOOST_TEST(error_of(with_rule("    from: {}\n    to: {}\n    allow: tcp/22\n")) ==
             "rules[1] (web-to-db).allow: expected a list, got \"tcp/22\" (write it as [tcp/22])");
  BOOST_TEST(error_of(with_rule("    to: {}\n    allow: [any]\n")) ==
             "rules[1] (web-to-db).from: is required (write {} to select everyone)");
  BOOST_TEST(error_of(with_rule("    from: { groups: web }\n    to: {}\n    allow: [any]\n")) ==
             "rules[1] (web-to-db).from.groups: expected a list, got \"web\" (write it as [web])");
  BOOST_TEST(error_of(with_rule("    from: { group: [web] }\n    to: {}\n    allow: [any]\n")) ==
             "rules[1] (web-to-db).from: unknown key \"group\" (did you mean groups?)");
  BOOST_TEST(error_of(with_rule("    from: {}\n    to: { kind: vm }\n    allow: [any]\n")) ==
             "rules[1] (web-to-db).to.kind: \"vm\" is not a kind (expected node, workload, "
             "gateway, user or raw)");
  BOOST_TEST(error_of(with_rule("    from: {}\n    to: { cidr: [10.0.0.0/33] }\n    allow: [any]\n")) ==
             "rules[1] (web-to-db).to.cidr[0]: \"10.0.0.0/33\" is not a CIDR");
  BOOST_TEST(error_of(with_rule("    from: {}\n    to: {}\n    allow: [any]\n    expire: x\n")) ==
             "rules[1] (web-to-db): unknown key \"expire\" (did you mean expires?)");
  BOOST_TEST(error_of(with_rule("    from: {}\n    to: {}\n    allow: [any]\n"
                                "    schedule: { days: [monday] }\n")) ==
             "rules[1] (web-to-db).schedule.days[0]: \"monday\" is not a day (expected mon, tue, "
             "wed, thu, fri, sat or sun)");
  BOOST_TEST(error_of(with_rule("    from: {}\n    to: {}\n    allow: [any]\n"
                                "    schedule: { hours: \"8-18\" }\n")) ==
             "rules[1] (web-to-db).schedule.hours: \"8-18\" expected HH:MM-HH:MM (00:00 to 24:00)");
  BOOST_TEST(error_of(with_rule("    from: {}\n    to: {}\n    allow: [any]\n"
                                "    schedule: { hours: [\"09:00-12:00\", \"10:00-10:00\"] }\n")) ==
             "rules[1] (web-to-db).schedule.hours[1]: \"10:00-10:00\" range is empty (start "
             "equals end)");
  BOOST_TEST(error_of(with_rule("    from: {}\n    to: {}\n    allow: [any]\n"
                                "    schedule: { timezone: Mars/Olympus }\n")) ==
             "rules[1] (web-to-db).schedule.timezone: unknown time zone \"Mars/Olympus\"");
  BOOST_TEST(error_of(with_rule("    from: {}\n    to: {}\n    allow: [any]\n"
                                "    expires: 2026-02-30T00:00:00Z\n")) ==
             "rules[1] (web-to-db).expires: \"2026-02-30T00:00:00Z\" not a valid date and time");
  BOOST_TEST(error_of(with_rule("    from: {}\n    to: {}\n    allow: [any]\n"
                                "    expires: 2026-01-01\n")) ==
             "rules[1] (web-to-db).expires: \"2026-01-01\" expected an RFC 3339 time like "
             "2026-11-01T00:00:00Z");
  BOOST_TEST(error_of(with_rule("    from: {}\n    to: {}\n    allow: [any]\n"
                                "    not_before: 2026-02-01T00:00:00Z\n"
                                "    expires: 2026-01-01T00:00:00Z\n")) ==
             "rules[1] (web-to-db).expires: is not after not_before");
  BOOST_TEST(error_of(with_rule("    from: {}\n    to: {}\n    allow: [any]\n"
                                "    when: { from_context: [site] }\n")) ==
             "rules[1] (web-to-db).when.from_context: expected a map, got a list");
  BOOST_TEST(error_of(with_rule("    from: {}\n    to: {}\n    allow: [any]\n"
                                "    when: { context: {} }\n")) ==
             "rules[1] (web-to-db).when: unknown key \"context\"");
}

BOOST_AUTO_TEST_CASE(rule_names_are_required_and_unique) {
  BOOST_TEST(error_of("rules:\n  - from: {}\n    to: {}\n    allow: [any]\n") ==
             "rules[0].name: is required");
  BOOST_TEST(error_of("rules:\n  - name: \"\"\n    from: {}\n    to: {}\n    allow: [any]\n") ==
             "rules[0].name: is empty");
  BOOST_TEST(error_of(with_rule("    from: {}\n    to: {}\n    allow: [any]\n") +
                      "  - name: web-to-db\n    from: {}\n    to: {}\n    allow: [any]\n") ==
             "rules[2] (web-to-db).name: \"web-to-db\" is already used by rules[1]");
  BOOST_TEST(error_of("rules:\n  - [a]\n") == "rules[0]: expected a map (a rule), got a list");
}

BOOST_AUTO_TEST_CASE(top_level_errors) {
  BOOST_TEST(error_of("") == "policy is empty (write rules: [] to deny all)");
  BOOST_TEST(error_of("[1, 2]") == "expected a map with rules at the top level, got a list");
  BOOST_TEST(error_of("rule: []\n") == "unknown key \"rule\" (did you mean rules?)");
  BOOST_TEST(error_of("version: 1\n") == "unknown key \"version\"");
  BOOST_TEST(error_of("rules: {}\n") == "rules: expected a list, got a map");
  BOOST_TEST(error_of("rules: []\nrules: []\n") == "key \"rules\" appears more than once");
  BOOST_TEST(error_of("rules: []\n---\nrules: []\n") == "expected one YAML document, found more");
  BOOST_TEST(error_of("rules: [\n").starts_with("line "));
  BOOST_TEST(error_of(std::string(20000, '[')).find("YAML") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(reload_keeps_old_policy_on_error) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("keymesh-policy-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "policy.yaml").string();
  auto write = [&](std::string_view text) {
    std::ofstream(path, std::ios::trunc) << text;
  };
  write("rules:\n  - name: a\n    from: {}\n    to: {}\n    allow: [tcp/22]\n");
  auto first = load_policy_file(path);
  BOOST_REQUIRE(first);
  std::shared_ptr<const Policy> current = std::make_shared<const Policy>(std::move(*first));
  const auto old = current;

  write("rules:\n  - name: a\n    from: {}\n    to: {}\n    allow: [tcp/99999]\n");
  auto bad = reload_policy_file(path, current);
  BOOST_REQUIRE(!bad);
  BOOST_TEST(bad.error().message == path + ": rules[0] (a).allow[0]: \"tcp/99999\" port out of range");
  BOOST_TEST(current == old);  // unchanged

  write("rules:\n  - name: b\n    from: {}\n    to: {}\n    allow: [udp/53]\n");
  auto good = reload_policy_file(path, current);
  BOOST_REQUIRE(good);
  BOOST_TEST(current != old);
  BOOST_TEST(current->rules().at(0).name == "b");

  auto missing = reload_policy_file((dir / "nope.yaml").string(), current);
  BOOST_REQUIRE(!missing);
  BOOST_TEST(missing.error().message.starts_with("cannot read policy "));
  BOOST_TEST(current->rules().at(0).name == "b");
  std::filesystem::remove_all(dir);
}
