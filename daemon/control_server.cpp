#include "daemon/control_server.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <span>
#include <system_error>
#include <vector>

#include "common/log.h"
#include "common/unix_socket.h"
#include "proto/framing.h"

namespace keymesh::daemon {

namespace {

constexpr int kBacklog = 16;
constexpr std::size_t kMaxClients = 64;  // the CLI and the CNI plugin; more is a leak
constexpr std::size_t kReadChunk = 64 * 1024;
// A client that sends requests without reading replies stops being read above this.
constexpr std::size_t kMaxQueuedWriteBytes = 4u << 20;

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

// Handle discipline, for every libuv handle in this file: the handle is a member of a heap
// object whose `handle.data` points back at it; close_and_free() starts uv_close and the close
// callback deletes the object. Nothing else ever deletes one, so no callback can see freed
// memory. An owner's `server` pointer is cleared when the ControlServer goes away first.
template <class Owner>
void close_and_free(Owner* owner) {
  auto* handle = reinterpret_cast<uv_handle_t*>(&owner->pipe);
  if (uv_is_closing(handle)) return;
  uv_close(handle, [](uv_handle_t* h) { delete static_cast<Owner*>(h->data); });
}

struct Listener {
  uv_pipe_t pipe;
  ControlServer::Impl* server = nullptr;
};

struct Client {
  uv_pipe_t pipe;
  ControlServer::Impl* server = nullptr;
  proto::FrameReader reader;
  std::array<char, kReadChunk> read_buffer;
  bool paused = false;
};

// Owns the bytes of one uv_write until its callback, which libuv calls (with UV_ECANCELED if
// need be) before the client's close callback.
struct WriteRequest {
  uv_write_t req;
  std::string bytes;
};

uv_stream_t* stream(Client* c) { return reinterpret_cast<uv_stream_t*>(&c->pipe); }
bool closing(Client* c) { return uv_is_closing(reinterpret_cast<uv_handle_t*>(&c->pipe)); }

// Makes each missing directory of `dir` with mode 0700 (existing ones are left alone).
Result<void> make_parents(const std::string& dir) {
  if (dir.empty()) return {};
  for (std::size_t i = 1; i <= dir.size(); ++i) {
    if (i != dir.size() && dir[i] != '/') continue;
    const std::string prefix = dir.substr(0, i);
    if (::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST)
      return fail("cannot create " + prefix + ": " + errno_text(errno));
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return fail(dir + " is not a directory");
  return {};
}

Result<sockaddr_un> unix_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path)
    return fail("control socket path must be 1-" + std::to_string(sizeof addr.sun_path - 1) +
                " bytes long");
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

}  // namespace

struct ControlServer::Impl {
  uv_loop_t* loop = nullptr;
  std::string path;
  Handler handler;
  Listener* listener = nullptr;
  std::vector<Client*> clients;
  dev_t dev = 0;  // identity of the socket file we bound, so we unlink only our own
  ino_t ino = 0;

  void accept_client();
  void on_read(Client* c, ssize_t nread);
  void handle_frame(Client* c, const std::string& payload);
  void send(Client* c, std::string bytes);
  void drop(Client* c);
};

void ControlServer::Impl::accept_client() {
  auto* c = new Client;
  c->server = this;
  uv_pipe_init(loop, &c->pipe, 0);
  c->pipe.data = c;
  if (uv_accept(reinterpret_cast<uv_stream_t*>(&listener->pipe), stream(c)) != 0) {
    close_and_free(c);
    return;
  }
  if (clients.size() >= kMaxClients) {
    spdlog::warn("control socket: {} clients connected, refusing another", clients.size());
    close_and_free(c);
    return;
  }
  clients.push_back(c);
  const int rc = uv_read_start(
      stream(c),
      [](uv_handle_t* h, std::size_t, uv_buf_t* buf) {
        auto* client = static_cast<Client*>(h->data);
        *buf = uv_buf_init(client->read_buffer.data(), client->read_buffer.size());
      },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t*) {
        auto* client = static_cast<Client*>(s->data);
        if (client->server) client->server->on_read(client, nread);
      });
  if (rc != 0) drop(c);
}

void ControlServer::Impl::on_read(Client* c, ssize_t nread) {
  if (nread == 0) return;  // EAGAIN
  if (nread < 0) {         // EOF or a reset: the client is done
    drop(c);
    return;
  }
  c->reader.feed(
      std::span(reinterpret_cast<const std::uint8_t*>(c->read_buffer.data()), std::size_t(nread)));
  std::string payload;
  while (!closing(c)) {
    switch (c->reader.next(&payload)) {
      case proto::FrameReader::Status::NeedMore:
        return;
      case proto::FrameReader::Status::TooLarge:
        spdlog::debug("control socket: oversized frame, closing the connection");
        drop(c);
        return;
      case proto::FrameReader::Status::Frame:
        handle_frame(c, payload);
        break;
    }
  }
}

void ControlServer::Impl::handle_frame(Client* c, const std::string& payload) {
  proto::Reply reply;
  proto::Request request;
  if (!request.ParseFromString(payload)) {
    reply.set_error("malformed request");
  } else if (request.kind_case() == proto::Request::KIND_NOT_SET) {
    // What a newer client's request looks like to this daemon: its field is unknown here.
    reply.set_error("unsupported request (keymeshd may be older than this client)");
  } else {
    // The handler runs inside a libuv callback, which an exception must not unwind through.
    try {
      reply = handler(request);
    } catch (const std::exception& e) {
      spdlog::error("control socket: request handler failed: {}", e.what());
      reply.Clear();
      reply.set_error("internal error in keymeshd (see its log)");
    }
  }
  std::string bytes;
  if (!reply.SerializeToString(&bytes) || bytes.size() > proto::kMaxFrameSize) {
    reply.Clear();
    reply.set_error("reply too large");
    bytes.clear();
    reply.SerializeToString(&bytes);
  }
  send(c, proto::frame(bytes));
}

void ControlServer::Impl::send(Client* c, std::string bytes) {
  auto* w = new WriteRequest;
  w->bytes = std::move(bytes);
  w->req.data = w;
  const uv_buf_t buf = uv_buf_init(w->bytes.data(), w->bytes.size());
  const int rc = uv_write(&w->req, stream(c), &buf, 1, [](uv_write_t* req, int status) {
    auto* client = static_cast<Client*>(req->handle->data);
    delete static_cast<WriteRequest*>(req->data);
    if (!client->server || closing(client)) return;
    if (status < 0) {
      client->server->drop(client);
      return;
    }
    if (client->paused &&
        uv_stream_get_write_queue_size(stream(client)) < kMaxQueuedWriteBytes / 2) {
      client->paused = false;
      uv_read_start(
          stream(client),
          [](uv_handle_t* h, std::size_t, uv_buf_t* b) {
            auto* cl = static_cast<Client*>(h->data);
            *b = uv_buf_init(cl->read_buffer.data(), cl->read_buffer.size());
          },
          [](uv_stream_t* s, ssize_t nread, const uv_buf_t*) {
            auto* cl = static_cast<Client*>(s->data);
            if (cl->server) cl->server->on_read(cl, nread);
          });
    }
  });
  if (rc != 0) {
    delete w;  // not queued, so no callback will come
    drop(c);
    return;
  }
  if (uv_stream_get_write_queue_size(stream(c)) > kMaxQueuedWriteBytes) {
    uv_read_stop(stream(c));
    c->paused = true;
  }
}

void ControlServer::Impl::drop(Client* c) {
  clients.erase(std::remove(clients.begin(), clients.end(), c), clients.end());
  close_and_free(c);
}

ControlServer::ControlServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<ControlServer>> ControlServer::start(uv_loop_t* loop,
                                                            const std::string& path,
                                                            Handler handler) {
  // libuv writes with write(2), so a client that hangs up before its reply would raise
  // SIGPIPE and kill the daemon. Ignoring it turns that into EPIPE for this client only.
  ::signal(SIGPIPE, SIG_IGN);
  auto addr = unix_address(path);
  if (!addr) return std::unexpected(addr.error());
  const auto slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    if (auto r = make_parents(path.substr(0, slash)); !r)
      return fail("control socket " + path + ": " + r.error().message);
  }
  if (auto r = remove_stale_socket(path, *addr, "another keymeshd is already listening on " + path);
      !r)
    return fail("control socket: " + r.error().message);

  // Bind our own fd so the mode can be set before the file exists: Linux creates the socket
  // file with the socket inode's mode, so there is no moment when it is 0666 & ~umask.
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return fail("control socket: socket: " + errno_text(errno));
  ::fchmod(fd, 0600);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0) {
    const int err = errno;
    ::close(fd);
    return fail("control socket: cannot bind " + path + ": " + errno_text(err));
  }
  struct stat st {};
  if (::chmod(path.c_str(), 0600) != 0 || ::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    ::close(fd);
    ::unlink(path.c_str());
    return fail("control socket: cannot chmod " + path + ": " + errno_text(err));
  }

  auto impl = std::make_unique<Impl>();
  impl->loop = loop;
  impl->path = path;
  impl->handler = std::move(handler);
  impl->dev = st.st_dev;
  impl->ino = st.st_ino;

  auto* listener = new Listener;
  listener->server = impl.get();
  uv_pipe_init(loop, &listener->pipe, 0);
  listener->pipe.data = listener;
  impl->listener = listener;
  int rc = uv_pipe_open(&listener->pipe, fd);
  if (rc != 0) ::close(fd);  // not adopted by the handle
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener->pipe), kBacklog,
                   [](uv_stream_t* s, int status) {
                     auto* l = static_cast<Listener*>(s->data);
                     if (!l->server) return;
                     if (status < 0) {
                       spdlog::warn("control socket: accept failed: {}", uv_strerror(status));
                       return;
                     }
                     l->server->accept_client();
                   });
  }
  if (rc != 0) {
    // The destructor closes the listener (freed once the loop runs) and unlinks the file.
    std::unique_ptr<ControlServer> cleanup(new ControlServer(std::move(impl)));
    return fail("control socket: cannot listen on " + path + ": " + uv_strerror(rc));
  }
  spdlog::info("control socket listening on {}", path);
  return std::unique_ptr<ControlServer>(new ControlServer(std::move(impl)));
}

ControlServer::~ControlServer() {
  if (!impl_) return;
  for (Client* c : impl_->clients) {
    c->server = nullptr;
    close_and_free(c);
  }
  impl_->clients.clear();
  if (impl_->listener) {
    impl_->listener->server = nullptr;
    close_and_free(impl_->listener);
  }
  // Another daemon may have replaced the file since (after deciding ours was stale).
  struct stat st {};
  if (::lstat(impl_->path.c_str(), &st) == 0 && st.st_dev == impl_->dev && st.st_ino == impl_->ino)
    ::unlink(impl_->path.c_str());
}

}  // namespace keymesh::daemon
