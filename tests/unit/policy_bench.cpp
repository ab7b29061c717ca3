// Micro-benchmark (not a test): the per-packet cost of PairPolicy::allows and of a conntrack
// lookup, and the cost of compile_pair, with 10,000 rules and 10,000 identities.
// Run a Release build: policy_bench [rules] [identities]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "policy/conntrack.h"
#include "policy/evaluator.h"
#include "policy/loader.h"
#include "policy/packet.h"

using namespace keymesh;
using namespace keymesh::policy;
using Clock = std::chrono::steady_clock;

namespace {

double ns_since(Clock::time_point start, std::size_t n) {
  return double(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count()) /
         double(n);
}

std::vector<std::uint8_t> udp_packet(std::uint32_t src, std::uint16_t sport, std::uint32_t dst,
                                     std::uint16_t dport) {
  std::vector<std::uint8_t> p(28, 0);
  p[0] = 0x45;
  p[3] = 28;
  p[9] = ipproto::kUdp;
  for (int i = 0; i < 4; ++i) {
    p[12 + i] = std::uint8_t(src >> (24 - 8 * i));
    p[16 + i] = std::uint8_t(dst >> (24 - 8 * i));
  }
  p[20] = std::uint8_t(sport >> 8);
  p[21] = std::uint8_t(sport);
  p[22] = std::uint8_t(dport >> 8);
  p[23] = std::uint8_t(dport);
  p[25] = 8;
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  const int n_rules = argc > 1 ? std::atoi(argv[1]) : 10000;
  const int n_ids = argc > 2 ? std::atoi(argv[2]) : 10000;
  const int n_groups = 1000;
  std::mt19937_64 rng(42);
  const auto berlin = find_zone("Europe/Berlin");

  // Identities: each in two of 1,000 groups, with an app label.
  std::vector<Subject> ids(static_cast<std::size_t>(n_ids));
  for (int i = 0; i < n_ids; ++i) {
    Subject& s = ids[std::size_t(i)];
    s.name = "svc-" + std::to_string(i);
    s.kind = "workload";
    s.groups = {"g" + std::to_string(rng() % n_groups), "g" + std::to_string(rng() % n_groups)};
    s.labels["app"] = "app" + std::to_string(rng() % 500);
    s.fingerprint = "fp" + std::to_string(i);
  }
  // Rules: mostly group -> group, some by label or exact name, 2% by glob (unindexed), 10%
  // with a Berlin office-hours schedule.
  std::vector<Rule> rules;
  for (int i = 0; i < n_rules; ++i) {
    Rule r;
    r.name = "rule-" + std::to_string(i);
    auto sel = [&](Selector& s) {
      const auto shape = rng() % 100;
      if (shape < 80) s.groups = {"g" + std::to_string(rng() % n_groups)};
      else if (shape < 90) s.labels["app"] = "app" + std::to_string(rng() % 500);
      else if (shape < 98) s.name = "svc-" + std::to_string(rng() % n_ids);
      else s.name = "svc-" + std::to_string(rng() % 10) + "*";
    };
    sel(r.from);
    sel(r.to);
    const auto port = std::uint16_t(1 + rng() % 60000);
    r.allow.push_back({std::uint8_t(1u << unsigned(Proto::kTcp)), port, port});
    if (rng() % 3 == 0) r.allow.push_back({std::uint8_t(1u << unsigned(Proto::kUdp)), 53, 53});
    if (rng() % 10 == 0) {
      Schedule s;
      s.days = 0b0111110;
      s.hours = {{8 * 60, 18 * 60}};
      s.zone = *berlin;
      s.zone_name = "Europe/Berlin";
      r.schedule = s;
    }
    rules.push_back(std::move(r));
  }

  auto t = Clock::now();
  const Policy policy(std::move(rules));
  std::printf("policy: %d rules, %d identities; build+index %.1f ms\n", n_rules, n_ids,
              ns_since(t, 1) / 1e6);

  // compile_pair for random pairs.
  const std::size_t n_pairs = 20000;
  std::size_t matched = 0;
  t = Clock::now();
  for (std::size_t i = 0; i < n_pairs; ++i) {
    const auto& a = ids[rng() % ids.size()];
    const auto& b = ids[rng() % ids.size()];
    matched += policy.compile_pair(a, b).rule_names().size();
  }
  std::printf("compile_pair: %.2f us per pair (avg %.2f rules select a random pair)\n",
              ns_since(t, n_pairs) / 1e3, double(matched) / double(n_pairs));
  t = Clock::now();
  std::size_t gates = 0;
  const WallTime now = std::chrono::system_clock::now();
  for (std::size_t i = 0; i < n_pairs; ++i)
    gates += policy.path_granted(ids[rng() % ids.size()], ids[rng() % ids.size()], now);
  std::printf("path_granted: %.2f us per pair\n", ns_since(t, n_pairs) / 1e3);

  // A pair that several rules select: give two identities shared groups and rules.
  Subject a = ids[0], b = ids[1];
  std::vector<Rule> extra = policy.rules();
  for (int k = 0; k < 8; ++k) {
    Rule r;
    r.name = "pair-" + std::to_string(k);
    r.from.groups = {a.groups[0]};
    r.to.groups = {b.groups[0]};
    r.allow.push_back({std::uint8_t(1u << unsigned(Proto::kTcp)), std::uint16_t(1000 + 100 * k),
                       std::uint16_t(1010 + 100 * k)});
    r.allow.push_back({std::uint8_t(1u << unsigned(Proto::kUdp)), 53, 53});
    if (k == 7) {
      Schedule s;
      s.hours = {{0, 24 * 60}};
      s.days = 0x7f;
      s.zone = *berlin;
      r.schedule = s;
      r.allow = {{std::uint8_t(1u << unsigned(Proto::kTcp)), 22, 22}};
    }
    extra.push_back(std::move(r));
  }
  const Policy big(std::move(extra));
  const PairPolicy pair = big.compile_pair(a, b);
  std::printf("test pair: %zu rules select it\n", pair.rule_names().size());

  const std::size_t n_checks = 20'000'000;
  std::vector<std::uint16_t> ports(4096);
  for (auto& p : ports) p = std::uint16_t(1000 + rng() % 900);
  std::size_t hits = 0;
  t = Clock::now();
  for (std::size_t i = 0; i < n_checks; ++i) hits += pair.allows(Proto::kTcp, ports[i & 4095], now);
  std::printf("PairPolicy::allows (unscheduled ranges, mixed hit/miss): %.1f ns/packet (%zu hits)\n",
              ns_since(t, n_checks), hits);
  t = Clock::now();
  hits = 0;
  for (std::size_t i = 0; i < n_checks; ++i) hits += pair.allows(Proto::kUdp, 53, now);
  std::printf("PairPolicy::allows (udp/53 hit): %.1f ns/packet\n", ns_since(t, n_checks));
  const std::size_t n_sched = 2'000'000;
  t = Clock::now();
  hits = 0;
  for (std::size_t i = 0; i < n_sched; ++i) hits += pair.allows(Proto::kTcp, 22, now);
  std::printf("PairPolicy::allows (tcp/22 through a scheduled rule): %.1f ns/packet\n",
              ns_since(t, n_sched));

  // Conntrack: 4,096 tracked UDP flows, replies looked up (parse + lookup + refresh).
  ConnTrack ct(big.compile_pair(a, b), big.compile_pair(b, a));
  TimePoint mono = Clock::now();
  const std::uint32_t la = 0x0a000001, ra = 0x0a000002;
  for (int i = 0; i < 4096; ++i)
    ct.on_outbound(parse_packet(udp_packet(la, std::uint16_t(20000 + i), ra, 53)), mono, now);
  std::vector<std::vector<std::uint8_t>> replies;
  for (int i = 0; i < 4096; ++i) replies.push_back(udp_packet(ra, 53, la, std::uint16_t(20000 + i)));
  const std::size_t n_ct = 10'000'000;
  std::size_t ok = 0;
  t = Clock::now();
  for (std::size_t i = 0; i < n_ct; ++i)
    ok += allowed(ct.on_inbound(parse_packet(replies[i & 4095]), mono, now));
  std::printf("conntrack reply (parse + lookup + refresh), %zu flows: %.1f ns/packet (%zu allowed)\n",
              ct.size(), ns_since(t, n_ct), ok);
  const auto denied_pkt = udp_packet(ra, 53, la, 9);
  t = Clock::now();
  ok = 0;
  for (std::size_t i = 0; i < n_ct; ++i)
    ok += allowed(ct.on_inbound(parse_packet(denied_pkt), mono, now));
  std::printf("conntrack unsolicited (parse + miss + policy deny): %.1f ns/packet\n",
              ns_since(t, n_ct));
  const auto next = big.next_change(now);
  t = Clock::now();
  for (int i = 0; i < 3; ++i) (void)big.next_change(now);
  std::printf("Policy::next_change over %zu rules: %.1f ms (next: %s)\n", big.rules().size(),
              ns_since(t, 3) / 1e6, next ? format_rfc3339_ms(*next).c_str() : "never");
  return 0;
}
