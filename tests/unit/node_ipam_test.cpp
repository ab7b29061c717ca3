// The address pool: which addresses are handed out, in what order, what an explicit request
// may take, and a differential test against a naive scan of every address.
#define BOOST_TEST_MODULE node_ipam
#include <boost/test/unit_test.hpp>

#include <random>
#include <set>

#include "node/ipam.h"

using namespace keymesh;
using namespace keymesh::node;

namespace {

IpAddress ip(const char* text) { return *IpAddress::parse(text); }
IpPrefix prefix(const char* text) { return *IpPrefix::parse(text); }

// pick() with nothing explicit, then take() as the store does after committing.
std::string allocate(Ipam& ipam) {
  auto a = ipam.pick(std::nullopt);
  if (!a) return "error: " + a.error().message;
  ipam.take(*a, true);
  return a->to_string();
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_24_gives_253_distinct_host_addresses_then_a_clear_error) {
  Ipam ipam(prefix("100.64.1.0/24"));
  BOOST_TEST(ipam.capacity() == 253u);
  BOOST_TEST(ipam.node_address().to_string() == "100.64.1.1");
  std::set<std::string> seen;
  for (int i = 0; i < 253; ++i) seen.insert(allocate(ipam));
  BOOST_TEST(seen.size() == 253u);
  BOOST_TEST(!seen.contains("100.64.1.0"));
  BOOST_TEST(!seen.contains("100.64.1.1"));
  BOOST_TEST(!seen.contains("100.64.1.255"));
  BOOST_TEST(seen.contains("100.64.1.2"));
  BOOST_TEST(seen.contains("100.64.1.254"));
  BOOST_TEST(allocate(ipam) == "error: no free address in 100.64.1.0/24");
}

BOOST_AUTO_TEST_CASE(host_bits_of_the_pool_are_ignored) {
  Ipam ipam(prefix("100.64.1.77/24"));
  BOOST_TEST(ipam.pool().to_string() == "100.64.1.0/24");
  BOOST_TEST(allocate(ipam) == "100.64.1.2");
}

BOOST_AUTO_TEST_CASE(tiny_pools) {
  Ipam p30(prefix("100.64.1.4/30"));  // .4 network, .5 node, .6 workload, .7 broadcast
  BOOST_TEST(p30.capacity() == 1u);
  BOOST_TEST(allocate(p30) == "100.64.1.6");
  BOOST_TEST(allocate(p30) == "error: no free address in 100.64.1.4/30");
  for (const char* p : {"100.64.1.4/31", "100.64.1.4/32", "fd00::/64"}) {
    Ipam none(prefix(p));
    BOOST_TEST(none.capacity() == 0u);
    BOOST_TEST(none.pick(std::nullopt).has_value() == false);
  }
}

BOOST_AUTO_TEST_CASE(a_freed_address_is_reused_only_after_the_scan_wraps) {
  Ipam ipam(prefix("100.64.1.0/29"));  // .2 .. .6
  BOOST_TEST(allocate(ipam) == "100.64.1.2");
  BOOST_TEST(allocate(ipam) == "100.64.1.3");
  BOOST_TEST(allocate(ipam) == "100.64.1.4");
  ipam.release(ip("100.64.1.3"));
  BOOST_TEST(allocate(ipam) == "100.64.1.5");
  BOOST_TEST(allocate(ipam) == "100.64.1.6");
  BOOST_TEST(allocate(ipam) == "100.64.1.3");  // wrapped: the freed one comes back
  BOOST_TEST(allocate(ipam) == "error: no free address in 100.64.1.0/29");
  ipam.release(ip("100.64.1.5"));
  BOOST_TEST(allocate(ipam) == "100.64.1.5");  // the only free one
}

BOOST_AUTO_TEST_CASE(the_cursor_survives_a_restart) {
  Ipam before(prefix("100.64.1.0/24"));
  allocate(before);
  allocate(before);  // .3
  Ipam after(prefix("100.64.1.0/24"));
  after.take(ip("100.64.1.2"), false);
  after.set_cursor(before.cursor());
  BOOST_TEST(allocate(after) == "100.64.1.4");  // not .3, freed just before the restart
  after.set_cursor(ip("10.0.0.1"));  // outside the pool: ignored
  BOOST_TEST(allocate(after) == "100.64.1.5");
}

BOOST_AUTO_TEST_CASE(explicit_requests) {
  Ipam ipam(prefix("100.64.1.0/24"));
  auto a = ipam.pick(ip("100.64.1.50"));
  BOOST_REQUIRE(a);
  BOOST_TEST(a->to_string() == "100.64.1.50");
  ipam.take(*a, false);
  BOOST_TEST(allocate(ipam) == "100.64.1.2");  // the cursor did not jump to .50
  const auto error = [&](const char* addr) {
    auto r = ipam.pick(ip(addr));
    return r ? std::string("accepted") : r.error().message;
  };
  BOOST_TEST(error("100.64.1.50") == "address 100.64.1.50 is already in use");
  BOOST_TEST(error("100.64.1.1") == "address 100.64.1.1 is reserved for the node itself");
  BOOST_TEST(error("100.64.1.0") ==
             "address 100.64.1.0 is the network or broadcast address of 100.64.1.0/24");
  BOOST_TEST(error("100.64.1.255") ==
             "address 100.64.1.255 is the network or broadcast address of 100.64.1.0/24");
  BOOST_TEST(error("100.64.2.9") == "address 100.64.2.9 is outside the node range 100.64.1.0/24");
  BOOST_TEST(error("fd00::5") == "address fd00::5 is outside the node range 100.64.1.0/24");
  BOOST_TEST(ipam.used() == 2u);
}

// Reference: scan every host offset after the cursor, wrapping; the same rules written naively.
BOOST_AUTO_TEST_CASE(differential_against_a_naive_scan) {
  std::mt19937 rng(7);
  for (const char* pool : {"100.64.1.0/28", "100.64.0.0/26", "100.64.3.0/30"}) {
    Ipam ipam(prefix(pool));
    const unsigned size = 1u << (32 - prefix(pool).length);
    const std::uint8_t base = prefix(pool).address.bytes[3];
    std::set<unsigned> used;
    unsigned cursor = 1;
    for (int step = 0; step < 2000; ++step) {
      if (!used.empty() && rng() % 3 == 0) {
        auto it = std::next(used.begin(), long(rng() % used.size()));
        std::uint8_t b[4] = {100, 64, prefix(pool).address.bytes[2], std::uint8_t(base + *it)};
        ipam.release(IpAddress::v4(b));
        used.erase(it);
        continue;
      }
      std::optional<unsigned> expect;
      for (unsigned i = 1; i <= size && !expect; ++i) {
        const unsigned o = (cursor + i) % size;
        if (o >= 2 && o <= size - 2 && !used.contains(o)) expect = o;
      }
      const std::string got = allocate(ipam);
      if (!expect) {
        BOOST_TEST(got == std::string("error: no free address in ") + pool);
        continue;
      }
      std::uint8_t b[4] = {100, 64, prefix(pool).address.bytes[2], std::uint8_t(base + *expect)};
      BOOST_TEST_REQUIRE(got == IpAddress::v4(b).to_string(), "step " << step);
      used.insert(*expect);
      cursor = *expect;
    }
    BOOST_TEST(ipam.used() == used.size());
  }
}
