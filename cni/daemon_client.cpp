#include "cni/daemon_client.h"

namespace keymesh::cni {

DaemonClient::DaemonClient(std::string socket_path, std::chrono::milliseconds timeout)
    : socket_path_(std::move(socket_path)), timeout_(timeout) {}

CniResult<proto::Reply> DaemonClient::call(const proto::Request& request, const char* what,
                                           proto::Reply::KindCase expected) {
  if (!client_) {
    auto c = ctl::ControlClient::connect(socket_path_, timeout_);
    if (!c) return cni_fail(Code::kTryAgainLater, std::string(what) + ": " + c.error().message);
    client_.emplace(std::move(*c));
  }
  auto reply = client_->call(request);
  if (!reply) {
    client_.reset();
    return cni_fail(Code::kTryAgainLater, std::string(what) + ": " + reply.error().message);
  }
  if (!reply->error().empty()) {
    if (reply->try_again())
      return cni_fail(Code::kTryAgainLater,
                      std::string(what) + ": keymeshd is not ready: " + reply->error());
    return cni_fail(Code::kDaemonRefused,
                    std::string(what) + ": keymeshd refused: " + reply->error());
  }
  if (reply->kind_case() != expected)
    return cni_fail(Code::kDaemonRefused,
                    std::string(what) + ": keymeshd sent an unexpected reply (an older daemon?)");
  return std::move(*reply);
}

CniResult<proto::ReadyReply> DaemonClient::ready() {
  proto::Request req;
  req.mutable_ready();
  auto reply = call(req, "ready", proto::Reply::kReady);
  if (!reply) return std::unexpected(reply.error());
  return reply->ready();
}

CniResult<proto::WorkloadInfo> DaemonClient::workload_add(const proto::WorkloadAddRequest& request) {
  proto::Request req;
  *req.mutable_workload_add() = request;
  auto reply = call(req, "workload add", proto::Reply::kWorkloadAdd);
  if (!reply) return std::unexpected(reply.error());
  return reply->workload_add().workload();
}

CniResult<bool> DaemonClient::workload_del(const std::string& container_id,
                                           const std::string& ifname) {
  proto::Request req;
  req.mutable_workload_del()->set_container_id(container_id);
  req.mutable_workload_del()->set_ifname(ifname);
  auto reply = call(req, "workload del", proto::Reply::kWorkloadDel);
  if (!reply) return std::unexpected(reply.error());
  return reply->workload_del().existed();
}

CniResult<std::vector<proto::WorkloadInfo>> DaemonClient::workload_list() {
  proto::Request req;
  req.mutable_workload_list();
  auto reply = call(req, "workload list", proto::Reply::kWorkloadList);
  if (!reply) return std::unexpected(reply.error());
  const auto& w = reply->workload_list().workloads();
  return std::vector<proto::WorkloadInfo>(w.begin(), w.end());
}

CniResult<std::vector<proto::WorkloadInfo>> DaemonClient::workload_gc(
    const std::vector<Attachment>& keep, const std::string& front_door) {
  proto::Request req;
  auto* gc = req.mutable_workload_gc();
  gc->set_front_door(front_door);
  for (const auto& a : keep) {
    auto* k = gc->add_keep();
    k->set_container_id(a.container_id);
    k->set_ifname(a.ifname);
  }
  auto reply = call(req, "workload gc", proto::Reply::kWorkloadGc);
  if (!reply) return std::unexpected(reply.error());
  const auto& r = reply->workload_gc().removed();
  return std::vector<proto::WorkloadInfo>(r.begin(), r.end());
}

}  // namespace keymesh::cni
