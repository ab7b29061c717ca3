// Record endpoints are unsigned: a record naming loopback, multicast, broadcast or the
// unspecified address would aim initiations and punches at the receiving host itself or at a
// whole segment. Such records are refused, locally (check_record) and from the wire, with the
// reason named; ordinary unicast endpoints still pass.
#define BOOST_TEST_MODULE discovery_record
#include <boost/test/unit_test.hpp>

#include "discovery.pb.h"
#include "tests/unit/discovery_test_util.h"

using namespace keymesh;
using namespace keymesh::discovery;
using namespace keymesh::discovery::test;

BOOST_AUTO_TEST_CASE(unicast_endpoints_are_usable) {
  for (const char* text : {"198.18.0.1:51820", "[2001:db8::1]:4000", "[::ffff:198.18.0.7]:1",
                           "100.64.0.1:51820"})
    BOOST_TEST(unusable_endpoint(ep(text)) == nullptr, text);
}

BOOST_AUTO_TEST_CASE(endpoints_nobody_listens_at_are_refused_with_the_reason) {
  Pki pki;
  const struct {
    const char* endpoint;
    const char* why;
  } cases[] = {
      {"127.0.0.1:51820", "loopback"},       {"127.9.9.9:51820", "loopback"},
      {"[::1]:51820", "loopback"},           {"[::ffff:127.0.0.1]:51820", "loopback"},
      {"0.0.0.0:51820", "unspecified"},      {"[::]:51820", "unspecified"},
      {"224.0.0.1:51820", "multicast"},      {"239.255.255.250:1900", "multicast"},
      {"[ff02::1]:51820", "multicast"},      {"255.255.255.255:51820", "broadcast"},
      {"240.0.0.1:51820", "reserved"},
  };
  for (const auto& c : cases) {
    Record r = pki.record("node-a", {"100.64.1.0/24"}, {ep("198.18.0.1:51820")});
    BOOST_TEST_REQUIRE(check_record(r).has_value());
    r.endpoints.push_back(ep(c.endpoint));
    auto checked = check_record(r);
    BOOST_TEST_REQUIRE(!checked.has_value(), c.endpoint);
    BOOST_TEST(checked.error().message.find(c.why) != std::string::npos, checked.error().message);
    BOOST_TEST(checked.error().message.find(ep(c.endpoint).to_string()) != std::string::npos);

    // The same record from the wire (a lighthouse or etcd) is refused as a whole.
    proto::discovery::Record w;
    to_wire(r, wall(), w);
    BOOST_TEST(!from_wire(w, wall(), std::chrono::seconds(600)).has_value(), c.endpoint);
  }
}

BOOST_AUTO_TEST_CASE(relays_are_capped_even_when_built_locally) {
  Pki pki;
  Record r = pki.record("node-a", {"100.64.1.0/24"}, {ep("198.18.0.1:51820")});
  for (std::size_t i = 0; i <= kMaxRecordRelays; ++i)
    r.relays.push_back(ip(("100.64.9." + std::to_string(i + 1)).c_str()));
  auto checked = check_record(r);
  BOOST_TEST_REQUIRE(!checked.has_value());
  BOOST_TEST(checked.error().message.find("relays") != std::string::npos);
  r.relays.pop_back();
  BOOST_TEST(check_record(r).has_value());
}
