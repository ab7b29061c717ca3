// keymesh-cni's output side: result JSON per CNI version, appending to a prevResult from an
// earlier plugin in the chain, reading a prevResult back for CHECK, the error object, and
// the host veth names and tags that DEL and GC rely on.
#define BOOST_TEST_MODULE cni_result
#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "plumbing/attach.h"
#include "cni/error.h"
#include "cni/result.h"

using namespace keymesh::cni;
namespace plumbing = keymesh::plumbing;
using nlohmann::json;

namespace {

AttachResult ours() {
  AttachResult r;
  r.interfaces.push_back({"km0123456789abc", "22:0b:18:9e:df:23", "", 1400});
  r.interfaces.push_back({"eth0", "0e:14:0f:af:35:02", "/run/netns/ctr", 1400});
  r.ips.push_back({"100.64.7.2/32", "169.254.1.1", 1});
  r.routes.push_back({"0.0.0.0/0", "169.254.1.1"});
  return r;
}

json doc(std::string_view version, const AttachResult& r, const std::optional<json>& prev = {}) {
  return json::parse(dump_json(result_document(version, r, prev)));
}

}  // namespace

BOOST_AUTO_TEST_CASE(result_1_1_0) {
  const json expected = json::parse(R"({
    "cniVersion":"1.1.0",
    "interfaces":[{"name":"km0123456789abc","mac":"22:0b:18:9e:df:23","mtu":1400},
                  {"name":"eth0","mac":"0e:14:0f:af:35:02","mtu":1400,"sandbox":"/run/netns/ctr"}],
    "ips":[{"address":"100.64.7.2/32","gateway":"169.254.1.1","interface":1}],
    "routes":[{"dst":"0.0.0.0/0","gw":"169.254.1.1"}],
    "dns":{}})");
  BOOST_TEST(doc("1.1.0", ours()) == expected, doc("1.1.0", ours()).dump());
  // cniVersion comes first, as runtimes print it.
  BOOST_TEST(dump_json(result_document("1.1.0", ours(), {})).starts_with(R"({"cniVersion":"1.1.0",)"));
}

BOOST_AUTO_TEST_CASE(result_1_0_0_has_no_interface_mtu) {
  const json d = doc("1.0.0", ours());
  BOOST_TEST(d["cniVersion"] == "1.0.0");
  for (const auto& i : d["interfaces"]) BOOST_TEST(!i.contains("mtu"));
  // and no "version" on IPs (that was 0.x)
  BOOST_TEST(!d["ips"][0].contains("version"));
  BOOST_TEST(d["ips"][0]["interface"] == 1);
}

BOOST_AUTO_TEST_CASE(dns_is_passed_through) {
  AttachResult r = ours();
  r.dns = json::parse(R"({"nameservers":["100.64.0.10"],"search":["svc.cluster.local"]})");
  BOOST_TEST(doc("1.1.0", r)["dns"] == r.dns);
}

BOOST_AUTO_TEST_CASE(appending_to_an_earlier_plugins_result) {
  const json prev = json::parse(R"({"cniVersion":"1.1.0",
    "interfaces":[{"name":"lo","sandbox":"/run/netns/ctr"}],
    "ips":[{"address":"10.0.0.5/24","interface":0}],
    "routes":[{"dst":"10.0.0.0/8","mtu":1300}],
    "dns":{"nameservers":["10.0.0.2"]}})");
  const json d = doc("1.1.0", ours(), prev);
  BOOST_REQUIRE(d["interfaces"].size() == 3u);
  BOOST_TEST(d["interfaces"][0]["name"] == "lo");
  BOOST_TEST(d["interfaces"][2]["name"] == "eth0");
  BOOST_REQUIRE(d["ips"].size() == 2u);
  BOOST_TEST(d["ips"][0]["interface"] == 0);
  BOOST_TEST(d["ips"][1]["interface"] == 2);  // shifted past the earlier interface
  BOOST_TEST(d["routes"][0]["mtu"] == 1300);  // fields we do not know survive
  BOOST_TEST(d["dns"]["nameservers"][0] == "10.0.0.2");  // kept when our config has none
}

BOOST_AUTO_TEST_CASE(find_attachment_in_prev_result) {
  const json prev = doc("1.1.0", ours());
  auto a = find_attachment(prev, "/run/netns/ctr", "eth0");
  BOOST_REQUIRE(a);
  BOOST_TEST(a->address == "100.64.7.2/32");
  BOOST_TEST(a->gateway == "169.254.1.1");
  BOOST_TEST(a->mac == "0e:14:0f:af:35:02");

  const auto err = [&](const json& p, const char* netns = "/run/netns/ctr") {
    auto r = find_attachment(p, netns, "eth0");
    BOOST_REQUIRE(!r);
    BOOST_TEST(int(r.error().code) == 7);
    return r.error().msg;
  };
  BOOST_TEST(err(prev, "/run/netns/other") ==
             "prevResult.interfaces: no interface \"eth0\" in sandbox \"/run/netns/other\"");
  BOOST_TEST(err(json::object()) == "prevResult.interfaces: missing");
  json no_ip = prev;
  no_ip["ips"] = json::array();
  BOOST_TEST(err(no_ip) == "prevResult.ips: no address for interface 1");
  json bad = prev;
  bad["ips"][0].erase("address");
  BOOST_TEST(err(bad) == "prevResult.ips[0].address: missing");
}

BOOST_AUTO_TEST_CASE(error_object) {
  const json e = json::parse(error_json("1.0.0", {Code::kTryAgainLater, "keymeshd is starting", ""}));
  BOOST_TEST(e == json::parse(R"({"cniVersion":"1.0.0","code":11,"msg":"keymeshd is starting"})"));
  const json d = json::parse(error_json("1.1.0", {Code::kInvalidConfig, "mtu: bad", "more"}));
  BOOST_TEST(d["details"] == "more");
  BOOST_TEST(d["code"] == 7);
  // Bytes that are not UTF-8 (from the environment) still give valid JSON.
  BOOST_TEST(json::accept(error_json("1.1.0", {Code::kInvalidEnvironment, "CNI_IFNAME: \xff", ""})));
}

BOOST_AUTO_TEST_CASE(host_veth_names) {
  const std::string a = plumbing::host_veth_name("6a093169c6f417919140d933cb09158e67273d3968a32447f7ab354d8ce746d7", "eth0");
  BOOST_TEST(a.size() == 15u);
  BOOST_TEST(a.starts_with("km"));
  BOOST_TEST(a.find_first_not_of("0123456789abcdef", 2) == std::string::npos);
  // Stable (DEL finds what ADD made) and distinct per container and per interface.
  BOOST_TEST(a == plumbing::host_veth_name("6a093169c6f417919140d933cb09158e67273d3968a32447f7ab354d8ce746d7", "eth0"));
  BOOST_TEST(a != plumbing::host_veth_name("6a093169c6f417919140d933cb09158e67273d3968a32447f7ab354d8ce746d7", "net1"));
  BOOST_TEST(a != plumbing::host_veth_name("6a093169c6f417919140d933cb09158e67273d3968a32447f7ab354d8ce746d8", "eth0"));
  // BLAKE2b-128 of "id/ifname", first 13 hex digits: `printf abc/eth0 | b2sum -l 128`.
  BOOST_TEST(plumbing::host_veth_name("abc", "eth0") == "kmd48963d32e318");
}

BOOST_AUTO_TEST_CASE(attachment_tags) {
  const plumbing::AttachmentTag t{"cni", "keymesh", "6a093169c6f4", "eth0"};
  BOOST_TEST(plumbing::format_tag(t) == "keymesh/cni/keymesh/6a093169c6f4/eth0");
  BOOST_TEST((plumbing::parse_tag(plumbing::format_tag(t)) == t));
  const plumbing::AttachmentTag docker{"docker", "net", "ep1", ""};
  BOOST_TEST((plumbing::parse_tag(plumbing::format_tag(docker)) == docker));
  for (const char* bad : {"", "keymesh/", "keymesh/cni/net/id", "other/cni/n/i/e", "keymesh/cni//i/e",
                          "keymesh/cni/n/i/e/x"})
    BOOST_TEST(!plumbing::parse_tag(bad).has_value(), bad);
}
