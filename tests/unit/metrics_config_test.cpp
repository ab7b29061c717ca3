// Config key metrics_listen (docs/config.md, docs/metrics.md): the documented default, off
// when empty, IPv4 and bracketed IPv6 addresses, and errors that name the key.
#define BOOST_TEST_MODULE metrics_config
#include <boost/test/unit_test.hpp>
#include <string>

#include "daemon/config.h"
#include "tests/unit/control_test_util.h"

using keymesh::daemon::parse_config;
using keymesh::test::TempDir;

namespace {

struct Fixture {
  TempDir dir;
  Fixture() { dir.write("a.key", "0EAbFOw0CcZT2ry9kc0IzB2xO2A1tBZDm7Wrwkzm8lE=\n"); }
  auto parse(const std::string& extra) {
    return parse_config("private_key_file: a.key\n" + extra, dir.path());
  }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(metrics_config, Fixture)

BOOST_AUTO_TEST_CASE(default_is_loopback_9830_and_not_configured) {
  auto c = parse("");
  BOOST_REQUIRE_MESSAGE(c, (c ? "" : c.error().message));
  BOOST_TEST(c->metrics_listen == "127.0.0.1:9830");
  BOOST_TEST(!c->metrics_listen_configured);
}

BOOST_AUTO_TEST_CASE(empty_turns_it_off_and_addresses_are_kept) {
  auto off = parse("metrics_listen: \"\"\n");
  BOOST_REQUIRE_MESSAGE(off, (off ? "" : off.error().message));
  BOOST_TEST(off->metrics_listen.empty());
  BOOST_TEST(off->metrics_listen_configured);
  auto v4 = parse("metrics_listen: 198.18.0.1:9100\n");
  BOOST_REQUIRE(v4);
  BOOST_TEST(v4->metrics_listen == "198.18.0.1:9100");
  auto v6 = parse("metrics_listen: \"[fd00::1]:9830\"\n");
  BOOST_REQUIRE(v6);
  BOOST_TEST(v6->metrics_listen == "[fd00::1]:9830");
}

BOOST_AUTO_TEST_CASE(bad_addresses_name_the_key) {
  for (const std::string bad : {"localhost:9830", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:99999",
                                "fd00::1:9830"}) {
    auto c = parse("metrics_listen: \"" + bad + "\"\n");
    BOOST_REQUIRE_MESSAGE(!c, "accepted " + bad);
    BOOST_TEST(c.error().message.starts_with("metrics_listen: expected ADDRESS:PORT"),
               c.error().message);
  }
  auto list = parse("metrics_listen: [1]\n");
  BOOST_REQUIRE(!list);
  BOOST_TEST(list.error().message.find("metrics_listen") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
