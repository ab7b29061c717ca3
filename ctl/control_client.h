// Client side of the control socket (proto/control.proto): connect to keymeshd, send one
// Request, wait for its Reply. Blocking, with a deadline per call; for the CLI and tests.
// Not thread-safe: one call at a time per client.
#pragma once

#include <chrono>
#include <string>

#include "common/result.h"
#include "control.pb.h"

namespace keymesh::ctl {

inline constexpr auto kDefaultControlTimeout = std::chrono::seconds(5);

class ControlClient {
 public:
  // Error text reads "cannot reach keymeshd at PATH: <reason> (is keymeshd running?)" when
  // nothing listens there.
  static Result<ControlClient> connect(const std::string& path,
                                       std::chrono::milliseconds timeout = kDefaultControlTimeout);

  // Sends `request` and returns the daemon's reply (which may carry reply.error()). Fails on
  // a broken connection or when no reply arrives within the timeout; the connection is then
  // unusable. Reconnects first when the daemon has closed this connection as idle, and sends
  // once more on a new connection when the daemon closed it without reading the request
  // (both are safe: the daemon never saw the request).
  Result<proto::Reply> call(const proto::Request& request);
  // The same with raw payload bytes (tests use it to send malformed requests).
  Result<proto::Reply> call_raw(const std::string& payload);

  ControlClient(ControlClient&& other) noexcept;
  ControlClient& operator=(ControlClient&& other) noexcept;
  ControlClient(const ControlClient&) = delete;
  ControlClient& operator=(const ControlClient&) = delete;
  ~ControlClient();

 private:
  ControlClient(int fd, std::string path, std::chrono::milliseconds timeout);
  // One send and one reply on the current connection.
  Result<proto::Reply> exchange(const std::string& payload);
  int fd_ = -1;
  bool unconsumed_ = false;  // the last exchange failed with the request not read by the daemon
  std::string path_;
  std::chrono::milliseconds timeout_;
};

// Connects, sends one request and returns the reply; a reply carrying an error becomes an
// error ("keymeshd: <message>"). For commands that ask one thing.
Result<proto::Reply> ask_daemon(const std::string& socket, const proto::Request& request,
                                std::chrono::milliseconds timeout = kDefaultControlTimeout);

inline constexpr char kDefaultControlSocket[] = "/run/keymesh/keymesh.sock";

}  // namespace keymesh::ctl
