// keymesh-cni's view of keymeshd: the control-socket calls it makes (proto/control.proto),
// with failures mapped to CNI error codes:
//   cannot connect, no reply, or a reply with try_again  -> 11 (kTryAgainLater)
//   a reply with an error and no try_again               -> 101 (kDaemonRefused)
// One connection, opened on first use and reopened after a failure. Blocking; each call is
// bounded by the timeout given at construction.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "cni/config.h"
#include "cni/error.h"
#include "control.pb.h"
#include "ctl/control_client.h"

namespace keymesh::cni {

class DaemonClient {
 public:
  DaemonClient(std::string socket_path, std::chrono::milliseconds timeout);

  CniResult<proto::ReadyReply> ready();
  CniResult<proto::WorkloadInfo> workload_add(const proto::WorkloadAddRequest& request);
  // true when the daemon knew the workload (DEL is idempotent either way).
  CniResult<bool> workload_del(const std::string& container_id, const std::string& ifname);
  CniResult<std::vector<proto::WorkloadInfo>> workload_list();
  // Removes every workload of `front_door` not in `keep`; returns the removed ones.
  CniResult<std::vector<proto::WorkloadInfo>> workload_gc(const std::vector<Attachment>& keep,
                                                          const std::string& front_door);

 private:
  // The reply (without error) or the mapped failure; `what` names the call in messages.
  CniResult<proto::Reply> call(const proto::Request& request, const char* what,
                               proto::Reply::KindCase expected);

  std::string socket_path_;
  std::chrono::milliseconds timeout_;
  std::optional<ctl::ControlClient> client_;
};

}  // namespace keymesh::cni
