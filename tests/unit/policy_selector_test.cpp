// Selectors (name glob, groups all-of, labels, cidr, kind, context) and `allow` entries.
#define BOOST_TEST_MODULE policy_selector
#include <boost/test/unit_test.hpp>

#include "policy_test_util.h"

using namespace keymesh;
using namespace keymesh::policy;
using namespace keymesh::policy::test;

BOOST_AUTO_TEST_CASE(glob_matches_star_and_question_mark) {
  BOOST_TEST(glob_match("web-*", "web-1"));
  BOOST_TEST(glob_match("web-*", "web-"));
  BOOST_TEST(!glob_match("web-*", "web"));
  BOOST_TEST(glob_match("*", ""));
  BOOST_TEST(glob_match("*.prod", "db-1.eu.prod"));
  BOOST_TEST(!glob_match("*.prod", "db-1.prod.eu"));
  BOOST_TEST(glob_match("db-?", "db-7"));
  BOOST_TEST(!glob_match("db-?", "db-17"));
  BOOST_TEST(glob_match("a*b*c", "axxbyyc"));
  BOOST_TEST(!glob_match("a*b*c", "axxbyy"));
  BOOST_TEST(glob_match("exact", "exact"));
  BOOST_TEST(!glob_match("exact", "exactly"));
  BOOST_TEST(glob_match("**a", "a"));
  // Backtracking: the first '*' must not swallow what the rest needs.
  BOOST_TEST(glob_match("*ab", "aab"));
  BOOST_TEST(glob_match("*a*a*a*a*b", std::string(40, 'a') + "b"));
  BOOST_TEST(!glob_match("*a*a*a*a*b", std::string(40, 'a')));
}

BOOST_AUTO_TEST_CASE(empty_selector_selects_everyone) {
  BOOST_TEST(Selector{}.matches(subject("anything")));
}

BOOST_AUTO_TEST_CASE(groups_are_all_of) {
  Selector s;
  s.groups = {"web", "prod"};
  BOOST_TEST(s.matches(subject("a", {"prod", "web", "eu"})));
  BOOST_TEST(!s.matches(subject("b", {"web"})));
  BOOST_TEST(!s.matches(subject("c", {})));
}

BOOST_AUTO_TEST_CASE(labels_must_all_match_exactly) {
  Selector s;
  s.labels = {{"app", "api"}, {"tier", "1"}};
  Subject x = subject("x");
  x.labels = {{"app", "api"}, {"tier", "1"}, {"extra", "y"}};
  BOOST_TEST(s.matches(x));
  x.labels["tier"] = "2";
  BOOST_TEST(!s.matches(x));
  x.labels.erase("tier");
  BOOST_TEST(!s.matches(x));
}

BOOST_AUTO_TEST_CASE(cidr_needs_a_subject_network_within) {
  Selector s;
  s.cidr = {prefix("10.1.0.0/16"), prefix("fd00::/8")};
  Subject x = subject("x");
  x.networks = {prefix("192.168.1.0/24"), prefix("10.1.2.3/32")};
  BOOST_TEST(s.matches(x));
  x.networks = {prefix("10.0.0.0/8")};  // wider than the selector: not within
  BOOST_TEST(!s.matches(x));
  x.networks = {prefix("fd12:3456::1/128")};
  BOOST_TEST(s.matches(x));
  x.networks = {prefix("::ffff:10.1.2.3/128")};  // other family
  BOOST_TEST(!s.matches(x));
  x.networks = {};
  BOOST_TEST(!s.matches(x));
}

BOOST_AUTO_TEST_CASE(kind_name_and_context) {
  Selector s;
  s.kind = "gateway";
  s.name = "gw-*";
  s.context = {{"site", "onprem"}};
  Subject g = subject("gw-1", {}, "gateway");
  g.context = {{"site", "onprem"}, {"rack", "4"}};
  BOOST_TEST(s.matches(g));
  g.kind = "node";
  BOOST_TEST(!s.matches(g));
  g.kind = "gateway";
  g.name = "gateway-1";
  BOOST_TEST(!s.matches(g));
  g.name = "gw-1";
  g.context["site"] = "cloud";
  BOOST_TEST(!s.matches(g));
}

BOOST_AUTO_TEST_CASE(services_parse) {
  auto one = parse_service("tcp/5432");
  BOOST_REQUIRE(one);
  BOOST_TEST(one->grants(Proto::kTcp, 5432));
  BOOST_TEST(!one->grants(Proto::kTcp, 5433));
  BOOST_TEST(!one->grants(Proto::kUdp, 5432));

  auto range = parse_service("tcp/8000-8080");
  BOOST_REQUIRE(range);
  BOOST_TEST(range->grants(Proto::kTcp, 8000));
  BOOST_TEST(range->grants(Proto::kTcp, 8080));
  BOOST_TEST(!range->grants(Proto::kTcp, 7999));
  BOOST_TEST(!range->grants(Proto::kTcp, 8081));

  auto all_udp = parse_service("udp");
  BOOST_REQUIRE(all_udp);
  BOOST_TEST(all_udp->grants(Proto::kUdp, 1));
  BOOST_TEST(all_udp->grants(Proto::kUdp, 65535));
  BOOST_TEST(!all_udp->grants(Proto::kTcp, 1));

  auto ping = parse_service("icmp");
  BOOST_REQUIRE(ping);
  BOOST_TEST(ping->grants(Proto::kIcmp, 0));
  BOOST_TEST(!ping->grants(Proto::kTcp, 0));

  auto any = parse_service("any");
  BOOST_REQUIRE(any);
  for (Proto p : {Proto::kTcp, Proto::kUdp, Proto::kIcmp, Proto::kOther})
    BOOST_TEST(any->grants(p, 443));

  BOOST_TEST(parse_service("udp/65535").has_value());
  BOOST_TEST(parse_service("tcp/1-65535").has_value());
}

BOOST_AUTO_TEST_CASE(bad_services_are_named) {
  auto msg = [](std::string_view s) { return parse_service(s).error().message; };
  BOOST_TEST(msg("tcp/70000") == "\"tcp/70000\" port out of range");
  BOOST_TEST(msg("tcp/0") == "\"tcp/0\" port out of range");
  BOOST_TEST(msg("tcp/99999999999999999999") == "\"tcp/99999999999999999999\" port out of range");
  BOOST_TEST(msg("tcp/90-80") == "\"tcp/90-80\" port range is reversed");
  BOOST_TEST(msg("tcp/http") == "\"tcp/http\" port is not a number");
  BOOST_TEST(msg("tcp/") == "\"tcp/\" port is not a number");
  BOOST_TEST(msg("tcp/80-") == "\"tcp/80-\" port is not a number");
  BOOST_TEST(msg("tcp/-80") == "\"tcp/-80\" port is not a number");
  BOOST_TEST(msg("sctp/80") == "\"sctp/80\" unknown protocol (expected tcp, udp, icmp or any)");
  BOOST_TEST(msg("TCP/80") == "\"TCP/80\" unknown protocol (expected tcp, udp, icmp or any)");
  BOOST_TEST(msg("icmp/8") == "\"icmp/8\" icmp takes no port");
  BOOST_TEST(msg("any/1") == "\"any/1\" any takes no port");
  BOOST_TEST(msg("") == "\"\" unknown protocol (expected tcp, udp, icmp or any)");
}

BOOST_AUTO_TEST_CASE(describe_service_wording) {
  BOOST_TEST(describe_service(Proto::kTcp, 22) == "tcp/22");
  BOOST_TEST(describe_service(Proto::kUdp, 53) == "udp/53");
  BOOST_TEST(describe_service(Proto::kIcmp, 0) == "icmp");
  BOOST_TEST(describe_service(Proto::kOther, 0) == "other");
}
