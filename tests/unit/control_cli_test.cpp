// The keymesh CLI as a user runs it: key commands agree with wireguard-tools, key files are
// private, and `status` prints what the daemon reports or says clearly that it is not there.
#define BOOST_TEST_MODULE control_cli
#include <sys/stat.h>
#include <sys/wait.h>

#include <boost/test/unit_test.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/unit/control_test_util.h"

using keymesh::test::ServerThread;
using keymesh::test::Run;
using keymesh::test::TempDir;
using keymesh::test::slurp;

namespace {

const std::string kCli = KEYMESH_CLI;
const std::string kPrivate = "0EAbFOw0CcZT2ry9kc0IzB2xO2A1tBZDm7Wrwkzm8lE=";
const std::string kPublic = "OEXKw8fvZ/xKGyTUwLzqciMhXN6tOohhZy2qvT2aLy4=";  // from `wg pubkey`



Run run(const std::string& command) { return keymesh::test::run_shell(command); }

boost::test_tools::assertion_result wg_available(boost::unit_test::test_unit_id) {
  boost::test_tools::assertion_result ok(std::system("command -v wg >/dev/null 2>&1") == 0);
  ok.message() << "wireguard-tools (wg) is not installed; skipping the comparison with wg";
  return ok;
}

}  // namespace

BOOST_AUTO_TEST_CASE(key_pub_matches_wg_pubkey, *boost::unit_test::precondition(wg_available)) {
  const Run ours = run("echo " + kPrivate + " | " + kCli + " key pub");
  const Run theirs = run("echo " + kPrivate + " | wg pubkey");
  BOOST_TEST(ours.code == 0);
  BOOST_TEST(ours.err == "");
  BOOST_TEST(theirs.code == 0);
  BOOST_TEST(ours.out == theirs.out);
  BOOST_TEST(ours.out == kPublic + "\n");
}

BOOST_AUTO_TEST_CASE(generated_keys_work_with_wg, *boost::unit_test::precondition(wg_available)) {
  TempDir dir;
  for (int i = 0; i < 5; ++i) {
    const Run gen = run(kCli + " key gen | tee " + dir / "k");
    BOOST_REQUIRE(gen.code == 0);
    BOOST_TEST(gen.out.size() == 45u);  // 44 base64 characters and a newline
    const Run ours = run(kCli + " key pub < " + dir / "k");
    const Run theirs = run("wg pubkey < " + dir / "k");
    BOOST_TEST(ours.code == 0);
    BOOST_TEST(ours.out == theirs.out);
    // And keys from wg are read by us.
    const Run wg_key = run("wg genkey | tee " + dir / "w" + " | " + kCli + " key pub");
    BOOST_TEST(wg_key.out == run("wg pubkey < " + dir / "w").out);
  }
}

BOOST_AUTO_TEST_CASE(key_pub_from_a_file_and_bad_input) {
  TempDir dir;
  const std::string key = dir.write("a.key", kPrivate + "\n");
  const Run from_file = run(kCli + " key pub --in " + key);
  BOOST_TEST(from_file.code == 0);
  BOOST_TEST(from_file.out == kPublic + "\n");

  const Run bad = run("echo not-a-key | " + kCli + " key pub");
  BOOST_TEST(bad.code == 1);
  BOOST_TEST(bad.out == "");
  BOOST_TEST(bad.err ==
             "keymesh: stdin: not a WireGuard private key (expected 44 base64 characters)\n");
}

BOOST_AUTO_TEST_CASE(key_gen_out_writes_a_private_file_and_refuses_to_overwrite) {
  TempDir dir;
  const std::string path = dir / "new.key";
  const Run first = run("umask 022; " + kCli + " key gen --out " + path);
  BOOST_REQUIRE(first.code == 0);
  BOOST_TEST(first.out == "");
  struct stat st {};
  BOOST_REQUIRE(::stat(path.c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 07777) == 0600u);
  const std::string key = slurp(path);
  BOOST_TEST(key.size() == 45u);

  const Run again = run(kCli + " key gen --out " + path);
  BOOST_TEST(again.code == 1);
  BOOST_TEST(again.err == "keymesh: " + path + " already exists (use --force to overwrite it)\n");
  BOOST_TEST(slurp(path) == key);

  ::chmod(path.c_str(), 0644);
  const Run forced = run(kCli + " key gen --force --out " + path);
  BOOST_TEST(forced.code == 0);
  BOOST_TEST(slurp(path) != key);
  BOOST_REQUIRE(::stat(path.c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 07777) == 0600u, "a forced write does not keep the old mode");
}

BOOST_AUTO_TEST_CASE(status_without_a_daemon_fails_clearly) {
  TempDir dir;
  const std::string path = dir / "keymesh.sock";
  const Run r = run(kCli + " status --socket " + path);
  BOOST_TEST(r.code == 1);
  BOOST_TEST(r.out == "");
  BOOST_TEST(r.err == "keymesh: cannot reach keymeshd at " + path +
                          ": No such file or directory (is keymeshd running?)\n");
}

BOOST_AUTO_TEST_CASE(status_prints_like_wg_show) {
  TempDir dir;
  const std::string path = dir / "keymesh.sock";
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  ServerThread server(path, [now](const keymesh::proto::Request&) {
    keymesh::proto::Reply reply;
    auto* s = reply.mutable_status();
    s->set_interface("km0");
    s->set_public_key(kPublic);
    s->set_listen_port(51820);
    s->set_mtu(1420);
    auto* p = s->add_peers();
    p->set_name("b");
    p->set_public_key("hy1x+3+UZbLLZJk6kQSIDJyHDq3aRV9Na92gmaimWRk=");
    p->set_endpoint("198.18.0.2:51820");
    p->add_allowed_ips("100.64.3.2/32");
    p->add_allowed_ips("10.0.0.0/8");
    p->set_last_handshake_unix(now - 72);
    p->set_rx_bytes(1258291);  // 1.20 MiB
    p->set_tx_bytes(3565158);  // 3.40 MiB
    p->set_persistent_keepalive(25);
    auto* q = s->add_peers();
    q->set_public_key("uPtYP07El4FbYvybdKJfTjgHBSEaf0yaudnFnA3cUEg=");
    auto* d = s->add_drops();
    d->set_reason("no_route");
    d->set_count(7);
    auto* z = s->add_drops();
    z->set_reason("replay");
    z->set_count(0);
    return reply;
  });
  BOOST_REQUIRE_MESSAGE(server.ok(), server.error());

  const Run r = run(kCli + " status --socket " + path);
  BOOST_TEST(r.code == 0);
  BOOST_TEST(r.err == "");
  // The handshake age may have ticked a second while the command ran.
  const bool ticked = r.out.find("1 minute, 13 seconds ago") != std::string::npos;
  const std::string expected =
      "interface: km0\n"
      "  public key: " +
      kPublic +
      "\n"
      "  listening port: 51820\n"
      "  mtu: 1420\n"
      "\n"
      "peer: hy1x+3+UZbLLZJk6kQSIDJyHDq3aRV9Na92gmaimWRk= (b)\n"
      "  endpoint: 198.18.0.2:51820\n"
      "  allowed ips: 100.64.3.2/32, 10.0.0.0/8\n"
      "  latest handshake: 1 minute, " +
      (ticked ? "13" : "12") +
      " seconds ago\n"
      "  transfer: 1.20 MiB received, 3.40 MiB sent\n"
      "  persistent keepalive: every 25 seconds\n"
      "\n"
      "peer: uPtYP07El4FbYvybdKJfTjgHBSEaf0yaudnFnA3cUEg=\n"
      "  allowed ips: (none)\n"
      "\n"
      "drops:\n"
      "  no_route: 7\n";
  BOOST_TEST(r.out == expected);

  const Run all = run(kCli + " status --all-drops --socket " + path);
  BOOST_TEST(all.out.ends_with("drops:\n  no_route: 7\n  replay: 0\n"));

  const Run json = run(kCli + " status --json --socket " + path);
  BOOST_TEST(json.code == 0);
  BOOST_TEST(json.out.find("\"interface\": \"km0\"") != std::string::npos);
  BOOST_TEST(json.out.find("\"reason\": \"replay\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(daemon_error_is_shown) {
  TempDir dir;
  const std::string path = dir / "keymesh.sock";
  ServerThread server(path, [](const keymesh::proto::Request&) {
    keymesh::proto::Reply reply;
    reply.set_error("not ready");
    return reply;
  });
  BOOST_REQUIRE(server.ok());
  const Run r = run(kCli + " status --socket " + path);
  BOOST_TEST(r.code == 1);
  BOOST_TEST(r.err == "keymesh: keymeshd: not ready\n");
}
