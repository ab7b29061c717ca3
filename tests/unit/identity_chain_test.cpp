// Chain validation as the handshake uses it: one test per rejection reason, each asserting the
// exact CertError and that the message names the offending certificate.
#define BOOST_TEST_MODULE identity_chain
#include <boost/test/unit_test.hpp>

#include "identity/chain.h"
#include "identity/revocation.h"
#include "tests/unit/identity_test_util.h"

using namespace keymesh;
using namespace keymesh::identity;
using namespace keymesh::identity::test;

namespace {

// root -> node CA "node-a" (10.1.0.0/24, "node-a/*", 24 h) -> workload "node-a/web-1".
struct ThreeLevel {
  Ca root = make_root();
  Ca node = make_node_ca(root);
  Certificate leaf = make_leaf(node);
  TrustStore store;
  ThreeLevel() { BOOST_REQUIRE(store.add_root(root.cert)); }
  Chain chain() const { return {leaf, node.cert}; }
};

bool mentions(const CertFailure& f, const Certificate& c) {
  return f.message.find("\"" + c.name() + "\" (" + c.short_fingerprint() + ")") !=
         std::string::npos;
}

#define EXPECT_REJECT(result, code, cert)                                  \
  do {                                                                     \
    const auto& r_ = (result);                                             \
    BOOST_REQUIRE_MESSAGE(!r_, "expected a rejection");                    \
    BOOST_TEST(to_string(r_.error().reason) == to_string(code));           \
    BOOST_TEST_MESSAGE("rejected: " << r_.error().message);                \
    BOOST_TEST(mentions(r_.error(), (cert)), r_.error().message);          \
  } while (0)

}  // namespace

BOOST_FIXTURE_TEST_CASE(three_level_chain_yields_the_leaf_identity, ThreeLevel) {
  const auto id = store.validate(chain(), at(kT0));
  BOOST_REQUIRE_MESSAGE(id.has_value(), (id ? std::string() : id.error().message));
  BOOST_TEST(id->name == "node-a/web-1");
  BOOST_TEST(kind_name(id->kind) == "workload");
  BOOST_TEST(id->public_key == leaf.public_key());
  BOOST_TEST(id->networks.size() == 1u);
  BOOST_TEST(id->networks[0].to_string() == "10.1.0.5/32");
  BOOST_TEST(id->groups == std::vector<std::string>{"web"});
  BOOST_TEST(id->labels.at("tier") == "front end");
  BOOST_TEST(id->not_after == leaf.fields().not_after);
  BOOST_TEST(id->fingerprint == leaf.fingerprint_hex());
  BOOST_TEST(id->fingerprint.size() == 64u);
  BOOST_REQUIRE(id->chain_fingerprints.size() == 3u);
  BOOST_TEST(id->chain_fingerprints[2] == root.cert.fingerprint());
  // The root may also travel in the chain; the result is the same.
  BOOST_TEST(store.validate(Chain{leaf, node.cert, root.cert}, at(kT0)).has_value());
  // And through the wire format the handshake carries.
  const Bytes wire = serialize_chain(chain());
  const auto again = store.validate(wire, at(kT0));
  BOOST_REQUIRE(again);
  BOOST_TEST(again->fingerprint == id->fingerprint);
}

BOOST_FIXTURE_TEST_CASE(fingerprint_is_sha256_of_the_stored_bytes, ThreeLevel) {
  BOOST_TEST(leaf.fingerprint() == sha256(leaf.encoded()));
  BOOST_TEST(*leaf.fields().issuer == node.cert.fingerprint());
  BOOST_TEST(root.cert.is_self_signed());
}

BOOST_FIXTURE_TEST_CASE(forged_signature, ThreeLevel) {
  // Flip one byte of the name inside the body: it still parses, but the signature is over the
  // original bytes.
  Bytes bytes = leaf.encoded();
  const std::string name = "node-a/web-1";
  auto it = std::search(bytes.begin(), bytes.end(), name.begin(), name.end());
  BOOST_REQUIRE(it != bytes.end());
  *(it + 11) = '2';  // node-a/web-2
  const auto tampered = Certificate::parse(bytes);
  BOOST_REQUIRE_MESSAGE(tampered.has_value(), (tampered ? std::string() : tampered.error().message));
  BOOST_TEST(tampered->name() == "node-a/web-2");
  EXPECT_REJECT(store.validate(Chain{*tampered, node.cert}, at(kT0)), CertError::ForgedSignature,
                *tampered);
  // A flipped signature byte, too.
  bytes = leaf.encoded();
  bytes.back() ^= 0x01;
  const auto bad_sig = Certificate::parse(bytes);
  BOOST_REQUIRE(bad_sig);
  EXPECT_REJECT(store.validate(Chain{*bad_sig, node.cert}, at(kT0)), CertError::ForgedSignature,
                *bad_sig);
}

BOOST_FIXTURE_TEST_CASE(wrong_root, ThreeLevel) {
  TrustStore other;
  const Ca stranger = make_root("stranger");
  BOOST_REQUIRE(other.add_root(stranger.cert));
  EXPECT_REJECT(other.validate(chain(), at(kT0)), CertError::UnknownRoot, node.cert);
  EXPECT_REJECT(other.validate(Chain{leaf, node.cert, root.cert}, at(kT0)),
                CertError::UnknownRoot, root.cert);
  // A look-alike root (same name, different key) is a different root.
  const Ca impostor = make_root("root");
  TrustStore fooled;
  BOOST_REQUIRE(fooled.add_root(impostor.cert));
  EXPECT_REJECT(fooled.validate(chain(), at(kT0)), CertError::UnknownRoot, node.cert);
}

BOOST_FIXTURE_TEST_CASE(expired, ThreeLevel) {
  const std::int64_t end = leaf.fields().not_after;
  EXPECT_REJECT(store.validate(chain(), at(end + 61)), CertError::Expired, leaf);
  // An expired issuer fails the chain even while the leaf is in its window.
  const Ca old_node = make_node_ca(root, "node-a", {.allowed_networks = {cidr("10.1.0.0/24")}},
                                   kT0 - 10 * kDay, kT0 - kDay);
  LeafSpec spec;
  spec.not_before = kT0 - 2 * kDay;
  spec.not_after = kT0 - kDay;
  const Certificate l = make_leaf(old_node, spec);
  EXPECT_REJECT(store.validate(Chain{l, old_node.cert}, at(kT0)), CertError::Expired,
                old_node.cert);
}

BOOST_FIXTURE_TEST_CASE(not_yet_valid, ThreeLevel) {
  const std::int64_t start = leaf.fields().not_before;
  EXPECT_REJECT(store.validate(chain(), at(start - 61)), CertError::NotYetValid, leaf);
}

BOOST_FIXTURE_TEST_CASE(clock_skew_allowance, ThreeLevel) {
  const std::int64_t start = leaf.fields().not_before, end = leaf.fields().not_after;
  // Default 60 s either side.
  BOOST_TEST(store.validate(chain(), at(start - 60)).has_value());
  BOOST_TEST(store.validate(chain(), at(end + 60)).has_value());
  // Configurable: none at all, or more.
  EXPECT_REJECT(store.validate(chain(), at(start - 1), std::chrono::seconds(0)),
                CertError::NotYetValid, leaf);
  EXPECT_REJECT(store.validate(chain(), at(end + 1), std::chrono::seconds(0)), CertError::Expired,
                leaf);
  BOOST_TEST(store.validate(chain(), at(end + 300), std::chrono::seconds(300)).has_value());
  EXPECT_REJECT(store.validate(chain(), at(end + 301), std::chrono::seconds(300)),
                CertError::Expired, leaf);
}

BOOST_FIXTURE_TEST_CASE(network_outside_constraint, ThreeLevel) {
  LeafSpec spec;
  spec.networks = {cidr("10.1.0.5/32"), cidr("10.2.0.5/32")};
  const Certificate l = make_leaf(node, spec);
  const auto r = store.validate(Chain{l, node.cert}, at(kT0));
  EXPECT_REJECT(r, CertError::NetworkOutsideConstraint, l);
  BOOST_TEST(r.error().message.find("10.2.0.5/32") != std::string::npos);
  BOOST_TEST(mentions(r.error(), node.cert));
  // A prefix wider than the allowed one is outside too.
  spec.networks = {cidr("10.1.0.0/16")};
  const Certificate wide = make_leaf(node, spec);
  EXPECT_REJECT(store.validate(Chain{wide, node.cert}, at(kT0)),
                CertError::NetworkOutsideConstraint, wide);
  // IPv6 leaf networks against an IPv4-only CA.
  spec.networks = {cidr("fd00::5/128")};
  const Certificate v6 = make_leaf(node, spec);
  EXPECT_REJECT(store.validate(Chain{v6, node.cert}, at(kT0)),
                CertError::NetworkOutsideConstraint, v6);
}

BOOST_AUTO_TEST_CASE(every_ca_on_the_path_constrains_the_leaf) {
  // The root allows 10.0.0.0/16 only; a node CA claiming 10.9.0.0/24 is outside it, and so is
  // a leaf below an unconstrained node CA.
  const Ca root = make_root("root", {.allowed_networks = {cidr("10.0.0.0/16")},
                                     .name_pattern = "*/*",
                                     .may_sign_ca = true});
  TrustStore store;
  BOOST_REQUIRE(store.add_root(root.cert));
  const Ca bad_node = make_node_ca(root, "node-x", {.allowed_networks = {cidr("10.9.0.0/24")}});
  const Certificate l1 = make_leaf(bad_node, {.name = "x/1", .networks = {cidr("10.9.0.1/32")}});
  EXPECT_REJECT(store.validate(Chain{l1, bad_node.cert}, at(kT0)),
                CertError::NetworkOutsideConstraint, bad_node.cert);
  const Ca loose = make_node_ca(root, "node-y", {});
  const Certificate l2 = make_leaf(loose, {.name = "y/1", .networks = {cidr("10.7.0.1/32")}});
  EXPECT_REJECT(store.validate(Chain{l2, loose.cert}, at(kT0)),
                CertError::NetworkOutsideConstraint, l2);
  // The root's name pattern applies to leaves two levels down.
  const Certificate l3 = make_leaf(loose, {.name = "flat-name", .networks = {cidr("10.0.1.1/32")}});
  EXPECT_REJECT(store.validate(Chain{l3, loose.cert}, at(kT0)), CertError::NameOutsidePattern,
                l3);
  const Certificate ok = make_leaf(loose, {.name = "y/1", .networks = {cidr("10.0.1.1/32")}});
  BOOST_TEST(store.validate(Chain{ok, loose.cert}, at(kT0)).has_value());
}

BOOST_FIXTURE_TEST_CASE(name_outside_pattern, ThreeLevel) {
  const Certificate l = make_leaf(node, {.name = "node-b/web-1"});
  const auto r = store.validate(Chain{l, node.cert}, at(kT0));
  EXPECT_REJECT(r, CertError::NameOutsidePattern, l);
  BOOST_TEST(r.error().message.find("node-a/*") != std::string::npos);
}

BOOST_FIXTURE_TEST_CASE(lifetime_exceeding_issuer, ThreeLevel) {
  // Longer than the node CA's 24 h maximum.
  const Certificate too_long =
      make_leaf(node, {.not_before = kT0 - kHour, .not_after = kT0 + 47 * kHour});
  const auto r = store.validate(Chain{too_long, node.cert}, at(kT0));
  EXPECT_REJECT(r, CertError::LifetimeExceedsIssuer, too_long);
  BOOST_TEST(r.error().message.find("48h") != std::string::npos);
  BOOST_TEST(r.error().message.find("24h") != std::string::npos);
  // Within the maximum, but past the node CA's own expiry.
  const std::int64_t ca_end = node.cert.fields().not_after;
  const Certificate outlives =
      make_leaf(node, {.not_before = ca_end - kHour, .not_after = ca_end + kHour});
  EXPECT_REJECT(store.validate(Chain{outlives, node.cert}, at(ca_end - 30 * 60)),
                CertError::LifetimeExceedsIssuer, outlives);
  // check_issued_by (what `cert sign` runs) reports the same before anything is written.
  EXPECT_REJECT(check_issued_by(too_long, node.cert), CertError::LifetimeExceedsIssuer, too_long);
}

BOOST_FIXTURE_TEST_CASE(revoked, ThreeLevel) {
  const auto crl = must(sign_revocation_list(root.cert, root.key, {leaf.fingerprint()}, kT0));
  BOOST_REQUIRE(store.set_revocation_list(crl));
  EXPECT_REJECT(store.validate(chain(), at(kT0)), CertError::Revoked, leaf);
  // Revoking the node CA takes every leaf below it with it.
  const Certificate sibling = make_leaf(node, {.name = "node-a/db"});
  BOOST_TEST(store.validate(Chain{sibling, node.cert}, at(kT0)).has_value());
  const auto crl2 =
      must(sign_revocation_list(root.cert, root.key, {node.cert.fingerprint()}, kT0 + 1));
  BOOST_REQUIRE(store.set_revocation_list(crl2));  // replaces the first list
  EXPECT_REJECT(store.validate(Chain{sibling, node.cert}, at(kT0)), CertError::Revoked,
                node.cert);
  BOOST_TEST(!store.is_revoked(leaf.fingerprint()));
}

BOOST_FIXTURE_TEST_CASE(revocation_lists_must_come_from_a_trusted_root_and_be_fresh,
                        ThreeLevel) {
  const Ca stranger = make_root("stranger");
  const auto foreign =
      must(sign_revocation_list(stranger.cert, stranger.key, {leaf.fingerprint()}, kT0));
  const auto r = store.set_revocation_list(foreign);
  BOOST_REQUIRE(!r);
  BOOST_TEST(to_string(r.error().reason) == to_string(CertError::UnknownRoot));
  // Signed by someone else while claiming the trusted root: a bad list.
  Bytes bytes = must(sign_revocation_list(root.cert, root.key, {}, kT0)).encoded();
  bytes.back() ^= 1;
  const auto forged = must(RevocationList::parse(bytes));
  const auto f = store.set_revocation_list(forged);
  BOOST_REQUIRE(!f);
  BOOST_TEST(to_string(f.error().reason) == to_string(CertError::BadRevocationList));
  // An older list cannot replace a newer one (rollback).
  BOOST_REQUIRE(store.set_revocation_list(
      must(sign_revocation_list(root.cert, root.key, {leaf.fingerprint()}, kT0 + 10))));
  const auto stale =
      store.set_revocation_list(must(sign_revocation_list(root.cert, root.key, {}, kT0)));
  BOOST_REQUIRE(!stale);
  BOOST_TEST(to_string(stale.error().reason) == to_string(CertError::StaleRevocationList));
  BOOST_TEST(store.is_revoked(leaf.fingerprint()));
}

BOOST_FIXTURE_TEST_CASE(non_ca_signing, ThreeLevel) {
  // A certificate "issued" by the workload: its issuer is not a CA.
  const CaKey any = CaKey::generate();
  const Certificate child = forge("node-a/child", leaf.fingerprint(), any);
  EXPECT_REJECT(store.validate(Chain{child, leaf, node.cert}, at(kT0)), CertError::NotSignedByCa,
                child);
  // The library refuses to sign with a non-CA issuer in the first place.
  CertificateFields f = leaf.fields();
  f.name = "node-a/child";
  const auto refused = sign_certificate(f, &leaf, any);
  BOOST_REQUIRE(!refused);
  BOOST_TEST(to_string(refused.error().reason) == to_string(CertError::NotSignedByCa));
}

BOOST_FIXTURE_TEST_CASE(node_ca_may_not_sign_a_ca, ThreeLevel) {
  const Ca sub = make_node_ca(node, "node-a/sub", {.allowed_networks = {cidr("10.1.0.0/25")}},
                              kT0 - kHour, kT0 + 10 * kHour);
  const Certificate l = make_leaf(sub, {.not_before = kT0 - kHour, .not_after = kT0 + kHour});
  EXPECT_REJECT(store.validate(Chain{l, sub.cert, node.cert}, at(kT0)),
                CertError::CaSigningNotAllowed, sub.cert);
  // With may_sign_ca on the root (ca init sets it) the node CA itself is fine: see above.
}

BOOST_FIXTURE_TEST_CASE(key_mismatch, ThreeLevel) {
  const auto id = store.validate(chain(), at(kT0));
  BOOST_REQUIRE(id);
  BOOST_TEST(check_static_key(*id, leaf.public_key()).has_value());
  const auto other = random_x25519_public();
  const auto r = check_static_key(*id, other);
  EXPECT_REJECT(r, CertError::KeyMismatch, leaf);
}

BOOST_AUTO_TEST_CASE(ca_rotation) {
  const Ca old_root = make_root("root-2024"), new_root = make_root("root-2025");
  const Ca old_node = make_node_ca(old_root), new_node = make_node_ca(new_root);
  const Certificate old_leaf = make_leaf(old_node), new_leaf = make_leaf(new_node);
  TrustStore store;
  BOOST_REQUIRE(store.add_root(old_root.cert));
  BOOST_REQUIRE(store.add_root(new_root.cert));
  const auto old_id = store.validate(Chain{old_leaf, old_node.cert}, at(kT0));
  BOOST_TEST(old_id.has_value());
  BOOST_TEST(store.validate(Chain{new_leaf, new_node.cert}, at(kT0)).has_value());
  // Both roots are in use; a node may even present a chain ending with its root.
  BOOST_TEST(store.validate(Chain{old_leaf, old_node.cert, old_root.cert}, at(kT0)).has_value());

  BOOST_TEST(store.remove_root(old_root.cert.fingerprint()));
  BOOST_TEST(!store.remove_root(old_root.cert.fingerprint()));
  EXPECT_REJECT(store.validate(Chain{old_leaf, old_node.cert}, at(kT0)), CertError::UnknownRoot,
                old_node.cert);
  BOOST_TEST(store.validate(Chain{new_leaf, new_node.cert}, at(kT0)).has_value());
  // An identity validated before the removal loses its standing on recheck.
  const auto re = store.recheck(*old_id, at(kT0));
  BOOST_REQUIRE(!re);
  BOOST_TEST(to_string(re.error().reason) == to_string(CertError::UnknownRoot));
}

BOOST_FIXTURE_TEST_CASE(recheck_after_revocation_and_expiry, ThreeLevel) {
  const auto id = store.validate(chain(), at(kT0));
  BOOST_REQUIRE(id);
  BOOST_TEST(store.recheck(*id, at(kT0)).has_value());
  const auto late = store.recheck(*id, at(id->not_after + 61));
  BOOST_REQUIRE(!late);
  BOOST_TEST(to_string(late.error().reason) == to_string(CertError::Expired));
  BOOST_REQUIRE(store.set_revocation_list(
      must(sign_revocation_list(root.cert, root.key, {node.cert.fingerprint()}, kT0))));
  const auto r = store.recheck(*id, at(kT0));
  BOOST_REQUIRE(!r);
  BOOST_TEST(to_string(r.error().reason) == to_string(CertError::Revoked));
}

BOOST_FIXTURE_TEST_CASE(chain_too_long, ThreeLevel) {
  // root -> ca1 -> ca2 -> ca3 -> ca4 -> leaf: six with the root.
  std::vector<Ca> cas;
  const CaConstraints open{.may_sign_ca = true};
  cas.push_back(make_node_ca(root, "ca1", open));
  for (int i = 2; i <= 4; ++i)
    cas.push_back(make_node_ca(cas.back(), "ca" + std::to_string(i), open));
  const Certificate l = make_leaf(cas.back());
  Chain c{l};
  for (auto it = cas.rbegin(); it != cas.rend(); ++it) c.push_back(it->cert);
  const auto r = store.validate(c, at(kT0));
  BOOST_REQUIRE(!r);
  BOOST_TEST(to_string(r.error().reason) == to_string(CertError::ChainTooLong));
  // One level less fits.
  const Certificate l3 = make_leaf(cas[2]);
  BOOST_TEST(store.validate(Chain{l3, cas[2].cert, cas[1].cert, cas[0].cert}, at(kT0)).has_value());
}

BOOST_FIXTURE_TEST_CASE(broken_linkage, ThreeLevel) {
  const Ca other_node = make_node_ca(root, "node-b");
  EXPECT_REJECT(store.validate(Chain{leaf, other_node.cert}, at(kT0)), CertError::IssuerMismatch,
                leaf);
  // Missing intermediate: the leaf names the node CA, which is not a trusted root.
  EXPECT_REJECT(store.validate(Chain{leaf}, at(kT0)), CertError::UnknownRoot, leaf);
}

BOOST_FIXTURE_TEST_CASE(a_ca_is_not_a_handshake_identity, ThreeLevel) {
  EXPECT_REJECT(store.validate(Chain{node.cert}, at(kT0)), CertError::NotAnIdentity, node.cert);
  const auto path = store.verify_chain(Chain{node.cert}, at(kT0));
  BOOST_REQUIRE(path);
  BOOST_TEST(path->size() == 2u);
}

BOOST_AUTO_TEST_CASE(trust_store_takes_only_self_signed_cas) {
  const Ca root = make_root();
  const Ca node = make_node_ca(root);
  TrustStore store;
  BOOST_TEST(!store.add_root(node.cert));
  BOOST_TEST(!store.add_root(make_leaf(node)));
  BOOST_TEST(store.add_root(root.cert).has_value());
  BOOST_TEST(store.roots().size() == 1u);
}
