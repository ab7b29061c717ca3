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
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "common/log.h"
#include "common/unix_socket.h"
#include "proto/framing.h"

namespace keymesh::daemon {

namespace {

constexpr int kBacklog = 16;
constexpr std::size_t kReadChunk = 64 * 1024;
// Closures (timeouts, evictions) are logged at most this often; the counters have them all.
constexpr std::uint64_t kReportIntervalMillis = 10'000;
// A client that sends requests without reading replies stops being read above this.
constexpr std::size_t kMaxQueuedWriteBytes = 4u << 20;

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

// Handle discipline, for every libuv handle in this file: the handle is a member of a heap
// object whose `handle.data` points back at it; close_and_free() starts uv_close and the close
// callback deletes the object. Nothing else ever deletes one, so no callback can see freed
// memory. An owner's `server` pointer is cleared when the ControlServer goes away first.
template <class Owner>
void close_and_free(Owner* owner) {
  auto* handle = owner->handle();
  if (uv_is_closing(handle)) return;
  uv_close(handle, [](uv_handle_t* h) { delete static_cast<Owner*>(h->data); });
}

struct Listener {
  uv_pipe_t pipe;
  ControlServer::Impl* server = nullptr;
  uv_handle_t* handle() { return reinterpret_cast<uv_handle_t*>(&pipe); }
};

// Fires at (or before) the earliest client deadline; stopped while no client is connected.
struct DeadlineTimer {
  uv_timer_t timer;
  ControlServer::Impl* server = nullptr;
  uv_handle_t* handle() { return reinterpret_cast<uv_handle_t*>(&timer); }
};

struct Client {
  uv_pipe_t pipe;
  ControlServer::Impl* server = nullptr;
  proto::FrameReader reader;
  std::array<char, kReadChunk> read_buffer;
  bool paused = false;
  pid_t pid = 0;               // the connecting process (SO_PEERCRED); 0 when unknown
  std::uint64_t deadline = 0;  // uv_now() by which its next request must be complete
  uv_handle_t* handle() { return reinterpret_cast<uv_handle_t*>(&pipe); }
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

pid_t peer_pid(Client* c) {
  uv_os_fd_t fd;
  if (uv_fileno(c->handle(), &fd) != 0) return 0;
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return 0;
  return cred.pid;
}

}  // namespace

struct ControlServer::Impl {
  uv_loop_t* loop = nullptr;
  std::string path;
  Handler handler;
  ControlLimits limits;
  Listener* listener = nullptr;
  DeadlineTimer* timer = nullptr;
  std::vector<Client*> clients;
  dev_t dev = 0;  // identity of the socket file we bound, so we unlink only our own
  ino_t ino = 0;
  std::uint64_t timed_out = 0;
  std::uint64_t evicted = 0;
  std::uint64_t unreported_timed_out = 0;
  std::uint64_t unreported_evicted = 0;
  std::optional<std::uint64_t> last_report;

  std::uint64_t deadline_from_now() const {
    return uv_now(loop) + std::uint64_t(limits.request_deadline.count());
  }
  void accept_client();
  Client* eviction_victim(pid_t newcomer) const;
  int start_reading(Client* c);
  void on_read(Client* c, ssize_t nread);
  void handle_frame(Client* c, const std::string& payload);
  void send(Client* c, std::string bytes);
  void drop(Client* c);
  void arm_timer();
  void on_timer();
  void report();
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
  c->pid = peer_pid(c);
  // Admit every newcomer: a full table says someone holds slots, not that this one should wait.
  if (clients.size() >= limits.max_connections) {
    if (Client* victim = eviction_victim(c->pid)) {
      spdlog::debug("control socket: all {} slots taken, evicting a connection of pid {}",
                    clients.size(), victim->pid);
      drop(victim);
      ++evicted;
      ++unreported_evicted;
      report();
    }
  }
  c->deadline = deadline_from_now();
  clients.push_back(c);
  if (start_reading(c) != 0) drop(c);
  arm_timer();
}

// The longest-waiting connection of the process that holds the most (the newcomer counted),
// so that one process opening many connections can only push out its own.
Client* ControlServer::Impl::eviction_victim(pid_t newcomer) const {
  std::unordered_map<pid_t, std::size_t> held;
  ++held[newcomer];
  for (const Client* c : clients) ++held[c->pid];
  Client* victim = nullptr;
  for (Client* c : clients) {
    if (victim == nullptr || held[c->pid] > held[victim->pid] ||
        (held[c->pid] == held[victim->pid] && c->deadline < victim->deadline))
      victim = c;
  }
  return victim;
}

int ControlServer::Impl::start_reading(Client* c) {
  return uv_read_start(
      stream(c),
      [](uv_handle_t* h, std::size_t, uv_buf_t* buf) {
        auto* client = static_cast<Client*>(h->data);
        *buf = uv_buf_init(client->read_buffer.data(), client->read_buffer.size());
      },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t*) {
        auto* client = static_cast<Client*>(s->data);
        if (client->server) client->server->on_read(client, nread);
      });
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
  // The next request (or the hang-up) is due within a fresh deadline.
  c->deadline = deadline_from_now();
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
      if (client->server->start_reading(client) != 0) client->server->drop(client);
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

// Due at the earliest client deadline, or when a held-back report may be logged. Deadlines
// only move later after this (a request resets its client's), so firing early is harmless:
// on_timer() finds nothing late and re-arms.
void ControlServer::Impl::arm_timer() {
  std::optional<std::uint64_t> due;
  for (const Client* c : clients) due = std::min(due.value_or(c->deadline), c->deadline);
  if (last_report && (unreported_timed_out > 0 || unreported_evicted > 0)) {
    const std::uint64_t report_at = *last_report + kReportIntervalMillis;
    due = std::min(due.value_or(report_at), report_at);
  }
  if (!due) {
    uv_timer_stop(&timer->timer);
    return;
  }
  const std::uint64_t now = uv_now(loop);
  uv_timer_start(
      &timer->timer,
      [](uv_timer_t* h) {
        auto* owner = static_cast<DeadlineTimer*>(h->data);
        if (owner->server) owner->server->on_timer();
      },
      *due > now ? *due - now : 0, 0);
}

void ControlServer::Impl::on_timer() {
  const std::uint64_t now = uv_now(loop);
  std::vector<Client*> late;
  for (Client* c : clients)
    if (c->deadline <= now) late.push_back(c);
  for (Client* c : late) drop(c);
  timed_out += late.size();
  unreported_timed_out += late.size();
  report();
  arm_timer();
}

// Logs the closures not yet logged, unless a line went out less than kReportIntervalMillis
// ago; arm_timer() then brings the timer back when one may.
void ControlServer::Impl::report() {
  if (unreported_timed_out == 0 && unreported_evicted == 0) return;
  const std::uint64_t now = uv_now(loop);
  if (last_report && now - *last_report < kReportIntervalMillis) return;
  last_report = now;
  std::string what;
  if (unreported_timed_out > 0)
    what = fmt::format("closed {} connection(s) without a complete request within {} ms",
                       unreported_timed_out, limits.request_deadline.count());
  if (unreported_evicted > 0)
    what += fmt::format("{}evicted {} connection(s) to admit new ones (all {} slots taken)",
                        what.empty() ? "" : ", ", unreported_evicted, limits.max_connections);
  spdlog::warn("control socket: {} (totals: {} timed out, {} evicted)", what, timed_out, evicted);
  unreported_timed_out = 0;
  unreported_evicted = 0;
}

ControlServer::ControlServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<ControlServer>> ControlServer::start(uv_loop_t* loop,
                                                            const std::string& path,
                                                            Handler handler,
                                                            ControlLimits limits) {
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
  impl->limits = limits;
  impl->limits.max_connections = std::max<std::size_t>(limits.max_connections, 1);
  impl->dev = st.st_dev;
  impl->ino = st.st_ino;

  auto* listener = new Listener;
  listener->server = impl.get();
  uv_pipe_init(loop, &listener->pipe, 0);
  listener->pipe.data = listener;
  impl->listener = listener;
  auto* timer = new DeadlineTimer;
  timer->server = impl.get();
  uv_timer_init(loop, &timer->timer);
  timer->timer.data = timer;
  impl->timer = timer;
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

proto::ControlSocketStatus ControlServer::stats() const {
  proto::ControlSocketStatus s;
  s.set_open(std::uint32_t(impl_->clients.size()));
  s.set_max_open(std::uint32_t(impl_->limits.max_connections));
  s.set_request_deadline_ms(std::uint32_t(impl_->limits.request_deadline.count()));
  s.set_timed_out(impl_->timed_out);
  s.set_evicted(impl_->evicted);
  return s;
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
  if (impl_->timer) {
    impl_->timer->server = nullptr;
    close_and_free(impl_->timer);
  }
  // Another daemon may have replaced the file since (after deciding ours was stale).
  struct stat st {};
  if (::lstat(impl_->path.c_str(), &st) == 0 && st.st_dev == impl_->dev && st.st_ino == impl_->ino)
    ::unlink(impl_->path.c_str());
}

}  // namespace keymesh::daemon
