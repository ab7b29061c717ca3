#include "docker/docker_http.h"

#include "common/unix_socket.h"

#include <microhttpd.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "common/files.h"

namespace keymesh::docker {

namespace {

constexpr unsigned kIdleTimeoutSeconds = 120;
// dockerd opens one connection per plugin client and reuses it; a few spare for the CLI's
// concurrent commands.
constexpr unsigned kMaxConnections = 32;
constexpr int kListenBacklog = 32;

Result<int> listen_unix(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path)
    return fail("docker.socket must be 1-" + std::to_string(sizeof addr.sun_path - 1) +
                " bytes long");
  std::memcpy(addr.sun_path, path.data(), path.size());
  std::error_code ec;
  const auto dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  if (ec) return fail("cannot create " + dir.string() + ": " + ec.message());
  if (auto r = remove_stale_socket(
          path, addr, "another process is already serving the Docker plugin socket " + path);
      !r)
    return std::unexpected(r.error());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return fail("socket: " + errno_text(errno));
  // Created 0600 from the start (the umask covers bind), not tightened afterwards.
  const mode_t old = ::umask(0177);
  const int rc = ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  const int err = errno;
  ::umask(old);
  if (rc != 0 || ::listen(fd, kListenBacklog) != 0) {
    const int e = rc != 0 ? err : errno;
    ::close(fd);
    if (rc == 0) ::unlink(path.c_str());
    return fail("cannot listen on " + path + ": " + errno_text(e));
  }
  return fd;
}

}  // namespace

struct DockerHttpServer::Request {
  std::string body;
  bool too_large = false;
};

// The C callbacks libmicrohttpd and libuv call; `cls`/`data` is the server. No exception
// may unwind through them.
struct DockerHttpCallbacks {
  static MHD_Result on_request(void* cls, MHD_Connection* connection, const char* url,
                               const char* method, const char* /*version*/,
                               const char* upload_data, std::size_t* upload_size,
                               void** con_cls) {
    auto* self = static_cast<DockerHttpServer*>(cls);
    auto* request = static_cast<DockerHttpServer::Request*>(*con_cls);
    try {
      if (request == nullptr) {  // headers are in; the body follows in later calls
        *con_cls = new DockerHttpServer::Request;
        return MHD_YES;
      }
      if (*upload_size != 0) {
        if (request->body.size() + *upload_size > docker::kMaxBodyBytes) request->too_large = true;
        else request->body.append(upload_data, *upload_size);
        *upload_size = 0;
        return MHD_YES;
      }
      const docker::HttpReply reply = self->answer(method, url, *request);
      MHD_Response* response = MHD_create_response_from_buffer(
          reply.body.size(), const_cast<char*>(reply.body.data()), MHD_RESPMEM_MUST_COPY);
      if (response == nullptr) return MHD_NO;
      MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, docker::kContentType);
      const MHD_Result queued = MHD_queue_response(connection, unsigned(reply.status), response);
      MHD_destroy_response(response);
      return queued;
    } catch (const std::exception& e) {
      spdlog::error("docker plugin socket: {} {}: {}", method, url, e.what());
      return MHD_NO;  // closes the connection; dockerd reports the call as failed
    }
  }

  static void on_completed(void*, MHD_Connection*, void** con_cls, MHD_RequestTerminationCode) {
    delete static_cast<DockerHttpServer::Request*>(*con_cls);
    *con_cls = nullptr;
  }

  static void on_log(void*, const char* format, va_list ap) {
    char text[512];
    std::vsnprintf(text, sizeof text, format, ap);
    std::string_view line(text);
    while (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    spdlog::debug("docker plugin socket: {}", line);
  }
};

docker::HttpReply DockerHttpServer::answer(std::string_view method, std::string_view path,
                                           Request& request) {
  if (request.too_large)
    return {413, docker::error_body("keymesh: request body larger than 1 MiB")};
  if (method != "POST")
    return {405, docker::error_body("keymesh: plugin calls are POST, not " +
                                    std::string(method.substr(0, 16)))};
  std::string_view body(request.body);
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.remove_suffix(1);
  spdlog::debug("docker: {} {}", path, body);
  return handler_(path, request.body);
}

Result<std::unique_ptr<DockerHttpServer>> DockerHttpServer::start(uv_loop_t* loop,
                                                                  const std::string& socket_path,
                                                                  Handler handler) {
  auto fd = listen_unix(socket_path);
  if (!fd) return std::unexpected(fd.error());
  std::unique_ptr<DockerHttpServer> self(new DockerHttpServer(socket_path, std::move(handler)));
  if (struct stat st {}; ::stat(socket_path.c_str(), &st) == 0) {
    self->dev_ = st.st_dev;
    self->ino_ = st.st_ino;
  }
  // The listen socket is MHD's from here on (MHD_stop_daemon closes it).
  MHD_Daemon* mhd = MHD_start_daemon(
      MhdLoop::start_flags(), 0, nullptr, nullptr, &DockerHttpCallbacks::on_request, self.get(),
      MHD_OPTION_EXTERNAL_LOGGER, &DockerHttpCallbacks::on_log, self.get(),
      MHD_OPTION_LISTEN_SOCKET, MHD_socket(*fd),
      MHD_OPTION_NOTIFY_COMPLETED, &DockerHttpCallbacks::on_completed, self.get(),
      MHD_OPTION_CONNECTION_TIMEOUT, kIdleTimeoutSeconds,
      MHD_OPTION_CONNECTION_LIMIT, kMaxConnections,
      MHD_OPTION_END);
  if (mhd == nullptr) {
    ::close(*fd);
    ::unlink(socket_path.c_str());
    return fail("libmicrohttpd could not serve " + socket_path);
  }
  auto on_loop = MhdLoop::attach(loop, mhd);
  if (!on_loop) return std::unexpected(on_loop.error());
  self->mhd_ = std::move(*on_loop);
  spdlog::info("Docker network and IPAM driver listening on {}", socket_path);
  return self;
}

DockerHttpServer::~DockerHttpServer() {
  mhd_.reset();  // closes the listen socket
  // Only our own socket file: a successor may already have replaced it.
  struct stat st {};
  if (::stat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_)
    ::unlink(path_.c_str());
}

}  // namespace keymesh::docker
