// The Docker remote network driver and IPAM driver (docs/architecture.md, docs/docker.md):
//
//   docker network create -d keymesh --ipam-driver keymesh -o keymesh.groups=web net1
//   docker run --network net1 ...
//
// dockerd calls, in this order (docs/docker.md, "What dockerd sends", has the JSON):
//   IpamDriver.RequestPool      -> 0.0.0.0/0 (or the node's pool when --subnet names it; the
//                                  addresses come from it either way), gateway 169.254.1.1
//   NetworkDriver.CreateNetwork -> the network's identity template, groups, labels: stored
//   IpamDriver.RequestAddress   -> an address reserved from the node's pool
//   NetworkDriver.CreateEndpoint-> the workload: identity minted by the node CA for that
//                                  address (WorkloadAdd, front door "docker"), stored
//   NetworkDriver.Join          -> the routed veth (host side into km0, as keymesh-cni does);
//                                  dockerd moves the other end into the container as ethN,
//                                  with the address, and routes via 169.254.1.1
//   Leave, DeleteEndpoint, IpamDriver.ReleaseAddress, DeleteNetwork, ReleasePool: the reverse.
//
// Who holds an address: Docker from RequestAddress to ReleaseAddress, as a reservation in the
// workload store; the workload from CreateEndpoint to DeleteEndpoint (the reservation turns
// into the workload and back). So no other front door (CNI) can be handed it meanwhile.
//
// Networks and endpoints are kept in the node state database (kv namespaces
// kNetworkNamespace, kEndpointNamespace): dockerd does not replay CreateNetwork or
// CreateEndpoint after the plugin restarts, so a restart of keymeshd must lose nothing. The
// veths are kernel objects and outlive keymeshd; restore() re-routes table 7300 into the new
// TUN.
//
// Every handler is idempotent where dockerd may repeat it (Leave, DeleteEndpoint,
// ReleaseAddress, DeleteNetwork after a crash or a restart of either side), and reports
// failures as {"Err": "..."} with a message naming what to change.
//
// Threading: the daemon's loop thread only (it owns the workload store and the tunnel).
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "plumbing/attach.h"
#include "common/ip.h"
#include "common/result.h"
#include "docker/docker_messages.h"
#include "node/workloads.h"

namespace keymesh::docker {

inline constexpr std::string_view kNetworkNamespace = "docker.network";
inline constexpr std::string_view kEndpointNamespace = "docker.endpoint";
// The address spaces GetDefaultAddressSpaces names; CreateNetwork refuses other IPAM data.
inline constexpr std::string_view kLocalAddressSpace = "keymesh-local";
inline constexpr std::string_view kGlobalAddressSpace = "keymesh-global";
// The workload's attachment is (EndpointID, kDockerIfname): dockerd names the interface
// (DstPrefix + index: eth0, eth1, ...) after Join and never tells the driver.
inline constexpr std::string_view kDockerIfname = "eth";

// A veth whose two ends start in the host namespace; dockerd moves `peer_ifname` into the
// container after Join.
struct DockerPlumbing {
  std::string host_ifname;  // "km" + 13 hex (plumbing::host_veth_name(EndpointID, "eth"))
  std::string peer_ifname;  // "kt" + the same 13 hex
  IpPrefix address;         // the workload's /32
  int mtu = 0;
  plumbing::AttachmentTag tag;   // {"docker", NetworkID, EndpointID, "eth"}
};

// What the driver needs from the rest of keymeshd and from the kernel.
class DockerHooks {
 public:
  virtual ~DockerHooks() = default;
  // WorkloadAdd / WorkloadDel as the control socket serves them (the identity goes into
  // the tunnel, or is taken out of it).
  virtual Result<const node::Workload*> add_workload(const node::WorkloadSpec& spec) = 0;
  virtual Result<bool> remove_workload(const std::string& container_id,
                                       const std::string& ifname) = 0;
  // The veth pair, its tag, and the host side (plumbing::setup_host_side). Leaves nothing behind
  // on failure.
  virtual Result<void> plumb(const DockerPlumbing& plumbing) = 0;
  // The rule and the veth (the container end goes with it). Absent: not an error.
  virtual Result<void> unplumb(const std::string& host_ifname) = 0;
  // Table 7300's default route into the TUN (gone when the TUN was recreated).
  virtual Result<void> route_into_tun() = 0;
  virtual int mtu() = 0;
  virtual std::string hostname() = 0;
};

class DockerDriver {
 public:
  // `store` and `hooks` must outlive the driver.
  DockerDriver(node::WorkloadStore& store, DockerHooks& hooks);

  // After a restart: re-routes into the TUN and logs endpoints that lost their workload.
  Result<void> restore();

  // One plugin call: `path` is the request path ("/NetworkDriver.Join"), `body` the raw
  // request body. Unknown paths: 404. Malformed bodies: 400. Refusals: 500. All with
  // {"Err": ...}.
  docker::HttpReply handle(std::string_view path, std::string_view body);

  // Variables of identity templates for one endpoint (docs/docker.md): ENDPOINT_ID,
  // ENDPOINT_ID_SHORT, NETWORK_ID, NETWORK_ID_SHORT, HOSTNAME.
  static constexpr std::string_view kDefaultIdentity = "docker-${ENDPOINT_ID_SHORT}";

  // A handler's reply body, or the HTTP status and message of its failure.
  struct Failure {
    int status;
    std::string message;
  };
  using Reply = std::expected<std::string, Failure>;

 private:
  struct Network;
  struct Endpoint;

  Reply activate(std::string_view body);
  Reply capabilities(std::string_view body);
  Reply create_network(std::string_view body);
  Reply delete_network(std::string_view body);
  Reply create_endpoint(std::string_view body);
  Reply endpoint_info(std::string_view body);
  Reply delete_endpoint(std::string_view body);
  Reply join(std::string_view body);
  Reply leave(std::string_view body);
  Reply acknowledge(std::string_view body);  // calls that need nothing done
  Reply ipam_capabilities(std::string_view body);
  Reply address_spaces(std::string_view body);
  Reply request_pool(std::string_view body);
  Reply release_pool(std::string_view body);
  Reply request_address(std::string_view body);
  Reply release_address(std::string_view body);

  Result<std::optional<Network>> load_network(const std::string& id) const;
  Result<std::optional<Endpoint>> load_endpoint(const std::string& id) const;
  Result<void> save_endpoint(const std::string& id, const Endpoint& e);
  // DeleteEndpoint's work, also for endpoints DeleteNetwork finds left over.
  Result<void> remove_endpoint(const std::string& endpoint_id, const Endpoint& e,
                               bool keep_address_for_docker);
  std::string pool_id() const;

  node::WorkloadStore& store_;
  DockerHooks& hooks_;
};

}  // namespace keymesh::docker
