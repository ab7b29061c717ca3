// People in policy and audit (issue 19, sections 1 and 4): a user validated from a real chain
// becomes a policy subject of kind user with its subject; rules select it by group and by
// `kind: user`; audit lines name it by name, subject and groups, and other parties' lines
// keep their keys.
#define BOOST_TEST_MODULE policy_user
#include <boost/test/unit_test.hpp>

#include "policy/audit.h"
#include "policy/evaluator.h"
#include "policy/loader.h"
#include "policy/subject_of.h"
#include "tests/unit/identity_test_util.h"

using namespace keymesh;
using namespace keymesh::identity;
using namespace keymesh::identity::test;

namespace {

// alice <alice@example.com> [oncall] from an access CA, validated; db-1 a plain workload.
struct Fixture {
  Ca root = make_root();
  TrustStore store;
  policy::Subject alice, db;
  Fixture() {
    BOOST_REQUIRE(store.add_root(root.cert));
    const Ca access = make_sub_ca(root, "access",
                                  {.max_lifetime_seconds = 12 * kHour,
                                   .allowed_kinds = {Kind::User}},
                                  kT0 - kDay, kT0 + kDay);
    CertificateFields f;
    f.name = "alice";
    f.kind = Kind::User;
    f.subject = "alice@example.com";
    f.public_key = random_x25519_public();
    f.networks = {cidr("100.64.20.1/32")};
    f.groups = {"oncall"};
    f.not_before = kT0 - kHour;
    f.not_after = kT0 + kHour;
    const Certificate leaf = must(sign_certificate(std::move(f), &access.cert, access.key));
    const auto id = store.validate(Chain{leaf, access.cert}, at(kT0));
    BOOST_REQUIRE_MESSAGE(id.has_value(), (id ? std::string() : id.error().message));
    alice = policy::subject_from(*id);
    db.name = "db-1";
    db.kind = "workload";
    db.groups = {"db"};
  }
};

}  // namespace

BOOST_FIXTURE_TEST_CASE(a_user_is_a_subject_of_kind_user_with_its_subject, Fixture) {
  BOOST_TEST(alice.kind == "user");
  BOOST_TEST(alice.user_subject == "alice@example.com");
  BOOST_TEST(alice.issuer == "access");
}

BOOST_FIXTURE_TEST_CASE(rules_select_users_by_group_and_kind, Fixture) {
  auto p = policy::parse_policy(R"(
rules:
  - name: oncall-db
    from: { kind: user, groups: [oncall] }
    to: { name: db-1 }
    allow: [tcp/5432]
  - name: workloads-only
    from: { kind: workload }
    to: { name: db-1 }
    allow: [tcp/22]
)");
  BOOST_REQUIRE_MESSAGE(p.has_value(), (p ? std::string() : p.error().message));
  const auto ok = p->check(alice, db, policy::Proto::kTcp, 5432, at(kT0));
  BOOST_TEST(ok.allow);
  BOOST_TEST(ok.rule == "oncall-db");
  BOOST_TEST(!p->check(alice, db, policy::Proto::kTcp, 22, at(kT0)).allow);
  BOOST_TEST(!p->check(db, alice, policy::Proto::kTcp, 5432, at(kT0)).allow);
  // A workload in the same group is not a user.
  policy::Subject w = db;
  w.groups = {"oncall"};
  BOOST_TEST(!p->check(w, db, policy::Proto::kTcp, 5432, at(kT0)).allow);
  // The loader names the kinds it knows.
  auto bad = policy::parse_policy("rules:\n  - { name: x, from: { kind: person }, to: {}, allow: [any] }\n");
  BOOST_REQUIRE(!bad.has_value());
  BOOST_TEST(bad.error().message.find("node, workload, gateway, user or raw") != std::string::npos,
             bad.error().message);
}

BOOST_FIXTURE_TEST_CASE(audit_lines_name_the_person, Fixture) {
  policy::AuditEvent e;
  e.time = at(kT0);
  e.event = policy::AuditEventType::kPathOpened;
  e.local = policy::AuditParty{"db-1", "ab", {"db"}};
  e.remote = policy::AuditParty{"alice", "cd", {"oncall"}, alice.user_subject};
  e.rule = "oncall-db";
  e.reason = "rule oncall-db grants tcp/5432 from alice to db-1";
  const std::string line = policy::format_audit_line(e);
  BOOST_TEST(line.find("\"remote\":{\"name\":\"alice\",\"fingerprint\":\"cd\",\"groups\":"
                       "[\"oncall\"],\"kind\":\"user\",\"subject\":\"alice@example.com\"}") !=
                 std::string::npos,
             line);
  BOOST_TEST(line.find("\"local\":{\"name\":\"db-1\",\"fingerprint\":\"ab\",\"groups\":[\"db\"]}") !=
                 std::string::npos,
             line);
  BOOST_TEST(line.find("\"rule\":\"oncall-db\"") != std::string::npos, line);
}
