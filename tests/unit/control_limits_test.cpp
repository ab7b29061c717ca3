// Control socket limits (daemon/control_server.h): a real ControlServer on a libuv loop in a
// thread, with a short deadline or few slots, and clients that hold connections open idle,
// trickle a request in, or connect from another process.
#define BOOST_TEST_MODULE control_limits
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "proto/framing.h"
#include "tests/unit/control_test_util.h"
#include "ctl/control_client.h"

using keymesh::daemon::ControlLimits;
using keymesh::test::ServerThread;
using keymesh::test::TempDir;
using keymesh::ctl::ControlClient;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

keymesh::proto::Request status_request() {
  keymesh::proto::Request r;
  r.mutable_status();
  return r;
}

// A ControlServer whose status reply carries its own accounting (stats(), read on the loop
// thread in the handler, as keymeshd does).
struct CountingServer {
  CountingServer(const std::string& path, ControlLimits limits)
      : thread(
            path,
            [this](const keymesh::proto::Request&) {
              keymesh::proto::Reply reply;
              reply.mutable_status()->set_interface("km0");
              *reply.mutable_status()->mutable_control_socket() = thread.server()->stats();
              return reply;
            },
            limits) {}
  ServerThread thread;
};

sockaddr_un address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

int raw_connect(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const sockaddr_un addr = address(path);
  BOOST_REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

// Whether the other end has closed `fd`, waiting up to `wait` for it.
bool closed_by_server(int fd, milliseconds wait = milliseconds(0)) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, int(wait.count())) <= 0) return false;
  char byte;
  const ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

keymesh::proto::ControlSocketStatus stats_via(const std::string& path) {
  auto reply = keymesh::ctl::ask_daemon(path, status_request(), milliseconds(2000));
  BOOST_REQUIRE_MESSAGE(reply, (reply ? "" : reply.error().message));
  return reply->status().control_socket();
}

}  // namespace

// Scenario: one connection sends nothing, another sends a 64-byte request one byte every
// 50 ms (it would need 3.2 s). Both are closed at the 300 ms deadline, counted as timed out.
BOOST_AUTO_TEST_CASE(idle_and_trickling_connections_are_closed_at_the_deadline) {
  TempDir dir;
  const std::string path = dir / "keymesh.sock";
  CountingServer server(path, {.request_deadline = milliseconds(300), .max_connections = 64});
  BOOST_REQUIRE_MESSAGE(server.thread.ok(), server.thread.error());

  const auto start = Clock::now();
  const int idle = raw_connect(path);
  const int slow = raw_connect(path);
  std::string request = keymesh::proto::frame(std::string(60, '\0'));
  std::size_t sent = 0;
  bool slow_closed = false;
  double slow_closed_at = 0;
  while (sent < request.size() && seconds_since(start) < 5) {
    if (closed_by_server(slow, milliseconds(50))) {
      slow_closed = true;
      slow_closed_at = seconds_since(start);
      break;
    }
    if (::send(slow, request.data() + sent, 1, MSG_NOSIGNAL) != 1) {
      slow_closed = true;  // EPIPE: closed between the check and the send
      slow_closed_at = seconds_since(start);
      break;
    }
    ++sent;
  }
  BOOST_TEST(slow_closed, "the trickling client was cut off");
  BOOST_TEST(sent < request.size(), "it never completed its request");
  BOOST_TEST(slow_closed_at >= 0.25);
  BOOST_TEST(slow_closed_at < 1.5);
  BOOST_TEST(closed_by_server(idle, milliseconds(1500)), "the idle client was closed");
  BOOST_TEST(seconds_since(start) < 1.6);

  const auto stats = stats_via(path);
  BOOST_TEST(stats.timed_out() == 2u);
  BOOST_TEST(stats.evicted() == 0u);
  BOOST_TEST(stats.open() == 1u);  // the one asking
  BOOST_TEST(stats.request_deadline_ms() == 300u);
  ::close(idle);
  ::close(slow);
}

// Scenario: a connection that completed a request and went quiet is closed after the
// deadline too; the CLI's client notices and reconnects, so its next call still works.
BOOST_AUTO_TEST_CASE(a_client_whose_idle_connection_was_closed_reconnects) {
  TempDir dir;
  const std::string path = dir / "keymesh.sock";
  CountingServer server(path, {.request_deadline = milliseconds(200), .max_connections = 64});
  BOOST_REQUIRE(server.thread.ok());
  auto client = ControlClient::connect(path);
  BOOST_REQUIRE(client);
  auto first = client->call(status_request());
  BOOST_REQUIRE_MESSAGE(first, (first ? "" : first.error().message));
  std::this_thread::sleep_for(milliseconds(600));
  auto second = client->call(status_request());
  BOOST_REQUIRE_MESSAGE(second, (second ? "" : second.error().message));
  BOOST_TEST(second->status().control_socket().timed_out() == 1u);
}

// Scenario: another process connects first and waits; then this process opens 200 idle
// connections against 8 slots and asks for status. The status answers within a second, only
// this process's connections were evicted (the oldest first), and the other process's
// connection, the oldest of all, still gets its reply.
BOOST_AUTO_TEST_CASE(a_full_table_evicts_connections_of_the_process_holding_the_most) {
  TempDir dir;
  const std::string path = dir / "keymesh.sock";
  CountingServer server(path, {.request_deadline = milliseconds(30'000), .max_connections = 8});
  BOOST_REQUIRE(server.thread.ok());

  // The child only makes system calls (the parent has threads). It reports "connected" on
  // `up`, waits for a byte on `go`, sends one status request, and exits 0 iff a reply frame
  // header arrives (an evicted connection reads EOF or a reset instead).
  const std::string request = keymesh::proto::frame(status_request().SerializeAsString());
  const sockaddr_un addr = address(path);
  int up[2], go[2];
  BOOST_REQUIRE(::pipe(up) == 0 && ::pipe(go) == 0);
  const pid_t child = ::fork();
  BOOST_REQUIRE(child >= 0);
  if (child == 0) {
    ::close(up[0]);
    ::close(go[1]);  // so that `go` reads EOF (and the child exits) if the parent is gone
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) ::_exit(2);
    char b = 'u';
    if (::write(up[1], &b, 1) != 1 || ::read(go[0], &b, 1) != 1) ::_exit(3);
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != ssize_t(request.size()))
      ::_exit(4);
    char header[4];
    ::_exit(::recv(fd, header, sizeof header, MSG_WAITALL) == 4 ? 0 : 5);
  }
  ::close(up[1]);
  ::close(go[0]);
  // However this test case ends, the child is told to go (or sees EOF) and is reaped.
  struct Reaper {
    pid_t pid;
    int go;
    int status = -1;
    int reap() {
      if (go >= 0) ::close(std::exchange(go, -1));
      if (pid > 0 && ::waitpid(std::exchange(pid, 0), &status, 0) < 0) status = -1;
      return status;
    }
    ~Reaper() { reap(); }
  } reaper{child, go[1]};
  char b;
  BOOST_REQUIRE(::read(up[0], &b, 1) == 1);
  ::close(up[0]);
  std::this_thread::sleep_for(milliseconds(50));  // the server has accepted it by now

  std::vector<int> held;
  for (int i = 0; i < 200; ++i) held.push_back(raw_connect(path));
  const auto asked = Clock::now();
  auto reply = keymesh::ctl::ask_daemon(path, status_request(), milliseconds(1000));
  const double took = seconds_since(asked);
  BOOST_REQUIRE_MESSAGE(reply, (reply ? "" : reply.error().message));
  BOOST_TEST(took < 1.0);
  BOOST_TEST_MESSAGE("status with 200 connections held against 8 slots: " << took * 1000 << " ms");
  const auto& stats = reply->status().control_socket();
  // 8 slots: the child's, then 7 of ours; each later one evicts our oldest (193), and the
  // status connection one more.
  BOOST_TEST(stats.evicted() == 194u);
  BOOST_TEST(stats.open() == 8u);
  BOOST_TEST(stats.timed_out() == 0u);
  int evicted = 0;
  for (int i = 0; i < 200; ++i) {
    const bool closed = closed_by_server(held[i]);
    evicted += closed;
    if (i < 194) BOOST_TEST(closed, "connection " << i << " (among the oldest) was evicted");
    else BOOST_TEST(!closed, "connection " << i << " (among the newest) is still open");
  }
  BOOST_TEST(evicted == 194);

  BOOST_REQUIRE(::write(reaper.go, "g", 1) == 1);
  const int status = reaper.reap();
  BOOST_TEST(WIFEXITED(status));
  BOOST_TEST(WEXITSTATUS(status) == 0, "the other process's connection survived and was answered");
  for (int fd : held) ::close(fd);
}

// Scenario: a stand-in daemon closes the first connection without reading the request (as
// an eviction does); the client sends once more on a new connection and gets the reply. One
// that read the request before closing gets no second copy: the client reports the failure.
BOOST_AUTO_TEST_CASE(a_request_the_daemon_never_read_is_sent_once_more) {
  TempDir dir;
  const std::string path = dir / "fake.sock";
  const int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const sockaddr_un addr = address(path);
  BOOST_REQUIRE(::bind(listener, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
  BOOST_REQUIRE(::listen(listener, 4) == 0);

  keymesh::proto::Reply canned;
  canned.mutable_status()->set_interface("km0");
  const std::string reply_frame = keymesh::proto::frame(canned.SerializeAsString());
  const auto wait_readable = [](int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 3000) == 1;
  };
  int accepted = 0;
  for (const bool read_first : {false, true}) {
    std::thread fake([&] {  // every wait bounded, so a client that gives up cannot hang it
      if (!wait_readable(listener)) return;
      const int a = ::accept(listener, nullptr, nullptr);
      ++accepted;
      wait_readable(a);
      if (read_first) {
        char buf[256];
        (void)::recv(a, buf, sizeof buf, 0);
      }
      ::close(a);  // with the request unread, the client sees a reset
      if (read_first || !wait_readable(listener)) return;
      const int b = ::accept(listener, nullptr, nullptr);
      ++accepted;
      wait_readable(b);
      char buf[256];
      (void)::recv(b, buf, sizeof buf, 0);
      (void)::send(b, reply_frame.data(), reply_frame.size(), MSG_NOSIGNAL);
      ::close(b);
    });
    auto reply = keymesh::ctl::ask_daemon(path, status_request(), milliseconds(2000));
    fake.join();
    if (!read_first) {
      BOOST_REQUIRE_MESSAGE(reply, (reply ? "" : reply.error().message));
      BOOST_TEST(reply->status().interface() == "km0");
      BOOST_TEST(accepted == 2);
    } else {
      BOOST_REQUIRE(!reply);
      BOOST_TEST(reply.error().message ==
                 "keymeshd at " + path + ": connection closed before a reply arrived");
      BOOST_TEST(accepted == 3, "no second attempt");
    }
  }
  ::close(listener);
}
