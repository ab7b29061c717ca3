// udp::Endpoint: text and socket-address conversions.
#define BOOST_TEST_MODULE io_endpoint
#include <arpa/inet.h>
#include <sys/un.h>

#include <boost/test/unit_test.hpp>
#include <cstring>
#include <unordered_set>

#include "tests/unit/io_test_util.h"
#include "udp/endpoint.h"

using keymesh::udp::Endpoint;

BOOST_AUTO_TEST_CASE(round_trips) {
  for (const char* text : {"198.18.0.1:51820", "100.64.0.1:1", "0.0.0.0:0",
                           "255.255.255.255:65535", "[2001:db8::1]:51820", "[::1]:5",
                           "[fd00:6b6d::1]:65535", "[::]:0"}) {
    BOOST_TEST_CONTEXT(text) {
      auto e = Endpoint::parse(text);
      BOOST_REQUIRE(e.has_value());
      BOOST_TEST(e->to_string() == text);
    }
  }
  auto v4 = Endpoint::parse("198.18.0.1:51820");
  BOOST_TEST(v4->family == AF_INET);
  BOOST_TEST(v4->port == 51820);
  BOOST_TEST(v4->addr[0] == 198);
  BOOST_TEST(v4->addr[3] == 1);
  auto v6 = Endpoint::parse("[2001:db8::1]:7");
  BOOST_TEST(v6->family == AF_INET6);
  BOOST_TEST(v6->addr[1] == 0x01);
  BOOST_TEST(v6->addr[15] == 1);
}

BOOST_AUTO_TEST_CASE(v4_mapped_text_is_ipv4) {
  auto e = Endpoint::parse("[::ffff:198.18.0.1]:7");
  BOOST_REQUIRE(e.has_value());
  BOOST_TEST(e->family == AF_INET);
  BOOST_TEST(e->to_string() == "198.18.0.1:7");
  BOOST_TEST(*e == *Endpoint::parse("198.18.0.1:7"));
}

BOOST_AUTO_TEST_CASE(rejects_junk) {
  for (const char* text :
       {"", ":", "1.2.3.4", "1.2.3.4:", ":5", "1.2.3.4:65536", "1.2.3.4:123456", "1.2.3.4:-1",
        "1.2.3.4:+5", "1.2.3.4:5x", "1.2.3.4: 5", " 1.2.3.4:5", "1.2.3.4:5 ", "1.2.3.256:5",
        "1.2.3:5", "::1:5", "::1", "[::1]5", "[::1]:", "[::1:5", "::1]:5", "[1.2.3.4]:5",
        "[]:5", "[fe80::1%eth0]:5", "host.example:5", "[::1]:5:6", "1.2.3.4:5:6",
        "[::1]]:5", "[[::1]:5"}) {
    BOOST_TEST_CONTEXT("'" << text << "'") { BOOST_TEST(!Endpoint::parse(text).has_value()); }
  }
}

BOOST_AUTO_TEST_CASE(sockaddr_round_trips) {
  for (const char* text : {"198.18.0.1:51820", "[2001:db8::1]:443"}) {
    auto e = *Endpoint::parse(text);
    sockaddr_storage ss;
    const socklen_t len = e.to_sockaddr(ss);
    BOOST_TEST(len == (e.family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6)));
    BOOST_TEST(ss.ss_family == e.family);
    BOOST_TEST(Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss)) == e);
  }
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(51820);
  inet_pton(AF_INET, "100.64.0.9", &in.sin_addr);
  BOOST_TEST(Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&in)).to_string() ==
             "100.64.0.9:51820");
}

BOOST_AUTO_TEST_CASE(v4_mapped_sockaddr_becomes_ipv4) {
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(9);
  inet_pton(AF_INET6, "::ffff:198.18.0.7", &in6.sin6_addr);
  auto e = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&in6));
  BOOST_TEST(e.family == AF_INET);
  BOOST_TEST(e.to_string() == "198.18.0.7:9");
  BOOST_TEST(e == *Endpoint::parse("198.18.0.7:9"));
}

BOOST_AUTO_TEST_CASE(unset_and_foreign) {
  Endpoint unset;
  sockaddr_storage ss;
  BOOST_TEST(!unset.valid());
  BOOST_TEST(unset.to_sockaddr(ss) == 0u);
  BOOST_TEST(unset.to_string() == "unset");
  BOOST_TEST(!Endpoint::from_sockaddr(nullptr).valid());
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  BOOST_TEST(!Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&un)).valid());
}

BOOST_AUTO_TEST_CASE(hashable) {
  std::unordered_set<Endpoint> set;
  for (const char* text : {"198.18.0.1:1", "198.18.0.1:2", "198.18.0.2:1", "[::1]:1",
                           "[::1]:2", "198.18.0.1:1"})
    set.insert(*Endpoint::parse(text));
  BOOST_TEST(set.size() == 5u);
  BOOST_TEST(set.contains(*Endpoint::parse("[::1]:2")));
}
