// The access commands as an administrator runs them (issue 19, section 1): an access CA from
// the root, `keymesh user issue` for a person (0600 key, hours by default, refusals naming
// the access CA's limits, nothing written on refusal), `cert show` of the result, and
// `keymesh access export --wg-quick` (a 0600 wg-quick file and the keymeshd peers: entry).
#define BOOST_TEST_MODULE access_cli
#include <sys/stat.h>

#include <boost/test/unit_test.hpp>
#include <string>

#include "tests/unit/cli_test_util.h"

using keymesh::test::has;
using keymesh::test::exists;
using keymesh::test::mode_of;
using keymesh::test::Run;
using keymesh::test::slurp;
using keymesh::test::TempDir;

namespace {

const std::string kCli = KEYMESH_CLI;

Run run(const std::string& args) {
  Run r = keymesh::test::run_shell(kCli + " " + args);
  BOOST_TEST_MESSAGE("$ keymesh " << args << "\n" << r.out << r.err << "(exit " << r.code << ")");
  return r;
}

// The root, an access CA (users only, oncall|dba, *@example.com, 12h), and a node CA.
struct Pki {
  TempDir dir;
  std::string root = dir / "root.crt", root_key = dir / "root.key";
  std::string access = dir / "access.crt", access_key = dir / "access.key";
  std::string node = dir / "node.crt", node_key = dir / "node.key";
  Pki() {
    BOOST_REQUIRE(run("ca init --name root --out " + root + " --key-out " + root_key).code == 0);
    BOOST_REQUIRE(run("cert sign --ca " + root + " --ca-key " + root_key +
                      " --kind ca --name access --lifetime 720h --allow-kinds user"
                      " --allow-groups oncall,dba --subject-pattern '*@example.com'"
                      " --allowed-networks 100.64.20.0/24 --max-lifetime 12h --key-out " +
                      access_key + " --out " + access)
                      .code == 0);
    BOOST_REQUIRE(run("cert sign --ca " + root + " --ca-key " + root_key +
                      " --kind ca --name node-a --lifetime 720h --allowed-networks "
                      "100.64.20.0/24 --key-out " + node_key + " --out " + node)
                      .code == 0);
  }
  std::string issue(const std::string& name, const std::string& extra) const {
    return "user issue --ca " + access + " --ca-key " + access_key + " --name " + name +
           " --address 100.64.20.1 --out " + dir / (name + ".chain") + " --key-out " +
           dir / (name + ".key") + " " + extra;
  }
};

}  // namespace

BOOST_FIXTURE_TEST_CASE(user_issue_writes_a_short_lived_user_and_its_chain, Pki) {
  const Run r = run(issue("alice", "--subject alice@example.com --groups oncall"));
  BOOST_REQUIRE(r.code == 0);
  BOOST_TEST(has(r.out, "user \"alice\" <alice@example.com>"), r.out);
  BOOST_TEST(has(r.out, "(8h)"), r.out);  // the default: hours
  BOOST_TEST(mode_of(dir / "alice.key") == 0600u);
  const Run show = run("cert show " + dir / "alice.chain");
  BOOST_TEST(has(show.out, "kind:         user\n"), show.out);
  BOOST_TEST(has(show.out, "subject:      alice@example.com\n"), show.out);
  BOOST_TEST(has(show.out, "groups:       oncall\n"), show.out);
  BOOST_TEST(has(show.out, "  kinds:      user\n"), show.out);  // the access CA, second
  BOOST_TEST(has(show.out, "  subjects:   *@example.com\n"), show.out);
  const Run json = run("cert show --json " + dir / "alice.chain");
  BOOST_TEST(has(json.out, "\"kind\":\"user\",\"subject\":\"alice@example.com\""), json.out);
  // The chain verifies against the root, as keymeshd will check it.
  const Run verify = run("cert verify " + dir / "alice.chain" + " --ca " + root);
  BOOST_TEST(verify.code == 0);
  BOOST_TEST(has(verify.out, "alice (user)"), verify.out);
}

BOOST_FIXTURE_TEST_CASE(user_issue_refuses_what_the_access_ca_does_not_allow, Pki) {
  Run r = run(issue("bob", "--subject bob@example.com --groups oncall --lifetime 13h"));
  BOOST_TEST(r.code == 1);
  BOOST_TEST(has(r.err, "--lifetime 13h is longer than access CA access allows (at most 12h)"),
             r.err);
  BOOST_TEST(!exists(dir / "bob.key"));
  BOOST_TEST(!exists(dir / "bob.chain"));
  r = run(issue("bob", "--subject bob@example.com --groups oncall,admin"));
  BOOST_TEST(r.code == 1);
  BOOST_TEST(has(r.err, "refusing to issue: certificate \"bob\""), r.err);
  BOOST_TEST(has(r.err, "group admin not allowed by CA access (groups: oncall, dba)"), r.err);
  BOOST_TEST(!exists(dir / "bob.key"));
  r = run(issue("bob", "--subject bob@evil.test --groups oncall"));
  BOOST_TEST(r.code == 1);
  BOOST_TEST(has(r.err, "does not match the subject pattern \"*@example.com\""), r.err);
  r = run(issue("bob", "--subject bob --groups oncall"));
  BOOST_TEST(r.code == 1);
  BOOST_TEST(has(r.err, "--subject \"bob\" is not email-like"), r.err);
  // A node CA is not an access CA: the command says so and how to make one.
  r = run("user issue --ca " + node + " --ca-key " + node_key +
          " --name bob --subject bob@example.com --address 100.64.20.2 --out " +
          dir / "b.chain" + " --key-out " + dir / "b.key");
  BOOST_TEST(r.code == 1);
  BOOST_TEST(has(r.err, "CA node-a is not an access CA"), r.err);
  // `cert sign` refuses a user below the node CA too, naming the missing access CA.
  r = run("cert sign --ca " + node + " --ca-key " + node_key +
          " --kind user --name bob --subject bob@example.com --networks 100.64.20.2/32"
          " --lifetime 1h --key-out " + dir / "c.key" + " --out " + dir / "c.crt");
  BOOST_TEST(r.code == 1);
  BOOST_TEST(has(r.err, "kind user not allowed by CA node-a"), r.err);
}

BOOST_FIXTURE_TEST_CASE(access_export_writes_a_wg_quick_file_and_the_peer_entry, Pki) {
  BOOST_REQUIRE(run(issue("alice", "--subject alice@example.com --groups oncall")).code == 0);
  const std::string conf = dir / "alice-wg.conf";
  const std::string server = "hy1x+3+UZbLLZJk6kQSIDJyHDq3aRV9Na92gmaimWRk=";
  const Run r = run("access export --wg-quick --cert " + dir / "alice.chain" +
                    " --name alice-wg --address 100.64.21.1 --server-public-key " + server +
                    " --endpoint 198.18.0.10:51820 --allowed-ips 100.64.2.0/24 --out " + conf);
  BOOST_REQUIRE(r.code == 0);
  BOOST_TEST(mode_of(conf) == 0600u);
  const std::string text = slurp(conf);
  BOOST_TEST(has(text, "[Interface]\nPrivateKey = "), text);
  BOOST_TEST(has(text, "\nAddress = 100.64.21.1/32\n"), text);
  BOOST_TEST(has(text, "[Peer]\nPublicKey = " + server + "\nEndpoint = 198.18.0.10:51820\n"
                       "AllowedIPs = 100.64.2.0/24\nPersistentKeepalive = 25\n"),
             text);
  BOOST_TEST(has(r.out, "  - name: alice-wg\n    public_key: "), r.out);
  BOOST_TEST(has(r.out, "    allowed_ips: [100.64.21.1/32]\n    groups: [oncall]\n"), r.out);
  BOOST_TEST(has(r.out, "    labels: { subject: \"alice@example.com\" }\n"), r.out);
  // Refusals: no overwrite, not a user certificate, a bad server key.
  Run again = run("access export --wg-quick --cert " + dir / "alice.chain" +
                  " --address 100.64.21.1 --server-public-key " + server +
                  " --endpoint 198.18.0.10:51820 --allowed-ips 100.64.2.0/24 --out " + conf);
  BOOST_TEST(again.code == 1);
  BOOST_TEST(has(again.err, "already exists"), again.err);
  again = run("access export --wg-quick --cert " + access + " --address 100.64.21.1"
              " --server-public-key " + server + " --endpoint 198.18.0.10:51820"
              " --allowed-ips 100.64.2.0/24 --out " + dir / "x.conf");
  BOOST_TEST(again.code == 1);
  BOOST_TEST(has(again.err, "not a user certificate"), again.err);
  again = run("access export --wg-quick --name x --address 100.64.21.1 --server-public-key abc"
              " --endpoint 198.18.0.10:51820 --allowed-ips 100.64.2.0/24 --out " +
              dir / "y.conf");
  BOOST_TEST(again.code == 1);
  BOOST_TEST(has(again.err, "--server-public-key must be 32 bytes"), again.err);
  BOOST_TEST(!exists(dir / "y.conf"));
}
