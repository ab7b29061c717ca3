// The edge filter's nft scripts (plumbing/edge_filter.h) as text, and the names and addresses it
// refuses before nft is ever run. What the rules do to packets is tests/netns/cni_failclosed.sh.
#define BOOST_TEST_MODULE cni_edge_filter
#include <boost/test/unit_test.hpp>
#include <string>

#include "plumbing/edge_filter.h"
#include "plumbing/edge_state.h"

using namespace keymesh;

namespace {

plumbing::EdgeFilterSpec spec(std::string veth = "km0123456789abc", std::string address = "100.64.7.2/32",
                    std::string tun = "km0") {
  return {std::move(veth), *IpPrefix::parse(address), std::move(tun)};
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_CASE(install_script_holds_each_guarantee) {
  const std::string s = plumbing::edge_filter_script(spec());
  const std::string t = "inet keymesh_edge ";
  BOOST_TEST(has(s, "add rule " + t + "km0123456789abc ip saddr 100.64.7.2 accept\n"));
  BOOST_TEST(has(s, "add rule " + t + "km0123456789abc counter name \"km0123456789abc\" drop\n"));
  BOOST_TEST(has(s, "add element " + t + "ingress { \"km0123456789abc\" : jump km0123456789abc }"));
  BOOST_TEST(has(s, "iifname @veths oifname != \"km0\" counter name \"fail_closed\" drop"));
  BOOST_TEST(has(s, "oifname @veths iifname != \"km0\" counter name \"bypass\" drop"));
  BOOST_TEST(has(s, "fib saddr oifname @veth_routes counter name \"underlay_spoofed\" drop"));
  BOOST_TEST(has(s, "iifname @veths counter name \"to_host\" drop"));
  // The shared chains are rewritten, never appended to: installing twice gives one copy.
  BOOST_TEST(has(s, "flush chain " + t + "forward\n"));
  BOOST_TEST(has(s, "flush chain " + t + "km0123456789abc\n"));
  // Operator grants are never flushed.
  BOOST_TEST(!has(s, "flush set " + t + "host_services"));
}

BOOST_AUTO_TEST_CASE(install_script_names_the_tun_it_is_given) {
  const std::string s = plumbing::edge_filter_script(spec("kmfedcba987654", "100.64.9.3/32", "overlay1"));
  BOOST_TEST(has(s, "oifname != \"overlay1\""));
  BOOST_TEST(has(s, "iifname != { \"lo\", \"overlay1\" }"));
  BOOST_TEST(!has(s, "\"km0\""));
}

BOOST_AUTO_TEST_CASE(removal_script_is_idempotent_and_ordered) {
  const std::string s = plumbing::edge_filter_removal_script("km0123456789abc");
  // Creates what it deletes (so deleting what is absent is not an error), and drops the map
  // element that holds the chain before the chain, and the rules before the chain.
  const auto add_chain = s.find("add chain inet keymesh_edge km0123456789abc\n");
  const auto del_element = s.find("delete element inet keymesh_edge ingress { \"km0123456789abc\" }");
  const auto flush = s.find("flush chain inet keymesh_edge km0123456789abc\n");
  const auto del_chain = s.find("delete chain inet keymesh_edge km0123456789abc\n");
  BOOST_TEST(add_chain != std::string::npos);
  BOOST_TEST(del_element != std::string::npos);
  BOOST_TEST(add_chain < del_element);
  BOOST_TEST(del_element < flush);
  BOOST_TEST(flush < del_chain);
  BOOST_TEST(has(s, "delete counter inet keymesh_edge km0123456789abc\n"));
  BOOST_TEST(has(s, "delete element inet keymesh_edge veths { \"km0123456789abc\" }"));
  // Never the whole table: other attachments' objects stay.
  BOOST_TEST(!has(s, "delete table"));
}

BOOST_AUTO_TEST_CASE(refuses_what_nft_would_misread_before_running_it) {
  auto r = plumbing::install_edge_filter(spec("km0\"; flush ruleset", "100.64.7.2/32"));
  BOOST_REQUIRE(!r);
  BOOST_TEST(has(r.error().message, "nft would misread"));
  r = plumbing::install_edge_filter(spec("km0123456789abc", "100.64.7.2/32", "km0 }"));
  BOOST_REQUIRE(!r);
  BOOST_TEST(has(r.error().message, "nft would misread"));
  r = plumbing::install_edge_filter(spec("km0123456789abc", "100.64.7.0/24"));
  BOOST_REQUIRE(!r);
  BOOST_TEST(has(r.error().message, "not an IPv4 /32"));
  r = plumbing::install_edge_filter(spec("km0123456789abc", "fd00::2/128"));
  BOOST_REQUIRE(!r);
  BOOST_TEST(has(r.error().message, "not an IPv4 /32"));
  // A name install would refuse was never installed: nothing to remove, and nft not run.
  BOOST_TEST(bool(plumbing::remove_edge_filter("bad name; flush ruleset")));
}

BOOST_AUTO_TEST_CASE(shared_chains_hold_lan_overlay_and_host_grants) {
  const std::string s = plumbing::edge_shared_script("km0");
  BOOST_TEST(has(s, "ip saddr @overlay_nets counter name \"underlay_spoofed\" drop"));
  BOOST_TEST(has(s, "oifname \"km0\" iifname != @veths iifname != @lan_interfaces iifname != \"km0\" "
                    "counter name \"not_lan\" drop"));
  BOOST_TEST(has(s, "ip saddr . meta l4proto . th dport @host_grants accept"));
  BOOST_TEST(has(s, "ip saddr . meta l4proto @host_grants_proto accept"));
  BOOST_TEST(has(s, "update @host_denied"));
  // keymeshd's sets are never flushed by an attachment: they hold policy grants.
  BOOST_TEST(!has(s, "flush set"));
  // The grants come before the operator's set and the drop.
  BOOST_TEST(s.find("@host_grants accept") < s.find("counter name \"to_host\" drop"));
}

BOOST_AUTO_TEST_CASE(state_script_merges_what_nft_would_refuse_as_overlapping) {
  auto a = *IpAddress::parse("100.64.7.2");
  auto b = *IpAddress::parse("100.64.7.3");
  plumbing::EdgeState st;
  st.host_grants = {
      {a, false, 6, 8000, 8080}, {a, false, 6, 8080, 8090}, {a, false, 6, 8091, 8091},  // one range
      {a, false, 17, 53, 53},    {a, false, 17, 53, 53},                                // duplicate
      {b, false, 1, 0, 65535},   {b, true, 0, 0, 65535},   {b, false, 1, 0, 65535},     // any covers icmp
      {b, false, 6, 22, 22},     {*IpAddress::parse("fd00::2"), false, 6, 1, 2},         // IPv6: left out
  };
  st.lan_interfaces = {"eth1"};
  st.overlay_nets = {*IpPrefix::parse("100.64.1.1/10"), *IpPrefix::parse("fd00::1/64")};
  const std::string s = plumbing::edge_state_script(st);
  const std::string t = "inet keymesh_edge ";
  BOOST_TEST(has(s, "flush set " + t + "host_grants\n"));
  BOOST_TEST(has(s, "add element " + t + "host_grants { 100.64.7.2 . tcp . 8000-8091, "
                    "100.64.7.2 . udp . 53, 100.64.7.3 . tcp . 22 }"));
  BOOST_TEST(has(s, "add element " + t + "host_grants_proto { 100.64.7.3 . 0-255 }"));
  BOOST_TEST(has(s, "add element " + t + "lan_interfaces { \"eth1\" }"));
  BOOST_TEST(has(s, "add element " + t + "overlay_nets { 100.64.0.0/10 }"));
  BOOST_TEST(!has(s, "fd00"));
  // Nothing granted: the sets are emptied, nothing added.
  const std::string empty = plumbing::edge_state_script({});
  BOOST_TEST(has(empty, "flush set " + t + "host_grants_proto\n"));
  BOOST_TEST(!has(empty, "add element"));
}
