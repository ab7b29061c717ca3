// The operator's HTTP listener (config key metrics_listen, docs/metrics.md): GET /metrics,
// /healthz, /readyz over TCP, served by libmicrohttpd in its external-event-loop mode on the
// daemon's libuv loop, as the Docker plugin socket is (common/mhd_loop.h): each request is
// answered on the loop thread. So a reply reads the tunnel's state directly, and a loop that is stuck
// answers nothing at all: /healthz failing by timeout is the liveness signal.
//
// Only GET and HEAD (others: 405); request bodies are refused (413). At most
// kMaxConnections connections, idle ones closed after kIdleTimeoutSeconds.
//
// Threading: the loop thread only. The handler must not destroy the server.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "common/mhd_loop.h"
#include "udp/endpoint.h"

namespace keymesh::daemon {

struct MetricsReply {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class MetricsHttpServer {
 public:
  using Handler = std::function<MetricsReply(std::string_view path)>;

  static Result<std::unique_ptr<MetricsHttpServer>> start(uv_loop_t* loop,
                                                          const udp::Endpoint& address,
                                                          Handler handler);
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // The bound address (its port is the kernel's choice when the configured one was 0).
  const udp::Endpoint& address() const noexcept { return address_; }

 private:
  explicit MetricsHttpServer(Handler handler) : handler_(std::move(handler)) {}

  Handler handler_;
  udp::Endpoint address_;
  std::unique_ptr<MhdLoop> mhd_;

  friend struct MetricsHttpCallbacks;
};

}  // namespace keymesh::daemon
