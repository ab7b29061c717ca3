// Fuzzes the policy loader with arbitrary text (it must return a policy or an error that
// says something, never crash or throw), evaluates what loads, and feeds the same bytes to
// the packet parser and connection tracking in both directions.
#include <cstdint>
#include <string_view>

#include "policy/conntrack.h"
#include "policy/loader.h"
#include "policy/packet.h"

using namespace keymesh;
using namespace keymesh::policy;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> bytes(data, size);
  const WallTime wall{std::chrono::seconds(1'790'000'000)};  // 2026-09
  const TimePoint mono{std::chrono::hours(1000)};

  Subject a;
  a.name = "web-1";
  a.kind = "workload";
  a.groups = {"web"};
  a.labels = {{"app", "api"}};
  a.networks = {*IpPrefix::parse("10.0.0.1/32")};
  a.context = {{"site", "onprem"}};
  Subject b = a;
  b.name = "db-1";
  b.groups = {"db"};
  b.networks = {*IpPrefix::parse("fd00::2/128")};

  auto policy = parse_policy(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!policy && policy.error().message.empty()) __builtin_trap();  // errors must say something
  Policy fallback;
  const Policy& p = policy ? *policy : fallback;
  (void)p.path_granted(a, b, wall);
  (void)p.check(a, b, Proto::kTcp, 5432, wall);
  if (p.rules().size() < 64) (void)p.next_change(wall);  // bounded work per input

  // The bytes as an inside packet.
  const PacketView v = parse_packet(bytes);
  if (v.valid && !v.fragment && !v.truncated) {
    const std::size_t n = v.tuple.version == 6 ? 16 : 4;
    if (v.tuple.src == nullptr || v.tuple.dst == nullptr ||
        v.tuple.src + n > data + size || v.tuple.dst + n > data + size)
      __builtin_trap();
  }
  ConnTrackLimits limits;
  limits.max_flows = 8;
  ConnTrack ct(p.compile_pair(a, b), p.compile_pair(b, a), limits);
  const Verdict out = ct.on_outbound(v, mono, wall);
  (void)ct.on_inbound(v, mono, wall);
  (void)ct.on_outbound(v, mono, wall);
  if (!v.valid && allowed(out)) __builtin_trap();  // malformed packets never pass
  ct.expire(mono + std::chrono::hours(1));
  return 0;
}
