// Scale and memory of one node's Tunnel (not a test; bench/scale-bench.sh runs it and prints
// it beside the targets of docs/performance.md). One process, the daemon's own code over
// MemoryDevice and MemoryNetwork with a fake clock, defaults everywhere:
//
//   node A (198.18.0.1)                          nodes B0..B(R-1) (198.18.1.2, ...)
//   node CA a, L local workload identities       each its own node CA and one workload
//   learns every remote from its handshake       knows every identity of A (static directory)
//
// Every B workload opens a TCP connection to every A workload: R x L paths on A, each after a
// certificate-chain handshake in which A is the responder (chain validation, policy gate,
// replay guard), each with one tracked flow. The initiations are paced in fake time at
// `rate` per second (below the default under-load threshold, so no cookies) and spread over
// the B nodes, so no source meets its rate limit; pacing costs no CPU, so it does not change
// the CPU per handshake.
//
// Memory is what operator new hands out while a node's code runs (the host being pumped is
// charged), so A's figures are A's alone; the heap's growth (mallinfo2) over both sides is
// printed as a cross-check. CPU is the thread's CPU time inside each node's calls.
//
//   scale_bench [--locals L] [--remotes R] [--rate N] [--max-idle-path-bytes B] [--json]
// Exit 1 when a path or a delivered packet is missing: the numbers would describe less work.
#include <malloc.h>
#include <spdlog/spdlog.h>
#include <time.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "crypto/primitives.h"
#include "daemon/tunnel.h"
#include "policy/loader.h"
#include "tests/unit/identity_test_util.h"
#include "tun/memory_device.h"
#include "udp/memory_bind.h"

using namespace keymesh;
using namespace keymesh::identity;
using namespace keymesh::identity::test;
using namespace std::chrono_literals;

// ---- allocation accounting: each block carries the counter it was charged to (the node
// whose code allocated it), and freeing it credits that counter, whoever frees it: a
// datagram one node allocates and the other consumes stays the sender's. A block counts
// as malloc's usable size for it (the request rounded up to malloc's size classes).

namespace {
thread_local std::int64_t* g_charge = nullptr;
constexpr std::size_t kHeader = alignof(std::max_align_t);
static_assert(kHeader >= sizeof(std::int64_t*));
}  // namespace

void* operator new(std::size_t n) {
  auto* base = static_cast<unsigned char*>(std::malloc(kHeader + n));
  if (base == nullptr) throw std::bad_alloc();
  std::memcpy(base, &g_charge, sizeof g_charge);
  if (g_charge != nullptr) *g_charge += std::int64_t(malloc_usable_size(base) - kHeader);
  return base + kHeader;
}
void operator delete(void* p) noexcept {
  if (p == nullptr) return;
  auto* base = static_cast<unsigned char*>(p) - kHeader;
  std::int64_t* owner = nullptr;
  std::memcpy(&owner, base, sizeof owner);
  if (owner != nullptr) *owner -= std::int64_t(malloc_usable_size(base) - kHeader);
  std::free(base);
}
void operator delete(void* p, std::size_t) noexcept { operator delete(p); }

namespace {

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

std::string dotted(std::uint32_t a) {
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." +
         std::to_string((a >> 8) & 255) + "." + std::to_string(a & 255);
}

// IPv4 + TCP SYN; the checksum is not checked on this path.
std::vector<std::uint8_t> syn(std::uint32_t src, std::uint32_t dst, std::uint16_t sport) {
  std::vector<std::uint8_t> p(40, 0);
  p[0] = 0x45;
  p[3] = 40;
  p[8] = 64;
  p[9] = 6;
  for (int i = 0; i < 4; ++i) {
    p[12 + i] = std::uint8_t(src >> (24 - 8 * i));
    p[16 + i] = std::uint8_t(dst >> (24 - 8 * i));
  }
  p[20] = std::uint8_t(sport >> 8);
  p[21] = std::uint8_t(sport);
  p[23] = 80;
  p[32] = 0x50;
  p[33] = 0x02;
  return p;
}

// Trivially destructible, so valid until the process ends.
std::array<std::int64_t, 256> g_counters{};
std::size_t g_counters_used = 0;
std::int64_t* next_counter() {
  if (g_counters_used == g_counters.size()) {
    std::fprintf(stderr, "scale_bench: more than %zu nodes\n", g_counters.size());
    std::exit(2);
  }
  return &g_counters[g_counters_used++];
}

struct Node {
  std::optional<Ca> ca;
  std::unique_ptr<tun::MemoryDevice> device;
  std::unique_ptr<udp::MemoryBind> bind;
  std::unique_ptr<daemon::Tunnel> tunnel;
  udp::Endpoint endpoint;
  // operator new, net, while this node's code ran. A slot of g_counters: blocks point at it,
  // a Node is moved after its first allocations, and its blocks are freed after it is gone
  // (the network's queues, teardown), so the counter must outlive every Node.
  std::int64_t* bytes = next_counter();
  double cpu_inside = 0, cpu_outside = 0;
};

// Runs `f` with `n`'s allocations charged to it; returns the thread CPU seconds it took.
template <typename F>
double charged(Node& n, F&& f) {
  g_charge = n.bytes;
  const double t0 = thread_cpu_seconds();
  f();
  const double dt = thread_cpu_seconds() - t0;
  g_charge = nullptr;
  return dt;
}

struct Args {
  int locals = 1000;
  int remotes = 100;
  int rate = 900;  // initiations per fake second, over all B nodes
  int max_idle_path_bytes = 0;  // > 0: exit 1 if an idle path on A costs more
  bool json = false;
};

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto value = [&] {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "scale_bench: %s needs a value\n", k.c_str());
        std::exit(2);
      }
      return std::atoi(argv[++i]);
    };
    if (k == "--locals") a.locals = value();
    else if (k == "--remotes") a.remotes = value();
    else if (k == "--rate") a.rate = value();
    else if (k == "--max-idle-path-bytes") a.max_idle_path_bytes = value();
    else if (k == "--json") a.json = true;
    else {
      std::fprintf(stderr, "usage: scale_bench [--locals L] [--remotes R] [--rate N] "
                           "[--max-idle-path-bytes B] [--json]\n");
      std::exit(2);
    }
  }
  if (a.locals < 1 || a.locals > 60000 || a.remotes < 1 || a.remotes > 250 || a.rate < 1) {
    std::fprintf(stderr, "scale_bench: --locals 1..60000, --remotes 1..250, --rate >= 1\n");
    std::exit(2);
  }
  return a;
}

class World {
 public:
  World() : root_(make_root()), net_(net_options()) {
    trust_ = std::make_shared<TrustStore>();
    (void)trust_->add_root(root_.cert);
    policy_ = std::make_shared<const policy::Policy>(
        policy::parse_policy("rules:\n  - { name: all, from: {}, to: {}, allow: [any] }\n")
            .value());
  }

  Node make_node(const std::string& name, const std::string& underlay, const char* range) {
    Node n;
    n.ca = make_node_ca(root_, "node-" + name,
                        {.allowed_networks = {cidr(range)}, .name_pattern = "*",
                         .max_lifetime_seconds = 24 * kHour});
    n.endpoint = *udp::Endpoint::parse(underlay);
    n.device = std::make_unique<tun::MemoryDevice>(name, 1420, 1 << 20);
    n.bind = net_.bind(n.endpoint).value();
    daemon::Config c;
    crypto::generate_private_key(c.private_key);
    charged(n, [&] {
      n.tunnel = std::make_unique<daemon::Tunnel>(c, *n.device, *n.bind, clock_);
      n.tunnel->set_trust(trust_);
      n.tunnel->set_policy(policy_);
    });
    return n;
  }

  // A workload certificate chain (leaf, node CA) for `address`, and its key.
  daemon::LocalIdentitySpec mint(const Node& n, const std::string& name, std::uint32_t address) {
    crypto::SecretKey key;
    crypto::generate_private_key(key);
    CertificateFields f;
    f.name = name;
    f.kind = Kind::Workload;
    f.public_key = crypto::public_key(key);
    f.networks = {cidr((dotted(address) + "/32").c_str())};
    f.groups = {"bench"};
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         clock_.wall_now().time_since_epoch()).count();
    f.not_before = now - 60;
    f.not_after = now + 12 * kHour;
    daemon::LocalIdentitySpec spec;
    spec.private_key.assign(key.span());
    spec.chain = {must(sign_certificate(std::move(f), &n.ca->cert, n.ca->key)), n.ca->cert};
    spec.source = "bench";
    return spec;
  }

  // Pumps every node until the network is quiet.
  void settle(Node& a, std::vector<Node>& bs) {
    for (int round = 0; round < 1000; ++round) {
      for (auto& b : bs)
        if (b.device->pending() > 0)
          b.cpu_inside += charged(b, [&] { b.tunnel->pump_inside(100000); });
      if (a.bind->pending() > 0)
        a.cpu_outside += charged(a, [&] { a.tunnel->pump_outside(100000); });
      for (auto& b : bs)
        if (b.bind->pending() > 0)
          b.cpu_outside += charged(b, [&] { b.tunnel->pump_outside(100000); });
      if (!net_.has_pending()) break;
    }
  }

  void tick(Node& a, std::vector<Node>& bs, Duration dt) {
    clock_.advance(dt);
    charged(a, [&] { a.tunnel->tick(); });
    for (auto& b : bs) charged(b, [&] { b.tunnel->tick(); });
  }

 private:
  static udp::MemoryNetworkOptions net_options() {
    udp::MemoryNetworkOptions o;
    o.inbox_capacity = 1 << 20;
    return o;
  }

  FakeTimeSource clock_;
  Ca root_;
  std::shared_ptr<TrustStore> trust_;
  std::shared_ptr<const policy::Policy> policy_;
  udp::MemoryNetwork net_;
};

std::size_t heap_in_use() {
  const struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse_args(argc, argv);
  spdlog::set_level(spdlog::level::warn);  // a line per handshake would time the log
  World world;

  // Node A, its local identities.
  const std::uint32_t a_base = (100u << 24) | (64u << 16);  // 100.64.0.0/16
  Node a = world.make_node("a", "198.18.0.1:51820", "100.64.0.0/16");
  const std::int64_t a_empty = *a.bytes;
  std::vector<std::vector<Certificate>> a_chains(std::size_t(args.locals));
  double add_cpu = 0;
  for (int i = 0; i < args.locals; ++i) {
    daemon::LocalIdentitySpec spec;
    charged(a, [&] {  // what the spec holds becomes the identity's
      spec = world.mint(a, "a-" + std::to_string(i), a_base + 256 + std::uint32_t(i));
    });
    a_chains[std::size_t(i)] = spec.chain;
    add_cpu += charged(a, [&] {
      if (auto r = a.tunnel->add_local_identity(std::move(spec)); !r) {
        std::fprintf(stderr, "scale_bench: add_local_identity: %s\n", r.error().message.c_str());
        std::exit(1);
      }
    });
  }
  const std::int64_t a_identities = *a.bytes;

  // B nodes: one workload each, every A identity in their directory.
  const std::uint32_t b_base = (100u << 24) | (65u << 16);  // 100.65.0.0/16
  std::vector<Node> bs;
  bs.reserve(std::size_t(args.remotes));
  std::vector<std::uint32_t> b_addr;
  for (int j = 0; j < args.remotes; ++j) {
    const std::string range = "100.65." + std::to_string(j) + ".0/24";
    bs.push_back(world.make_node("b" + std::to_string(j), "198.18.1." + std::to_string(j + 2) +
                                 ":51820", range.c_str()));
    Node& b = bs.back();
    b_addr.push_back(b_base + (std::uint32_t(j) << 8) + 1);
    auto spec = world.mint(b, "b-" + std::to_string(j), b_addr.back());
    charged(b, [&] {
      (void)b.tunnel->add_local_identity(std::move(spec));
      for (const auto& chain : a_chains) (void)b.tunnel->add_remote(chain, {a.endpoint});
    });
  }
  for (auto& b : bs) *b.bytes = 0;  // from here on, B's growth is its paths
  const std::size_t heap_before = heap_in_use();

  // Every B workload opens a connection to every A workload, `rate` per fake second.
  const std::size_t total = std::size_t(args.locals) * std::size_t(args.remotes);
  std::size_t sent = 0, delivered = 0;
  std::vector<int> next_local(bs.size(), 0);
  while (sent < total) {
    const std::size_t this_second = std::min<std::size_t>(std::size_t(args.rate), total - sent);
    for (std::size_t k = 0; k < this_second; ++k) {
      // Round-robin over the B nodes that still have A workloads to reach.
      const std::size_t j = (sent + k) % bs.size();
      if (next_local[j] >= args.locals) continue;
      const int i = next_local[j]++;
      charged(bs[j], [&] {
        bs[j].device->inject(syn(b_addr[j], a_base + 256 + std::uint32_t(i),
                                 std::uint16_t(20000 + i % 40000)));
      });
    }
    sent += this_second;
    world.settle(a, bs);
    charged(a, [&] { delivered += a.device->take_written().size(); });
    world.tick(a, bs, 1s);
  }
  world.settle(a, bs);
  charged(a, [&] { delivered += a.device->take_written().size(); });

  const std::size_t paths = a.tunnel->path_count();
  const std::uint64_t handshakes = a.tunnel->handshakes_completed();
  const std::int64_t a_established = *a.bytes;
  const std::size_t heap_established = heap_in_use();
  std::int64_t b_bytes = 0;
  double b_cpu = 0;
  for (auto& b : bs) {
    b_bytes += *b.bytes;
    b_cpu += b.cpu_inside + b.cpu_outside;
  }

  // Then nothing for ten minutes: flows time out, keys are erased (3 x reject-after-time).
  for (int s = 0; s < 60; ++s) {
    world.tick(a, bs, 10s);
    world.settle(a, bs);
  }
  const std::size_t idle_paths = a.tunnel->path_count();
  const double per_idle_path =
      double(*a.bytes - a_identities) / double(idle_paths == 0 ? 1 : idle_paths);
  const double heap_per_path =
      double(heap_established - heap_before) / double(2 * (paths == 0 ? 1 : paths));
  const double per_identity = double(a_identities - a_empty) / double(args.locals);
  const double per_path_a = double(a_established - a_identities) / double(paths == 0 ? 1 : paths);
  const double per_path_b = double(b_bytes) / double(paths == 0 ? 1 : paths);
  const double responder_rate = double(handshakes) / a.cpu_outside;
  const double initiator_rate = double(handshakes) / b_cpu;
  const double both_rate = double(handshakes) / (a.cpu_outside + b_cpu);

  if (args.json) {
    std::printf(
        "{\"locals\":%d,\"remotes\":%d,\"paths\":%zu,\"handshakes\":%llu,\"delivered\":%zu,"
        "\"bytes_per_identity\":%.0f,\"bytes_per_path_responder\":%.0f,"
        "\"bytes_per_path_initiator\":%.0f,\"idle_paths\":%zu,"
        "\"bytes_per_idle_path_responder\":%.0f,\"heap_bytes_per_path_both_sides\":%.0f,"
        "\"add_identity_us\":%.1f,\"handshakes_per_core_second_responder\":%.0f,"
        "\"handshakes_per_core_second_initiator\":%.0f,"
        "\"handshakes_per_core_second_both\":%.0f}\n",
        args.locals, args.remotes, paths, static_cast<unsigned long long>(handshakes), delivered,
        per_identity, per_path_a, per_path_b, idle_paths, per_idle_path, heap_per_path,
        add_cpu / args.locals * 1e6, responder_rate, initiator_rate, both_rate);
  } else {
    std::printf("node A: %d local identities, %zu paths (%d remote nodes), %llu handshakes, "
                "%zu of %zu SYNs delivered\n",
                args.locals, paths, args.remotes, static_cast<unsigned long long>(handshakes),
                delivered, total);
    std::printf("memory: %.0f B per local identity; %.0f B per path on the responder (A), "
                "%.0f B on the initiators (B); heap growth over both sides %.0f B per path\n",
                per_identity, per_path_a, per_path_b, heap_per_path);
    std::printf("after ten idle minutes: %zu paths, %.0f B each on the responder\n", idle_paths,
                per_idle_path);
    std::printf("add_local_identity: %.1f us CPU each\n", add_cpu / args.locals * 1e6);
    std::printf("handshakes per CPU-second (certificate chains): responder %.0f, initiator "
                "%.0f, both halves %.0f\n",
                responder_rate, initiator_rate, both_rate);
  }
  if (paths != total || delivered != total) {
    std::fprintf(stderr, "scale_bench: expected %zu paths and deliveries, got %zu and %zu\n",
                 total, paths, delivered);
    return 1;
  }
  if (args.max_idle_path_bytes > 0 && per_idle_path > args.max_idle_path_bytes) {
    std::fprintf(stderr, "scale_bench: an idle path costs %.0f B, over the %d B bound\n",
                 per_idle_path, args.max_idle_path_bytes);
    return 1;
  }
  return 0;
}
