// The Docker plugin socket's HTTP server (docker/docker_http.h) on a real libuv loop, spoken
// to the way dockerd's Go client speaks: HTTP/1.1, Content-Length bodies (or none), several
// calls on one kept-alive connection. The loop runs on a thread of its own here, as it does
// in keymeshd; the test is the client.
#define BOOST_TEST_MODULE docker_http
#include <boost/test/unit_test.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "docker/docker_http.h"
#include "tests/unit/cli_test_util.h"

using namespace keymesh;
using namespace keymesh::docker;
using keymesh::test::TempDir;

namespace {

struct Response {
  int status = 0;
  std::string headers;
  std::string body;
};

// A blocking client connection with a 5 s receive timeout.
class Client {
 public:
  explicit Client(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw std::runtime_error("connect: " + std::string(std::strerror(errno)));
  }
  ~Client() { ::close(fd_); }

  void send(const std::string& bytes) {
    std::size_t off = 0;
    while (off < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send failed");
      off += std::size_t(n);
    }
  }
  // One response; status 0 when the server closed the connection first.
  Response read() {
    Response r;
    while (buffer_.find("\r\n\r\n") == std::string::npos)
      if (!fill()) return r;
    const std::size_t end = buffer_.find("\r\n\r\n");
    r.headers = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    r.status = std::stoi(r.headers.substr(9, 3));
    std::size_t length = 0;
    for (const char* name : {"Content-Length: ", "content-length: "})
      if (const auto at = r.headers.find(name); at != std::string::npos)
        length = std::stoul(r.headers.substr(at + std::strlen(name)));
    while (buffer_.size() < length)
      if (!fill()) break;
    r.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return r;
  }
  Response post(const std::string& path, const std::string& body) {
    send("POST " + path + " HTTP/1.1\r\nHost: \r\nUser-Agent: Go-http-client/1.1\r\n"
         "Accept: application/vnd.docker.plugins.v1.2+json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body);
    return read();
  }

 private:
  bool fill() {
    char chunk[65536];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer_.append(chunk, std::size_t(n));
    return true;
  }
  int fd_ = -1;
  std::string buffer_;
};

// A server on its own loop thread; the handler echoes what it got.
struct ServerFixture {
  TempDir dir;
  std::string path = dir / "plugins/keymesh.sock";  // the directory does not exist yet
  uv_loop_t loop{};
  uv_async_t stop{};
  std::unique_ptr<docker::DockerHttpServer> server;
  std::thread thread;
  std::mutex mutex;
  std::vector<std::string> calls;  // "path body", guarded by mutex

  ServerFixture() {
    uv_loop_init(&loop);
    uv_async_init(&loop, &stop, [](uv_async_t* a) {
      auto* self = static_cast<ServerFixture*>(a->data);
      self->server.reset();
      uv_close(reinterpret_cast<uv_handle_t*>(&self->stop), nullptr);
    });
    stop.data = this;
    auto started = docker::DockerHttpServer::start(&loop, path, [this](std::string_view p, std::string_view b) {
      if (p == "/Throw") throw std::runtime_error("handler failed");
      std::lock_guard lock(mutex);
      calls.push_back(std::string(p) + " " + std::string(b));
      return docker::HttpReply{p == "/Missing" ? 404 : 200,
                               R"({"Path":")" + std::string(p) + R"(","Bytes":)" +
                                   std::to_string(b.size()) + "}"};
    });
    BOOST_REQUIRE_MESSAGE(started.has_value(), (started ? std::string() : started.error().message));
    server = std::move(*started);
    thread = std::thread([this] { uv_run(&loop, UV_RUN_DEFAULT); });
  }
  ~ServerFixture() {
    uv_async_send(&stop);
    thread.join();
    uv_loop_close(&loop);
  }
};

mode_t mode_of(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 ? st.st_mode & 0777 : 0;
}

}  // namespace

BOOST_FIXTURE_TEST_CASE(calls_on_one_kept_alive_connection, ServerFixture) {
  BOOST_TEST(mode_of(path) == 0600u);
  Client c(path);
  // dockerd's calls without arguments have no body at all.
  Response r = c.post("/Plugin.Activate", "");
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body == R"({"Path":"/Plugin.Activate","Bytes":0})");
  BOOST_TEST(r.headers.find("Content-Type: application/vnd.docker.plugins.v1.2+json") !=
             std::string::npos, r.headers);
  const std::string body = R"({"NetworkID":"eb5c71b0","EndpointID":"2fe1b4ac"})";
  r = c.post("/NetworkDriver.Join", body);
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body == R"({"Path":"/NetworkDriver.Join","Bytes":)" + std::to_string(body.size()) + "}");
  r = c.post("/Missing", "{}");
  BOOST_TEST(r.status == 404);
  std::lock_guard lock(mutex);
  BOOST_TEST(calls.size() == 3u);
  BOOST_TEST(calls[1] == "/NetworkDriver.Join " + body);
}

BOOST_FIXTURE_TEST_CASE(a_body_in_pieces_and_chunked, ServerFixture) {
  Client c(path);
  c.send("POST /A HTTP/1.1\r\nHost: \r\nContent-Length: 10\r\n\r\n01234");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  c.send("56789");
  BOOST_TEST(c.read().body == R"({"Path":"/A","Bytes":10})");
  c.send("POST /B HTTP/1.1\r\nHost: \r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  BOOST_TEST(c.read().body == R"({"Path":"/B","Bytes":5})");
  std::lock_guard lock(mutex);
  BOOST_TEST(calls.back() == "/B abcde");
}

BOOST_FIXTURE_TEST_CASE(only_post_and_at_most_one_mebibyte, ServerFixture) {
  Client c(path);
  c.send("GET /Plugin.Activate HTTP/1.1\r\nHost: \r\n\r\n");
  Response r = c.read();
  BOOST_TEST(r.status == 405);
  BOOST_TEST(r.body.find(R"("Err":"keymesh: plugin calls are POST, not GET")") != std::string::npos, r.body);
  Client big(path);
  r = big.post("/NetworkDriver.CreateNetwork", std::string((1 << 20) + 1, ' '));
  BOOST_TEST(r.status == 413);
  BOOST_TEST(r.body.find("larger than 1 MiB") != std::string::npos, r.body);
  std::lock_guard lock(mutex);
  BOOST_TEST(calls.empty());  // neither reached the handler
}

BOOST_FIXTURE_TEST_CASE(a_failing_handler_costs_one_connection, ServerFixture) {
  {
    Client c(path);
    BOOST_TEST(c.post("/Throw", "{}").status == 0);  // closed without an answer
  }
  Client c(path);
  BOOST_TEST(c.post("/After", "{}").status == 200);
}

BOOST_AUTO_TEST_CASE(socket_file_rules) {
  TempDir dir;
  const std::string path = dir / "keymesh.sock";
  uv_loop_t loop;
  uv_loop_init(&loop);
  auto handler = [](std::string_view, std::string_view) { return docker::HttpReply{}; };
  {
    // A stale socket file (nobody listening) is replaced.
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());
    BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    ::close(fd);
  }
  auto first = docker::DockerHttpServer::start(&loop, path, handler);
  BOOST_REQUIRE_MESSAGE(first.has_value(), (first ? std::string() : first.error().message));
  // A live one is not taken over.
  auto second = docker::DockerHttpServer::start(&loop, path, handler);
  BOOST_REQUIRE(!second.has_value());
  BOOST_TEST(second.error().message.find("already serving") != std::string::npos,
             second.error().message);
  first->reset();
  uv_run(&loop, UV_RUN_DEFAULT);
  BOOST_TEST(::access(path.c_str(), F_OK) != 0);  // removed on the way out
  // Not a socket: left alone.
  dir.write("keymesh.sock", "data");
  auto third = docker::DockerHttpServer::start(&loop, path, handler);
  BOOST_REQUIRE(!third.has_value());
  BOOST_TEST(third.error().message.find("is not a socket") != std::string::npos);
  BOOST_TEST(uv_loop_close(&loop) == 0);
}
