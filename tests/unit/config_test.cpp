// Config loading: a full config yields the values written; each class of mistake yields an
// error that names the key path, and never quotes key material.
#define BOOST_TEST_MODULE config
#include "daemon/config.h"

#include <sys/socket.h>

#include <boost/test/unit_test.hpp>
#include <string>

#include "common/bytes.h"
#include "tests/unit/control_test_util.h"

using keymesh::daemon::Config;
using keymesh::daemon::parse_config;
using keymesh::test::TempDir;

namespace {

// Generated with `wg genkey | tee priv | wg pubkey`.
const std::string kPrivate = "0EAbFOw0CcZT2ry9kc0IzB2xO2A1tBZDm7Wrwkzm8lE=";
const std::string kOwnPublic = "OEXKw8fvZ/xKGyTUwLzqciMhXN6tOohhZy2qvT2aLy4=";
const std::string kPeerB = "hy1x+3+UZbLLZJk6kQSIDJyHDq3aRV9Na92gmaimWRk=";
const std::string kPeerC = "uPtYP07El4FbYvybdKJfTjgHBSEaf0yaudnFnA3cUEg=";
const std::string kPsk = "FpCyhws9cxwWoV4xELtfJvjJN+zQVRPISllRWgeopVE=";

// A directory holding a valid 0600 private key "a.key" and preshared key "psk.key".
struct Fixture {
  TempDir dir;
  Fixture() {
    dir.write("a.key", kPrivate + "\n");
    dir.write("psk.key", kPsk + "\n");
  }
  keymesh::Result<Config> parse(const std::string& yaml) { return parse_config(yaml, dir.path()); }
  // Parses `yaml`, which must fail, and returns the message.
  std::string error(const std::string& yaml) {
    auto c = parse(yaml);
    BOOST_REQUIRE_MESSAGE(!c, "expected an error for:\n" + yaml);
    return c.error().message;
  }
};

const std::string kMinimal = "private_key_file: a.key\n";

std::string peer_yaml(const std::string& body) {
  return kMinimal + "peers:\n  - public_key: " + kPeerB + "\n" + body;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(config, Fixture)

BOOST_AUTO_TEST_CASE(full_config_parses_with_the_values_written) {
  const std::string yaml = R"(
private_key_file: a.key
listen_port: 51999
interface:
  name: km7
  addresses: [100.64.3.1/24, "fd00:64::1/64"]
  mtu: 1400
control_socket: /run/km-test/keymesh.sock
log_level: debug
socket_buffer_bytes: 1048576
udp_offload: off
under_load_handshakes_per_second: 250
peers:
  - name: b
    public_key: )" + kPeerB +
                           R"(
    preshared_key_file: psk.key
    endpoint: 198.18.0.2:51820
    allowed_ips: [100.64.3.2/32, 10.9.0.0/16]
    persistent_keepalive: 25
  - public_key: )" + kPeerC +
                           R"(
    endpoint: "[2001:db8::2]:51821"
    allowed_ips: [100.64.3.3/32]
testing:
  rekey_after_time_ms: 5000
  reject_after_time_ms: 8000
  rekey_attempt_time_ms: 9000
  rekey_timeout_ms: 1000
  keepalive_timeout_ms: 1000
  rekey_after_messages: 1000
)";
  auto c = parse(yaml);
  BOOST_REQUIRE_MESSAGE(c, (c ? "" : c.error().message));
  BOOST_TEST(keymesh::to_base64(c->private_key.span()) == kPrivate);
  BOOST_TEST(c->private_key_file == dir / "a.key");
  BOOST_TEST(c->listen_port == 51999);
  BOOST_TEST(c->interface_name == "km7");
  BOOST_REQUIRE(c->addresses.size() == 2u);
  BOOST_TEST(c->addresses[0].to_string() == "100.64.3.1/24");  // host part kept
  BOOST_TEST(c->addresses[1].to_string() == "fd00:64::1/64");
  BOOST_REQUIRE(c->mtu.has_value());
  BOOST_TEST(*c->mtu == 1400);
  BOOST_TEST(c->control_socket == "/run/km-test/keymesh.sock");
  BOOST_TEST(c->log_level == "debug");
  BOOST_TEST(c->socket_buffer_bytes == 1048576);
  BOOST_TEST(!c->udp_offload);
  BOOST_TEST(c->handshakes_per_second_under_load == 250u);

  BOOST_REQUIRE(c->peers.size() == 2u);
  const auto& b = c->peers[0];
  BOOST_TEST(b.name == "b");
  BOOST_TEST(keymesh::to_base64(b.public_key) == kPeerB);
  BOOST_REQUIRE(b.preshared_key.has_value());
  BOOST_TEST(keymesh::to_base64(b.preshared_key->span()) == kPsk);
  BOOST_REQUIRE(b.endpoint.has_value());
  BOOST_TEST(b.endpoint->to_string() == "198.18.0.2:51820");
  BOOST_REQUIRE(b.allowed_ips.size() == 2u);
  BOOST_TEST(b.allowed_ips[0].to_string() == "100.64.3.2/32");
  BOOST_TEST(b.allowed_ips[1].to_string() == "10.9.0.0/16");
  BOOST_TEST(b.persistent_keepalive.count() == 25);

  const auto& p = c->peers[1];
  BOOST_TEST(p.name.empty());
  BOOST_TEST(!p.preshared_key.has_value());
  BOOST_REQUIRE(p.endpoint.has_value());
  BOOST_TEST(p.endpoint->family == AF_INET6);
  BOOST_TEST(p.endpoint->port == 51821);
  BOOST_TEST(p.persistent_keepalive.count() == 0);

  BOOST_TEST(c->timers.rekey_after_time.count() == 5000);
  BOOST_TEST(c->timers.reject_after_time.count() == 8000);
  BOOST_TEST(c->timers.rekey_attempt_time.count() == 9000);
  BOOST_TEST(c->timers.rekey_timeout.count() == 1000);
  BOOST_TEST(c->timers.keepalive_timeout.count() == 1000);
  BOOST_TEST(c->timers.rekey_after_messages == 1000u);
}

BOOST_AUTO_TEST_CASE(minimal_config_gets_documented_defaults) {
  auto c = parse(kMinimal);
  BOOST_REQUIRE_MESSAGE(c, (c ? "" : c.error().message));
  BOOST_TEST(c->listen_port == 51820);
  BOOST_TEST(c->interface_name == "km0");
  BOOST_TEST(c->addresses.empty());
  BOOST_TEST(!c->mtu.has_value());
  BOOST_TEST(c->control_socket == "/run/keymesh/keymesh.sock");
  BOOST_TEST(c->log_level == "info");
  BOOST_TEST(c->socket_buffer_bytes == 4194304);
  BOOST_TEST(c->udp_offload);
  BOOST_TEST(c->handshakes_per_second_under_load == 1000u);
  BOOST_TEST(c->peers.empty());
  BOOST_TEST(c->timers.rekey_after_time.count() == 120000);
  BOOST_TEST(c->timers.reject_after_time.count() == 180000);
  BOOST_TEST(c->timers.rekey_after_messages == (1ull << 60));
}

BOOST_AUTO_TEST_CASE(load_config_reads_keys_relative_to_the_config_file) {
  dir.write("keymesh.yaml", kMinimal + "listen_port: 4000\n", 0644);
  auto c = keymesh::daemon::load_config(dir / "keymesh.yaml");
  BOOST_REQUIRE_MESSAGE(c, (c ? "" : c.error().message));
  BOOST_TEST(c->path == dir / "keymesh.yaml");
  BOOST_TEST(c->private_key_file == dir / "a.key");
  BOOST_TEST(c->listen_port == 4000);
}

BOOST_AUTO_TEST_CASE(load_config_errors_name_the_file) {
  dir.write("bad.yaml", kMinimal + "listen_port: 0\n");
  auto c = keymesh::daemon::load_config(dir / "bad.yaml");
  BOOST_REQUIRE(!c);
  BOOST_TEST(c.error().message == dir / "bad.yaml" + ": listen_port: must be 1-65535, got 0");
  auto missing = keymesh::daemon::load_config(dir / "nope.yaml");
  BOOST_REQUIRE(!missing);
  BOOST_TEST(missing.error().message ==
             "cannot read config " + dir / "nope.yaml" + ": No such file or directory");
}

// ---- One case per class of error ----

BOOST_AUTO_TEST_CASE(unknown_key_suggests_the_near_miss) {
  BOOST_TEST(error(kMinimal + "listen_prot: 51820\n") ==
             "unknown key \"listen_prot\" (did you mean listen_port?)");
  BOOST_TEST(error(kMinimal + "frobnicate: 1\n") == "unknown key \"frobnicate\"");
  BOOST_TEST(error(peer_yaml("    endpont: 198.18.0.2:1\n")) ==
             "peers[0]: unknown key \"endpont\" (did you mean endpoint?)");
  BOOST_TEST(error(kMinimal + "interface:\n  mut: 1400\n") ==
             "interface: unknown key \"mut\" (did you mean mtu?)");
  BOOST_TEST(error(kMinimal + "testing:\n  rekey_timeout: 5\n") ==
             "testing: unknown key \"rekey_timeout\" (did you mean rekey_timeout_ms?)");
}

BOOST_AUTO_TEST_CASE(duplicate_key_is_refused) {
  BOOST_TEST(error(kMinimal + "listen_port: 1\nlisten_port: 2\n") ==
             "key \"listen_port\" appears more than once");
}

BOOST_AUTO_TEST_CASE(number_out_of_range_names_key_and_value) {
  BOOST_TEST(error(kMinimal + "listen_port: 70000\n") == "listen_port: must be 1-65535, got 70000");
  BOOST_TEST(error(kMinimal + "listen_port: 99999999999999999999999\n") ==
             "listen_port: must be 1-65535, got 99999999999999999999999");
  BOOST_TEST(error(kMinimal + "interface:\n  mtu: 100\n") ==
             "interface.mtu: must be 576-9000, got 100");
  BOOST_TEST(error(kMinimal + "socket_buffer_bytes: 1024\n") ==
             "socket_buffer_bytes: must be 65536-268435456, got 1024");
  BOOST_TEST(error(peer_yaml("    persistent_keepalive: 65536\n")) ==
             "peers[0].persistent_keepalive: must be 0-65535, got 65536");
  BOOST_TEST(error(kMinimal + "testing:\n  rekey_timeout_ms: 0\n") ==
             "testing.rekey_timeout_ms: must be 1-86400000, got 0");
}

BOOST_AUTO_TEST_CASE(identity_policy_and_discovery_sections) {
  auto c = parse(kMinimal + R"(certificate: host.chain
trust: { roots: [root.crt, /etc/keymesh/old-root.crt], revocation_list: crl.pem }
identities: [ { certificate: w.chain, key: w.key } ]
directory: [ { certificate: b.chain, endpoints: ["198.18.0.2:51820"] } ]
policy: policy.yaml
audit_log: "-"
node_ca: { certificate: ca.crt, key: ca.key, workload_lifetime_seconds: 3600, renew_at_percent: 50 }
state_dir: state
lighthouses: [ { address: 100.64.0.1, certificate: lh.chain, endpoints: ["198.18.0.10:51820"] } ]
discovery: { etcd: { endpoints: ["http://198.18.0.20:23791"], lease_ttl_seconds: 10 } }
advertise: ["198.18.0.1:51820"]
testing: { wall_clock_start_unix: 1795798740 }
)");
  BOOST_REQUIRE_MESSAGE(c, (c ? "" : c.error().message));
  const std::string d = dir.path() + "/";
  BOOST_TEST(c->certificate == d + "host.chain");
  BOOST_TEST(c->trust_roots.size() == 2u);
  BOOST_TEST(c->trust_roots[1] == "/etc/keymesh/old-root.crt");
  BOOST_TEST(c->revocation_list == d + "crl.pem");
  BOOST_TEST(c->identities.at(0).key == d + "w.key");
  BOOST_TEST(c->directory.at(0).endpoints.at(0).to_string() == "198.18.0.2:51820");
  BOOST_TEST(c->audit_log == "-");
  BOOST_TEST(c->node_ca->workload_lifetime.count() == 3600);
  BOOST_TEST(c->node_ca->renew_fraction == 0.5);
  BOOST_TEST(c->state_dir == d + "state");
  BOOST_TEST(c->lighthouses.at(0).address.to_string() == "100.64.0.1");
  BOOST_TEST(c->etcd->endpoints.at(0) == "http://198.18.0.20:23791");
  BOOST_TEST(c->etcd->lease_ttl.count() == 10);
  BOOST_TEST(c->advertise.size() == 1u);
  BOOST_TEST(c->timers.wall_clock_start_unix == 1795798740);
}

BOOST_AUTO_TEST_CASE(identity_policy_and_discovery_errors_name_the_key) {
  BOOST_TEST(error(kMinimal + "identities: [ { certificate: w.chain } ]\n") ==
             "identities[0].key: is required");
  BOOST_TEST(error(kMinimal + "directory: [ { certificate: b.chain, endpoints: [nowhere] } ]\n") ==
             "directory[0].endpoints[0]: \"nowhere\" is not an address:port (198.18.0.2:51820 or "
             "[2001:db8::2]:51820)");
  BOOST_TEST(error(kMinimal + "node_ca: { certificate: ca.crt }\n") == "node_ca.key: is required");
  BOOST_TEST(error(kMinimal + "node_ca: { certificate: c, key: k, renew_at_percent: 99 }\n") ==
             "node_ca.renew_at_percent: must be 10-95, got 99");
  BOOST_TEST(error(kMinimal + "certificate: h\nlighthouse: yes\n") ==
             "lighthouse: expected true or false, got \"yes\"");
  BOOST_TEST(error(kMinimal + "certificate: h\nlighthouses: [ { address: x, certificate: c, "
                              "endpoints: [\"198.18.0.1:1\"] } ]\n") ==
             "lighthouses[0].address: \"x\" is not an IP address");
  BOOST_TEST(error(kMinimal + "discovery: { etcd: { endpoints: [etcd:2379] } }\n") ==
             "discovery.etcd.endpoints[0]: \"etcd:2379\" is not an http(s) URL");
  BOOST_TEST(error(kMinimal + "lighthouse: true\n").starts_with(
      "lighthouse/lighthouses: discovery runs between node identities"));
  BOOST_TEST(error(kMinimal + "trust: { root: [r.crt] }\n").find("did you mean roots?") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(wrong_type_names_key_and_what_was_found) {
  BOOST_TEST(error(kMinimal + "listen_port: abc\n") ==
             "listen_port: expected an integer, got \"abc\"");
  BOOST_TEST(error(kMinimal + "listen_port: [1]\n") ==
             "listen_port: expected an integer, got a list");
  BOOST_TEST(error(kMinimal + "listen_port:\n") == "listen_port: expected an integer, got nothing");
  BOOST_TEST(error(kMinimal + "interface: [a]\n") == "interface: expected a map, got a list");
  BOOST_TEST(error(kMinimal + "peers:\n  a: 1\n") == "peers: expected a list, got a map");
  BOOST_TEST(error(kMinimal + "peers: [1]\n") == "peers[0]: expected a map, got \"1\"");
  BOOST_TEST(error(kMinimal + "interface:\n  addresses: 100.64.0.1/24\n") ==
             "interface.addresses: expected a list, got \"100.64.0.1/24\" (write it as "
             "[100.64.0.1/24])");
  BOOST_TEST(error("- a\n- b\n") == "expected a map of settings at the top level, got a list");
}

BOOST_AUTO_TEST_CASE(bad_cidr_names_the_list_element) {
  const std::string yaml = kMinimal + "peers:\n  - public_key: " + kPeerB +
                           "\n    allowed_ips: [100.64.3.1/32]\n  - public_key: " + kPeerC +
                           "\n    allowed_ips: [100.64.3.2/33]\n";
  BOOST_TEST(error(yaml) == "peers[1].allowed_ips[0]: \"100.64.3.2/33\" is not a CIDR");
  BOOST_TEST(error(kMinimal + "interface:\n  addresses: [100.64.0.1/24, bogus]\n") ==
             "interface.addresses[1]: \"bogus\" is not a CIDR");
}

BOOST_AUTO_TEST_CASE(bad_public_key_is_not_quoted_back) {
  const std::string almost = kPrivate.substr(0, 43);  // someone pasted a private key, cut short
  const std::string msg = error(kMinimal + "peers:\n  - public_key: " + almost + "\n");
  BOOST_TEST(msg == "peers[0].public_key: not a 32-byte base64 key");
  BOOST_TEST(msg.find(almost) == std::string::npos);
  BOOST_TEST(error(kMinimal + "peers:\n  - name: x\n") == "peers[0].public_key: is required");
}

BOOST_AUTO_TEST_CASE(duplicate_peer_keys_names_and_routes_are_refused) {
  BOOST_TEST(error(kMinimal + "peers:\n  - public_key: " + kPeerB + "\n  - public_key: " + kPeerC +
                   "\n  - public_key: " + kPeerB + "\n") ==
             "peers[2].public_key: same key as peers[0]");
  BOOST_TEST(error(kMinimal + "peers:\n  - {name: x, public_key: " + kPeerB +
                   "}\n  - {name: x, public_key: " + kPeerC + "}\n") ==
             "peers[1].name: \"x\" is already used by peers[0]");
  BOOST_TEST(error(kMinimal + "peers:\n  - {public_key: " + kPeerB +
                   ", allowed_ips: [10.0.0.0/8]}\n  - {public_key: " + kPeerC +
                   ", allowed_ips: [10.1.2.3/8]}\n") ==
             "peers[1].allowed_ips[0]: 10.0.0.0/8 is already routed to peers[0]");
  BOOST_TEST(error(kMinimal + "peers:\n  - public_key: " + kOwnPublic + "\n") ==
             "peers[0].public_key: is this node's own public key");
}

BOOST_AUTO_TEST_CASE(yaml_syntax_error_gives_line_and_column) {
  const std::string msg = error(kMinimal + "listen_port: 1\ninterface: {name: km0\n");
  // yaml-cpp notices an unclosed flow map where the text ends.
  BOOST_TEST(msg == "line 4, column 1: YAML syntax error: end of map flow not found");
  BOOST_TEST(error("a: b: c\n").starts_with("line 1, column"));
  BOOST_TEST(error("a: 1\n---\nb: 2\n") == "expected one YAML document, found more");
  BOOST_TEST(error("") == "config is empty (private_key_file is required)");
}

BOOST_AUTO_TEST_CASE(private_key_file_problems) {
  BOOST_TEST(error("listen_port: 1\n") == "private_key_file: is required");
  BOOST_TEST(error("private_key_file: missing.key\n") ==
             "private_key_file: " + dir / "missing.key" + ": No such file or directory");
  const std::string garbage = "c2VjcmV0LWJ1dC1ub3QtYS1rZXk=";
  dir.write("bad.key", garbage + "\n");
  const std::string msg = error("private_key_file: bad.key\n");
  BOOST_TEST(msg == "private_key_file: " + dir / "bad.key" +
                        ": not a WireGuard key (expected 44 base64 characters)");
  BOOST_TEST(msg.find(garbage) == std::string::npos);
  BOOST_TEST(error("private_key_file: " + dir.path() + "\n") ==
             "private_key_file: " + dir.path() + ": not a regular file");
}

BOOST_AUTO_TEST_CASE(key_file_readable_by_others_is_refused) {
  const std::string path = dir.write("open.key", kPrivate + "\n", 0644);
  const std::string msg = error("private_key_file: open.key\n");
  BOOST_TEST(msg == "private_key_file: " + path +
                        " has mode 0644; a key file must be 0600 or stricter (chmod 600 " + path +
                        ")");
  BOOST_TEST(msg.find(kPrivate) == std::string::npos);
  dir.write("group.key", kPsk + "\n", 0640);
  BOOST_TEST(
      error(peer_yaml("    preshared_key_file: group.key\n"))
          .starts_with("peers[0].preshared_key_file: " + dir / "group.key" + " has mode 0640;"));
  dir.write("ro.key", kPrivate + "\n", 0400);
  BOOST_TEST(bool(parse("private_key_file: ro.key\n")));
}

BOOST_AUTO_TEST_CASE(bad_strings_name_the_key) {
  BOOST_TEST(error(kMinimal + "interface:\n  name: abcdefghijklmnop\n") ==
             "interface.name: \"abcdefghijklmnop\" is longer than 15 characters");
  BOOST_TEST(error(kMinimal + "interface:\n  name: a/b\n") ==
             "interface.name: \"a/b\" is not a valid interface name (no spaces, '/' or ':')");
  BOOST_TEST(error(kMinimal + "log_level: loud\n") ==
             "log_level: must be one of trace, debug, info, warn, error, got \"loud\"");
  BOOST_TEST(error(kMinimal + "udp_offload: maybe\n") == "udp_offload: must be on or off, got \"maybe\"");
  BOOST_TEST(error(kMinimal + "control_socket: keymesh.sock\n") ==
             "control_socket: must be an absolute path, got \"keymesh.sock\"");
  BOOST_TEST(error(peer_yaml("    endpoint: example:51820\n")) ==
             "peers[0].endpoint: \"example:51820\" is not an address:port (198.18.0.2:51820 or "
             "[2001:db8::2]:51820)");
  BOOST_TEST(
      error(kMinimal + "interface:\n  addresses: [fd00::1/64]\n  mtu: 1000\n") ==
      "interface.mtu: must be at least 1280 when the interface has an IPv6 address, got 1000");
}

BOOST_AUTO_TEST_CASE(testing_timers_must_stay_consistent) {
  BOOST_TEST(
      error(kMinimal + "testing:\n  rekey_after_time_ms: 5000\n  reject_after_time_ms: 4000\n") ==
      "testing.reject_after_time_ms: must be greater than rekey_after_time (5000 ms), got 4000");
}

BOOST_AUTO_TEST_CASE(hostile_inputs_return_errors) {
  const std::string inputs[] = {
      std::string(5000, '['),
      std::string(5000, '{'),
      "a:\n" + std::string(3000, ' ') + "- x\n",
      "a: &x [*x]\n",
      "*unknown\n",
      "? [a, b]\n: c\n",
      "private_key_file: [a.key]\n",
      std::string("private_key_file: \"a\\0b\"\n"),
      "\t\x01\xff\xfe",
      "!!binary 3q2+7w==\n",
  };
  for (const auto& in : inputs) {
    auto c = parse(in);
    BOOST_TEST(!c);
    if (!c) BOOST_TEST_MESSAGE(c.error().message);
  }
}

// Raw-key peers as policy subjects (docs/sites.md): name, groups and labels.
BOOST_AUTO_TEST_CASE(peer_groups_and_labels_parse) {
  auto c = parse(peer_yaml("    name: cloud-x-vpn\n    groups: [vpn, partners]\n"
                           "    labels: { site: cloud-x, zone: \"eu west\" }\n"));
  BOOST_REQUIRE_MESSAGE(c, (c ? "" : c.error().message));
  BOOST_REQUIRE(c->peers.size() == 1u);
  const auto& p = c->peers[0];
  BOOST_TEST(p.name == "cloud-x-vpn");
  BOOST_REQUIRE(p.groups.size() == 2u);
  BOOST_TEST(p.groups[0] == "vpn");
  BOOST_TEST(p.groups[1] == "partners");
  BOOST_REQUIRE(p.labels.size() == 2u);
  BOOST_TEST(p.labels.at("site") == "cloud-x");
  BOOST_TEST(p.labels.at("zone") == "eu west");
  // Absent: none.
  auto bare = parse(peer_yaml(""));
  BOOST_REQUIRE(bare);
  BOOST_TEST(bare->peers[0].groups.empty());
  BOOST_TEST(bare->peers[0].labels.empty());
}

BOOST_AUTO_TEST_CASE(peer_groups_and_labels_errors_name_the_key) {
  BOOST_TEST(error(peer_yaml("    groups: vpn\n")) ==
             "peers[0].groups: expected a list, got \"vpn\" (write it as [vpn])");
  BOOST_TEST(error(peer_yaml("    groups: [vpn, \"two words\"]\n")) ==
             "peers[0].groups[1]: \"two words\" is not a group name (1-255 printable "
             "characters, no spaces)");
  BOOST_TEST(error(peer_yaml("    groups: [vpn, vpn]\n")) ==
             "peers[0].groups[1]: \"vpn\" is listed twice");
  BOOST_TEST(error(peer_yaml("    groups: [\"\"]\n")) ==
             "peers[0].groups[0]: \"\" is not a group name (1-255 printable characters, "
             "no spaces)");
  BOOST_TEST(error(peer_yaml("    labels: [site]\n")) ==
             "peers[0].labels: expected a map (site: cloud-x), got a list");
  BOOST_TEST(error(peer_yaml("    labels: { \"a=b\": x }\n")) ==
             "peers[0].labels: \"a=b\" is not a label name (1-255 printable characters, no "
             "spaces or '=')");
  BOOST_TEST(error(peer_yaml("    labels: { site: [a] }\n")) ==
             "peers[0].labels.site: expected a string, got a list");
  BOOST_TEST(error(peer_yaml("    labels: { site: \"" + std::string(1025, 'x') + "\" }\n")) ==
             "peers[0].labels.site: must be at most 1024 printable characters");
  BOOST_TEST(error(peer_yaml("    label: { site: a }\n")).find("peers[0]") == 0u);
}

// masquerade: LAN sources rewritten to the first IPv4 interface address (docs/sites.md).
BOOST_AUTO_TEST_CASE(masquerade_parses_and_is_off_by_default) {
  auto off = parse(kMinimal);
  BOOST_REQUIRE(off);
  BOOST_TEST(off->masquerade.empty());
  auto c = parse(kMinimal + "interface: { addresses: [100.64.1.1/10] }\n"
                            "masquerade: [198.19.1.0/24, 10.20.0.7/16]\n");
  BOOST_REQUIRE_MESSAGE(c, (c ? "" : c.error().message));
  BOOST_REQUIRE(c->masquerade.size() == 2u);
  BOOST_TEST(c->masquerade[0].to_string() == "198.19.1.0/24");
  BOOST_TEST(c->masquerade[1].to_string() == "10.20.0.0/16");  // host bits cleared
  auto empty = parse(kMinimal + "masquerade: []\n");
  BOOST_REQUIRE(empty);
  BOOST_TEST(empty->masquerade.empty());
}

BOOST_AUTO_TEST_CASE(masquerade_errors_name_the_key) {
  const std::string iface = "interface: { addresses: [100.64.1.1/10] }\n";
  BOOST_TEST(error(kMinimal + iface + "masquerade: 198.19.1.0/24\n") ==
             "masquerade: expected a list of IPv4 CIDRs ([198.19.1.0/24]), got \"198.19.1.0/24\"");
  BOOST_TEST(error(kMinimal + iface + "masquerade: [198.19.1.0/33]\n") ==
             "masquerade[0]: \"198.19.1.0/33\" is not a CIDR");
  BOOST_TEST(error(kMinimal + iface + "masquerade: [\"fd00:1::/64\"]\n") ==
             "masquerade[0]: fd00:1::/64 is not IPv4 (masquerade is IPv4 only)");
  BOOST_TEST(error(kMinimal + iface + "masquerade: [198.19.1.0/24, 198.19.1.9/24]\n") ==
             "masquerade[1]: 198.19.1.0/24 is listed twice");
  BOOST_TEST(error(kMinimal + iface + "masquerade: [100.64.7.0/24]\n") ==
             "masquerade[0]: 100.64.7.0/24 overlaps the overlay (interface.addresses "
             "100.64.1.1/10); only LAN sources outside it are rewritten");
  BOOST_TEST(error(kMinimal + iface + "masquerade: [0.0.0.0/0]\n") ==
             "masquerade[0]: 0.0.0.0/0 overlaps the overlay (interface.addresses "
             "100.64.1.1/10); only LAN sources outside it are rewritten");
  BOOST_TEST(error(kMinimal + "masquerade: [198.19.1.0/24]\n") ==
             "masquerade: needs an IPv4 address in interface.addresses (LAN sources are "
             "rewritten to it)");
}

BOOST_AUTO_TEST_CASE(relay_keys) {
  auto c = parse(kMinimal + "relay: true\nrelays: [100.64.0.20, \"fd00:64::20\"]\n");
  BOOST_REQUIRE_MESSAGE(c, (c ? "" : c.error().message));
  BOOST_TEST(c->relay);
  BOOST_REQUIRE_EQUAL(c->relays.size(), 2u);
  BOOST_TEST(c->relays[0].to_string() == "100.64.0.20");
  auto off = parse(kMinimal);
  BOOST_REQUIRE(off);
  BOOST_TEST(!off->relay);
  BOOST_TEST(off->relays.empty());
  BOOST_TEST(error(kMinimal + "relay: yes\n") == "relay: expected true or false, got \"yes\"");
  BOOST_TEST(error(kMinimal + "relays: [relay.example]\n") ==
             "relays[0]: \"relay.example\" is not an overlay IP address");
  BOOST_TEST(error(kMinimal + "relays: [100.64.0.1, 100.64.0.2, 100.64.0.3, 100.64.0.4, 100.64.0.5]\n") ==
             "relays[4]: at most 4 relays");
}

// gateway.lan_interfaces: what may forward into the TUN besides workload veths
// (docs/guarantees.md); the names go into nftables.
BOOST_AUTO_TEST_CASE(gateway_lan_interfaces_parse_and_errors_name_the_key) {
  auto off = parse(kMinimal);
  BOOST_REQUIRE(off);
  BOOST_TEST(!off->gateway);
  auto c = parse(kMinimal + "gateway: { lan_interfaces: [eth1, br-lan.10] }\n");
  BOOST_REQUIRE_MESSAGE(c, (c ? "" : c.error().message));
  BOOST_REQUIRE(c->gateway);
  BOOST_TEST(c->gateway->lan_interfaces == (std::vector<std::string>{"eth1", "br-lan.10"}));
  BOOST_TEST(error(kMinimal + "gateway: [eth1]\n").starts_with("gateway: expected a map"));
  BOOST_TEST(error(kMinimal + "gateway: { lan_interface: [eth1] }\n").find("lan_interfaces") !=
             std::string::npos);
  BOOST_TEST(error(kMinimal + "gateway: { lan_interfaces: [\"eth1\\\"; flush ruleset\"] }\n")
                 .starts_with("gateway.lan_interfaces[0]: "));
  BOOST_TEST(error(kMinimal + "gateway: { lan_interfaces: [km0] }\n") ==
             "gateway.lan_interfaces[0]: \"km0\" is not a LAN interface");
  BOOST_TEST(error(kMinimal + "gateway: { lan_interfaces: [eth1, eth1] }\n") ==
             "gateway.lan_interfaces[1]: \"eth1\" is listed twice");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_CASE(flow_log_and_audit_syslog, Fixture) {
  auto c = parse(kMinimal + "audit_syslog: true\nflow_log: { enabled: true, max_per_second: 50 }\n");
  BOOST_REQUIRE_MESSAGE(c, (c ? "" : c.error().message));
  BOOST_TEST(c->audit_syslog);
  BOOST_TEST(c->flow_log.enabled);
  BOOST_TEST(c->flow_log.max_per_second == 50u);
  auto d = parse(kMinimal);
  BOOST_REQUIRE(d);
  BOOST_TEST(!d->audit_syslog);  // documented defaults: off, 1000 per second
  BOOST_TEST(!d->flow_log.enabled);
  BOOST_TEST(d->flow_log.max_per_second == 1000u);
  BOOST_TEST(error(kMinimal + "flow_log: { enabled: true }\n") ==
             "flow_log.enabled: flow records need a sink: set audit_log or audit_syslog");
  BOOST_TEST(error(kMinimal + "audit_log: a.jsonl\nflow_log: { enabled: yes }\n") ==
             "flow_log.enabled: expected true or false, got \"yes\"");
  BOOST_TEST(error(kMinimal + "audit_log: a.jsonl\nflow_log: { max_per_second: 0 }\n").starts_with(
      "flow_log.max_per_second:"));
  BOOST_TEST(error(kMinimal + "flow_log: { enable: true }\n").starts_with("flow_log: unknown key"));
}
