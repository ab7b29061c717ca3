// HTTP/1.1 on a Unix socket for dockerd's plugin calls (POST /NetworkDriver.Join, ...),
// served by libmicrohttpd in its external-event-loop mode on the daemon's libuv loop:
// libmicrohttpd keeps its sockets in an epoll set of its own, whose single fd we watch with
// a uv_poll; a uv_timer covers its connection timeouts. So there is no server thread: each
// request's handler runs on the loop thread, the thread that owns the tunnel and the node
// state, and nothing is marshalled or locked.
//
// Requests: any path; the body is collected whole (at most docker::kMaxBodyBytes, else 413)
// and handed over with the path once complete. Only POST is served (others: 405). Replies
// carry Content-Type application/vnd.docker.plugins.v1.2+json. dockerd keeps connections
// alive between calls; idle ones close after two minutes.
//
// The socket file is created 0600 (dockerd runs as root), its directory when missing; a
// stale socket is replaced, a live one (another process answers on it) is an error. It is
// removed when the server is destroyed.
//
// Threading: the loop thread only. The handler must not destroy the server.
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "common/uv_handle.h"
#include "daemon/docker_messages.h"

struct MHD_Daemon;

namespace keymesh::daemon {

class DockerHttpServer {
 public:
  using Handler = std::function<docker::HttpReply(std::string_view path, std::string_view body)>;

  static Result<std::unique_ptr<DockerHttpServer>> start(uv_loop_t* loop,
                                                         const std::string& socket_path,
                                                         Handler handler);
  ~DockerHttpServer();
  DockerHttpServer(const DockerHttpServer&) = delete;
  DockerHttpServer& operator=(const DockerHttpServer&) = delete;

  const std::string& socket_path() const noexcept { return path_; }

  struct Request;  // internal: one request's body as it arrives

 private:
  DockerHttpServer(std::string path, Handler handler)
      : path_(std::move(path)), handler_(std::move(handler)) {}
  // Lets libmicrohttpd do what is ready, then re-arms the timer to its next deadline.
  void run();
  docker::HttpReply answer(std::string_view method, std::string_view path, Request& request);

  std::string path_;
  Handler handler_;
  MHD_Daemon* mhd_ = nullptr;
  dev_t dev_ = 0;  // the socket file we bound, so that we unlink only our own
  ino_t ino_ = 0;
  UvHandle<uv_poll_t> poll_;
  UvHandle<uv_timer_t> timer_;

  friend struct DockerHttpCallbacks;
};

}  // namespace keymesh::daemon
