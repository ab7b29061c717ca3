// The static file backend: what a valid file gives, errors that name the entry and key, and
// reload (changes reported; a broken file keeps the old entries).
#define BOOST_TEST_MODULE discovery_static
#include <boost/test/unit_test.hpp>

#include "discovery/static_directory.h"
#include "identity/cert_file.h"
#include "tests/unit/discovery_test_util.h"

using namespace keymesh;
using namespace keymesh::discovery;
using namespace keymesh::discovery::test;

namespace {

const std::string kKey = to_base64(identity::test::random_x25519_public());

// Parses `yaml` with no certificate files; returns the error message ("" when it loaded).
std::string error_of(const std::string& yaml) {
  auto r = parse_static_entries(yaml, "", [](const std::string& p) -> Result<std::string> {
    return fail(p + ": no such file");
  });
  return r ? "" : r.error().message;
}

}  // namespace

BOOST_AUTO_TEST_CASE(loads_certificate_and_raw_key_entries) {
  Pki pki;
  keymesh::test::TempDir dir;
  const auto leaf = pki.leaf("lighthouse-1", {"100.64.0.1/32"});
  const std::vector<identity::Certificate> chain = {leaf, pki.root.cert};
  dir.write("lh1.crt", identity::armor_certificates(chain), 0644);
  const std::string path = dir.write("static.yaml",
                                     "entries:\n"
                                     "  - certificate: lh1.crt\n"
                                     "    endpoints: [\"198.18.0.1:51820\", \"[2001:db8::1]:51820\"]\n"
                                     "  - public_key: \"" + kKey + "\"\n"
                                     "    networks: [100.64.2.0/24]\n"
                                     "    name: site-b\n"
                                     "    endpoints: [198.18.0.2:51820]\n"
                                     "    relay: true\n");
  auto d = StaticDirectory::open(path);
  BOOST_REQUIRE_MESSAGE(d, (d ? "" : d.error().message));
  BOOST_TEST((*d)->size() == 2u);
  const Record* lh = (*d)->lookup_address(ip("100.64.0.1"));
  BOOST_REQUIRE(lh != nullptr);
  BOOST_TEST(lh->name == "lighthouse-1");
  BOOST_TEST(lh->fingerprint == leaf.fingerprint());
  BOOST_REQUIRE_EQUAL(lh->endpoints.size(), 2u);
  BOOST_TEST(lh->endpoints[1].to_string() == "[2001:db8::1]:51820");
  BOOST_TEST(lh->chain == identity::serialize_chain(chain));
  const Record* site = (*d)->lookup_address(ip("100.64.2.77"));
  BOOST_REQUIRE(site != nullptr);
  BOOST_TEST(site->name == "site-b");
  BOOST_TEST(site->raw_key());
  BOOST_TEST(site->relay);
  BOOST_TEST(to_base64(site->public_key) == kKey);
  BOOST_TEST((*d)->lookup_fingerprint(site->fingerprint) == site);
}

BOOST_AUTO_TEST_CASE(errors_name_the_entry_and_the_key) {
  const std::string raw = "  - public_key: \"" + kKey + "\"\n    networks: [100.64.2.0/24]\n";
  struct Case {
    std::string yaml;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"", "file is empty"},
      {"entries: [1", "YAML syntax error"},
      {"entires: []", "unknown key \"entires\" (did you mean entries?)"},
      {"entries:\n" + raw + "    name: site-b\n    endpoints: [198.18.0.2]\n",
       "entries[0] (site-b).endpoints[0]: \"198.18.0.2\" is not an address:port"},
      {"entries:\n" + raw, "entries[0].endpoints: is required"},
      {"entries:\n" + raw + "    endpoints: []\n", "entries[0].endpoints: is empty"},
      {"entries:\n" + raw + "    endpoints: 198.18.0.2:1\n", "entries[0].endpoints: expected a list"},
      {"entries:\n  - public_key: abc\n    networks: [100.64.2.0/24]\n    endpoints: [198.18.0.2:1]\n",
       "entries[0].public_key: is not a base64 X25519 public key"},
      {"entries:\n  - public_key: \"" + kKey + "\"\n    endpoints: [198.18.0.2:1]\n",
       "entries[0].networks: is required with public_key"},
      {"entries:\n  - public_key: \"" + kKey + "\"\n    networks: [100.64.2.300/24]\n    endpoints: [198.18.0.2:1]\n",
       "entries[0].networks[0]: \"100.64.2.300/24\" is not a CIDR"},
      {"entries:\n  - endpoints: [198.18.0.2:1]\n", "entries[0]: needs exactly one of certificate and public_key"},
      {"entries:\n  - certificate: a.crt\n    networks: [100.64.0.0/24]\n    endpoints: [198.18.0.2:1]\n",
       "entries[0] (a.crt).networks: is not allowed with certificate"},
      {"entries:\n  - certificate: a.crt\n    endpoints: [198.18.0.2:1]\n",
       "entries[0] (a.crt).certificate: a.crt: no such file"},
      {"entries:\n" + raw + "    endpoints: [198.18.0.2:1]\n    relay: yes\n",
       "entries[0].relay: expected true or false"},
      {"entries:\n" + raw + "    endpoints: [198.18.0.2:1]\n    endpionts: []\n",
       "entries[0]: unknown key \"endpionts\" (did you mean endpoints?)"},
      {"entries:\n" + raw + "    endpoints: [198.18.0.2:1]\n" + raw + "    endpoints: [198.18.0.3:1]\n",
       "entries[1]: is the same identity as entries[0]"},
      {"entries:\n  - 42\n", "entries[0]: expected a map"},
  };
  for (const auto& c : cases) {
    const std::string got = error_of(c.yaml);
    BOOST_TEST(got.find(c.expected) != std::string::npos,
               "for:\n" << c.yaml << "\nexpected: " << c.expected << "\ngot: " << got);
  }
}

BOOST_AUTO_TEST_CASE(certificate_errors_name_the_file) {
  keymesh::test::TempDir dir;
  dir.write("bad.crt", "-----BEGIN KEYMESH CERTIFICATE-----\nAAAA\n-----END KEYMESH CERTIFICATE-----\n", 0644);
  Pki pki;
  const std::vector<identity::Certificate> ca = {pki.root.cert};
  dir.write("ca.crt", identity::armor_certificates(ca), 0644);
  const std::string path = dir.write("s.yaml", "entries:\n  - certificate: bad.crt\n    endpoints: [198.18.0.1:1]\n");
  auto d = StaticDirectory::open(path);
  BOOST_REQUIRE(!d);
  BOOST_TEST(d.error().message.find(path + ": entries[0] (bad.crt).certificate: \"" + dir.path() + "/bad.crt\"") == 0,
             d.error().message);
  dir.write("s.yaml", "entries:\n  - certificate: ca.crt\n    endpoints: [198.18.0.1:1]\n");
  d = StaticDirectory::open(path);
  BOOST_REQUIRE(!d);
  BOOST_TEST(d.error().message.find("is a CA certificate, not an identity") != std::string::npos);
  BOOST_TEST(!StaticDirectory::open(dir / "missing.yaml"));
}

BOOST_AUTO_TEST_CASE(reload_reports_changes_and_keeps_old_entries_on_error) {
  keymesh::test::TempDir dir;
  const std::string key2 = to_base64(identity::test::random_x25519_public());
  auto entry = [](const std::string& key, const char* net, const char* endpoint) {
    return "  - public_key: \"" + key + "\"\n    networks: [" + net + "]\n    endpoints: [" +
           endpoint + "]\n";
  };
  const std::string path = dir.write("s.yaml", "entries:\n" + entry(kKey, "100.64.1.0/24", "198.18.0.1:1") +
                                                   entry(key2, "100.64.2.0/24", "198.18.0.2:1"));
  auto d = StaticDirectory::open(path);
  BOOST_REQUIRE(d);
  std::vector<ChangeKind> changes;
  (*d)->watch([&](const Change& c) { changes.push_back(c.kind); });

  dir.write("s.yaml", "entries:\n" + entry(kKey, "100.64.1.0/24", "198.18.0.9:9"));
  BOOST_REQUIRE((*d)->reload());
  BOOST_TEST((*d)->size() == 1u);
  BOOST_TEST((*d)->lookup_address(ip("100.64.1.1"))->endpoints[0].to_string() == "198.18.0.9:9");
  BOOST_TEST((*d)->lookup_address(ip("100.64.2.1")) == nullptr);
  BOOST_TEST((changes == std::vector{ChangeKind::Removed, ChangeKind::Updated}));

  dir.write("s.yaml", "entries:\n  - public_key: broken\n");
  auto bad = (*d)->reload();
  BOOST_REQUIRE(!bad);
  BOOST_TEST(bad.error().message.find(path + ": entries[0]") == 0, bad.error().message);
  BOOST_TEST((*d)->lookup_address(ip("100.64.1.1")) != nullptr);  // old entries stay
  BOOST_TEST(changes.size() == 2u);
}
