// MhdLoop: one libmicrohttpd daemon driven by the daemon's libuv loop, in libmicrohttpd's
// external-event-loop epoll mode (MHD_USE_EPOLL without a thread flag). libmicrohttpd keeps
// its sockets in an epoll set of its own; we watch that set's single fd with a uv_poll and
// cover its connection timeouts with a uv_timer, so there is no server thread and every
// request handler runs on the loop thread. Used by the Docker plugin socket
// (docker/docker_http.cpp) and the metrics listener (daemon/metrics_http.cpp).
//
// Ownership: takes the started MHD daemon and stops it when destroyed, after it stopped
// watching the epoll fd (MHD closes that fd). Threading: the loop thread only.
#pragma once

#include <uv.h>

#include <memory>

#include "common/result.h"
#include "common/uv_handle.h"

struct MHD_Daemon;

namespace keymesh {

class MhdLoop {
 public:
  // The flags to start an MHD daemon with for this mode (no polling thread).
  static unsigned start_flags() noexcept;
  // Watches `mhd` (started with start_flags()) on `loop` and runs it once. On error `mhd` is
  // stopped. `mhd` must not be null.
  static Result<std::unique_ptr<MhdLoop>> attach(uv_loop_t* loop, MHD_Daemon* mhd);
  ~MhdLoop();
  MhdLoop(const MhdLoop&) = delete;
  MhdLoop& operator=(const MhdLoop&) = delete;

 private:
  explicit MhdLoop(MHD_Daemon* mhd) : mhd_(mhd) {}
  // Lets libmicrohttpd do what is ready, then re-arms the timer to its next deadline.
  void run();

  MHD_Daemon* mhd_;
  UvHandle<uv_poll_t> poll_;
  UvHandle<uv_timer_t> timer_;
};

}  // namespace keymesh
