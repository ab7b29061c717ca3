// The identity commands as an operator runs them: offline root -> node CA per host ->
// workload certificates, then `cert verify` accepting the chain and rejecting tampering,
// revocation and over-long lifetimes with the reason printed and exit status 1.
#define BOOST_TEST_MODULE identity_cli
#include <sys/stat.h>
#include <sys/wait.h>

#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "identity/cert_file.h"
#include "tests/unit/identity_test_util.h"

using keymesh::test::Run;
using keymesh::test::TempDir;
using keymesh::test::has;
using keymesh::test::exists;
using keymesh::test::mode_of;
using keymesh::test::slurp;

namespace {

const std::string kCli = KEYMESH_CLI;

Run run(const std::string& args) {
  Run r = keymesh::test::run_shell(kCli + " " + args);
  BOOST_TEST_MESSAGE("$ keymesh " << args << "\n" << r.out << r.err << "(exit " << r.code << ")");
  return r;
}

// Root CA offline, one node CA for host "node-a", one workload on it.
struct Pki {
  TempDir dir;
  std::string root = dir / "root.crt", root_key = dir / "root.key";
  std::string node = dir / "node-a.crt", node_key = dir / "node-a.key";
  std::string web = dir / "web.crt", web_key = dir / "web.key";
  Pki() {
    BOOST_REQUIRE(run("ca init --name acme-root --out " + root + " --key-out " + root_key).code ==
                  0);
    BOOST_REQUIRE(run("cert sign --ca " + root + " --ca-key " + root_key +
                      " --kind ca --name node-a --lifetime 720h --allowed-networks 10.1.0.0/24"
                      " --name-pattern 'node-a/*' --max-lifetime 24h --key-out " + node_key +
                      " --out " + node)
                      .code == 0);
    BOOST_REQUIRE(run("cert sign --ca " + node + " --ca-key " + node_key +
                      " --kind workload --name node-a/web --networks 10.1.0.5/32"
                      " --groups web,frontend --labels app=web,env=prod --lifetime 12h"
                      " --key-out " + web_key + " --out " + web)
                      .code == 0);
  }
  std::string verify(const std::string& leaf) const {
    return "cert verify " + leaf + " --chain " + node + " --ca " + root;
  }
};

}  // namespace

BOOST_FIXTURE_TEST_CASE(walk_through_issues_a_verifiable_chain, Pki) {
  BOOST_TEST(mode_of(root_key) == 0600u);
  BOOST_TEST(mode_of(node_key) == 0600u);
  BOOST_TEST(mode_of(web_key) == 0600u);
  BOOST_TEST(has(slurp(root), "-----BEGIN KEYMESH CERTIFICATE-----"));
  // The workload key is a WireGuard key, readable by `keymesh key pub`.
  const Run pub = run("key pub --in " + web_key);
  BOOST_TEST(pub.code == 0);
  const Run show = run("cert show " + web);
  BOOST_TEST(show.code == 0);
  BOOST_TEST(has(show.out, "node-a/web"));
  BOOST_TEST(has(show.out, "workload"));
  BOOST_TEST(has(show.out, "10.1.0.5/32"));
  BOOST_TEST(has(show.out, "app=web"));
  BOOST_TEST((has(show.out, "expires in 11h 59m") || has(show.out, "expires in 12h")));
  BOOST_TEST(has(show.out, pub.out.substr(0, 44)));  // the certified key is the key file's
  const Run json = run("cert show --json " + node);
  BOOST_TEST(json.code == 0);
  BOOST_TEST(has(json.out, "\"name_pattern\":\"node-a/*\""));
  BOOST_TEST(has(json.out, "\"max_lifetime_seconds\":86400"));

  const Run ok = run(verify(web));
  BOOST_TEST(ok.code == 0);
  BOOST_TEST(ok.err == "");
  BOOST_TEST(has(ok.out, "node-a/web (workload)"));
  BOOST_TEST(has(ok.out, "node-a (ca)"));
  BOOST_TEST(has(ok.out, "acme-root (ca, trusted root)"));
  BOOST_TEST(ok.out.ends_with("ok\n"));
  // Secrets are never printed by sign/show/verify.
  const std::string key_text = slurp(web_key).substr(0, 44);
  BOOST_TEST(!has(show.out + ok.out, key_text));
}

BOOST_FIXTURE_TEST_CASE(tampered_certificate_fails_with_the_reason, Pki) {
  // Rename the workload inside its signed body, keep the signature, write it back armored.
  auto certs = keymesh::identity::read_certificates_file(web);
  BOOST_REQUIRE(certs);
  keymesh::Bytes bytes = certs->front().encoded();
  const std::string name = "node-a/web";
  auto it = std::search(bytes.begin(), bytes.end(), name.begin(), name.end());
  BOOST_REQUIRE(it != bytes.end());
  *(it + 7) = 'd';  // node-a/deb
  const auto tampered = keymesh::identity::Certificate::parse(bytes);
  BOOST_REQUIRE(tampered);
  const keymesh::identity::Certificate one[] = {*tampered};
  BOOST_REQUIRE(keymesh::identity::write_certificates_file(dir / "tampered.crt", one, false));
  const Run bad = run(verify(dir / "tampered.crt"));
  BOOST_TEST(bad.code == 1);
  BOOST_TEST(bad.out == "");
  BOOST_TEST(has(bad.err, "forged_signature"));
  BOOST_TEST(has(bad.err, "\"node-a/deb\""));
  BOOST_TEST(has(bad.err, "signature does not verify"));
  // Garbage in the base64 is reported as malformed, also exit 1.
  std::string text = slurp(web);
  text[40] = text[40] == 'A' ? 'B' : 'A';
  std::ofstream(dir / "garbled.crt") << text;
  const Run garbled = run(verify(dir / "garbled.crt"));
  BOOST_TEST(garbled.code == 1);
  BOOST_TEST(!garbled.err.empty());
}

BOOST_FIXTURE_TEST_CASE(wrong_root_and_rotation, Pki) {
  BOOST_REQUIRE(run("ca init --name new-root --out " + dir / "new.crt" + " --key-out " +
                    dir / "new.key").code == 0);
  const Run wrong = run("cert verify " + web + " --chain " + node + " --ca " + dir / "new.crt");
  BOOST_TEST(wrong.code == 1);
  BOOST_TEST(has(wrong.err, "unknown_root"));
  // Both roots trusted during a rotation.
  const Run both = run(verify(web) + " --ca " + dir / "new.crt");
  BOOST_TEST(both.code == 0);
}

BOOST_FIXTURE_TEST_CASE(signing_refuses_what_the_issuer_does_not_allow, Pki) {
  const std::string base = "cert sign --ca " + node + " --ca-key " + node_key +
                           " --kind workload --public-key " +
                           run("key pub --in " + web_key).out.substr(0, 44) + " --out ";
  const Run too_long = run(base + dir / "long.crt" + " --name node-a/x --lifetime 48h");
  BOOST_TEST(too_long.code == 1);
  BOOST_TEST(has(too_long.err, "refusing to sign"));
  BOOST_TEST(has(too_long.err, "exceeds the maximum 24h"));
  BOOST_TEST(!exists(dir / "long.crt"));
  const Run outside = run(base + dir / "net.crt" + " --name node-a/x --networks 10.2.0.1/32");
  BOOST_TEST(outside.code == 1);
  BOOST_TEST(has(outside.err, "10.2.0.1/32 is outside the allowed networks"));
  const Run name = run(base + dir / "name.crt" + " --name node-b/x");
  BOOST_TEST(name.code == 1);
  BOOST_TEST(has(name.err, "does not match the pattern"));
  // A node CA may not mint CAs.
  const Run sub = run("cert sign --ca " + node + " --ca-key " + node_key +
                      " --kind ca --name node-a/sub --lifetime 1h --key-out " + dir / "sub.key" +
                      " --out " + dir / "sub.crt");
  BOOST_TEST(sub.code == 1);
  BOOST_TEST(has(sub.err, "may not sign CA certificates"));
  BOOST_TEST(!exists(dir / "sub.key"));
  // The wrong key for the CA.
  const Run mismatch = run("cert sign --ca " + node + " --ca-key " + root_key +
                           " --kind workload --name node-a/y --key-out " + dir / "y.key" +
                           " --out " + dir / "y.crt");
  BOOST_TEST(mismatch.code == 1);
  BOOST_TEST(has(mismatch.err, "is not the private key of"));
}

BOOST_FIXTURE_TEST_CASE(files_are_not_overwritten_without_force, Pki) {
  const Run again = run("ca init --name acme-root --out " + root + " --key-out " + dir / "k2");
  BOOST_TEST(again.code == 1);
  BOOST_TEST(has(again.err, "already exists (use --force"));
  BOOST_TEST(!exists(dir / "k2"));
  const std::string before = slurp(root_key);
  BOOST_TEST(run("ca init --name acme-root --out " + root + " --key-out " + root_key +
                 " --force").code == 0);
  BOOST_TEST(slurp(root_key) != before);
  BOOST_TEST(mode_of(root_key) == 0600u);
}

BOOST_FIXTURE_TEST_CASE(revocation_list_round_trip, Pki) {
  const std::string fp = keymesh::identity::read_certificates_file(web)->front().fingerprint_hex();
  const std::string crl = dir / "crl";
  const Run sign = run("crl sign --ca " + root + " --ca-key " + root_key + " --revoke " + fp +
                       " --out " + crl);
  BOOST_TEST(sign.code == 0);
  const Run revoked = run(verify(web) + " --crl " + crl);
  BOOST_TEST(revoked.code == 1);
  BOOST_TEST(has(revoked.err, "revoked"));
  BOOST_TEST(has(revoked.err, "\"node-a/web\""));
  // Adding the node CA to the same list keeps the workload in it.
  const std::string node_fp =
      keymesh::identity::read_certificates_file(node)->front().fingerprint_hex();
  BOOST_TEST(run("crl sign --ca " + root + " --ca-key " + root_key + " --revoke " + node_fp +
                 " --add-to " + crl + " --out " + crl).code == 0);
  BOOST_TEST(has(run(verify(web) + " --crl " + crl).err, "revoked"));
  // Only a root signs lists; a bad fingerprint is named.
  BOOST_TEST(run("crl sign --ca " + node + " --ca-key " + node_key + " --out " + dir / "x")
                 .code == 1);
  const Run bad = run("crl sign --ca " + root + " --ca-key " + root_key +
                      " --revoke nothex --out " + dir / "y");
  BOOST_TEST(bad.code == 1);
  BOOST_TEST(has(bad.err, "not a fingerprint"));
}

BOOST_FIXTURE_TEST_CASE(verify_at_a_time, Pki) {
  const Run later = run(verify(web) + " --at " + std::to_string(std::time(nullptr) + 13 * 3600));
  BOOST_TEST(later.code == 1);
  BOOST_TEST(has(later.err, "expired"));
  const Run earlier = run(verify(web) + " --at 2001-01-01T00:00:00Z");
  BOOST_TEST(earlier.code == 1);
  BOOST_TEST(has(earlier.err, "not_yet_valid"));
}

BOOST_FIXTURE_TEST_CASE(scoped_node_ca_flags_show_and_bind, Pki) {
  // cert sign --kind ca with the scope flags; cert show prints them; a leaf outside is refused.
  const std::string scoped = dir / "scoped.crt", scoped_key = dir / "scoped.key";
  const Run sign = run("cert sign --ca " + root + " --ca-key " + root_key +
                       " --kind ca --name node-s --lifetime 720h --allow-groups 'node-s-*'"
                       " --allow-labels 'app,env=dev|test' --allow-kinds workload"
                       " --context site=onprem,zone=b --key-out " + scoped_key + " --out " + scoped);
  BOOST_REQUIRE(sign.code == 0);
  const Run show = run("cert show " + scoped);
  BOOST_TEST(has(show.out, "  groups:     node-s-*\n"), show.out);
  BOOST_TEST(has(show.out, "  labels:     app=*, env=dev|test\n"), show.out);
  BOOST_TEST(has(show.out, "  kinds:      workload\n"), show.out);
  BOOST_TEST(has(show.out, "context:      site=onprem, zone=b\n"), show.out);
  const Run json = run("cert show --json " + scoped);
  BOOST_TEST(has(json.out, "\"allowed_groups\":[\"node-s-*\"]"), json.out);
  BOOST_TEST(has(json.out, "\"context\":{\"site\":\"onprem\",\"zone\":\"b\"}"), json.out);
  // An unscoped CA says "any".
  BOOST_TEST(has(run("cert show " + node).out, "  groups:     any\n"));
  const std::string base = "cert sign --ca " + scoped + " --ca-key " + scoped_key +
                           " --name x --lifetime 1h --key-out " + dir / "x.key" + " --out ";
  const Run group = run(base + dir / "g.crt" + " --kind workload --groups db");
  BOOST_TEST(group.code == 1);
  BOOST_TEST(has(group.err, "group db not allowed by CA node-s (groups: node-s-*)"), group.err);
  const Run label = run(base + dir / "l.crt" + " --kind workload --labels env=prod");
  BOOST_TEST(has(label.err, "label env=prod not allowed by CA node-s"), label.err);
  const Run kind = run(base + dir / "k.crt" + " --kind gateway");
  BOOST_TEST(has(kind.err, "kind gateway not allowed by CA node-s (kinds: workload)"), kind.err);
  BOOST_TEST(run(base + dir / "ok.crt" + " --kind workload --groups node-s-web --labels app=x")
                 .code == 0);
  // Scope and context flags are for CAs only.
  const Run leaf_ctx = run(base + dir / "c.crt" + " --kind workload --context site=cloud");
  BOOST_TEST(leaf_ctx.code == 1);
  BOOST_TEST(has(leaf_ctx.err, "are for --kind ca only"), leaf_ctx.err);
}
