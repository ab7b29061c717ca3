// Evaluation: default deny, union of rules, the first granting rule named, the path gate in
// both directions, context conditions, time windows in compiled pairs; and a differential
// test of the compiled, indexed evaluator against a naive loop over every rule.
#define BOOST_TEST_MODULE policy_evaluator
#include <boost/test/unit_test.hpp>

#include <random>

#include "policy_test_util.h"

using namespace keymesh;
using namespace keymesh::policy;
using namespace keymesh::policy::test;

namespace {

const WallTime kFridayNoon = utc("2026-03-27T12:00:00Z");
const WallTime kSaturdayNoon = utc("2026-03-28T12:00:00Z");

const char* kPolicy = R"(
rules:
  - name: web-to-db
    from: { groups: [web] }
    to:   { groups: [db] }
    allow: [tcp/5432]
  - name: dns
    from: {}
    to: { name: "dns-*" }
    allow: [udp/53, tcp/53]
  - name: web-to-db-office
    from: { groups: [web] }
    to:   { groups: [db] }
    allow: [tcp/5432, tcp/22]
    schedule: { days: [mon, tue, wed, thu, fri], hours: "08:00-18:00", timezone: Europe/Berlin }
  - name: monitoring
    from: { labels: { role: prometheus } }
    to: { kind: workload }
    allow: ["tcp/9100-9110", icmp]
  - name: onprem-admin
    from: { groups: [admin] }
    to: {}
    allow: [any]
    when: { from_context: { site: onprem } }
)";

}  // namespace

BOOST_AUTO_TEST_CASE(default_deny_names_the_service_and_subjects) {
  const Policy p = policy_from(kPolicy);
  const Decision d = p.check(subject("web-1", {"web"}), subject("db-1", {"db"}), Proto::kUdp, 5432,
                             kFridayNoon);
  BOOST_TEST(!d.allow);
  BOOST_TEST(d.rule == "");
  BOOST_TEST(d.reason == "no rule grants udp/5432 from web-1 to db-1");
}

BOOST_AUTO_TEST_CASE(first_granting_rule_is_named) {
  const Policy p = policy_from(kPolicy);
  const Subject web = subject("web-1", {"web"}), db = subject("db-1", {"db"});
  Decision d = p.check(web, db, Proto::kTcp, 5432, kFridayNoon);
  BOOST_TEST(d.allow);
  BOOST_TEST(d.rule == "web-to-db");
  BOOST_TEST(d.reason == "rule web-to-db grants tcp/5432 from web-1 to db-1");
  // tcp/22 only through the office-hours rule.
  d = p.check(web, db, Proto::kTcp, 22, kFridayNoon);
  BOOST_TEST(d.allow);
  BOOST_TEST(d.rule == "web-to-db-office");
  d = p.check(web, db, Proto::kTcp, 22, kSaturdayNoon);
  BOOST_TEST(!d.allow);
  BOOST_TEST(d.reason ==
             "no rule grants tcp/22 from web-1 to db-1 now (rule web-to-db-office is outside its "
             "schedule)");
  // The reverse direction is not granted per packet.
  d = p.check(db, web, Proto::kTcp, 5432, kFridayNoon);
  BOOST_TEST(!d.allow);
}

BOOST_AUTO_TEST_CASE(rules_are_a_union) {
  const Policy p = policy_from(kPolicy);
  Subject web = subject("web-1", {"web"});
  web.labels["role"] = "prometheus";
  const Subject dns = subject("dns-1", {"db"});
  BOOST_TEST(p.check(web, dns, Proto::kUdp, 53, kSaturdayNoon).rule == "dns");
  BOOST_TEST(p.check(web, dns, Proto::kTcp, 5432, kSaturdayNoon).rule == "web-to-db");
  BOOST_TEST(p.check(web, dns, Proto::kTcp, 9105, kSaturdayNoon).rule == "monitoring");
  BOOST_TEST(p.check(web, dns, Proto::kIcmp, 0, kSaturdayNoon).rule == "monitoring");
  BOOST_TEST(!p.check(web, dns, Proto::kTcp, 9111, kSaturdayNoon).allow);
  BOOST_TEST(!p.check(web, dns, Proto::kOther, 0, kSaturdayNoon).allow);

  const PairPolicy pair = p.compile_pair(web, dns);
  BOOST_TEST(pair.allows(Proto::kUdp, 53, kSaturdayNoon));
  BOOST_TEST(pair.allows(Proto::kTcp, 53, kSaturdayNoon));
  BOOST_TEST(pair.allows(Proto::kTcp, 5432, kSaturdayNoon));
  BOOST_TEST(pair.allows(Proto::kTcp, 9100, kSaturdayNoon));
  BOOST_TEST(pair.allows(Proto::kTcp, 9110, kSaturdayNoon));
  BOOST_TEST(!pair.allows(Proto::kTcp, 9111, kSaturdayNoon));
  BOOST_TEST(!pair.allows(Proto::kTcp, 22, kSaturdayNoon));
  BOOST_TEST(pair.allows(Proto::kTcp, 22, kFridayNoon));
  BOOST_TEST(pair.granting_rule(Proto::kTcp, 22, kFridayNoon) == "web-to-db-office");
  BOOST_TEST(pair.rule_names() ==
             (std::vector<std::string>{"web-to-db", "dns", "web-to-db-office", "monitoring"}));
  BOOST_TEST(format_rfc3339_ms(*pair.next_change(kFridayNoon)) == "2026-03-27T17:00:00.000Z");
}

BOOST_AUTO_TEST_CASE(path_gate_opens_for_either_direction) {
  const Policy p = policy_from(kPolicy);
  const Subject web = subject("web-1", {"web"}), db = subject("db-1", {"db"});
  const Subject other = subject("x", {"misc"}, "node");
  BOOST_TEST(p.path_granted(web, db, kSaturdayNoon));
  BOOST_TEST(p.path_granted(db, web, kSaturdayNoon));
  BOOST_TEST(!p.path_granted(web, other, kSaturdayNoon));
  BOOST_TEST(!p.path_granted(other, db, kSaturdayNoon));
  // Only a scheduled rule: the gate follows the schedule.
  const Policy office = policy_from(R"(
rules:
  - name: office
    from: { groups: [web] }
    to: { groups: [db] }
    allow: [tcp/22]
    schedule: { days: [fri], hours: "08:00-18:00", timezone: Europe/Berlin }
)");
  BOOST_TEST(office.path_granted(db, web, kFridayNoon));
  BOOST_TEST(!office.path_granted(db, web, kSaturdayNoon));
  BOOST_TEST(!office.compile_pair(web, db).grants_anything(kSaturdayNoon));
  BOOST_TEST(office.compile_pair(web, db).grants_anything(kFridayNoon));
  BOOST_TEST(office.compile_pair(db, web).empty());
}

BOOST_AUTO_TEST_CASE(context_conditions) {
  const Policy p = policy_from(kPolicy);
  Subject admin = subject("alice", {"admin"}, "node");
  const Subject db = subject("db-1", {"db"});
  BOOST_TEST(!p.check(admin, db, Proto::kTcp, 22, kSaturdayNoon).allow);
  admin.context["site"] = "onprem";
  const Decision d = p.check(admin, db, Proto::kTcp, 22, kSaturdayNoon);
  BOOST_TEST(d.allow);
  BOOST_TEST(d.rule == "onprem-admin");
  BOOST_TEST(p.compile_pair(admin, db).allows(Proto::kOther, 0, kSaturdayNoon));
}

BOOST_AUTO_TEST_CASE(expired_grant_is_reported) {
  const Policy p = policy_from(R"(
rules:
  - name: jit-ssh
    from: { name: alice }
    to: { name: db-1 }
    allow: [tcp/22]
    not_before: 2026-03-27T11:00:00Z
    expires: 2026-03-27T13:00:00Z
)");
  const Subject alice = subject("alice"), db = subject("db-1");
  BOOST_TEST(p.check(alice, db, Proto::kTcp, 22, kFridayNoon).allow);
  BOOST_TEST(p.check(alice, db, Proto::kTcp, 22, kSaturdayNoon).reason ==
             "no rule grants tcp/22 from alice to db-1 now (rule jit-ssh is expired)");
  BOOST_TEST(p.check(alice, db, Proto::kTcp, 22, utc("2026-03-27T10:00:00Z")).reason ==
             "no rule grants tcp/22 from alice to db-1 now (rule jit-ssh is not yet valid)");
  const PairPolicy pair = p.compile_pair(alice, db);
  BOOST_TEST(pair.allows(Proto::kTcp, 22, kFridayNoon));
  BOOST_TEST(!pair.allows(Proto::kTcp, 22, kSaturdayNoon));
}

BOOST_AUTO_TEST_CASE(many_port_ranges_merge_and_search) {
  // More than four disjoint ranges: the binary-search path.
  const Policy p = policy_from(R"(
rules:
  - name: a
    from: {}
    to: {}
    allow: [tcp/10-20, tcp/15-30, tcp/31, tcp/100, tcp/200-300, tcp/1000-2000, tcp/5000, udp/7]
)");
  const PairPolicy pair = p.compile_pair(subject("x"), subject("y"));
  for (int port = 1; port < 6000; ++port) {
    const bool want = (port >= 10 && port <= 31) || port == 100 || (port >= 200 && port <= 300) ||
                      (port >= 1000 && port <= 2000) || port == 5000;
    BOOST_TEST_REQUIRE(pair.allows(Proto::kTcp, std::uint16_t(port), kFridayNoon) == want,
                       "port " << port);
  }
  BOOST_TEST(pair.allows(Proto::kUdp, 7, kFridayNoon));
  BOOST_TEST(!pair.allows(Proto::kUdp, 8, kFridayNoon));
}

// ---- Differential: compiled and indexed vs naive ----

namespace {

const std::vector<std::string> kGroups = {"web", "db", "ops", "dev", "prod", "eu"};
const std::vector<std::string> kNames = {"web-1", "web-2", "db-1", "db-2", "ops-x", "gw-1", "a"};
const std::vector<std::string> kKinds = {"node", "workload", "gateway"};

template <class T>
const T& pick(std::mt19937_64& rng, const std::vector<T>& v) {
  return v[rng() % v.size()];
}

Selector random_selector(std::mt19937_64& rng) {
  Selector s;
  const int shape = int(rng() % 8);
  if (shape == 0) return s;  // everyone
  if (rng() % 3 == 0) {
    static const std::vector<std::string> globs = {"web-*", "db-?", "*-1", "a", "gw-1", "*"};
    s.name = rng() % 2 ? pick(rng, kNames) : pick(rng, globs);
  }
  if (rng() % 2) {
    const int n = 1 + int(rng() % 2);
    for (int i = 0; i < n; ++i) s.groups.push_back(pick(rng, kGroups));
  }
  if (rng() % 4 == 0) s.labels["tier"] = std::to_string(rng() % 3);
  if (rng() % 5 == 0) s.cidr.push_back(prefix(rng() % 2 ? "10.1.0.0/16" : "10.0.0.0/8"));
  if (rng() % 5 == 0) s.kind = pick(rng, kKinds);
  if (rng() % 6 == 0) s.context["site"] = rng() % 2 ? "onprem" : "cloud";
  return s;
}

Rule random_rule(std::mt19937_64& rng, int i, const date::time_zone* berlin) {
  Rule r;
  r.name = "r" + std::to_string(i);
  r.from = random_selector(rng);
  r.to = random_selector(rng);
  const int n = 1 + int(rng() % 3);
  for (int k = 0; k < n; ++k) {
    static const std::vector<std::string> services = {"tcp/22", "tcp/80", "tcp/8000-8100",
                                                      "udp/53", "udp", "icmp", "any",
                                                      "tcp/1-1024", "tcp", "udp/5000-5005"};
    r.allow.push_back(*parse_service(pick(rng, services)));
  }
  if (rng() % 4 == 0) {
    Schedule s;
    s.days = std::uint8_t(1 + rng() % 127);
    const int a = int(rng() % 24), b = int(rng() % 24);
    if (a != b) s.hours.push_back({std::uint16_t(a * 60), std::uint16_t(b * 60)});
    if (rng() % 2) {
      s.zone = berlin;
      s.zone_name = "Europe/Berlin";
    }
    r.schedule = s;
  }
  if (rng() % 6 == 0) r.not_before = utc("2026-03-25T00:00:00Z") + std::chrono::hours(rng() % 200);
  if (rng() % 6 == 0) r.expires = utc("2026-03-28T00:00:00Z") + std::chrono::hours(rng() % 200);
  return r;
}

Subject random_subject(std::mt19937_64& rng) {
  Subject s = subject(pick(rng, kNames), {}, pick(rng, kKinds));
  const int n = int(rng() % 4);
  for (int i = 0; i < n; ++i) s.groups.push_back(pick(rng, kGroups));  // duplicates allowed
  if (rng() % 2) s.labels["tier"] = std::to_string(rng() % 3);
  if (rng() % 2) s.networks.push_back(prefix(rng() % 2 ? "10.1.2.3/32" : "10.2.0.0/24"));
  if (rng() % 2) s.context["site"] = rng() % 2 ? "onprem" : "cloud";
  return s;
}

bool naive_allows(const std::vector<Rule>& rules, const Subject& f, const Subject& t, Proto proto,
                  std::uint16_t port, WallTime now, std::string* first) {
  for (const Rule& r : rules) {
    if (r.from.matches(f) && r.to.matches(t) && r.active(now) && r.grants(proto, port)) {
      if (first) *first = r.name;
      return true;
    }
  }
  return false;
}

}  // namespace

BOOST_AUTO_TEST_CASE(differential_compiled_vs_naive) {
  std::mt19937_64 rng(20260329);
  const date::time_zone* berlin = *find_zone("Europe/Berlin");
  static const std::vector<std::uint16_t> ports = {0, 1, 22, 53, 80, 443, 1024, 1025,
                                                   5000, 5005, 5006, 8000, 8050, 8100, 65535};
  const std::vector<Proto> protos = {Proto::kTcp, Proto::kUdp, Proto::kIcmp, Proto::kOther};
  std::size_t cases = 0, allowed = 0, gates = 0;
  for (int round = 0; round < 40; ++round) {
    std::vector<Rule> rules;
    const int n = 1 + int(rng() % 60);
    for (int i = 0; i < n; ++i) rules.push_back(random_rule(rng, i, berlin));
    const Policy policy(rules);
    for (int pair = 0; pair < 30; ++pair) {
      const Subject f = random_subject(rng), t = random_subject(rng);
      const PairPolicy compiled = policy.compile_pair(f, t);
      for (int q = 0; q < 12; ++q) {
        const WallTime now = utc("2026-03-24T00:00:00Z") + std::chrono::minutes(rng() % (14 * 1440));
        const Proto proto = pick(rng, protos);
        const std::uint16_t port = pick(rng, ports);
        std::string first;
        const bool want = naive_allows(rules, f, t, proto, port, now, &first);
        BOOST_TEST_REQUIRE(compiled.allows(proto, port, now) == want,
                           "round " << round << " pair " << pair << " " << describe_service(proto, port));
        const Decision d = policy.check(f, t, proto, port, now);
        BOOST_TEST_REQUIRE(d.allow == want);
        BOOST_TEST_REQUIRE(d.rule == (want ? first : std::string()));
        BOOST_TEST_REQUIRE(compiled.granting_rule(proto, port, now) == d.rule);
        ++cases;
        allowed += want;
      }
      const WallTime now = utc("2026-03-24T00:00:00Z") + std::chrono::minutes(rng() % (14 * 1440));
      bool gate = false;
      for (const Rule& r : rules)
        gate = gate || (r.active(now) && ((r.from.matches(f) && r.to.matches(t)) ||
                                          (r.from.matches(t) && r.to.matches(f))));
      BOOST_TEST_REQUIRE(policy.path_granted(f, t, now) == gate);
      gates += gate;
    }
  }
  BOOST_TEST_MESSAGE(cases << " cases, " << allowed << " allowed, " << gates << " gates open");
  BOOST_TEST(cases >= 10000u);
  // The generator must exercise both outcomes in earnest.
  BOOST_TEST(allowed > cases / 10);
  BOOST_TEST(allowed < cases * 9 / 10);
}
