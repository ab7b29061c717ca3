// Where a subject comes from, as policy sees it (issue 15, sections 2 and 5): context labels
// asserted by the CAs of a validated chain and matched by `when: from_context`, and subjects
// pinned to their issuing CA (`issuer`, `issuer_sha256`). Certificates are real ones, validated
// by a TrustStore, so these tests cover the whole way from a CA's field to a decision.
#define BOOST_TEST_MODULE policy_origin
#include <boost/test/unit_test.hpp>

#include "policy/subject_of.h"
#include "tests/unit/identity_test_util.h"
#include "tests/unit/policy_test_util.h"

using namespace keymesh;
using namespace keymesh::identity::test;
namespace id = keymesh::identity;

namespace {

Ca site_ca(const Ca& root, const std::string& name, const std::string& site) {
  id::CaKey key = id::CaKey::generate();
  id::CertificateFields f;
  f.name = name;
  f.kind = id::Kind::Ca;
  f.public_key = key.public_key();
  f.not_before = kT0 - kDay;
  f.not_after = kT0 + 30 * kDay;
  f.constraints = id::CaConstraints{};
  f.context = {{"site", site}};
  id::Certificate cert = must(id::sign_certificate(std::move(f), &root.cert, root.key));
  return Ca{std::move(cert), std::move(key)};
}

policy::Subject validated(const id::TrustStore& store, const Ca& ca,
                          const std::string& name, const std::string& group) {
  id::CertificateFields f;
  f.name = name;
  f.kind = id::Kind::Workload;
  f.public_key = random_x25519_public();
  f.networks = {cidr("10.1.0.7/32")};
  f.groups = {group};
  f.not_before = kT0 - kHour;
  f.not_after = kT0 + kHour;
  const auto leaf = must(id::sign_certificate(std::move(f), &ca.cert, ca.key));
  const auto v = store.validate(id::Chain{leaf, ca.cert}, at(kT0));
  BOOST_REQUIRE_MESSAGE(v.has_value(), (v ? std::string() : v.error().message));
  return policy::subject_from(*v);
}

struct TwoSites {
  Ca root = make_root();
  Ca onprem = site_ca(root, "node-a", "onprem");
  Ca cloud = site_ca(root, "node-b", "cloud");
  id::TrustStore store;
  TwoSites() { BOOST_REQUIRE(store.add_root(root.cert)); }
};

}  // namespace

BOOST_FIXTURE_TEST_CASE(from_context_matches_what_the_node_ca_asserts, TwoSites) {
  const auto policy = policy::test::policy_from(R"(
rules:
  - name: office-ssh
    from: { groups: [admin] }
    to: { groups: [db] }
    when: { from_context: { site: onprem } }
    allow: [tcp/22]
)");
  const auto admin_a = validated(store, onprem, "admin-a", "admin");
  const auto admin_b = validated(store, cloud, "admin-b", "admin");
  const auto db = validated(store, cloud, "db-1", "db");
  BOOST_TEST(admin_a.context.at("site") == "onprem");
  BOOST_TEST(admin_a.issuer == "node-a");

  const auto ok = policy.check(admin_a, db, policy::Proto::kTcp, 22, at(kT0));
  BOOST_TEST(ok.allow, ok.reason);
  BOOST_TEST(ok.rule == "office-ssh");
  const auto no = policy.check(admin_b, db, policy::Proto::kTcp, 22, at(kT0));
  BOOST_TEST(!no.allow);
  BOOST_TEST(no.reason ==
             "no rule grants tcp/22 from admin-b to db-1 (rule office-ssh requires "
             "from_context site=onprem (admin-b has site=cloud))");
  BOOST_TEST(policy.path_granted(admin_a, db, at(kT0)));
  BOOST_TEST(!policy.path_granted(admin_b, db, at(kT0)));
  BOOST_TEST(policy.refusal_reason(db, admin_b) ==
             "no rule grants any traffic between db-1 and admin-b (rule office-ssh requires "
             "from_context site=onprem (admin-b has site=cloud))");
  // The compiled per-path policy agrees with the decision.
  BOOST_TEST(policy.compile_pair(admin_a, db).allows(policy::Proto::kTcp, 22, at(kT0)));
  BOOST_TEST(policy.compile_pair(admin_b, db).empty());
}

BOOST_FIXTURE_TEST_CASE(an_unvalidated_certificate_has_no_context, TwoSites) {
  // Without the chain nothing vouches for a site: `policy check` without --ca sees none.
  id::CertificateFields f;
  f.name = "admin-a";
  f.kind = id::Kind::Workload;
  f.public_key = random_x25519_public();
  f.not_before = kT0 - kHour;
  f.not_after = kT0 + kHour;
  const auto leaf = must(id::sign_certificate(std::move(f), &onprem.cert, onprem.key));
  const auto s = policy::subject_from(leaf);
  BOOST_TEST(s.context.empty());
  BOOST_TEST(s.issuer.empty());
  BOOST_TEST(s.issuer_fingerprint == onprem.cert.fingerprint_hex());
}

BOOST_FIXTURE_TEST_CASE(subjects_pin_their_issuing_ca, TwoSites) {
  const std::string yaml = "rules:\n"
                           "  - name: by-name\n"
                           "    from: { groups: [web], issuer: node-a }\n"
                           "    to: { groups: [db] }\n"
                           "    allow: [tcp/5432]\n"
                           "  - name: by-sha\n"
                           "    from: { groups: [web], issuer_sha256: " +
                           to_hex(cloud.cert.fingerprint()) +
                           " }\n"
                           "    to: { groups: [db] }\n"
                           "    allow: [tcp/6432]\n";
  const auto policy = policy::test::policy_from(yaml);
  const auto web_a = validated(store, onprem, "web-a", "web");
  const auto web_b = validated(store, cloud, "web-b", "web");
  const auto db = validated(store, onprem, "db-1", "db");
  BOOST_TEST(policy.check(web_a, db, policy::Proto::kTcp, 5432, at(kT0)).allow);
  const auto no = policy.check(web_b, db, policy::Proto::kTcp, 5432, at(kT0));
  BOOST_TEST(!no.allow);
  BOOST_TEST(no.reason.find("requires issuer node-a (web-b was issued by node-b)") !=
                 std::string::npos,
             no.reason);
  BOOST_TEST(policy.check(web_b, db, policy::Proto::kTcp, 6432, at(kT0)).allow);
  BOOST_TEST(!policy.check(web_a, db, policy::Proto::kTcp, 6432, at(kT0)).allow);
  // A raw-key peer has no issuer: an issuer pin never selects it.
  auto raw = policy::test::subject("wg-site", {"web"}, "raw");
  BOOST_TEST(!policy.check(raw, db, policy::Proto::kTcp, 5432, at(kT0)).allow);
}

BOOST_AUTO_TEST_CASE(issuer_sha256_must_be_a_fingerprint) {
  const auto r = policy::parse_policy(R"(
rules:
  - name: r
    from: { issuer_sha256: abc }
    to: {}
    allow: [any]
)");
  BOOST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().message.find("issuer_sha256") != std::string::npos, r.error().message);
  BOOST_TEST(r.error().message.find("64 hex digits") != std::string::npos, r.error().message);
}
