// The CNI deletion queue, keymeshd's side (node/release_queue.h): releases that keymesh-cni
// recorded while keymeshd was down are applied when it starts, before the control socket
// serves anything, and then once a second (a DEL may have queued its release just as
// keymeshd came up). Applying one is WorkloadDel's work: the identity leaves the tunnel, its
// certificate is revoked and the address goes back to the pool.
//
// A WorkloadAdd for the same attachment forgets a queued release first (add_workload): the
// runtime's ADD came after its DEL, so the release is stale.
#include <chrono>

#include "common/log.h"
#include "daemon/daemon_impl.h"

namespace keymesh::daemon {
namespace {
constexpr std::uint64_t kReleaseCheckMillis = 1000;
// Where keymesh-cni's `release_dir` points by default (/var/lib/keymesh is the default state_dir).
std::string cni_release_dir(const Config& config) { return config.state_dir + "/cni-releases"; }
}  // namespace

void Daemon::Impl::open_release_queue() {
  if (!workloads) return;  // without a node CA there are no CNI workloads to release
  release_queue.emplace(cni_release_dir(config));
  apply_queued_releases();
  uv_timer_init(&loop, release_timer.get());
  release_timer.get()->data = this;
  uv_timer_start(
      release_timer.get(),
      [](uv_timer_t* h) { static_cast<Impl*>(h->data)->apply_queued_releases(); },
      kReleaseCheckMillis, kReleaseCheckMillis);
}

void Daemon::Impl::apply_queued_releases() {
  if (!release_queue || !workloads) return;
  auto pending = release_queue->pending();
  if (pending.malformed != 0)
    spdlog::warn("cni release queue {}: removed {} malformed record(s)", release_queue->dir(),
                 pending.malformed);
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       time.wall_now().time_since_epoch()).count();
  for (const node::Release& r : pending.releases) {
    auto removed = remove_workload(r.container_id, r.ifname);
    if (!removed) {
      // The store refused (disk full, locked): keep the record and try again next second.
      spdlog::error("cni release of {}/{} queued {} s ago: {}", r.container_id, r.ifname,
                    now - r.queued_at, removed.error().message);
      return;
    }
    release_queue->remove(r);
    spdlog::info("cni release of {}/{} applied (queued by DEL {} s ago while keymeshd was down; "
                 "{})", r.container_id, r.ifname, now - r.queued_at,
                 *removed ? "identity ended" : "keymeshd did not know it");
  }
}

}  // namespace keymesh::daemon
