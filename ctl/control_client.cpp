#include "ctl/control_client.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <span>
#include <system_error>
#include <utility>

#include "proto/framing.h"

namespace keymesh::ctl {

namespace {

using Deadline = std::chrono::steady_clock::time_point;

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

// Waits until fd is ready for `events` or the deadline passes.
Result<void> wait_for(int fd, short events, Deadline deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return fail("timed out waiting for keymeshd");
    pollfd p{fd, events, 0};
    const int rc = ::poll(&p, 1, int(left.count()));
    if (rc > 0) return {};
    if (rc < 0 && errno != EINTR) return fail("poll: " + errno_text(errno));
  }
}

// True when the daemon has already closed this connection (it closes idle ones after its
// request deadline, docs/config.md): EOF or a reset is pending and nothing else is.
bool closed_by_daemon(int fd) {
  char byte;
  const ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR);
}

}  // namespace

ControlClient::ControlClient(int fd, std::string path, std::chrono::milliseconds timeout)
    : fd_(fd), path_(std::move(path)), timeout_(timeout) {}

ControlClient::ControlClient(ControlClient&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)), timeout_(other.timeout_) {}

ControlClient& ControlClient::operator=(ControlClient&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
    timeout_ = other.timeout_;
  }
  return *this;
}

ControlClient::~ControlClient() {
  if (fd_ >= 0) ::close(fd_);
}

Result<ControlClient> ControlClient::connect(const std::string& path,
                                             std::chrono::milliseconds timeout) {
  const auto unreachable = [&](const std::string& why) {
    return fail("cannot reach keymeshd at " + path + ": " + why + " (is keymeshd running?)");
  };
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path)
    return fail("control socket path must be 1-" + std::to_string(sizeof addr.sun_path - 1) +
                " bytes long: " + path);
  std::memcpy(addr.sun_path, path.data(), path.size());

  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail("socket: " + errno_text(errno));
  ControlClient client(fd, path, timeout);
  // A blocking connect bounded by SO_SNDTIMEO (which Unix sockets apply to connect): it waits
  // out a full backlog, where a non-blocking connect would fail with EAGAIN at once.
  const auto ms = timeout.count() > 0 ? timeout.count() : 1;
  timeval tv{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>(ms % 1000 * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int rc;
  do {
    rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    const int err = errno;
    if (err == EACCES || err == EPERM)
      return fail("cannot reach keymeshd at " + path + ": " + errno_text(err) +
                  " (the control socket is for root)");
    if (err == EAGAIN) return unreachable("timed out (keymeshd is not accepting connections)");
    return unreachable(errno_text(err));
  }
  // Reads and writes use poll with the deadline from here on.
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return client;
}

Result<proto::Reply> ControlClient::call(const proto::Request& request) {
  std::string payload;
  if (!request.SerializeToString(&payload)) return fail("cannot serialize the request");
  return call_raw(payload);
}

Result<proto::Reply> ControlClient::call_raw(const std::string& payload) {
  if (fd_ >= 0 && closed_by_daemon(fd_)) {
    // An idle connection the daemon timed out: a new one is as good, nothing was sent.
    auto fresh = connect(path_, timeout_);
    if (!fresh) return std::unexpected(fresh.error());
    *this = std::move(*fresh);
  }
  auto reply = exchange(payload);
  if (!reply && unconsumed_) {
    // The daemon closed the connection with our request (partly) unread, so it never acted
    // on it (e.g. evicted under load before reading): once more on a new connection.
    auto fresh = connect(path_, timeout_);
    if (!fresh) return std::unexpected(reply.error());
    *this = std::move(*fresh);
    reply = exchange(payload);
  }
  return reply;
}

Result<proto::Reply> ControlClient::exchange(const std::string& payload) {
  if (fd_ < 0) return fail("not connected");
  unconsumed_ = false;
  const Deadline deadline = std::chrono::steady_clock::now() + timeout_;
  const auto broken = [&](const std::string& why) {
    ::close(std::exchange(fd_, -1));
    return fail("keymeshd at " + path_ + ": " + why);
  };

  const std::string out = proto::frame(payload);
  std::size_t sent = 0;
  while (sent < out.size()) {
    const ssize_t n = ::send(fd_, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n >= 0) {
      sent += std::size_t(n);
    } else if (errno == EAGAIN) {
      if (auto r = wait_for(fd_, POLLOUT, deadline); !r) return broken(r.error().message);
    } else if (errno != EINTR) {
      unconsumed_ = errno == EPIPE || errno == ECONNRESET;
      return broken("send: " + errno_text(errno));
    }
  }

  proto::FrameReader reader;
  std::string reply_bytes;
  std::uint8_t buf[16 * 1024];
  for (;;) {
    switch (reader.next(&reply_bytes)) {
      case proto::FrameReader::Status::Frame: {
        proto::Reply reply;
        if (!reply.ParseFromString(reply_bytes)) return broken("malformed reply");
        return reply;
      }
      case proto::FrameReader::Status::TooLarge:
        return broken("reply too large");
      case proto::FrameReader::Status::NeedMore:
        break;
    }
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      reader.feed(std::span<const std::uint8_t>(buf, std::size_t(n)));
    } else if (n == 0) {
      return broken("connection closed before a reply arrived");
    } else if (errno == EAGAIN) {
      if (auto r = wait_for(fd_, POLLIN, deadline); !r) return broken(r.error().message);
    } else if (errno != EINTR) {
      // Linux resets a Unix stream when its reader closes with bytes unread: ours.
      unconsumed_ = errno == ECONNRESET;
      return broken("recv: " + errno_text(errno));
    }
  }
}

Result<proto::Reply> ask_daemon(const std::string& socket, const proto::Request& request,
                                std::chrono::milliseconds timeout) {
  auto client = ControlClient::connect(socket, timeout);
  if (!client) return std::unexpected(client.error());
  auto reply = client->call(request);
  if (!reply) return reply;
  if (!reply->error().empty()) return fail("keymeshd: " + reply->error());
  return reply;
}

}  // namespace keymesh::ctl
