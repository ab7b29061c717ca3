#include "common/mhd_loop.h"

#include <microhttpd.h>

namespace keymesh {

unsigned MhdLoop::start_flags() noexcept { return MHD_USE_EPOLL | MHD_USE_ERROR_LOG; }

Result<std::unique_ptr<MhdLoop>> MhdLoop::attach(uv_loop_t* loop, MHD_Daemon* mhd) {
  std::unique_ptr<MhdLoop> self(new MhdLoop(mhd));
  const MHD_DaemonInfo* info = MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_EPOLL_FD);
  if (info == nullptr) return fail("libmicrohttpd gave no epoll descriptor");
  uv_poll_init(loop, self->poll_.get(), info->epoll_fd);
  self->poll_.get()->data = self.get();
  uv_poll_start(self->poll_.get(), UV_READABLE,
                [](uv_poll_t* h, int, int) { static_cast<MhdLoop*>(h->data)->run(); });
  uv_timer_init(loop, self->timer_.get());
  self->timer_.get()->data = self.get();
  self->run();
  return self;
}

void MhdLoop::run() {
  MHD_run(mhd_);
  MHD_UNSIGNED_LONG_LONG ms = 0;
  if (MHD_get_timeout(mhd_, &ms) == MHD_YES)
    uv_timer_start(timer_.get(), [](uv_timer_t* h) { static_cast<MhdLoop*>(h->data)->run(); },
                   std::uint64_t(ms), 0);
  else
    uv_timer_stop(timer_.get());
}

MhdLoop::~MhdLoop() {
  poll_.reset();  // stop watching MHD's epoll fd before MHD closes it
  timer_.reset();
  MHD_stop_daemon(mhd_);
}

}  // namespace keymesh
