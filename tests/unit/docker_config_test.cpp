// The config key `docker:` (daemon/config.h DockerConfig): absent, the driver is off; a map
// turns it on, with the default socket or the one given; mistakes name the key.
#define BOOST_TEST_MODULE docker_config
#include <boost/test/unit_test.hpp>

#include "daemon/config.h"
#include "tests/unit/control_test_util.h"

using keymesh::daemon::Config;
using keymesh::daemon::parse_config;
using keymesh::test::TempDir;

namespace {

struct Fixture {
  TempDir dir;
  // Generated with `wg genkey`; the node CA files are only named, not read, at parse time.
  Fixture() { dir.write("a.key", "0EAbFOw0CcZT2ry9kc0IzB2xO2A1tBZDm7Wrwkzm8lE=\n"); }
  keymesh::Result<Config> parse(const std::string& tail, bool node_ca = true) {
    std::string yaml = "private_key_file: a.key\n";
    if (node_ca) yaml += "node_ca: { certificate: ca.crt, key: ca.key }\n";
    return parse_config(yaml + tail, dir.path());
  }
  std::string error(const std::string& tail, bool node_ca = true) {
    auto c = parse(tail, node_ca);
    BOOST_REQUIRE_MESSAGE(!c.has_value(), "expected an error for: " + tail);
    return c.error().message;
  }
};

}  // namespace

BOOST_FIXTURE_TEST_CASE(docker_key, Fixture) {
  auto off = parse("");
  BOOST_REQUIRE(off.has_value());
  BOOST_TEST(!off->docker.has_value());

  auto defaults = parse("docker: {}\n");
  BOOST_REQUIRE(defaults.has_value());
  BOOST_REQUIRE(defaults->docker.has_value());
  BOOST_TEST(defaults->docker->socket == "/run/docker/plugins/keymesh.sock");

  auto custom = parse("docker: { socket: /run/km-test/plugins/keymesh.sock }\n");
  BOOST_REQUIRE(custom.has_value());
  BOOST_TEST(custom->docker->socket == "/run/km-test/plugins/keymesh.sock");
  auto relative = parse("docker: { socket: plugins/km.sock }\n");
  BOOST_REQUIRE(relative.has_value());
  BOOST_TEST(relative->docker->socket == dir / "plugins/km.sock");

  BOOST_TEST(error("docker: { sock: /x }\n").find("sock") != std::string::npos);
  BOOST_TEST(error("docker:\n") == "docker: expected a map (docker: {} for the defaults), got null");
  BOOST_TEST(error("docker: { socket: /" + std::string(120, 'a') + " }\n").find(
                 "docker.socket: longer than 107 bytes") != std::string::npos);
  BOOST_TEST(error("docker: {}\n", /*node_ca=*/false) ==
             "docker: needs node_ca (the driver mints an identity for each container)");
}
