// The Docker driver (docker/docker_driver.h) answering the calls dockerd 20.10 makes, replayed
// from the bodies dockerd sends, as recorded in docs/docker.md ("What dockerd sends"): the
// same keys, nesting and types, with fixed 64-hex IDs. The driver runs over a real workload store
// (node CA for 100.64.1.0/24, names "node-a/*") and fake hooks that stand in for the tunnel
// and the kernel, so what is checked is what dockerd and the node would see: replies, the
// identity and address of each workload, the veths asked for, and what survives a restart.
#define BOOST_TEST_MODULE docker_protocol
#include <boost/test/unit_test.hpp>

#include <nlohmann/json.hpp>

#include <set>

#include "docker/docker_driver.h"
#include "tests/unit/node_test_util.h"

using namespace keymesh;
using namespace keymesh::docker;
using namespace keymesh::node::test;
using keymesh::test::has;
using nlohmann::json;

namespace {

const WallTime kNow = at(kT0);

// The IDs of the recorded run.
const std::string kNet = "eb5c71b024b8f15d696009bbc758955666a7f12e01780a39f7665430a49fad27";
const std::string kEp = "2fe1b4aca8382bf246a8c5f06bd6c61edc63ec765132bbd2507ef011ecab282a";
const std::string kEp2 = "5ad7e8fb0c1d2e3f405162738495a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d";
const std::string kSandbox = "/var/run/docker/netns/4483acb33fbd";
const std::string kPool = "keymesh:100.64.1.0/24";

// Tunnel and kernel stand-ins: workloads go straight to the store; veths are remembered.
struct FakeHooks : docker::DockerHooks {
  node::WorkloadStore* store = nullptr;
  std::map<std::string, docker::DockerPlumbing> links;  // host ifname -> what plumb() was asked
  int routed_into_tun = 0;
  bool fail_plumb = false;

  // As Daemon::Impl::add_workload: a name the tunnel already has is refused.
  Result<const node::Workload*> add_workload(const node::WorkloadSpec& spec) override {
    for (const node::Workload* w : store->list())
      if (w->name() == spec.identity)
        return fail("identity " + spec.identity + " is already in use on this node");
    return store->add(spec, kNow);
  }
  Result<bool> remove_workload(const std::string& id, const std::string& ifname) override {
    return store->remove(id, ifname);
  }
  Result<void> plumb(const docker::DockerPlumbing& p) override {
    if (fail_plumb) return fail("netlink: add veth: File exists");
    links[p.host_ifname] = p;
    return {};
  }
  Result<void> unplumb(const std::string& host_ifname) override {
    links.erase(host_ifname);
    return {};
  }
  Result<void> route_into_tun() override {
    ++routed_into_tun;
    return {};
  }
  int mtu() override { return 1400; }
  std::string hostname() override { return "host-1"; }
};

struct Reply {
  int status;
  json body;
};

struct DriverFixture : NodeFixture {
  std::optional<node::WorkloadStore> store;
  FakeHooks hooks;
  std::optional<docker::DockerDriver> driver;

  DriverFixture() { restart(); }
  // What a restart of keymeshd does: the store reopens from disk, the driver restores.
  void restart() {
    driver.reset();
    store.reset();
    store.emplace(open());
    hooks.store = &*store;
    driver.emplace(*store, hooks);
    BOOST_REQUIRE(driver->restore().has_value());
  }
  Reply call(const std::string& path, const std::string& body = "") {
    const docker::HttpReply r = driver->handle(path, body);
    json doc = json::parse(r.body, nullptr, false);
    BOOST_REQUIRE_MESSAGE(doc.is_object(), path << " answered non-JSON: " << r.body);
    return {r.status, doc};
  }
  json ok(const std::string& path, const std::string& body = "") {
    Reply r = call(path, body);
    BOOST_REQUIRE_MESSAGE(r.status == 200, path << " -> " << r.status << " " << r.body.dump());
    BOOST_REQUIRE_MESSAGE(!r.body.contains("Err"), path << " -> " << r.body.dump());
    return r.body;
  }
  // A refusal: the status, and an Err that says `part`.
  void refused(const std::string& path, const std::string& body, int status,
               const std::string& part) {
    Reply r = call(path, body);
    BOOST_TEST(r.status == status, path << " " << body.substr(0, 80) << " -> " << r.status);
    BOOST_REQUIRE_MESSAGE(r.body.contains("Err") && r.body["Err"].is_string(), r.body.dump());
    const std::string err = r.body["Err"];
    BOOST_TEST_MESSAGE(path << ": " << err);
    BOOST_TEST(has(err, part), "\"" << err << "\" lacks \"" << part << "\"");
  }

  // docker network create -d keymesh --ipam-driver keymesh -o ... (the recorded calls)
  std::string create_network(const std::string& net, const std::string& generic) {
    const json pool = ok("/IpamDriver.RequestPool",
                         R"({"AddressSpace":"keymesh-local","Pool":"","SubPool":"","Options":{},"V6":false})");
    ok("/NetworkDriver.CreateNetwork",
       R"({"NetworkID":")" + net + R"(","Options":{"com.docker.network.enable_ipv6":false,)" +
           R"("com.docker.network.generic":)" + generic + R"(},"IPv4Data":[{"AddressSpace":)" +
           R"("keymesh-local","Gateway":"169.254.1.1/32","Pool":"0.0.0.0/0"}],"IPv6Data":[]})");
    return pool["PoolID"];
  }
  // RequestAddress + CreateEndpoint; returns the address ("100.64.1.2").
  std::string create_endpoint(const std::string& net, const std::string& ep,
                              const std::string& options = "") {
    const json a = ok("/IpamDriver.RequestAddress",
                      R"({"PoolID":")" + kPool + R"(","Address":"","Options":null})");
    const std::string address = a["Address"];
    ok("/NetworkDriver.CreateEndpoint",
       R"({"NetworkID":")" + net + R"(","EndpointID":")" + ep +
           R"(","Interface":{"Address":")" + address + R"(","AddressIPv6":"","MacAddress":""},)" +
           R"("Options":{"com.docker.network.endpoint.exposedports":[],"com.docker.network.portmap":[])" +
           options + "}}");
    return address.substr(0, address.find('/'));
  }
  json join(const std::string& net, const std::string& ep, const std::string& sandbox = kSandbox) {
    return ok("/NetworkDriver.Join",
              R"({"NetworkID":")" + net + R"(","EndpointID":")" + ep + R"(","SandboxKey":")" +
                  sandbox +
                  R"(","Options":{"com.docker.network.endpoint.exposedports":[],"com.docker.network.portmap":[]}})");
  }
  std::string refs(const std::string& net, const std::string& ep) {
    return R"({"NetworkID":")" + net + R"(","EndpointID":")" + ep + R"("})";
  }
  const node::Workload* workload(const std::string& ep) {
    return store->find(ep, std::string(kDockerIfname));
  }
};

const std::string kGeneric =
    R"({"keymesh.identity":"node-a/${ENDPOINT_ID_SHORT}","keymesh.groups":"web, api","keymesh.label.tier":"front-${HOSTNAME}"})";

}  // namespace

// The whole life of one container, call by call, as dockerd made them in the recorded run.
BOOST_FIXTURE_TEST_CASE(recorded_sequence_from_network_create_to_network_rm, DriverFixture) {
  BOOST_TEST(ok("/Plugin.Activate") == json::parse(R"({"Implements":["NetworkDriver","IpamDriver"]})"));
  BOOST_TEST(ok("/NetworkDriver.GetCapabilities", "{}")["Scope"] == "local");
  const json caps = ok("/IpamDriver.GetCapabilities");
  BOOST_TEST(caps["RequiresRequestReplay"] == false);
  BOOST_TEST(ok("/IpamDriver.GetDefaultAddressSpaces")["LocalDefaultAddressSpace"] ==
             "keymesh-local");

  const json pool = ok("/IpamDriver.RequestPool",
                       R"({"AddressSpace":"keymesh-local","Pool":"","SubPool":"","Options":{},"V6":false})");
  BOOST_TEST(pool["PoolID"] == kPool);
  BOOST_TEST(pool["Pool"] == "0.0.0.0/0");  // libnetwork skips its route-overlap loop for it
  BOOST_TEST(pool["Data"]["com.docker.network.gateway"] == "169.254.1.1/32");
  BOOST_TEST(create_network(kNet, kGeneric) == kPool);

  const std::string address = create_endpoint(kNet, kEp);
  BOOST_TEST(address == "100.64.1.2");
  const node::Workload* w = workload(kEp);
  BOOST_REQUIRE(w != nullptr);
  BOOST_TEST(w->name() == "node-a/2fe1b4aca838");
  BOOST_TEST(w->front_door == "docker");
  BOOST_TEST(w->address.to_string() == "100.64.1.2/32");
  BOOST_TEST((w->groups() == std::vector<std::string>{"web", "api"}));
  BOOST_TEST(w->labels().at("tier") == "front-host-1");
  BOOST_TEST(check_workload(*w, trust, kNow) == "");
  BOOST_TEST(store->reservations().empty());  // the reservation became the workload

  const json joined = join(kNet, kEp);
  const std::string host = "km" + joined["InterfaceName"]["SrcName"].get<std::string>().substr(2);
  BOOST_TEST(joined["InterfaceName"]["SrcName"].get<std::string>().starts_with("kt"));
  BOOST_TEST(joined["InterfaceName"]["DstPrefix"] == "eth");
  BOOST_TEST(joined["Gateway"] == "169.254.1.1");
  BOOST_TEST(joined["StaticRoutes"] ==
             json::parse(R"([{"Destination":"169.254.1.1/32","RouteType":1}])"));
  BOOST_REQUIRE(hooks.links.count(host) == 1);
  const docker::DockerPlumbing& p = hooks.links[host];
  BOOST_TEST(p.host_ifname == plumbing::host_veth_name(kEp, "eth"));
  BOOST_TEST(p.address.to_string() == "100.64.1.2/32");
  BOOST_TEST(p.mtu == 1400);
  BOOST_TEST(plumbing::format_tag(p.tag) == "keymesh/docker/" + kNet + "/" + kEp + "/eth");

  ok("/NetworkDriver.ProgramExternalConnectivity",
     R"({"NetworkID":")" + kNet + R"(","EndpointID":")" + kEp +
         R"(","Options":{"com.docker.network.endpoint.exposedports":[],"com.docker.network.portmap":[]}})");
  const json info = ok("/NetworkDriver.EndpointOperInfo", refs(kNet, kEp));
  BOOST_TEST(info["Value"]["keymesh.identity"] == "node-a/2fe1b4aca838");
  BOOST_TEST(info["Value"]["keymesh.address"] == "100.64.1.2");
  BOOST_TEST(info["Value"]["keymesh.groups"] == "web,api");

  // The container exits (--rm).
  ok("/NetworkDriver.RevokeExternalConnectivity", refs(kNet, kEp));
  ok("/NetworkDriver.Leave", refs(kNet, kEp));
  BOOST_TEST(hooks.links.empty());
  ok("/NetworkDriver.DeleteEndpoint", refs(kNet, kEp));
  BOOST_TEST(workload(kEp) == nullptr);
  // Docker holds the address until its ReleaseAddress, which has no prefix length.
  BOOST_TEST(store->reservations().count("100.64.1.2") == 1);
  ok("/IpamDriver.ReleaseAddress", R"({"PoolID":")" + kPool + R"(","Address":"100.64.1.2"})");
  BOOST_TEST(store->reservations().empty());
  BOOST_TEST(!store->ipam().in_use(*IpAddress::parse("100.64.1.2")));

  // docker network rm.
  ok("/NetworkDriver.DeleteNetwork", R"({"NetworkID":")" + kNet + R"("})");
  ok("/IpamDriver.ReleaseAddress", R"({"PoolID":")" + kPool + R"(","Address":"169.254.1.1"})");
  ok("/IpamDriver.ReleasePool", R"({"PoolID":")" + kPool + R"("})");
  BOOST_TEST(must(store->state().list_kv(std::string(kNetworkNamespace))).empty());
  BOOST_TEST(must(store->state().list_kv(std::string(kEndpointNamespace))).empty());
  BOOST_TEST(check_invariants(*store, trust, kNow) == "");
}

// dockerd replays nothing after the plugin restarts: networks, endpoints and Docker's
// address reservations must come back from the node state.
BOOST_FIXTURE_TEST_CASE(a_restart_of_keymeshd_loses_nothing, DriverFixture) {
  create_network(kNet, kGeneric);
  const std::string a1 = create_endpoint(kNet, kEp);
  join(kNet, kEp);
  // A second container got its address just before the restart, its endpoint comes after.
  const json a2 = ok("/IpamDriver.RequestAddress", R"({"PoolID":")" + kPool + R"(","Address":""})");
  BOOST_TEST(a2["Address"] == "100.64.1.3/32");
  restart();
  BOOST_TEST(hooks.routed_into_tun == 2);  // table 7300 into the new TUN, at each start
  const json r = ok("/IpamDriver.RequestAddress", R"({"PoolID":")" + kPool + R"(","Address":""})");
  BOOST_TEST(r["Address"] == "100.64.1.4/32");  // .3 is still Docker's
  ok("/NetworkDriver.CreateEndpoint",
     R"({"NetworkID":")" + kNet + R"(","EndpointID":")" + kEp2 +
         R"(","Interface":{"Address":"100.64.1.3/32","AddressIPv6":"","MacAddress":""},"Options":{}})");
  BOOST_TEST(workload(kEp2)->name() == "node-a/5ad7e8fb0c1d");
  BOOST_TEST(ok("/NetworkDriver.EndpointOperInfo", refs(kNet, kEp))["Value"]["keymesh.address"] ==
             a1);
  ok("/NetworkDriver.Leave", refs(kNet, kEp));
  ok("/NetworkDriver.DeleteEndpoint", refs(kNet, kEp));
  BOOST_TEST(workload(kEp) == nullptr);
  // dockerd repeats deletes after its own restart: they succeed and change nothing.
  ok("/NetworkDriver.Leave", refs(kNet, kEp));
  ok("/NetworkDriver.DeleteEndpoint", refs(kNet, kEp));
  BOOST_TEST(workload(kEp2) != nullptr);
}

// `--driver-opt` on `docker run --network name=N,driver-opt=...` or `docker network connect`
// reaches CreateEndpoint's Options: the endpoint's identity replaces the network's, its
// groups are added.
BOOST_FIXTURE_TEST_CASE(driver_opts_name_the_container, DriverFixture) {
  create_network(kNet, kGeneric);
  create_endpoint(kNet, kEp,
                  R"(,"keymesh.identity":"node-a/db-1","keymesh.groups":"db,web","other":"x")");
  BOOST_TEST(workload(kEp)->name() == "node-a/db-1");
  BOOST_TEST((workload(kEp)->groups() == std::vector<std::string>{"web", "api", "db"}));
  // The same name twice on one node is refused, and Docker's address stays Docker's.
  const json a = ok("/IpamDriver.RequestAddress", R"({"PoolID":")" + kPool + R"(","Address":""})");
  refused("/NetworkDriver.CreateEndpoint",
          R"({"NetworkID":")" + kNet + R"(","EndpointID":")" + kEp2 + R"(","Interface":{"Address":")" +
              a["Address"].get<std::string>() + R"("},"Options":{"keymesh.identity":"node-a/db-1"}})",
          500, "identity node-a/db-1 is already in use");
  BOOST_TEST(store->reservations().count("100.64.1.3") == 1);
}

// A container on two keymesh networks: the second interface gets no second connected route
// to the gateway (dockerd fails the container's start when routes collide).
BOOST_FIXTURE_TEST_CASE(one_container_on_two_networks, DriverFixture) {
  const std::string net2 = "af766b16b253ac5099bc4b6579d285b9315cd45befd60313814fd506b98bc7b9";
  create_network(kNet, kGeneric);
  create_network(net2, R"({"keymesh.identity":"node-a/${NETWORK_ID_SHORT}-${ENDPOINT_ID_SHORT}"})");
  create_endpoint(kNet, kEp);
  create_endpoint(net2, kEp2);
  BOOST_TEST(workload(kEp2)->name() == "node-a/af766b16b253-5ad7e8fb0c1d");
  BOOST_TEST(join(kNet, kEp)["StaticRoutes"].size() == 1u);
  BOOST_TEST(join(net2, kEp2)["StaticRoutes"].empty());
  BOOST_TEST(join(net2, kEp2, "/var/run/docker/netns/other")["StaticRoutes"].size() == 1u);
  BOOST_TEST(hooks.links.size() == 2u);
  // network rm of a network whose endpoint lost its DeleteEndpoint: it goes too.
  ok("/NetworkDriver.DeleteNetwork", R"({"NetworkID":")" + net2 + R"("})");
  BOOST_TEST(workload(kEp2) == nullptr);
  BOOST_TEST(hooks.links.size() == 1u);
  BOOST_TEST(workload(kEp) != nullptr);
}

// --subnet naming the node's pool, and --ip: the user's address is reserved as asked.
BOOST_FIXTURE_TEST_CASE(subnet_and_ip, DriverFixture) {
  const json pool = ok("/IpamDriver.RequestPool",
                       R"({"AddressSpace":"keymesh-local","Pool":"100.64.1.0/24","V6":false})");
  BOOST_TEST(pool["Pool"] == "100.64.1.0/24");
  const json a = ok("/IpamDriver.RequestAddress",
                    R"({"PoolID":")" + kPool + R"(","Address":"100.64.1.77","Options":{}})");
  BOOST_TEST(a["Address"] == "100.64.1.77/32");
  refused("/IpamDriver.RequestAddress", R"({"PoolID":")" + kPool + R"(","Address":"100.64.1.77"})",
          500, "already reserved");
  refused("/IpamDriver.RequestAddress", R"({"PoolID":")" + kPool + R"(","Address":"10.1.1.1"})",
          500, "outside the node range 100.64.1.0/24");
}

// What a user gets wrong, and what the driver says.
BOOST_FIXTURE_TEST_CASE(refusals_name_what_to_change, DriverFixture) {
  // The default IPAM (the probe's recorded network): addresses keymesh did not hand out.
  refused("/NetworkDriver.CreateNetwork",
          R"({"NetworkID":")" + kNet +
              R"(","Options":{"com.docker.network.enable_ipv6":false,"com.docker.network.generic":{"probe.opt":"hello"}},"IPv4Data":[{"AddressSpace":"LocalDefault","Gateway":"198.18.30.1/24","Pool":"198.18.30.0/24"}],"IPv6Data":[]})",
          500, "--ipam-driver keymesh");
  refused("/NetworkDriver.CreateNetwork",
          R"({"NetworkID":")" + kNet + R"(","Options":{"com.docker.network.enable_ipv6":true},"IPv4Data":[{"AddressSpace":"keymesh-local","Pool":"0.0.0.0/0"}]})",
          500, "IPv6 is not supported");
  refused("/NetworkDriver.CreateNetwork",
          R"({"NetworkID":")" + kNet + R"(","Options":{"com.docker.network.generic":{"keymesh.group":"web"}},"IPv4Data":[{"AddressSpace":"keymesh-local","Pool":"0.0.0.0/0"}]})",
          500, "-o keymesh.group: unknown option");
  refused("/NetworkDriver.CreateNetwork",
          R"({"NetworkID":")" + kNet + R"(","Options":{"com.docker.network.generic":{"keymesh.identity":"${oops"}},"IPv4Data":[{"AddressSpace":"keymesh-local","Pool":"0.0.0.0/0"}]})",
          500, "unterminated ${");
  refused("/IpamDriver.RequestPool", R"({"AddressSpace":"keymesh-local","Pool":"198.18.31.0/24"})",
          500, "is not this node's pool 100.64.1.0/24");
  refused("/IpamDriver.RequestPool", R"({"AddressSpace":"keymesh-local","SubPool":"100.64.1.0/26"})",
          500, "--ip-range is not supported");
  refused("/IpamDriver.RequestPool", R"({"AddressSpace":"keymesh-global","V6":true})", 500,
          "IPv6 pools are not supported");
  refused("/IpamDriver.RequestAddress",
          R"({"PoolID":"probe-198.18.31.0/24","Address":"","Options":null})", 500,
          "is not this node's");
  refused("/IpamDriver.RequestAddress",
          R"({"PoolID":")" + kPool + R"(","Address":"100.64.1.1","Options":{"RequestAddressType":"com.docker.network.gateway"}})",
          500, "--gateway is not supported");
  refused("/NetworkDriver.CreateEndpoint",
          R"({"NetworkID":")" + kNet + R"(","EndpointID":")" + kEp + R"(","Interface":{"Address":"100.64.1.9/32"}})",
          500, "is unknown to this keymeshd");
  refused("/NetworkDriver.Join", refs(kNet, kEp), 500, "is unknown (no CreateEndpoint)");

  // A name the node CA may not sign: refused, and Docker's address stays reserved for its
  // ReleaseAddress.
  create_network(kNet, R"({"keymesh.identity":"web-${ENDPOINT_ID_SHORT}"})");
  const json a = ok("/IpamDriver.RequestAddress", R"({"PoolID":")" + kPool + R"(","Address":""})");
  const std::string create = R"({"NetworkID":")" + kNet + R"(","EndpointID":")" + kEp +
                             R"(","Interface":{"Address":")" + a["Address"].get<std::string>() +
                             R"("},"Options":{}})";
  refused("/NetworkDriver.CreateEndpoint", create, 500, "node-a/*");
  BOOST_TEST(store->reservations().count("100.64.1.2") == 1);
  refused("/NetworkDriver.CreateEndpoint",
          R"({"NetworkID":")" + kNet + R"(","EndpointID":")" + kEp +
              R"(","Interface":{"Address":"100.64.1.2/32"},"Options":{"keymesh.identity":"node-a/${NOPE}"}})",
          500, "${NOPE} is not set");
  // The kernel refuses the veth: Join fails and nothing is recorded as joined.
  create_network(kNet, kGeneric);
  ok("/NetworkDriver.CreateEndpoint", create);
  hooks.fail_plumb = true;
  refused("/NetworkDriver.Join", refs(kNet, kEp), 500, "File exists");
  BOOST_TEST(hooks.links.empty());
}

// Malformed bodies are 400 with an Err naming the problem; unknown methods are 404; nothing
// throws, whatever arrives.
BOOST_FIXTURE_TEST_CASE(malformed_bodies_and_unknown_methods, DriverFixture) {
  refused("/NetworkDriver.AllocateNetwork", "{}", 404, "unknown plugin method");
  refused("/Plugin.Deactivate", "", 404, "unknown plugin method");
  refused("/", "", 404, "unknown plugin method");
  refused("/NetworkDriver.CreateNetwork", "{", 400, "not valid JSON");
  refused("/NetworkDriver.CreateNetwork", "[]", 400, "must be a JSON object, got array");
  refused("/NetworkDriver.CreateNetwork", "null", 400, "must be a JSON object, got null");
  refused("/NetworkDriver.CreateNetwork", "{}", 400, "NetworkID: required");
  refused("/NetworkDriver.CreateNetwork", R"({"NetworkID":7})", 400,
          "NetworkID: must be a string, got number");
  refused("/NetworkDriver.CreateNetwork", R"({"NetworkID":"../../etc"})", 400, "not a Docker ID");
  refused("/NetworkDriver.CreateNetwork", R"({"NetworkID":"a","Options":[]})", 400,
          "Options: must be an object");
  refused("/NetworkDriver.CreateNetwork", R"({"NetworkID":"a","IPv4Data":{}})", 400,
          "IPv4Data: must be a list");
  refused("/NetworkDriver.CreateNetwork", R"({"NetworkID":"a","IPv4Data":[{"Pool":1}]})", 400,
          "IPv4Data[0].Pool: must be a string");
  refused("/NetworkDriver.CreateNetwork",
          R"({"NetworkID":"a","Options":{"com.docker.network.enable_ipv6":"yes"}})", 400,
          "must be a boolean");
  refused("/NetworkDriver.Join", R"({"NetworkID":"a"})", 400, "EndpointID: required");
  refused("/NetworkDriver.CreateEndpoint", R"({"NetworkID":"a","EndpointID":"b","Interface":5})",
          400, "Interface: must be an object");
  refused("/IpamDriver.RequestAddress", R"({"Address":""})", 400, "PoolID: required");
  refused("/IpamDriver.ReleaseAddress", R"({"PoolID":"p"})", 400, "Address: required");
  refused("/IpamDriver.RequestPool", R"({"V6":"no"})", 400, "V6: must be a boolean");
  refused("/Plugin.Activate", "not json", 400, "not valid JSON");
  refused("/NetworkDriver.CreateNetwork", std::string(40, '[') + std::string(40, ']'), 400,
          "nests deeper than 32");
  refused("/NetworkDriver.CreateNetwork", R"({"NetworkID":")" + std::string(200, 'a') + "\"}",
          400, "longer than 128 bytes");
  // Invalid UTF-8 in a refusal still gives a reply that parses.
  refused("/NetworkDriver.CreateEndpoint",
          "{\"NetworkID\":\"a\",\"EndpointID\":\"b\",\"Interface\":{\"Address\":\"\xff\"}}", 400,
          "not valid JSON");
  BOOST_TEST(ok("/NetworkDriver.DiscoverNew", R"({"DiscoveryType":1,"DiscoveryData":{}})").empty());
}
