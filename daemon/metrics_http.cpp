#include "daemon/metrics_http.h"

#include <microhttpd.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>

#include "common/files.h"

namespace keymesh::daemon {

namespace {

// A scrape takes milliseconds; Prometheus keeps its connection open between scrapes.
constexpr unsigned kIdleTimeoutSeconds = 60;
// A Prometheus or two, the kubelet's probes, an operator's curl.
constexpr unsigned kMaxConnections = 16;
constexpr int kListenBacklog = 16;

Result<int> listen_tcp(const udp::Endpoint& address) {
  sockaddr_storage storage{};
  const socklen_t length = address.to_sockaddr(storage);
  const int fd = ::socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return fail("socket: " + errno_text(errno));
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&storage), length) != 0 ||
      ::listen(fd, kListenBacklog) != 0) {
    const int e = errno;
    ::close(fd);
    return fail("cannot listen on " + address.to_string() + ": " + errno_text(e));
  }
  return fd;
}

}  // namespace

// The C callbacks; `cls` is the server. No exception may unwind through them.
struct MetricsHttpCallbacks {
  static MHD_Result on_request(void* cls, MHD_Connection* connection, const char* url,
                               const char* method, const char* /*version*/,
                               const char* /*upload_data*/, std::size_t* upload_size,
                               void** con_cls) {
    auto* self = static_cast<MetricsHttpServer*>(cls);
    static int first_call_marker;
    if (*con_cls == nullptr) {  // headers are in; answer at the next call
      *con_cls = &first_call_marker;
      return MHD_YES;
    }
    try {
      MetricsReply reply;
      const std::string_view m(method);
      if (*upload_size != 0) {
        *upload_size = 0;
        reply = {413, "text/plain; charset=utf-8", "request bodies are not accepted\n"};
      } else if (m != "GET" && m != "HEAD") {
        reply = {405, "text/plain; charset=utf-8", "only GET and HEAD\n"};
      } else {
        reply = self->handler_(url);
      }
      MHD_Response* response = MHD_create_response_from_buffer(
          reply.body.size(), reply.body.data(), MHD_RESPMEM_MUST_COPY);
      if (response == nullptr) return MHD_NO;
      MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, reply.content_type.c_str());
      if (reply.status == 405) MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
      const MHD_Result queued = MHD_queue_response(connection, unsigned(reply.status), response);
      MHD_destroy_response(response);
      return queued;
    } catch (const std::exception& e) {
      spdlog::error("metrics listener: {} {}: {}", method, url, e.what());
      return MHD_NO;
    }
  }

  static void on_log(void*, const char* format, va_list ap) {
    char text[512];
    std::vsnprintf(text, sizeof text, format, ap);
    std::string_view line(text);
    while (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    spdlog::debug("metrics listener: {}", line);
  }
};

Result<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::start(uv_loop_t* loop,
                                                                    const udp::Endpoint& address,
                                                                    Handler handler) {
  auto fd = listen_tcp(address);
  if (!fd) return std::unexpected(fd.error());
  std::unique_ptr<MetricsHttpServer> self(new MetricsHttpServer(std::move(handler)));
  sockaddr_storage bound{};
  socklen_t length = sizeof bound;
  self->address_ = address;
  if (::getsockname(*fd, reinterpret_cast<sockaddr*>(&bound), &length) == 0)
    self->address_ = udp::Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&bound));
  MHD_Daemon* mhd = MHD_start_daemon(
      MhdLoop::start_flags(), 0, nullptr, nullptr, &MetricsHttpCallbacks::on_request,
      self.get(), MHD_OPTION_EXTERNAL_LOGGER, &MetricsHttpCallbacks::on_log, self.get(),
      MHD_OPTION_LISTEN_SOCKET, MHD_socket(*fd), MHD_OPTION_CONNECTION_TIMEOUT,
      kIdleTimeoutSeconds, MHD_OPTION_CONNECTION_LIMIT, kMaxConnections, MHD_OPTION_END);
  if (mhd == nullptr) {
    ::close(*fd);
    return fail("libmicrohttpd could not serve " + address.to_string());
  }
  auto on_loop = MhdLoop::attach(loop, mhd);
  if (!on_loop) return std::unexpected(on_loop.error());
  self->mhd_ = std::move(*on_loop);
  spdlog::info("metrics, health and readiness on http://{}/", self->address_.to_string());
  return self;
}

MetricsHttpServer::~MetricsHttpServer() = default;

}  // namespace keymesh::daemon
