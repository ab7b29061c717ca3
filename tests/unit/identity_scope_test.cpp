// What a CA may say below it (issue 15, sections 2 and 5): allowed groups, labels and kinds
// enforced by every CA on the path, and context labels asserted by CAs and carried to the
// leaf. Each rejection asserts the CertError and that the message names the constraint.
#define BOOST_TEST_MODULE identity_scope
#include <boost/test/unit_test.hpp>

#include "cert.pb.h"
#include "identity/chain.h"
#include "tests/unit/identity_test_util.h"

using namespace keymesh;
using namespace keymesh::identity;
using namespace keymesh::identity::test;

namespace {

struct Says {
  std::string name = "node-a/x";
  Kind kind = Kind::Workload;
  std::vector<std::string> groups;
  std::map<std::string, std::string> labels;
};

Certificate leaf_saying(const Ca& issuer, Says s) {
  CertificateFields f;
  f.name = s.name;
  f.kind = s.kind;
  f.public_key = random_x25519_public();
  f.networks = {cidr("10.1.0.7/32")};
  f.groups = std::move(s.groups);
  f.labels = std::move(s.labels);
  f.not_before = kT0 - kHour;
  f.not_after = kT0 + kHour;
  // sign_certificate does not check the issuer's rules: this is what a compromised node CA
  // (its key in an attacker's hands) can produce.
  return must(sign_certificate(std::move(f), &issuer.cert, issuer.key));
}

Ca node_ca(const Ca& root, CaConstraints c, std::map<std::string, std::string> context = {},
           const std::string& name = "node-a") {
  CaKey key = CaKey::generate();
  CertificateFields f;
  f.name = name;
  f.kind = Kind::Ca;
  f.public_key = key.public_key();
  f.not_before = kT0 - kDay;
  f.not_after = kT0 + 30 * kDay;
  f.constraints = std::move(c);
  f.context = std::move(context);
  Certificate cert = must(sign_certificate(std::move(f), &root.cert, root.key));
  return Ca{std::move(cert), std::move(key)};
}

struct Pki {
  Ca root = make_root();
  TrustStore store;
  Pki() { BOOST_REQUIRE(store.add_root(root.cert)); }
};

}  // namespace

BOOST_FIXTURE_TEST_CASE(node_ca_limited_to_its_groups_cannot_vouch_for_db, Pki) {
  const Ca node = node_ca(root, {.allowed_groups = std::vector<std::string>{"node-a-*"}});
  const Certificate db = leaf_saying(node, {.groups = {"node-a-web", "db"}});
  EXPECT_REFUSED(store.validate(Chain{db, node.cert}, at(kT0)), CertError::GroupOutsideConstraint,
                 "group db not allowed by CA node-a (groups: node-a-*)");
  // What `keymesh cert sign` runs refuses it too, before anything is written.
  EXPECT_REFUSED(check_issued_by(db, node.cert), CertError::GroupOutsideConstraint,
                 "group db not allowed by CA node-a");
  // Its own groups pass.
  const Certificate web = leaf_saying(node, {.groups = {"node-a-web", "node-a-api"}});
  BOOST_TEST(store.validate(Chain{web, node.cert}, at(kT0)).has_value());
}

BOOST_FIXTURE_TEST_CASE(every_ca_on_the_path_bounds_groups, Pki) {
  // The root bounds groups; the node CA below says nothing about groups (absent: unrestricted
  // by itself), yet the root's rule reaches the leaf two levels down.
  const Ca scoped_root = make_root("root-2", {.may_sign_ca = true,
                                              .allowed_groups = std::vector<std::string>{"team-?"}});
  TrustStore s;
  BOOST_REQUIRE(s.add_root(scoped_root.cert));
  const Ca node = node_ca(scoped_root, {});
  EXPECT_REFUSED(s.validate(Chain{leaf_saying(node, {.groups = {"db"}}), node.cert}, at(kT0)),
                 CertError::GroupOutsideConstraint, "not allowed by CA root-2 (groups: team-?)");
  BOOST_TEST(s.validate(Chain{leaf_saying(node, {.groups = {"team-a"}}), node.cert}, at(kT0))
                 .has_value());
  // A present but empty list allows no group at all; no groups still pass.
  const Ca none = node_ca(root, {.allowed_groups = std::vector<std::string>{}}, {}, "node-n");
  EXPECT_REFUSED(store.validate(Chain{leaf_saying(none, {.groups = {"x"}}), none.cert}, at(kT0)),
                 CertError::GroupOutsideConstraint, "(groups: none)");
  BOOST_TEST(store.validate(Chain{leaf_saying(none, {}), none.cert}, at(kT0)).has_value());
}

BOOST_FIXTURE_TEST_CASE(labels_keys_and_values_are_bounded, Pki) {
  const Ca node = node_ca(
      root, {.allowed_labels = std::vector<LabelPattern>{{"env", {"dev", "test-*"}}, {"app", {}}}});
  BOOST_TEST(store
                 .validate(Chain{leaf_saying(node, {.labels = {{"env", "test-3"}, {"app", "any"}}}),
                                 node.cert},
                           at(kT0))
                 .has_value());
  EXPECT_REFUSED(
      store.validate(Chain{leaf_saying(node, {.labels = {{"env", "prod"}}}), node.cert}, at(kT0)),
      CertError::LabelOutsideConstraint,
      "label env=prod not allowed by CA node-a (labels: env=dev|test-*, app=*)");
  EXPECT_REFUSED(
      store.validate(Chain{leaf_saying(node, {.labels = {{"tier", "db"}}}), node.cert}, at(kT0)),
      CertError::LabelOutsideConstraint, "label tier=db not allowed");
}

BOOST_FIXTURE_TEST_CASE(kinds_are_bounded, Pki) {
  const Ca node = node_ca(root, {.allowed_kinds = {Kind::Workload, Kind::Node}});
  BOOST_TEST(store.validate(Chain{leaf_saying(node, {}), node.cert}, at(kT0)).has_value());
  EXPECT_REFUSED(
      store.validate(Chain{leaf_saying(node, {.kind = Kind::Gateway}), node.cert}, at(kT0)),
      CertError::KindOutsideConstraint,
      "kind gateway not allowed by CA node-a (kinds: node, workload)");
  // A CA cannot list "ca" as a kind: sub-CAs are what may_sign_ca governs.
  CertificateFields f = node.cert.fields();
  f.constraints->allowed_kinds = {Kind::Ca};
  BOOST_TEST(!check_fields(f).has_value());
}

BOOST_FIXTURE_TEST_CASE(constraints_survive_the_encoding, Pki) {
  const Ca node = node_ca(root,
                          {.allowed_groups = std::vector<std::string>{"a-*", "b"},
                           .allowed_labels = std::vector<LabelPattern>{{"env", {"dev"}}},
                           .allowed_kinds = {Kind::Gateway}},
                          {{"site", "onprem"}, {"zone", "b"}});
  const auto again = must(Certificate::parse(node.cert.encoded()));
  const auto& c = again.constraints();
  BOOST_REQUIRE(c.allowed_groups.has_value());
  BOOST_TEST(*c.allowed_groups == (std::vector<std::string>{"a-*", "b"}));
  BOOST_REQUIRE(c.allowed_labels.has_value());
  BOOST_TEST((*c.allowed_labels == std::vector<LabelPattern>{{"env", {"dev"}}}));
  BOOST_TEST(c.allowed_kinds.size() == 1u);
  BOOST_TEST(again.fields().context.at("zone") == "b");
  BOOST_TEST(again.fingerprint() == node.cert.fingerprint());
}

BOOST_FIXTURE_TEST_CASE(certificates_without_the_new_fields_keep_their_meaning, Pki) {
  // A node CA encoded the way version 1 wrote it before these fields existed: constraints 1-4
  // only. Every group, label and kind passes below it, and its bytes carry nothing new.
  const Ca old = make_node_ca(root);
  BOOST_TEST(!old.cert.constraints().allowed_groups.has_value());
  BOOST_TEST(!old.cert.constraints().allowed_labels.has_value());
  BOOST_TEST(old.cert.constraints().allowed_kinds.empty());
  proto::CertificateBody body;
  BOOST_REQUIRE(body.ParseFromArray(old.cert.body().data(), int(old.cert.body().size())));
  BOOST_TEST(!body.constraints().has_allowed_groups());
  BOOST_TEST(!body.constraints().has_allowed_labels());
  BOOST_TEST(body.context_size() == 0);
  const Certificate any = leaf_saying(old, {.kind = Kind::Gateway, .groups = {"db"},
                                            .labels = {{"env", "prod"}}});
  BOOST_TEST(store.validate(Chain{any, old.cert}, at(kT0)).has_value());
}

BOOST_FIXTURE_TEST_CASE(unknown_fields_inside_new_constraints_are_refused, Pki) {
  proto::CertificateBody body;
  const Ca node = node_ca(root, {.allowed_groups = std::vector<std::string>{"a"}});
  BOOST_REQUIRE(body.ParseFromArray(node.cert.body().data(), int(node.cert.body().size())));
  body.mutable_constraints()->mutable_allowed_groups()->GetReflection()
      ->MutableUnknownFields(body.mutable_constraints()->mutable_allowed_groups())
      ->AddVarint(9, 1);
  const std::string b = body.SerializeAsString();
  const auto sig = root.key.sign(ByteSpan(reinterpret_cast<const std::uint8_t*>(b.data()), b.size()));
  proto::Certificate outer;
  outer.set_body(b);
  outer.set_signature(sig.data(), sig.size());
  const std::string e = outer.SerializeAsString();
  const auto r = Certificate::parse(ByteSpan(reinterpret_cast<const std::uint8_t*>(e.data()), e.size()));
  EXPECT_REFUSED(r, CertError::Malformed, "unknown to version 1");
}

BOOST_FIXTURE_TEST_CASE(context_comes_from_the_cas_of_the_chain, Pki) {
  const Ca onprem = node_ca(root, {}, {{"site", "onprem"}, {"zone", "b"}});
  const auto id = store.validate(Chain{leaf_saying(onprem, {}), onprem.cert}, at(kT0));
  BOOST_REQUIRE_MESSAGE(id.has_value(), (id ? std::string() : id.error().message));
  BOOST_TEST(id->context.at("site") == "onprem");
  BOOST_TEST(id->context.at("zone") == "b");
  BOOST_TEST(id->issuer_name == "node-a");
  BOOST_TEST(id->issuer_fingerprint == onprem.cert.fingerprint_hex());
  // A leaf cannot assert context of its own: the library refuses to build one...
  CertificateFields f = leaf_saying(onprem, {}).fields();
  f.context = {{"site", "cloud"}};
  BOOST_TEST(!check_fields(f).has_value());
  // ...and a hand-made one is refused when parsed.
  proto::CertificateBody body;
  const Certificate l = leaf_saying(onprem, {});
  BOOST_REQUIRE(body.ParseFromArray(l.body().data(), int(l.body().size())));
  auto* ctx = body.add_context();
  ctx->set_key("site");
  ctx->set_value("cloud");
  const std::string b = body.SerializeAsString();
  const auto sig = onprem.key.sign(ByteSpan(reinterpret_cast<const std::uint8_t*>(b.data()), b.size()));
  proto::Certificate outer;
  outer.set_body(b);
  outer.set_signature(sig.data(), sig.size());
  const std::string e = outer.SerializeAsString();
  EXPECT_REFUSED(Certificate::parse(ByteSpan(reinterpret_cast<const std::uint8_t*>(e.data()), e.size())),
                 CertError::Malformed, "only a CA certificate may assert context labels");
}

BOOST_AUTO_TEST_CASE(a_sub_ca_may_add_context_but_not_change_it) {
  // root (site=onprem) -> region CA (may add zone) -> leaf: the leaf gets both.
  const Ca root = [] {
    CaKey key = CaKey::generate();
    CertificateFields f;
    f.name = "root";
    f.kind = Kind::Ca;
    f.public_key = key.public_key();
    f.not_before = kT0 - 30 * kDay;
    f.not_after = kT0 + 365 * kDay;
    f.constraints = CaConstraints{.may_sign_ca = true};
    f.context = {{"site", "onprem"}};
    Certificate cert = must(sign_certificate(std::move(f), nullptr, key));
    return Ca{std::move(cert), std::move(key)};
  }();
  TrustStore store;
  BOOST_REQUIRE(store.add_root(root.cert));
  const Ca zoned = node_ca(root, {}, {{"zone", "b"}, {"site", "onprem"}}, "zone-b");
  const auto id = store.validate(Chain{leaf_saying(zoned, {}), zoned.cert}, at(kT0));
  BOOST_REQUIRE(id.has_value());
  BOOST_TEST(id->context.at("site") == "onprem");
  BOOST_TEST(id->context.at("zone") == "b");
  const Ca liar = node_ca(root, {}, {{"site", "cloud"}}, "liar");
  EXPECT_REFUSED(store.validate(Chain{leaf_saying(liar, {}), liar.cert}, at(kT0)),
                 CertError::ContextConflict,
                 "context site=cloud conflicts with site=onprem asserted by CA root");
}
