// keymesh-cni's dispatcher run in-process as a runtime would run the binary (environment,
// stdin, stdout), against a fake keymeshd (cni_fake_daemon.h) on a real control socket:
// VERSION, the error object for each kind of failure, STATUS (0 or 50), DEL and CHECK
// talking to the daemon, a down or dying daemon (DEL queues its release), and ADD's refusals that happen
// before anything is created.
// Nothing here needs root or changes the host's network (ADD/GC on real namespaces are in
// tests/netns/cni_plugin.sh).
#define BOOST_TEST_MODULE cni_dispatcher
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "cni/dispatcher.h"
#include "node/release_queue.h"
#include "tests/unit/cni_fake_daemon.h"
#include "tests/unit/control_test_util.h"

using namespace keymesh::cni;
using keymesh::test::FakeWorkloadDaemon;
using keymesh::test::ServerThread;
using keymesh::test::TempDir;
using nlohmann::json;

namespace {

using Vars = std::map<std::string, std::string>;

struct Outcome {
  int status;
  std::string out;
  json doc() const { return json::parse(out); }
};

Outcome invoke(const Vars& env, const std::string& stdin_text) {
  std::ostringstream out;
  const EnvLookup lookup = [&](std::string_view name) -> std::optional<std::string> {
    const auto it = env.find(std::string(name));
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  RunOptions options;
  options.hostname = "node-a";
  options.daemon_timeout = std::chrono::milliseconds(2000);
  const int status = run(lookup, stdin_text, out, options);
  return {status, out.str()};
}

Vars attach_env(const std::string& command, const std::string& netns = "/run/netns/ctr") {
  return {{"CNI_COMMAND", command},
          {"CNI_CONTAINERID", "unittest0123456789"},
          {"CNI_NETNS", netns},
          {"CNI_IFNAME", "eth0"},
          {"CNI_PATH", "/opt/cni/bin"},
          {"CNI_ARGS", "K8S_POD_NAMESPACE=default;K8S_POD_NAME=web"}};
}

std::string conf(const std::string& socket, const std::string& extra = "",
                 const std::string& version = "1.1.0") {
  return R"({"cniVersion":")" + version + R"(","name":"km","type":"keymesh","socket":")" + socket +
         "\"" + (extra.empty() ? "" : "," + extra) + "}";
}

// Asserts a failure with `code` whose msg contains `part`; returns the error object.
json expect_error(const Outcome& o, int code, const std::string& part) {
  BOOST_TEST(o.status == 1);
  json e = o.doc();
  BOOST_TEST(e["code"] == code, o.out);
  BOOST_TEST(e["msg"].get<std::string>().find(part) != std::string::npos, o.out);
  BOOST_TEST(o.out.ends_with("}\n"));
  return e;
}

// A fake keymeshd on a socket in a scratch directory.
struct Daemon {
  TempDir dir;
  std::string socket = dir / "keymesh.sock";
  FakeWorkloadDaemon fake;
  ServerThread server{socket, [this](const keymesh::proto::Request& r) { return fake.handle(r); }};
};

// A listening Unix socket at `path` (fd returned), as keymeshd's control socket.
int listen_at(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  BOOST_REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
  BOOST_REQUIRE(::listen(fd, 4) == 0);
  return fd;
}

}  // namespace

BOOST_AUTO_TEST_CASE(version_lists_what_we_speak) {
  for (const std::string input : {"", R"({"cniVersion":"1.0.0"})", R"({"cniVersion":"0.4.0"})", "junk"}) {
    const Outcome o = invoke({{"CNI_COMMAND", "VERSION"}}, input);
    BOOST_TEST(o.status == 0);
    BOOST_TEST(o.doc() == json::parse(R"({"cniVersion":"1.1.0","supportedVersions":["1.0.0","1.1.0"]})"));
  }
}

BOOST_AUTO_TEST_CASE(errors_carry_the_config_version_when_it_is_usable) {
  // Environment error before the config is read: still the config's version if it is ours.
  json e = expect_error(invoke({{"CNI_COMMAND", "ADD"}}, conf("/x.sock", "", "1.0.0")), 4,
                        "CNI_CONTAINERID");
  BOOST_TEST(e["cniVersion"] == "1.0.0");
  e = expect_error(invoke({}, "not json"), 4, "CNI_COMMAND: not set");
  BOOST_TEST(e["cniVersion"] == "1.1.0");
  e = expect_error(invoke(attach_env("ADD"), "{"), 6, "stdin: not valid JSON");
  BOOST_TEST(e["cniVersion"] == "1.1.0");
  e = expect_error(invoke(attach_env("ADD"), conf("/x.sock", R"("mtu":5)", "1.0.0")), 7, "mtu:");
  BOOST_TEST(e["cniVersion"] == "1.0.0");
  e = expect_error(invoke(attach_env("ADD"), conf("/x.sock", "", "0.4.0")), 1, "0.4.0");
  BOOST_TEST(e["cniVersion"] == "1.1.0");
}

BOOST_AUTO_TEST_CASE(status_without_a_daemon_is_50) {
  TempDir dir;
  expect_error(invoke({{"CNI_COMMAND", "STATUS"}}, conf(dir / "none.sock")), 50,
               "cannot reach keymeshd at " + (dir / "none.sock"));
}

BOOST_AUTO_TEST_CASE(status_reflects_readiness_and_the_tun) {
  Daemon d;
  BOOST_REQUIRE(d.server.ok());
  d.fake.set_interface("lo");  // an interface that exists wherever the test runs
  Outcome o = invoke({{"CNI_COMMAND", "STATUS"}}, conf(d.socket));
  BOOST_TEST(o.status == 0);
  BOOST_TEST(o.out.empty());
  d.fake.set_ready(false);
  expect_error(invoke({{"CNI_COMMAND", "STATUS"}}, conf(d.socket)), 50, "keymeshd is not ready: starting");
  d.fake.set_ready(true);
  d.fake.set_interface("kmnosuchtun0");
  expect_error(invoke({{"CNI_COMMAND", "STATUS"}}, conf(d.socket)), 50,
               "reports interface kmnosuchtun0 but it does not exist");
  BOOST_TEST(d.fake.log().size() == 3u);
}

BOOST_AUTO_TEST_CASE(add_refuses_a_bad_netns_before_asking_the_daemon) {
  Daemon d;
  BOOST_REQUIRE(d.server.ok());
  expect_error(invoke(attach_env("ADD", d.dir / "no-such-netns"), conf(d.socket)), 4,
               "CNI_NETNS: cannot open");
  expect_error(invoke(attach_env("ADD", d.dir.path()), conf(d.socket)), 4, "is not a namespace file");
  // The plugin's own namespace would put the "container" end on the host.
  expect_error(invoke(attach_env("ADD", "/proc/self/ns/net"), conf(d.socket)), 4,
               "is the host's own network namespace");
  BOOST_TEST(d.fake.log().empty());
}

BOOST_AUTO_TEST_CASE(del_tells_the_daemon_and_is_idempotent) {
  Daemon d;
  BOOST_REQUIRE(d.server.ok());
  for (const std::string netns : {"/run/netns/gone", ""}) {
    const Outcome o = invoke(attach_env("DEL", netns), conf(d.socket));
    BOOST_TEST(o.status == 0, o.out);
    BOOST_TEST(o.out.empty());
  }
  BOOST_TEST((d.fake.log() == std::vector<std::string>{"del unittest0123456789/eth0",
                                                       "del unittest0123456789/eth0"}));
}

// keymeshd down: DEL succeeds and leaves the release in the queue for keymeshd (a node whose
// daemon is down can still finish deleting pods); a second DEL keeps one record.
std::vector<keymesh::node::Release> queued(const std::string& dir) {
  return keymesh::node::ReleaseQueue(dir).pending().releases;
}
std::string with_queue(const std::string& socket, const std::string& dir) {
  return conf(socket, R"("release_dir":")" + dir + "\"");
}

BOOST_AUTO_TEST_CASE(del_without_a_daemon_queues_the_release) {
  TempDir dir;
  const std::string queue = dir / "releases";
  for (int i = 0; i < 2; ++i) {
    const Outcome o = invoke(attach_env("DEL", ""), with_queue(dir / "none.sock", queue));
    BOOST_TEST(o.status == 0, o.out);
  }
  const auto releases = queued(queue);
  BOOST_REQUIRE(releases.size() == 1u);
  BOOST_TEST(releases[0].container_id == "unittest0123456789");
  BOOST_TEST(releases[0].ifname == "eth0");
}

BOOST_AUTO_TEST_CASE(del_with_a_full_queue_is_try_again) {
  TempDir dir;
  const std::string queue = dir / "releases";
  // Filled directly (push fsyncs each record; 4,096 of those are slow on a busy disk).
  BOOST_REQUIRE(keymesh::node::ReleaseQueue(queue).push({"c0", "eth0", "cni", 1}));
  for (std::size_t i = 1; i < keymesh::node::kMaxQueuedReleases; ++i)
    std::ofstream(queue + "/" + keymesh::node::ReleaseQueue::file_name("c" + std::to_string(i), "eth0"));
  expect_error(invoke(attach_env("DEL", ""), with_queue(dir / "none.sock", queue)), 11,
               "is full");
}

// keymeshd killed (kill -9): its socket file stays, and connecting is refused. DEL queues.
BOOST_AUTO_TEST_CASE(a_stale_socket_queues_the_release) {
  TempDir dir;
  const std::string sock = dir / "keymesh.sock";
  ::close(listen_at(sock));
  BOOST_TEST(invoke(attach_env("DEL"), with_queue(sock, dir / "q")).status == 0);
  BOOST_TEST(queued(dir / "q").size() == 1u);
}

// keymeshd died after reading the request, before replying: DEL queues.
BOOST_AUTO_TEST_CASE(a_connection_closed_before_the_reply_queues_the_release) {
  TempDir dir;
  const std::string sock = dir / "keymesh.sock";
  const int listener = listen_at(sock);
  std::thread dying([listener] {
    const int c = ::accept(listener, nullptr, nullptr);
    char buf[256];
    (void)::recv(c, buf, sizeof buf, 0);
    ::close(c);
    ::close(listener);
  });
  const Outcome o = invoke(attach_env("DEL"), with_queue(sock, dir / "q"));
  dying.join();
  BOOST_TEST(o.status == 0, o.out);
  BOOST_TEST(queued(dir / "q").size() == 1u);
}

BOOST_AUTO_TEST_CASE(check_needs_prev_result_and_the_daemon) {
  Daemon d;
  BOOST_REQUIRE(d.server.ok());
  expect_error(invoke(attach_env("CHECK"), conf(d.socket)), 7, "prevResult: required for CHECK");
  const std::string prev = R"("prevResult":{"cniVersion":"1.1.0",
      "interfaces":[{"name":"kmx"},{"name":"eth0","sandbox":"/run/netns/ctr"}],
      "ips":[{"address":"100.64.7.9/32","gateway":"169.254.1.1","interface":1}]})";
  const json e = expect_error(invoke(attach_env("CHECK"), conf(d.socket, prev)), 102,
                              "keymeshd has no workload for unittest0123456789/eth0");
  // Every problem is listed, not only the first.
  BOOST_TEST(e["details"].get<std::string>().find("CNI_NETNS: cannot open /run/netns/ctr") !=
             std::string::npos, e.dump());
  expect_error(invoke(attach_env("CHECK"), conf(d.dir / "none.sock", prev)), 11, "cannot reach");
  expect_error(invoke(attach_env("CHECK", "/run/netns/other"), conf(d.socket, prev)), 7,
               "no interface \"eth0\" in sandbox \"/run/netns/other\"");
}

BOOST_AUTO_TEST_CASE(gc_without_the_list_touches_nothing) {
  Daemon d;
  BOOST_REQUIRE(d.server.ok());
  expect_error(invoke({{"CNI_COMMAND", "GC"}}, conf(d.socket)), 7, "cni.dev/valid-attachments");
  BOOST_TEST(d.fake.log().empty());
}
