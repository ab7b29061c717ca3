// HTTP/1.1 on a Unix socket for dockerd's plugin calls (POST /NetworkDriver.Join, ...),
// served by libmicrohttpd in its external-event-loop mode on the daemon's libuv loop
// (common/mhd_loop.h). So there is no server thread: each
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
#include "common/mhd_loop.h"
#include "docker/docker_messages.h"

namespace keymesh::docker {

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
  docker::HttpReply answer(std::string_view method, std::string_view path, Request& request);

  std::string path_;
  Handler handler_;
  dev_t dev_ = 0;  // the socket file we bound, so that we unlink only our own
  ino_t ino_ = 0;
  std::unique_ptr<MhdLoop> mhd_;

  friend struct DockerHttpCallbacks;
};

}  // namespace keymesh::docker
