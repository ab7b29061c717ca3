// Certificate format: strict parsing, the fingerprint, signing rules, files and key files.
#define BOOST_TEST_MODULE identity_certificate
#include <sys/stat.h>

#include <boost/test/unit_test.hpp>
#include <fstream>

#include "identity/cert_file.h"
#include "identity/files.h"
#include "identity/revocation.h"
#include "tests/unit/identity_test_util.h"

using namespace keymesh;
using namespace keymesh::identity;
using namespace keymesh::identity::test;

namespace {

CertError reason_of(ByteSpan bytes) {
  const auto r = Certificate::parse(bytes);
  BOOST_REQUIRE_MESSAGE(!r, "expected a parse failure");
  BOOST_TEST_MESSAGE("parse failure: " << r.error().message);
  return r.error().reason;
}

Bytes to_bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

// Re-signs a hand-edited body with `key` (for bodies the library would never build).
Bytes signed_body(const proto::CertificateBody& body, const CaKey& key) {
  const std::string b = body.SerializeAsString();
  const auto sig = key.sign(to_bytes(b));
  proto::Certificate outer;
  outer.set_body(b);
  outer.set_signature(sig.data(), sig.size());
  return to_bytes(outer.SerializeAsString());
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return st.st_mode & 0777;
}

}  // namespace

BOOST_AUTO_TEST_CASE(round_trip_keeps_every_field) {
  const Ca root = make_root();
  const Ca node = make_node_ca(root);
  const Certificate leaf = make_leaf(node, {.networks = {cidr("10.1.0.5/32"), cidr("fd00:1::/64")}});
  const auto again = Certificate::parse(leaf.encoded());
  BOOST_REQUIRE(again);
  BOOST_TEST(again->fingerprint() == leaf.fingerprint());
  BOOST_TEST(again->fields().networks.size() == 2u);
  BOOST_TEST(again->fields().networks[1].to_string() == "fd00:1::/64");
  BOOST_TEST(again->fields().labels.at("app") == "web");
  BOOST_TEST(node.cert.constraints().name_pattern == "node-a/*");
  BOOST_TEST(node.cert.constraints().max_lifetime_seconds == 24 * 3600);
  BOOST_TEST(!node.cert.constraints().may_sign_ca);
  BOOST_TEST(root.cert.constraints().may_sign_ca);
  BOOST_TEST(leaf.short_fingerprint() == leaf.fingerprint_hex().substr(0, 16));
}

BOOST_AUTO_TEST_CASE(strict_parse_rejects_malformed_input) {
  const Ca root = make_root();
  const Certificate leaf = make_leaf(make_node_ca(root));
  BOOST_TEST(to_string(reason_of(Bytes{})) == "malformed");
  BOOST_TEST(to_string(reason_of(Bytes{0xff, 0xff, 0xff})) == "malformed");
  Bytes truncated = leaf.encoded();
  truncated.resize(truncated.size() - 1);
  BOOST_TEST(to_string(reason_of(truncated)) == "malformed");
  // An unknown field appended to the outer message changes the bytes, and so would change
  // the fingerprint: refused, so a revoked certificate cannot be re-encoded out of its CRL.
  Bytes extra = leaf.encoded();
  extra.insert(extra.end(), {0x18, 0x01});
  BOOST_TEST(to_string(reason_of(extra)) == "malformed");

  proto::CertificateBody good;
  good.set_version(1);
  good.set_name("w");
  good.set_kind(proto::CertificateBody::WORKLOAD);
  const auto pub = random_x25519_public();
  good.set_public_key(pub.data(), pub.size());
  good.set_not_before(kT0);
  good.set_not_after(kT0 + kHour);
  good.set_issuer_fingerprint(root.cert.fingerprint().data(), 32);
  BOOST_TEST(Certificate::parse(signed_body(good, root.key)).has_value());

  const auto variant = [&](auto edit) {
    proto::CertificateBody b = good;
    edit(b);
    return reason_of(signed_body(b, root.key));
  };
  using B = proto::CertificateBody;
  BOOST_TEST(to_string(variant([](B& b) { b.set_version(2); })) == "malformed");
  BOOST_TEST(to_string(variant([](B& b) { b.set_kind(B::KIND_UNSPECIFIED); })) == "malformed");
  BOOST_TEST(to_string(variant([](B& b) { b.set_public_key("short"); })) == "malformed");
  BOOST_TEST(to_string(variant([](B& b) { b.set_name(""); })) == "malformed");
  BOOST_TEST(to_string(variant([](B& b) { b.set_name("has space"); })) == "malformed");
  BOOST_TEST(to_string(variant([](B& b) { b.add_networks("10.1.0.0/33"); })) == "malformed");
  BOOST_TEST(to_string(variant([](B& b) { b.add_networks("10.1.0.5/24"); })) == "malformed");
  BOOST_TEST(to_string(variant([](B& b) { b.add_networks("banana"); })) == "malformed");
  BOOST_TEST(to_string(variant([](B& b) { b.set_not_after(kT0); })) == "malformed");
  BOOST_TEST(to_string(variant([](B& b) { b.set_not_before(-5); })) == "malformed");
  BOOST_TEST(to_string(variant([](B& b) { b.set_issuer_fingerprint("x"); })) == "malformed");
  // A non-CA with constraints, or without an issuer (self-signed leaf).
  BOOST_TEST(to_string(variant([](B& b) { b.mutable_constraints()->set_may_sign_ca(true); })) ==
             "malformed");
  BOOST_TEST(to_string(variant([](B& b) { b.clear_issuer_fingerprint(); })) == "malformed");
  // A CA whose key is not a valid Ed25519 point (all 0xff).
  BOOST_TEST(to_string(variant([](B& b) {
               b.set_kind(B::CA);
               b.set_public_key(std::string(32, '\xff'));
             })) == "malformed");
  // The same label key twice (a map would silently keep one).
  BOOST_TEST(to_string(variant([](B& b) {
               for (int i = 0; i < 2; ++i) {
                 auto* l = b.add_labels();
                 l->set_key("app");
                 l->set_value(i ? "db" : "web");
               }
             })) == "malformed");
  // Text that is not printable ASCII (protobuf itself must not choke or log on it).
  BOOST_TEST(to_string(variant([](B& b) { b.set_name("w\xff"); })) == "malformed");
  BOOST_TEST(to_string(variant([](B& b) { b.add_groups("a\nb"); })) == "malformed");
  // Unknown fields inside the body.
  BOOST_TEST(to_string(variant([](B& b) {
               b.GetReflection()->MutableUnknownFields(&b)->AddVarint(99, 1);
             })) == "malformed");
}

BOOST_AUTO_TEST_CASE(signing_rules) {
  const Ca root = make_root();
  CertificateFields f;
  f.name = "w";
  f.kind = Kind::Workload;
  f.public_key = random_x25519_public();
  f.not_before = kT0;
  f.not_after = kT0 + kHour;
  // A leaf cannot be self-signed; a root must carry the signing key.
  BOOST_TEST(!sign_certificate(f, nullptr, root.key));
  CertificateFields r = f;
  r.kind = Kind::Ca;
  BOOST_TEST(!sign_certificate(r, nullptr, root.key));
  // The key must be the issuer's.
  const CaKey other = CaKey::generate();
  const auto wrong = sign_certificate(f, &root.cert, other);
  BOOST_REQUIRE(!wrong);
  BOOST_TEST(to_string(wrong.error().reason) == "key_mismatch");
  // A non-CA cannot carry constraints.
  f.constraints = CaConstraints{};
  BOOST_TEST(!sign_certificate(f, &root.cert, root.key));
}

BOOST_AUTO_TEST_CASE(remembered_signatures_decide_as_verification_does) {
  // A verified (certificate, issuer key) pair is remembered; nothing else may pass for it.
  const Ca root = make_root();
  const Certificate leaf = make_leaf(root);
  const CaKey other = CaKey::generate();
  for (int round = 0; round < 2; ++round) {
    BOOST_TEST(leaf.signature_valid_for(root.cert.public_key()));
    BOOST_TEST(!leaf.signature_valid_for(other.public_key()));  // same bytes, another key
  }
  Bytes tampered = leaf.encoded();
  tampered.back() ^= 0x01;  // the signature's last byte
  const auto forged = Certificate::parse(tampered);
  BOOST_REQUIRE(forged);
  for (int round = 0; round < 2; ++round)
    BOOST_TEST(!forged->signature_valid_for(root.cert.public_key()));
  BOOST_TEST(leaf.signature_valid_for(root.cert.public_key()));
}

BOOST_AUTO_TEST_CASE(glob_patterns) {
  BOOST_TEST(glob_match("node-a/*", "node-a/web-1"));
  BOOST_TEST(glob_match("node-a/*", "node-a/"));
  BOOST_TEST(!glob_match("node-a/*", "node-b/web"));
  BOOST_TEST(!glob_match("node-a/*", "node-a"));
  BOOST_TEST(glob_match("*", ""));
  BOOST_TEST(glob_match("web-?", "web-1"));
  BOOST_TEST(!glob_match("web-?", "web-10"));
  BOOST_TEST(glob_match("*/db-*", "node-c/x/db-main"));
  BOOST_TEST(glob_match("a*b*c", "aXXbYYbZc"));
  BOOST_TEST(!glob_match("a*b*c", "aXXbYYbZ"));
  BOOST_TEST(!glob_match("exact", "exact2"));
  BOOST_TEST(glob_match(std::string(100, '*') + "x", std::string(5000, 'a') + "x"));
}

BOOST_AUTO_TEST_CASE(prefix_containment) {
  BOOST_TEST(prefix_within(cidr("10.1.0.5/32"), cidr("10.1.0.0/24")));
  BOOST_TEST(prefix_within(cidr("10.1.0.0/24"), cidr("10.1.0.0/24")));
  BOOST_TEST(!prefix_within(cidr("10.1.0.0/23"), cidr("10.1.0.0/24")));
  BOOST_TEST(!prefix_within(cidr("10.1.1.0/24"), cidr("10.1.0.0/24")));
  BOOST_TEST(prefix_within(cidr("fd00:1::/64"), cidr("fd00::/16")));
  BOOST_TEST(!prefix_within(cidr("fd00:1::/64"), cidr("10.0.0.0/8")));
  BOOST_TEST(prefix_within(cidr("10.9.9.9/32"), cidr("0.0.0.0/0")));
}

BOOST_AUTO_TEST_CASE(certificate_files_armored_and_raw) {
  TempDir dir;
  const Ca root = make_root();
  const Ca node = make_node_ca(root);
  const Certificate leaf = make_leaf(node);
  const Certificate chain[] = {leaf, node.cert};
  BOOST_REQUIRE(write_certificates_file(dir / "chain.crt", chain, false));
  BOOST_TEST(mode_of(dir / "chain.crt") == 0644u);
  const auto text = read_identity_file(dir / "chain.crt", false);
  BOOST_REQUIRE(text);
  BOOST_TEST(text->starts_with("-----BEGIN KEYMESH CERTIFICATE-----\n"));
  auto back = read_certificates_file(dir / "chain.crt");
  BOOST_REQUIRE(back);
  BOOST_REQUIRE(back->size() == 2u);
  BOOST_TEST((*back)[0].fingerprint() == leaf.fingerprint());
  BOOST_TEST((*back)[1].fingerprint() == node.cert.fingerprint());
  // Never replaced without force.
  const auto again = write_certificates_file(dir / "chain.crt", chain, false);
  BOOST_REQUIRE(!again);
  BOOST_TEST(again.error().message.find("already exists") != std::string::npos);
  BOOST_TEST(write_certificates_file(dir / "chain.crt", chain, true).has_value());
  // Pasted with comments and CRLF line ends, it still reads.
  std::string pasted = "# web-1, issued today\r\n" + armor_certificates(chain);
  for (std::size_t p = 0; (p = pasted.find('\n', p)) != std::string::npos; p += 2)
    pasted.insert(p, "\r");
  const auto from_paste = parse_certificates_text(to_bytes(pasted));
  BOOST_REQUIRE(from_paste);
  BOOST_TEST(from_paste->size() == 2u);
  // Raw binary: a Certificate, or a CertificateChain.
  const auto raw = parse_certificates_text(leaf.encoded());
  BOOST_REQUIRE(raw);
  BOOST_TEST(raw->size() == 1u);
  const auto raw_chain = parse_certificates_text(serialize_chain(chain));
  BOOST_REQUIRE(raw_chain);
  BOOST_TEST(raw_chain->size() == 2u);
}

BOOST_AUTO_TEST_CASE(ca_key_files_are_private) {
  TempDir dir;
  const CaKey key = CaKey::generate();
  BOOST_REQUIRE(write_ca_key_file(dir / "ca.key", key, false));
  BOOST_TEST(mode_of(dir / "ca.key") == 0600u);
  const auto back = read_ca_key_file(dir / "ca.key");
  BOOST_REQUIRE(back);
  BOOST_TEST(back->public_key() == key.public_key());
  const Bytes msg{1, 2, 3};
  BOOST_TEST(back->sign(msg) == key.sign(msg));
  BOOST_TEST(!write_ca_key_file(dir / "ca.key", key, false));
  // A key others can read is refused, and the error does not quote the file.
  ::chmod((dir / "ca.key").c_str(), 0644);
  const auto shared = read_ca_key_file(dir / "ca.key");
  BOOST_REQUIRE(!shared);
  BOOST_TEST(shared.error().message.find("a key file must be 0600 or stricter") != std::string::npos);
  // Forced overwrite leaves a 0600 file even where a 0644 one was.
  BOOST_REQUIRE(write_ca_key_file(dir / "ca.key", key, true));
  BOOST_TEST(mode_of(dir / "ca.key") == 0600u);
  // A file whose halves disagree is refused.
  std::ofstream(dir / "bad.key") << armor(kCaKeyLabel, Bytes(64, 7));
  ::chmod((dir / "bad.key").c_str(), 0600);
  BOOST_TEST(!read_ca_key_file(dir / "bad.key"));
}

BOOST_AUTO_TEST_CASE(revocation_list_files) {
  TempDir dir;
  const Ca root = make_root();
  const Fingerprint a = sha256(Bytes{1}), b = sha256(Bytes{2});
  const auto list = must(sign_revocation_list(root.cert, root.key, {b, a, b}, kT0));
  BOOST_TEST(list.revoked().size() == 2u);
  BOOST_TEST(list.contains(a));
  BOOST_REQUIRE(write_identity_file(dir / "crl", armor_revocation_list(list), 0644, false));
  const auto back = read_revocation_list_file(dir / "crl");
  BOOST_REQUIRE(back);
  BOOST_TEST(back->issued_at() == kT0);
  BOOST_TEST(back->contains(b));
  BOOST_TEST(verify_revocation_list(*back, root.cert).has_value());
  BOOST_TEST(!verify_revocation_list(*back, make_root("other").cert));
  // Only a root signs lists.
  const Ca node = make_node_ca(root);
  BOOST_TEST(!sign_revocation_list(node.cert, node.key, {a}, kT0));
}
