// The etcd backend against a real etcd-server, driven by discovery_etcd.sh inside a network
// namespace of its own (loopback only). This program starts and stops etcd itself (its own
// child, killed by PID) so it can restart it in the middle of the test.
//
//   discovery_etcd_probe --dir SCRATCH             the scenarios below
//   discovery_etcd_probe --child NAME CIDR PORT    publish one record and wait to be killed
//
// Scenarios (each checks what another host would observe through its own EtcdDirectory):
//  1. A and B publish; each finds the other's record by overlay address, B's watch fires,
//     and the index by network is in etcd.
//  2. C (another process) publishes, then is SIGKILLed: its record disappears from A when
//     its lease expires, and A's watch reports the removal.
//  3. etcd stops; while it is down A publishes D and B withdraws its record; etcd restarts
//     on the same data: both clients reconnect, B sees D and A no longer sees B.
//  4. A and B close: their leases are revoked, so etcd holds no record of them.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>

#include <spdlog/spdlog.h>

#include "discovery/etcd_directory.h"
#include "identity/ca_key.h"
#include "identity/chain.h"

using namespace keymesh;
using namespace keymesh::discovery;
using namespace std::chrono_literals;

namespace {

constexpr const char* kEndpoint = "http://127.0.0.1:23791";
int passed = 0, failed = 0;

void check(bool ok, const std::string& what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAIL", what.c_str());
  std::fflush(stdout);
  (ok ? passed : failed)++;
}

Record make_record(const std::string& name, const std::string& cidr, std::uint16_t port) {
  static const identity::CaKey key = identity::CaKey::generate();
  static const identity::Certificate root = [] {
    identity::CertificateFields f;
    f.name = "root";
    f.kind = identity::Kind::Ca;
    f.public_key = key.public_key();
    f.not_before = 1'700'000'000;
    f.not_after = 2'700'000'000;
    return *identity::sign_certificate(f, nullptr, key);
  }();
  identity::CertificateFields f;
  f.name = name;
  f.kind = identity::Kind::Node;
  crypto::SecretKey sk;
  crypto::generate_private_key(sk);
  f.public_key = crypto::public_key(sk);
  f.networks = {*IpPrefix::parse(cidr)};
  f.not_before = 1'700'000'000;
  f.not_after = 2'600'000'000;
  const std::vector<identity::Certificate> chain = {*identity::sign_certificate(f, &root, key)};
  auto ep = *udp::Endpoint::parse("198.18.50.1:51820");
  ep.port = port;
  return *record_from_chain(identity::serialize_chain(chain), {ep}, WallTime::max());
}

EtcdOptions options() {
  EtcdOptions o;
  o.endpoints = {kEndpoint};
  o.lease_ttl = 3s;
  o.request_timeout = 2000ms;
  o.backoff_min = 100ms;
  o.backoff_max = 1000ms;
  return o;
}

IpAddress ip(const char* text) { return *IpAddress::parse(text); }

// Runs the loop until done() or the limit; true when done.
bool run_until(uv_loop_t* loop, const std::function<bool()>& done, std::chrono::milliseconds limit = 15000ms) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    uv_run(loop, UV_RUN_NOWAIT);
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

struct Etcd {
  std::string dir;
  pid_t pid = -1;
  void start() {
    pid = ::fork();
    if (pid == 0) {
      const std::string log = dir + "/etcd.log";
      std::freopen(log.c_str(), "a", stderr);
      std::freopen("/dev/null", "w", stdout);
      ::execlp("etcd", "etcd", "--name", "probe", "--data-dir", (dir + "/data").c_str(),
               "--listen-client-urls", kEndpoint, "--advertise-client-urls", kEndpoint,
               "--listen-peer-urls", "http://127.0.0.1:23801", "--initial-advertise-peer-urls",
               "http://127.0.0.1:23801", "--initial-cluster", "probe=http://127.0.0.1:23801",
               "--initial-cluster-state", "new", "--logger", "zap", "--log-outputs", "stderr",
               "--log-level", "warn", static_cast<char*>(nullptr));
      std::_Exit(127);
    }
    for (int i = 0; i < 100; ++i) {
      if (std::system("curl -s -m 1 http://127.0.0.1:23791/health | grep -q true") == 0) return;
      std::this_thread::sleep_for(100ms);
    }
    std::printf("etcd did not become healthy\n");
  }
  void stop() {
    if (pid <= 0) return;
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
    pid = -1;
  }
  ~Etcd() { stop(); }
};

std::string etcdctl_get(const std::string& prefix) {
  const std::string cmd = "ETCDCTL_API=3 timeout 5 etcdctl --endpoints=" + std::string(kEndpoint) +
                          " get --prefix --keys-only " + prefix;
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[512];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    ::pclose(p);
  }
  return out;
}

int child(const char* name, const char* cidr, const char* port) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  auto d = EtcdDirectory::open(&loop, options());
  if (!d) return 1;
  if (!(*d)->publish(make_record(name, cidr, std::uint16_t(std::atoi(port))))) return 1;
  run_until(&loop, [] { return false; }, 120000ms);  // until SIGKILL
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // keymeshd logs before it opens a directory; here the first log lines come from the writer
  // and watcher threads of A and B at once, and spdlog creates its registry on first use inside
  // libspdlog.so, where ThreadSanitizer cannot see the guard. Create it before any thread.
  spdlog::default_logger();
  if (argc == 5 && std::string(argv[1]) == "--child") return child(argv[2], argv[3], argv[4]);
  if (argc != 3 || std::string(argv[1]) != "--dir") {
    std::fprintf(stderr, "usage: discovery_etcd_probe --dir SCRATCH\n");
    return 2;
  }
  Etcd etcd{argv[2]};
  etcd.start();
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    auto a = EtcdDirectory::open(&loop, options());
    auto b = EtcdDirectory::open(&loop, options());
    if (!a || !b) {
      std::printf("open failed\n");
      return 1;
    }
    EtcdDirectory& A = **a;
    EtcdDirectory& B = **b;
    std::vector<std::string> a_seen, b_seen;
    A.watch([&](const Change& c) { a_seen.push_back(std::string(to_string(c.kind)) + " " + c.record.name); });
    B.watch([&](const Change& c) { b_seen.push_back(std::string(to_string(c.kind)) + " " + c.record.name); });

    // 1. Publish and see each other.
    const Record ra = make_record("node-a", "100.64.1.0/24", 1001);
    const Record rb = make_record("node-b", "100.64.2.0/24", 1002);
    check(bool(A.publish(ra)) && bool(B.publish(rb)), "A and B publish");
    check(run_until(&loop, [&] {
            return A.lookup_address(ip("100.64.2.9")) != nullptr && B.lookup_address(ip("100.64.1.9")) != nullptr;
          }),
          "A finds B's record by overlay address and B finds A's");
    const Record* got = B.lookup_address(ip("100.64.1.9"));
    check(got && got->fingerprint == ra.fingerprint && got->endpoints == ra.endpoints &&
              got->chain == ra.chain,
          "B's copy of A's record is A's record");
    check(std::find(b_seen.begin(), b_seen.end(), "added node-a") != b_seen.end(), "B's watch fired for node-a");
    const std::string index = etcdctl_get("/keymesh/v1/networks/");
    check(index.find("/keymesh/v1/networks/100.64.1.0_24/" + to_hex(ra.fingerprint)) != std::string::npos,
          "etcd holds the index by network");

    // 2. A host that dies disappears when its lease expires.
    pid_t c = ::fork();
    if (c == 0) {
      ::execl(argv[0], argv[0], "--child", "node-c", "100.64.3.0/24", "1003", static_cast<char*>(nullptr));
      std::_Exit(127);
    }
    check(run_until(&loop, [&] { return A.lookup_address(ip("100.64.3.1")) != nullptr; }),
          "A sees node-c from another process");
    ::kill(c, SIGKILL);
    ::waitpid(c, nullptr, 0);
    const auto killed = std::chrono::steady_clock::now();
    check(run_until(&loop, [&] { return A.lookup_address(ip("100.64.3.1")) == nullptr; }, 15000ms),
          "node-c's record is gone after its lease expired");
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - killed);
    std::printf("   (gone %lld ms after SIGKILL; lease TTL 3 s)\n", static_cast<long long>(took.count()));
    check(took >= 500ms, "the record outlived the process by the lease, not by accident");
    check(std::find(a_seen.begin(), a_seen.end(), "removed node-c") != a_seen.end(),
          "A's watch reported node-c removed");

    // 3. etcd restarts; changes made meanwhile get through afterwards.
    etcd.stop();
    check(run_until(&loop, [&] { return !A.synced() && !B.synced(); }, 10000ms), "both notice etcd is gone");
    const Record rd = make_record("node-d", "100.64.4.0/24", 1004);
    check(bool(A.publish(rd)), "A publishes node-d while etcd is down");
    B.withdraw(rb.fingerprint);
    check(A.lookup_address(ip("100.64.2.9")) != nullptr, "A keeps what it knew while etcd is down");
    std::this_thread::sleep_for(1500ms);
    etcd.start();
    check(run_until(&loop, [&] { return A.synced() && B.synced(); }, 20000ms), "both reconnect after the restart");
    check(run_until(&loop, [&] { return B.lookup_address(ip("100.64.4.1")) != nullptr; }, 20000ms),
          "B sees node-d, published while etcd was down");
    check(run_until(&loop, [&] { return A.lookup_address(ip("100.64.2.9")) == nullptr; }, 20000ms),
          "A no longer sees node-b, withdrawn while etcd was down");
    check(A.stats().syncs >= 2 && B.stats().syncs >= 2, "each read the prefix again after reconnecting");
  }
  // 4. Closing revokes the leases.
  uv_run(&loop, UV_RUN_NOWAIT);
  const std::string left = etcdctl_get("/keymesh/v1/records/");
  check(left.empty(), "no records left in etcd after A and B closed (leases revoked)");
  if (!left.empty()) std::printf("left:\n%s", left.c_str());
  uv_loop_close(&loop);
  etcd.stop();
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
