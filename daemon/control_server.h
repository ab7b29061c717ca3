// Control socket server: a Unix stream socket (mode 0600, parent directory created 0700)
// speaking length-prefixed Protobuf (proto/framing.h). Runs on the daemon's libuv loop;
// the handler is called on that loop's thread, one request at a time, and must not destroy
// the ControlServer (a "shutdown" request should defer that, e.g. with a uv_async_t).
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>

#include "common/result.h"
#include "control.pb.h"

namespace keymesh::daemon {

class ControlServer {
 public:
  using Handler = std::function<proto::Reply(const proto::Request&)>;

  // Removes a stale socket file at `path` (refuses if a live daemon answers on it).
  // Sets SIGPIPE to be ignored process-wide, so a client hanging up cannot kill the daemon.
  static Result<std::unique_ptr<ControlServer>> start(uv_loop_t* loop, const std::string& path,
                                                     Handler handler);
  // Closes the listener and every client asynchronously (handles are freed in their close
  // callbacks) and unlinks the socket file. The loop must run afterwards to finish closing.
  ~ControlServer();

  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  struct Impl;

 private:
  explicit ControlServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace keymesh::daemon
