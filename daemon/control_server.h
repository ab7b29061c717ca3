// Control socket server: a Unix stream socket (mode 0600, parent directory created 0700)
// speaking length-prefixed Protobuf (proto/framing.h). Runs on the daemon's libuv loop;
// the handler is called on that loop's thread, one request at a time, and must not destroy
// the ControlServer (a "shutdown" request should defer that, e.g. with a uv_async_t).
//
// No client can hold the socket shut for others (docs/config.md, "Control socket"):
// - Deadline: each request must arrive complete within `request_deadline` of the connection
//   being accepted, or of the reply to its previous request being queued. Bytes that trickle
//   in do not extend it; a connection that misses it is closed (counted as timed_out). No
//   request streams replies, so no connection is exempt.
// - Slots: at most `max_connections` are open. A new connection is always admitted; when
//   every slot is taken, the server closes (evicts) one to make room: the one that has waited
//   longest among those of the process (SO_PEERCRED pid) holding the most connections. One
//   process opening many connections therefore only ever evicts its own.
// Closures are counted (stats()) and logged at most once per 10 s.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "common/result.h"
#include "control.pb.h"

namespace keymesh::daemon {

struct ControlLimits {
  std::chrono::milliseconds request_deadline{5000};
  std::size_t max_connections = 64;  // the CLI and the CNI plugin need one each, briefly
};

class ControlServer {
 public:
  using Handler = std::function<proto::Reply(const proto::Request&)>;

  // Removes a stale socket file at `path` (refuses if a live daemon answers on it).
  // Sets SIGPIPE to be ignored process-wide, so a client hanging up cannot kill the daemon.
  static Result<std::unique_ptr<ControlServer>> start(uv_loop_t* loop, const std::string& path,
                                                     Handler handler, ControlLimits limits = {});
  // Closes the listener and every client asynchronously (handles are freed in their close
  // callbacks) and unlinks the socket file. The loop must run afterwards to finish closing.
  ~ControlServer();

  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Connections and closures so far. Loop thread only (e.g. from the handler).
  proto::ControlSocketStatus stats() const;

  struct Impl;

 private:
  explicit ControlServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace keymesh::daemon
