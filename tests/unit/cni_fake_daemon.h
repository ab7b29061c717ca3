// A stand-in for keymeshd's workload requests, for keymesh-cni tests: Ready, WorkloadAdd/Del/
// List/Gc answered from an in-memory map, addresses 100.64.7.2, .3, ... (never reused), gateway
// 169.254.1.1, MTU 1400, interface km0. Every request is appended to log() as one line
// ("add ID/IF identity=NAME", "del ID/IF", "list", "gc keep=N", "ready") so tests can assert
// what the plugin told the daemon. Thread-safe (the handler runs on the server's thread).
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "control.pb.h"

namespace keymesh::test {

class FakeWorkloadDaemon {
 public:
  proto::Reply handle(const proto::Request& request) {
    std::lock_guard lock(mutex_);
    proto::Reply reply;
    switch (request.kind_case()) {
      case proto::Request::kReady: {
        log_.push_back("ready");
        auto* r = reply.mutable_ready();
        r->set_ready(ready_);
        r->set_reason(ready_ ? "" : "starting");
        r->set_mtu(1400);
        r->set_interface(interface_);
        break;
      }
      case proto::Request::kWorkloadAdd: {
        const auto& a = request.workload_add();
        log_.push_back("add " + a.container_id() + "/" + a.ifname() + " identity=" + a.identity());
        if (!ready_) {
          reply.set_error("keymeshd is starting");
          reply.set_try_again(true);
          break;
        }
        if (!refuse_.empty()) {
          reply.set_error(refuse_);
          break;
        }
        auto& w = workloads_[{a.container_id(), a.ifname()}];
        if (w.address().empty()) w.set_address("100.64.7." + std::to_string(next_++) + "/32");
        w.set_container_id(a.container_id());
        w.set_ifname(a.ifname());
        w.set_netns(a.netns());
        w.set_gateway("169.254.1.1");
        w.set_mtu(1400);
        w.set_interface(interface_);
        w.set_front_door(a.front_door());
        w.mutable_identity()->set_name(a.identity());
        w.mutable_identity()->set_kind("workload");
        for (const auto& g : a.groups()) w.mutable_identity()->add_groups(g);
        for (const auto& [k, v] : a.labels()) (*w.mutable_identity()->mutable_labels())[k] = v;
        *reply.mutable_workload_add()->mutable_workload() = w;
        break;
      }
      case proto::Request::kWorkloadDel: {
        const auto& d = request.workload_del();
        log_.push_back("del " + d.container_id() + "/" + d.ifname());
        reply.mutable_workload_del()->set_existed(
            workloads_.erase({d.container_id(), d.ifname()}) > 0);
        break;
      }
      case proto::Request::kWorkloadList: {
        log_.push_back("list");
        auto* l = reply.mutable_workload_list();
        for (const auto& [key, w] : workloads_) *l->add_workloads() = w;
        break;
      }
      case proto::Request::kWorkloadGc: {
        const auto& g = request.workload_gc();
        log_.push_back("gc keep=" + std::to_string(g.keep_size()));
        std::map<std::pair<std::string, std::string>, bool> keep;
        for (const auto& k : g.keep()) keep[{k.container_id(), k.ifname()}] = true;
        auto* r = reply.mutable_workload_gc();
        for (auto it = workloads_.begin(); it != workloads_.end();) {
          if (it->second.front_door() == g.front_door() && !keep.contains(it->first)) {
            *r->add_removed() = it->second;
            it = workloads_.erase(it);
          } else {
            ++it;
          }
        }
        break;
      }
      default:
        reply.set_error("the fake daemon does not answer this request");
    }
    return reply;
  }

  void set_ready(bool ready) { std::lock_guard lock(mutex_); ready_ = ready; }
  void set_refuse(std::string error) { std::lock_guard lock(mutex_); refuse_ = std::move(error); }
  // The TUN name Ready and WorkloadAdd report (STATUS checks that it exists).
  void set_interface(std::string name) { std::lock_guard lock(mutex_); interface_ = std::move(name); }
  std::vector<std::string> log() const { std::lock_guard lock(mutex_); return log_; }
  std::size_t workload_count() const { std::lock_guard lock(mutex_); return workloads_.size(); }

 private:
  mutable std::mutex mutex_;
  bool ready_ = true;
  std::string refuse_;
  std::string interface_ = "km0";
  int next_ = 2;
  std::map<std::pair<std::string, std::string>, proto::WorkloadInfo> workloads_;
  std::vector<std::string> log_;
};

}  // namespace keymesh::test
