#include "daemon/docker_front_door.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <climits>

#include "plumbing/attach.h"
#include "daemon/daemon_impl.h"
#include "docker/docker_driver.h"
#include "docker/docker_http.h"
#include "net/netlink.h"

namespace keymesh::daemon {

namespace {

class DaemonHooks final : public docker::DockerHooks {
 public:
  DaemonHooks(Daemon::Impl& daemon, net::Netlink netlink)
      : daemon_(daemon), netlink_(std::move(netlink)) {}

  Result<const node::Workload*> add_workload(const node::WorkloadSpec& spec) override {
    return daemon_.add_workload(spec);
  }
  Result<bool> remove_workload(const std::string& container_id,
                               const std::string& ifname) override {
    return daemon_.remove_workload(container_id, ifname);
  }

  Result<void> plumb(const docker::DockerPlumbing& p) override {
    // Veths of these names are leftovers of this endpoint (a Leave that never came, or a
    // peer dockerd never took): replace them.
    for (const auto& name : {p.host_ifname, p.peer_ifname})
      if (auto r = remove_veth(name); !r) return r;
    if (auto r = netlink_.create_veth(p.host_ifname, p.peer_ifname, -1, p.mtu); !r) return r;
    auto done = [&]() -> Result<void> {
      auto host = netlink_.link(p.host_ifname);
      if (!host) return std::unexpected(host.error());
      if (!*host) return fail("veth " + p.host_ifname + " vanished after it was created");
      if (auto r = netlink_.set_alias((*host)->index, plumbing::format_tag(p.tag)); !r) return r;
      return plumbing::setup_host_side(netlink_, {p.host_ifname, p.address,
                                             daemon_.config.interface_name});
    }();
    if (!done) (void)plumbing::teardown_host_side(netlink_, p.host_ifname);
    return done;
  }

  Result<void> unplumb(const std::string& host_ifname) override {
    return plumbing::teardown_host_side(netlink_, host_ifname);
  }

  Result<void> route_into_tun() override {
    return plumbing::route_into_tun(netlink_, daemon_.config.interface_name);
  }

  int mtu() override { return daemon_.mtu; }

  std::string hostname() override {
    char name[HOST_NAME_MAX + 1] = {};
    if (::gethostname(name, sizeof name - 1) != 0) return {};
    return name;
  }

 private:
  Result<void> remove_veth(const std::string& name) {
    auto link = netlink_.link(name);
    if (!link) return std::unexpected(link.error());
    if (!*link) return {};
    spdlog::warn("docker: removing leftover {} before creating it again", name);
    return plumbing::teardown_host_side(netlink_, name);
  }

  Daemon::Impl& daemon_;
  net::Netlink netlink_;
};

}  // namespace

struct DockerFrontDoor::Parts {
  std::unique_ptr<DaemonHooks> hooks;
  std::unique_ptr<docker::DockerDriver> driver;
  std::unique_ptr<docker::DockerHttpServer> http;
};

DockerFrontDoor::DockerFrontDoor(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

DockerFrontDoor::~DockerFrontDoor() {
  // The socket first: no call may reach a driver that is going away.
  parts_->http.reset();
  parts_->driver.reset();
  parts_->hooks.reset();
}

Result<std::unique_ptr<DockerFrontDoor>> DockerFrontDoor::start(Daemon::Impl& daemon,
                                                                const DockerConfig& config) {
  if (!daemon.workloads)
    return fail("docker: needs node_ca (the driver mints an identity for each container)");
  auto netlink = net::Netlink::open();
  if (!netlink) return fail("docker: " + netlink.error().message);
  auto parts = std::make_unique<Parts>();
  parts->hooks = std::make_unique<DaemonHooks>(daemon, std::move(*netlink));
  parts->driver = std::make_unique<docker::DockerDriver>(*daemon.workloads, *parts->hooks);
  if (auto r = parts->driver->restore(); !r) return std::unexpected(r.error());
  docker::DockerDriver* driver = parts->driver.get();
  auto http = docker::DockerHttpServer::start(
      &daemon.loop, config.socket,
      [driver](std::string_view path, std::string_view body) { return driver->handle(path, body); });
  if (!http) return fail("docker: " + http.error().message);
  parts->http = std::move(*http);
  return std::unique_ptr<DockerFrontDoor>(new DockerFrontDoor(std::move(parts)));
}

}  // namespace keymesh::daemon
