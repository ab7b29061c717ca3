// People as identities (issue 19, section 1): the user kind of certificate and the access CA
// that issues it. A user certificate carries an email-like subject and groups standing for
// roles, lives hours, and is accepted only below an access CA (a CA whose allowed_kinds names
// user) within that CA's groups, subject pattern and maximum lifetime. Each refusal asserts
// the CertError and that the message names the constraint.
#define BOOST_TEST_MODULE identity_user
#include <boost/test/unit_test.hpp>

#include "cert.pb.h"
#include "identity/chain.h"
#include "tests/unit/identity_test_util.h"

using namespace keymesh;
using namespace keymesh::identity;
using namespace keymesh::identity::test;

namespace {

struct Person {
  std::string name = "alice";
  std::string subject = "alice@example.com";
  std::vector<std::string> groups = {"oncall"};
  std::int64_t lifetime = 8 * kHour;
};

CertificateFields person_fields(Person p) {
  CertificateFields f;
  f.name = p.name;
  f.kind = Kind::User;
  f.subject = p.subject;
  f.public_key = random_x25519_public();
  f.networks = {cidr("100.64.20.1/32")};
  f.groups = std::move(p.groups);
  f.not_before = kT0 - kHour;
  f.not_after = f.not_before + p.lifetime;
  return f;
}

// Signed without the issuer's rules (what a stolen CA key can produce).
Certificate person(const Ca& issuer, Person p = {}) {
  return must(sign_certificate(person_fields(std::move(p)), &issuer.cert, issuer.key));
}

// An access CA as docs/access.md makes one: users only, the on-call roles, 12h at most.
Ca access_ca(const Ca& root, CaConstraints c = {
                                 .allowed_networks = {cidr("100.64.20.0/24")},
                                 .max_lifetime_seconds = 12 * kHour,
                                 .allowed_groups = std::vector<std::string>{"oncall", "dba"},
                                 .allowed_kinds = {Kind::User},
                                 .subject_pattern = "*@example.com"}) {
  return make_sub_ca(root, "access", std::move(c));
}

struct Pki {
  Ca root = make_root();
  Ca access = access_ca(root);
  TrustStore store;
  Pki() { BOOST_REQUIRE(store.add_root(root.cert)); }
};

}  // namespace

BOOST_FIXTURE_TEST_CASE(a_user_from_the_access_ca_is_an_identity_with_its_subject, Pki) {
  const Certificate alice = person(access);
  BOOST_REQUIRE(check_issued_by(alice, access.cert));
  const auto id = store.validate(Chain{alice, access.cert}, at(kT0));
  BOOST_REQUIRE_MESSAGE(id.has_value(), (id ? std::string() : id.error().message));
  BOOST_TEST(kind_name(id->kind) == "user");
  BOOST_TEST(id->name == "alice");
  BOOST_TEST(id->subject == "alice@example.com");
  BOOST_TEST(id->groups == (std::vector<std::string>{"oncall"}));
  BOOST_TEST(id->issuer_name == "access");
  // The subject and the user kind survive the encoding, fingerprint unchanged.
  const auto again = must(Certificate::parse(alice.encoded()));
  BOOST_TEST(again.fields().subject == "alice@example.com");
  BOOST_TEST((again.kind() == Kind::User));
  BOOST_TEST(again.fingerprint() == alice.fingerprint());
  BOOST_TEST(parse_kind("user").has_value());
}

BOOST_FIXTURE_TEST_CASE(the_access_ca_bounds_the_groups_a_user_asserts, Pki) {
  const Certificate admin = person(access, {.groups = {"oncall", "admin"}});
  EXPECT_REFUSED(store.validate(Chain{admin, access.cert}, at(kT0)),
                 CertError::GroupOutsideConstraint,
                 "group admin not allowed by CA access (groups: oncall, dba)");
  EXPECT_REFUSED(check_issued_by(admin, access.cert), CertError::GroupOutsideConstraint,
                 "group admin not allowed by CA access");
}

BOOST_FIXTURE_TEST_CASE(the_access_ca_bounds_the_lifetime, Pki) {
  const Certificate long_lived = person(access, {.lifetime = 13 * kHour});
  EXPECT_REFUSED(store.validate(Chain{long_lived, access.cert}, at(kT0)),
                 CertError::LifetimeExceedsIssuer, "lifetime 13h exceeds the maximum 12h of");
  // Expired: refused like any certificate, the time named.
  const Certificate alice = person(access);
  EXPECT_REFUSED(store.validate(Chain{alice, access.cert}, at(kT0 + 8 * kHour)),
                 CertError::Expired, "certificate \"alice\"");
}

BOOST_FIXTURE_TEST_CASE(a_user_lives_at_most_a_day_whatever_its_ca_allows, Pki) {
  // Even under a CA without a lifetime limit the format caps a person at 24h.
  BOOST_TEST(check_fields(person_fields({.lifetime = 24 * kHour})).has_value());
  const auto r = check_fields(person_fields({.lifetime = 24 * kHour + 1}));
  EXPECT_REFUSED(r, CertError::Malformed, "a user certificate lives at most 24h");
}

BOOST_FIXTURE_TEST_CASE(the_access_ca_bounds_the_subject, Pki) {
  const Certificate mallory = person(access, {.name = "mallory", .subject = "mallory@evil.test"});
  EXPECT_REFUSED(store.validate(Chain{mallory, access.cert}, at(kT0)),
                 CertError::SubjectOutsidePattern,
                 "subject mallory@evil.test does not match the subject pattern \"*@example.com\" "
                 "of CA access");
}

BOOST_FIXTURE_TEST_CASE(only_an_access_ca_issues_people, Pki) {
  // A node CA (any kind, as every CA before users) cannot mint a person, stolen key or not.
  const Ca node = make_node_ca(root, "node-a", {.allowed_networks = {cidr("100.64.20.0/24")}});
  EXPECT_REFUSED(store.validate(Chain{person(node), node.cert}, at(kT0)),
                 CertError::KindOutsideConstraint,
                 "kind user not allowed by CA node-a (kinds: any but user; a user certificate "
                 "needs an access CA");
  EXPECT_REFUSED(check_issued_by(person(node), node.cert), CertError::KindOutsideConstraint,
                 "needs an access CA");
  // Nor can the root sign one directly: it names no kinds.
  EXPECT_REFUSED(store.validate(Chain{person(root)}, at(kT0)), CertError::KindOutsideConstraint,
                 "kind user not allowed by CA root");
  // And an access CA issues nothing but users.
  CertificateFields w = person_fields({});
  w.kind = Kind::Workload;
  w.subject.clear();
  const Certificate workload = must(sign_certificate(std::move(w), &access.cert, access.key));
  EXPECT_REFUSED(store.validate(Chain{workload, access.cert}, at(kT0)),
                 CertError::KindOutsideConstraint,
                 "kind workload not allowed by CA access (kinds: user)");
}

BOOST_FIXTURE_TEST_CASE(a_user_needs_an_email_like_subject_and_only_a_user_has_one, Pki) {
  for (const char* bad : {"", "alice", "@example.com", "alice@", "a@b@c", "alice @x.com"}) {
    const auto r = check_fields(person_fields({.subject = bad}));
    EXPECT_REFUSED(r, CertError::Malformed, "a user certificate needs an email-like subject");
  }
  CertificateFields w = person_fields({});
  w.kind = Kind::Workload;
  EXPECT_REFUSED(check_fields(w), CertError::Malformed, "only a user certificate carries a subject");
  // A hand-made body with a subject on a workload is refused when parsed too.
  proto::CertificateBody body;
  CertificateFields plain = person_fields({});
  plain.kind = Kind::Workload;
  plain.subject.clear();
  const Certificate c = must(sign_certificate(std::move(plain), &access.cert, access.key));
  BOOST_REQUIRE(body.ParseFromArray(c.body().data(), int(c.body().size())));
  body.set_subject("eve@example.com");
  const std::string b = body.SerializeAsString();
  const auto sig =
      access.key.sign(ByteSpan(reinterpret_cast<const std::uint8_t*>(b.data()), b.size()));
  proto::Certificate outer;
  outer.set_body(b);
  outer.set_signature(sig.data(), sig.size());
  const std::string e = outer.SerializeAsString();
  EXPECT_REFUSED(
      Certificate::parse(ByteSpan(reinterpret_cast<const std::uint8_t*>(e.data()), e.size())),
      CertError::Malformed, "only a user certificate carries a subject");
}

BOOST_FIXTURE_TEST_CASE(access_ca_constraints_survive_the_encoding, Pki) {
  const auto again = must(Certificate::parse(access.cert.encoded()));
  const auto& c = again.constraints();
  BOOST_TEST(c.subject_pattern == "*@example.com");
  BOOST_REQUIRE(c.allowed_kinds.size() == 1u);
  BOOST_TEST(kind_name(c.allowed_kinds[0]) == "user");
  BOOST_TEST(again.fingerprint() == access.cert.fingerprint());
  // A CA written before users existed has none of it in its bytes.
  const Ca old = make_node_ca(root);
  proto::CertificateBody body;
  BOOST_REQUIRE(body.ParseFromArray(old.cert.body().data(), int(old.cert.body().size())));
  BOOST_TEST(body.constraints().subject_pattern().empty());
  BOOST_TEST(body.subject().empty());
}
