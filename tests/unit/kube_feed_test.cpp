// daemon/kube_feed: the watch threads against a small in-process API server over HTTP on
// loopback. What the loop thread receives: the list, then the watch's events (a label change,
// a deletion), the resume from the newest resourceVersion after the server ends a watch, a
// pod fetched on request; every batch delivered on the loop thread, never on a feed thread.
#define BOOST_TEST_MODULE kube_feed
#include <boost/test/unit_test.hpp>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "daemon/kube_feed.h"

using namespace keymesh;
using namespace keymesh::daemon;

namespace {

std::string pod_json(const std::string& name, const std::string& rv, const std::string& app) {
  return R"({"kind":"Pod","metadata":{"name":")" + name + R"(","namespace":"shop","uid":"u-)" + name +
         R"(","resourceVersion":")" + rv + R"(","labels":{"app":")" + app +
         R"("}},"spec":{"nodeName":"node-1","serviceAccountName":"payments"}})";
}

// One connection per request (Connection: close). Watches of pods at resourceVersion 10 get
// two events and then the end of the reply; every later watch stays open and silent.
class FakeApi {
 public:
  FakeApi() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(fd_, 16);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeApi() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
    for (auto& t : conns_) t.join();
  }
  int port() const { return port_; }
  std::vector<std::string> requests() {
    std::lock_guard l(m_);
    return requests_;
  }

 private:
  void serve() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      conns_.emplace_back([this, c] { answer(c); });
    }
  }
  void answer(int c) {
    std::string req;
    char buf[4096];
    while (req.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      req.append(buf, std::size_t(n));
    }
    if (!req.starts_with("GET ")) {  // a client that went away before asking
      ::close(c);
      return;
    }
    const std::string path = req.substr(4, req.find(' ', 4) - 4);
    {
      std::lock_guard l(m_);
      requests_.push_back(path);
    }
    const auto send_all = [&](const std::string& s) { (void)::send(c, s.data(), s.size(), MSG_NOSIGNAL); };
    const std::string head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n";
    const bool watch = path.find("watch=1") != std::string::npos;
    if (path.starts_with("/api/v1/pods") && !watch) {
      const std::string body = R"({"kind":"PodList","metadata":{"resourceVersion":"10"},"items":[)" +
                               pod_json("a", "9", "web") + "," + pod_json("c", "8", "db") + "]}";
      send_all(head + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    } else if (path.starts_with("/api/v1/pods") && path.ends_with("resourceVersion=10")) {
      send_all(head + "\r\n" + R"({"type":"MODIFIED","object":)" + pod_json("a", "11", "api") + "}\n" +
               R"({"type":"DELETED","object":)" + pod_json("c", "12", "db") + "}\n");
    } else if (path.starts_with("/api/v1/namespaces/shop/pods/b")) {
      const std::string body = pod_json("b", "13", "pay");
      send_all(head + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    } else if (path.starts_with("/api/v1/namespaces") && !watch) {
      const std::string body =
          R"({"metadata":{"resourceVersion":"5"},"items":[{"metadata":{"name":"shop","resourceVersion":"4","labels":{"team":"a"}}}]})";
      send_all(head + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    } else {
      send_all(head + "\r\n");  // a watch that says nothing until we stop
      while (!stop_) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::close(c);
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<std::thread> conns_;
  std::mutex m_;
  std::vector<std::string> requests_;
};

}  // namespace

BOOST_AUTO_TEST_CASE(lists_watches_resumes_fetches_and_hands_over_on_the_loop) {
  FakeApi api;
  const auto dir = std::filesystem::temp_directory_path() / ("km-kube-feed-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "token") << "t0k3n\n";
  KubernetesConfig cfg;
  cfg.api_server = "http://127.0.0.1:" + std::to_string(api.port());  // the feed itself takes any URL
  cfg.token_file = (dir / "token").string();
  cfg.ca_file = (dir / "token").string();
  cfg.node_name = "node-1";

  // keymeshd logs long before it starts the feed; here the feed's first log lines come from
  // its threads and from start() at once, and spdlog creates its registry on first use inside
  // libspdlog.so, where ThreadSanitizer cannot see the guard. Create it before any thread.
  spdlog::default_logger();

  uv_loop_t loop;
  uv_loop_init(&loop);
  const auto loop_thread = std::this_thread::get_id();
  std::vector<KubeBatch> got;
  bool all_on_loop = true;
  auto feed = KubeFeed::start(&loop, cfg, [&](KubeBatch& b) {
    all_on_loop &= std::this_thread::get_id() == loop_thread;
    got.push_back(std::move(b));
  });
  BOOST_REQUIRE(feed);

  const auto has = [&](auto pred) { return std::any_of(got.begin(), got.end(), pred); };
  const auto pods_listed = [&](const KubeBatch& b) {
    return b.kind == kube::Kind::kPod && b.source == KubeBatch::Source::kList && b.pods.size() == 2;
  };
  const auto relabelled = [&](const KubeBatch& b) {
    return b.source == KubeBatch::Source::kWatch && !b.pods.empty() && b.pods[0].labels.at("app") == "api";
  };
  const auto deleted = [&](const KubeBatch& b) {
    return b.source == KubeBatch::Source::kWatch && !b.deleted.empty() && b.deleted[0] == "shop/c";
  };
  const auto ns_listed = [&](const KubeBatch& b) {
    return b.kind == kube::Kind::kNamespace && b.source == KubeBatch::Source::kList &&
           b.namespaces.size() == 1 && b.namespaces[0].labels.at("team") == "a";
  };
  const auto fetched = [&](const KubeBatch& b) {
    return b.source == KubeBatch::Source::kFetch && b.pods.size() == 1 && b.pods[0].name == "b";
  };
  const auto resumed = [&] {
    for (const auto& r : api.requests())
      if (r.starts_with("/api/v1/pods") && r.ends_with("resourceVersion=12")) return true;
    return false;
  };
  bool asked = false;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < until) {
    uv_run(&loop, UV_RUN_NOWAIT);
    if (!asked && has(pods_listed)) {
      (*feed)->fetch_pod("shop", "b");
      asked = true;
    }
    if (has(pods_listed) && has(relabelled) && has(deleted) && has(ns_listed) && has(fetched) && resumed()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  BOOST_TEST(has(pods_listed));
  BOOST_TEST(has(relabelled));   // MODIFIED carries the pod as it is now
  BOOST_TEST(has(deleted));      // DELETED carries its key
  BOOST_TEST(has(ns_listed));
  BOOST_TEST(has(fetched));
  BOOST_TEST(resumed());         // after the server ended the watch: from the newest version
  BOOST_TEST(all_on_loop);
  const auto reqs = api.requests();
  BOOST_TEST((std::find(reqs.begin(), reqs.end(), "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-1") != reqs.end()));
  const auto t0 = std::chrono::steady_clock::now();
  feed->reset();  // cancels the open watches and joins the threads
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  BOOST_TEST(took < 3000);
  uv_run(&loop, UV_RUN_DEFAULT);
  BOOST_TEST(uv_loop_close(&loop) == 0);
  std::filesystem::remove_all(dir);
}
