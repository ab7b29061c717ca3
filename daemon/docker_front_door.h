// keymeshd's Docker front door (config key `docker:`): the plugin socket (docker::DockerHttpServer),
// the driver (docker::DockerDriver), and the driver's hooks into this daemon — workloads through the
// same code as the control socket's WorkloadAdd/Del, veths and routes through km_attach
// (shared with keymesh-cni) on one rtnetlink socket in keymeshd's network namespace.
//
// Built by the composition root after the control server, destroyed before the loop's
// last run. Threading: the loop thread only.
#pragma once

#include <memory>

#include "common/result.h"
#include "daemon/config.h"
#include "daemon/daemon.h"

namespace keymesh::daemon {

class DockerFrontDoor {
 public:
  // Needs the daemon's workload store (node_ca). Restores the driver's state (table 7300
  // into the new TUN), then listens on config.socket.
  static Result<std::unique_ptr<DockerFrontDoor>> start(Daemon::Impl& daemon,
                                                        const DockerConfig& config);
  ~DockerFrontDoor();

  struct Parts;

 private:
  explicit DockerFrontDoor(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace keymesh::daemon
