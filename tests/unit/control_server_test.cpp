// Control socket: a real ControlServer on a libuv loop in a thread, and the CLI's
// ControlClient talking to it over a Unix socket in a scratch directory.
#define BOOST_TEST_MODULE control_server
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <cstring>
#include <string>

#include "proto/framing.h"
#include "tests/unit/control_test_util.h"
#include "ctl/control_client.h"

using keymesh::test::ServerThread;
using keymesh::test::TempDir;
using keymesh::ctl::ControlClient;

namespace {

keymesh::proto::Reply canned_status(const keymesh::proto::Request&) {
  keymesh::proto::Reply reply;
  auto* s = reply.mutable_status();
  s->set_interface("km0");
  s->set_listen_port(51820);
  s->set_mtu(1420);
  auto* p = s->add_peers();
  p->set_name("b");
  p->set_public_key("hy1x+3+UZbLLZJk6kQSIDJyHDq3aRV9Na92gmaimWRk=");
  p->add_allowed_ips("100.64.3.2/32");
  p->set_rx_bytes(1234);
  return reply;
}

keymesh::proto::Request status_request() {
  keymesh::proto::Request r;
  r.mutable_status();
  return r;
}

// Connects a plain socket (for sending bytes the client would never send).
int raw_connect(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  BOOST_REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

}  // namespace

BOOST_AUTO_TEST_CASE(status_round_trip_on_one_connection) {
  TempDir dir;
  const std::string path = dir / "run/keymesh.sock";
  std::atomic<int> calls = 0;
  ServerThread server(path, [&](const keymesh::proto::Request& r) {
    ++calls;
    BOOST_CHECK(r.has_status());
    return canned_status(r);
  });
  BOOST_REQUIRE_MESSAGE(server.ok(), server.error());

  auto client = ControlClient::connect(path);
  BOOST_REQUIRE_MESSAGE(client, (client ? "" : client.error().message));
  for (int i = 0; i < 3; ++i) {
    auto reply = client->call(status_request());
    BOOST_REQUIRE_MESSAGE(reply, (reply ? "" : reply.error().message));
    BOOST_TEST(reply->error().empty());
    BOOST_REQUIRE(reply->has_status());
    BOOST_TEST(reply->status().interface() == "km0");
    BOOST_TEST(reply->status().mtu() == 1420u);
    BOOST_REQUIRE(reply->status().peers_size() == 1);
    BOOST_TEST(reply->status().peers(0).rx_bytes() == 1234u);
  }
  BOOST_TEST(calls == 3);
  BOOST_TEST(server.stop() == 0);  // every handle closed
  BOOST_TEST(::access(path.c_str(), F_OK) != 0, "socket file removed on shutdown");
}

BOOST_AUTO_TEST_CASE(malformed_request_gets_an_error_and_the_connection_survives) {
  TempDir dir;
  const std::string path = dir / "keymesh.sock";
  ServerThread server(path, canned_status);
  BOOST_REQUIRE_MESSAGE(server.ok(), server.error());
  auto client = ControlClient::connect(path);
  BOOST_REQUIRE(client);

  auto bad = client->call_raw(std::string("\xff\xff\xff", 3));
  BOOST_REQUIRE_MESSAGE(bad, (bad ? "" : bad.error().message));
  BOOST_TEST(bad->error() == "malformed request");
  BOOST_TEST(!bad->has_status());

  auto empty = client->call_raw("");  // parses, but asks for nothing this daemon knows
  BOOST_REQUIRE(empty);
  BOOST_TEST(empty->error() == "unsupported request (keymeshd may be older than this client)");

  auto good = client->call(status_request());
  BOOST_REQUIRE(good);
  BOOST_TEST(good->status().interface() == "km0");
}

BOOST_AUTO_TEST_CASE(handler_exception_becomes_an_error_reply) {
  TempDir dir;
  const std::string path = dir / "keymesh.sock";
  ServerThread server(path, [](const keymesh::proto::Request&) -> keymesh::proto::Reply {
    throw std::runtime_error("boom");
  });
  BOOST_REQUIRE(server.ok());
  auto client = ControlClient::connect(path);
  BOOST_REQUIRE(client);
  auto reply = client->call(status_request());
  BOOST_REQUIRE(reply);
  BOOST_TEST(reply->error() == "internal error in keymeshd (see its log)");
}

BOOST_AUTO_TEST_CASE(oversize_frame_closes_the_connection) {
  TempDir dir;
  const std::string path = dir / "keymesh.sock";
  ServerThread server(path, canned_status);
  BOOST_REQUIRE(server.ok());
  const int fd = raw_connect(path);
  const char header[4] = {0x7f, 0x00, 0x00, 0x00};
  BOOST_REQUIRE(::send(fd, header, 4, MSG_NOSIGNAL) == 4);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[16];
  BOOST_TEST(::recv(fd, buf, sizeof buf, 0) == 0, "server closed the stream");
  ::close(fd);

  // Others are unaffected.
  auto client = ControlClient::connect(path);
  BOOST_REQUIRE(client);
  BOOST_TEST(bool(client->call(status_request())));
}

BOOST_AUTO_TEST_CASE(socket_is_0600_in_a_0700_directory) {
  TempDir dir;
  const std::string path = dir / "a/b/keymesh.sock";
  ServerThread server(path, canned_status);
  BOOST_REQUIRE_MESSAGE(server.ok(), server.error());
  struct stat st {};
  BOOST_REQUIRE(::stat(path.c_str(), &st) == 0);
  BOOST_TEST(S_ISSOCK(st.st_mode));
  BOOST_TEST((st.st_mode & 07777) == 0600u);
  BOOST_REQUIRE(::stat((dir / "a/b").c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 07777) == 0700u);
  BOOST_REQUIRE(::stat((dir / "a").c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 07777) == 0700u);
}

BOOST_AUTO_TEST_CASE(stale_socket_is_replaced_but_a_live_one_is_not) {
  TempDir dir;
  const std::string path = dir / "keymesh.sock";
  {  // a socket file nobody listens on, as a crashed daemon leaves behind
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());
    BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    ::close(fd);
  }
  ServerThread first(path, canned_status);
  BOOST_REQUIRE_MESSAGE(first.ok(), first.error());

  ServerThread second(path, canned_status);
  BOOST_TEST(!second.ok());
  BOOST_TEST(second.error() == "control socket: another keymeshd is already listening on " + path);
  auto client = ControlClient::connect(path);  // the first still serves
  BOOST_REQUIRE(client);
  BOOST_TEST(bool(client->call(status_request())));

  dir.write("plain", "x");
  ServerThread third(dir / "plain", canned_status);
  BOOST_TEST(third.error() ==
             "control socket: " + dir / "plain" + " exists and is not a socket; not replacing it");
}

BOOST_AUTO_TEST_CASE(connecting_to_nothing_says_so) {
  TempDir dir;
  const std::string path = dir / "keymesh.sock";
  auto client = ControlClient::connect(path);
  BOOST_REQUIRE(!client);
  BOOST_TEST(client.error().message == "cannot reach keymeshd at " + path +
                                           ": No such file or directory (is keymeshd running?)");
}

BOOST_AUTO_TEST_CASE(client_times_out_when_no_reply_comes) {
  TempDir dir;
  const std::string path = dir / "mute.sock";
  const int listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  BOOST_REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  BOOST_REQUIRE(::listen(listener, 4) == 0);
  auto client = ControlClient::connect(path, std::chrono::milliseconds(200));
  BOOST_REQUIRE(client);
  auto reply = client->call(status_request());
  BOOST_REQUIRE(!reply);
  BOOST_TEST(reply.error().message == "keymeshd at " + path + ": timed out waiting for keymeshd");
  ::close(listener);
}

BOOST_AUTO_TEST_CASE(clients_that_vanish_mid_request_leave_no_handles_behind) {
  TempDir dir;
  const std::string path = dir / "keymesh.sock";
  ServerThread server(path, canned_status);
  BOOST_REQUIRE(server.ok());
  const std::string request = keymesh::proto::frame(status_request().SerializeAsString());
  for (int i = 0; i < 20; ++i) {
    const int fd = raw_connect(path);
    // Half a frame, a whole one whose reply is never read, or nothing at all.
    const std::string bytes = i % 3 == 0 ? request.substr(0, 3) : i % 3 == 1 ? request : "";
    if (!bytes.empty()) BOOST_REQUIRE(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) > 0);
    ::close(fd);
  }
  auto client = ControlClient::connect(path);
  BOOST_REQUIRE(client);
  BOOST_TEST(bool(client->call(status_request())));
  BOOST_TEST(server.stop() == 0);
}

BOOST_AUTO_TEST_CASE(open_connections_are_closed_with_the_server) {
  TempDir dir;
  const std::string path = dir / "keymesh.sock";
  ServerThread server(path, canned_status);
  BOOST_REQUIRE(server.ok());
  auto a = ControlClient::connect(path);
  auto b = ControlClient::connect(path);
  BOOST_REQUIRE(a && b);
  BOOST_TEST(bool(a->call(status_request())));
  BOOST_TEST(server.stop() == 0);
  auto after = b->call(status_request());
  BOOST_TEST(!after);
}
