// The JSON of Docker's remote network driver and IPAM plugin protocol (libnetwork's
// "remote" driver and "remote" IPAM, plugin API v1.2), as dockerd 20.10 sends it. Bodies
// observed from a real dockerd are recorded in docs/docker.md ("What dockerd sends");
// tests/unit/docker_protocol_test.cpp replays them.
//
// Parsing is strict about what the driver relies on (IDs, addresses, the types of the
// fields it reads) and lenient about the rest: dockerd adds keys across versions, and
// Options carry things the driver does not use (exposed ports, port maps). Each parse
// function takes the raw request body: empty means {} (dockerd sends no body for calls
// without arguments); anything else must be one JSON object of at most 1 MiB nested at most
// 32 deep. Errors name the field ("EndpointID: required"). No exceptions escape.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace keymesh::docker {

inline constexpr std::size_t kMaxBodyBytes = 1 << 20;
inline constexpr int kMaxBodyDepth = 32;
// What every reply says it is (dockerd's plugin client sends it as Accept).
inline constexpr const char* kContentType = "application/vnd.docker.plugins.v1.2+json";

// One reply to one plugin call.
struct HttpReply {
  int status = 200;
  std::string body;  // JSON
};

// Option values the driver reads are strings ("-o keymesh.groups=web"); other values
// (booleans, port lists) are skipped.
using StringOptions = std::map<std::string, std::string>;

// One IPv4Data/IPv6Data entry of CreateNetwork: what the IPAM driver handed out.
struct IpamData {
  std::string address_space;
  std::string pool;     // "100.64.1.0/24"
  std::string gateway;  // "169.254.1.1/32" ("" when none)
};

struct CreateNetwork {
  std::string network_id;
  StringOptions generic;     // Options["com.docker.network.generic"]: `docker network create -o`
  bool enable_ipv6 = false;  // Options["com.docker.network.enable_ipv6"]
  std::vector<IpamData> ipv4;
  std::vector<IpamData> ipv6;
};

// DeleteNetwork: only network_id. EndpointOperInfo, DeleteEndpoint, Leave,
// Program/RevokeExternalConnectivity: both IDs.
struct EndpointRef {
  std::string network_id;
  std::string endpoint_id;
};

struct CreateEndpoint {
  std::string network_id;
  std::string endpoint_id;
  std::string address;       // Interface.Address: "100.64.1.5/32" from the IPAM driver
  std::string address_ipv6;  // Interface.AddressIPv6
  std::string mac_address;   // Interface.MacAddress ("" unless --mac-address)
  StringOptions options;     // string-valued Options: `--driver-opt`s among them
};

struct Join {
  std::string network_id;
  std::string endpoint_id;
  std::string sandbox_key;   // "/var/run/docker/netns/4483acb33fbd"
  StringOptions options;
};

struct RequestPool {
  std::string address_space;
  std::string pool;      // --subnet, "" when not given
  std::string sub_pool;  // --ip-range
  StringOptions options;  // --ipam-opt
  bool v6 = false;
};

struct ReleasePool {
  std::string pool_id;
};

struct RequestAddress {
  std::string pool_id;
  std::string address;  // --ip (or --gateway), "" to allocate
  StringOptions options;  // RequestAddressType: com.docker.network.gateway for the gateway
};

struct ReleaseAddress {
  std::string pool_id;
  std::string address;  // without a prefix length: "100.64.1.5"
};

Result<CreateNetwork> parse_create_network(std::string_view body);
Result<EndpointRef> parse_network_ref(std::string_view body);  // endpoint_id stays ""
Result<EndpointRef> parse_endpoint_ref(std::string_view body);
Result<CreateEndpoint> parse_create_endpoint(std::string_view body);
Result<Join> parse_join(std::string_view body);
Result<RequestPool> parse_request_pool(std::string_view body);
Result<ReleasePool> parse_release_pool(std::string_view body);
Result<RequestAddress> parse_request_address(std::string_view body);
Result<ReleaseAddress> parse_release_address(std::string_view body);
// Calls without arguments: the body must be empty or a JSON object (contents ignored).
Result<void> parse_empty(std::string_view body);

// {"Err":"<message>"}: how the protocol reports every failure. Invalid UTF-8 in the
// message is replaced, so the reply always parses.
std::string error_body(std::string_view message);

}  // namespace keymesh::docker
