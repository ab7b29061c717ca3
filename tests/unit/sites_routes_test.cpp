// plan_site_routes: a gateway's site subnet gets a route, what the interface prefix covers
// does not, our own site's networks and default routes are never taken over.
#define BOOST_TEST_MODULE sites_routes
#include <boost/test/unit_test.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "daemon/routes.h"

using keymesh::IpPrefix;
using keymesh::daemon::plan_site_routes;

namespace {

std::vector<IpPrefix> Ps(std::vector<std::string_view> texts) {
  std::vector<IpPrefix> out;
  for (auto t : texts) {
    auto p = IpPrefix::parse(t);
    BOOST_REQUIRE_MESSAGE(p, "bad prefix in test: " << t);
    out.push_back(*p);
  }
  return out;
}

std::vector<std::string> texts(const std::vector<IpPrefix>& ps) {
  std::vector<std::string> out;
  for (const auto& p : ps) out.push_back(p.to_string());
  return out;
}

const auto kInterface = Ps({"100.64.1.1/10"});

}  // namespace

BOOST_AUTO_TEST_CASE(site_subnet_outside_the_interface_prefix_is_routed) {
  auto plan = plan_site_routes(Ps({"198.19.2.0/24", "100.64.2.1/32"}), {}, kInterface);
  BOOST_TEST(texts(plan) == std::vector<std::string>{"198.19.2.0/24"});
}

BOOST_AUTO_TEST_CASE(host_bits_are_cleared_and_duplicates_merged) {
  auto plan = plan_site_routes(Ps({"198.19.2.7/24", "198.19.2.0/24", "10.9.0.0/16"}), {},
                               kInterface);
  BOOST_TEST(texts(plan) == (std::vector<std::string>{"10.9.0.0/16", "198.19.2.0/24"}));
}

BOOST_AUTO_TEST_CASE(own_site_networks_are_never_taken_over) {
  // A remote claiming our LAN, a part of it, or a prefix around it: none is routed.
  auto plan = plan_site_routes(Ps({"198.19.1.0/24", "198.19.1.128/25", "198.19.0.0/16"}),
                               Ps({"198.19.1.0/24"}), kInterface);
  BOOST_TEST(texts(plan) == std::vector<std::string>{});
  plan = plan_site_routes(Ps({"198.19.2.0/24"}), Ps({"198.19.1.0/24"}), kInterface);
  BOOST_TEST(texts(plan) == std::vector<std::string>{"198.19.2.0/24"});
}

BOOST_AUTO_TEST_CASE(default_routes_are_not_installed) {
  auto plan = plan_site_routes(Ps({"0.0.0.0/0", "::/0", "fd00:1::/64"}), {}, kInterface);
  BOOST_TEST(texts(plan) == std::vector<std::string>{"fd00:1::/64"});
}

BOOST_AUTO_TEST_CASE(a_wider_remote_network_than_the_interface_prefix_is_routed) {
  // 100.0.0.0/8 is not inside 100.64.0.0/10: only the part outside needs the route, but the
  // kernel's longest match keeps the connected /10 for the overlay.
  auto plan = plan_site_routes(Ps({"100.0.0.0/8"}), {}, kInterface);
  BOOST_TEST(texts(plan) == std::vector<std::string>{"100.0.0.0/8"});
}
