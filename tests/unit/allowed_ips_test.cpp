// AllowedIps: hand-written cases for the shapes that matter (default route, nested prefixes,
// the IPv6 64-bit seam, replacement, pruning), then a differential test against a naive
// longest-match scan over random interleaved inserts, removals and lookups.
#define BOOST_TEST_MODULE allowed_ips
#include <boost/test/unit_test.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "daemon/allowed_ips.h"

using keymesh::IpAddress;
using keymesh::IpPrefix;
using keymesh::daemon::AllowedIps;

namespace {

IpPrefix P(std::string_view text) {
  auto p = IpPrefix::parse(text);
  BOOST_REQUIRE_MESSAGE(p, "bad prefix in test: " << text);
  return *p;
}

IpAddress A(std::string_view text) {
  auto a = IpAddress::parse(text);
  BOOST_REQUIRE_MESSAGE(a, "bad address in test: " << text);
  return *a;
}

std::vector<std::string> strings(const std::vector<IpPrefix>& v) {
  std::vector<std::string> out;
  for (const auto& p : v) out.push_back(p.to_string());
  return out;
}

using Strings = std::vector<std::string>;

}  // namespace

BOOST_AUTO_TEST_SUITE(hand_written)

BOOST_AUTO_TEST_CASE(empty_table_matches_nothing) {
  AllowedIps<int> t;
  BOOST_TEST(t.lookup(A("10.0.0.1")) == 0);
  BOOST_TEST(t.lookup(A("::1")) == 0);
  BOOST_TEST(t.lookup(IpAddress{}) == 0);  // family unset
  BOOST_TEST(t.size() == 0u);
  BOOST_TEST(t.node_count() == 0u);
  BOOST_TEST(t.prefixes_of(1).empty());
}

BOOST_AUTO_TEST_CASE(default_route_covers_its_family_only) {
  AllowedIps<int> t;
  t.insert(P("0.0.0.0/0"), 1);
  BOOST_TEST(t.lookup(A("0.0.0.0")) == 1);
  BOOST_TEST(t.lookup(A("10.1.2.3")) == 1);
  BOOST_TEST(t.lookup(A("255.255.255.255")) == 1);
  BOOST_TEST(t.lookup(A("::")) == 0);
  BOOST_TEST(t.lookup(A("fd00::1")) == 0);

  t.insert(P("::/0"), 2);
  BOOST_TEST(t.lookup(A("fd00::1")) == 2);
  BOOST_TEST(t.lookup(A("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")) == 2);
  BOOST_TEST(t.lookup(A("10.1.2.3")) == 1);

  // A more specific route wins over the default in both families.
  t.insert(P("10.0.0.0/8"), 3);
  t.insert(P("fd00::/8"), 4);
  BOOST_TEST(t.lookup(A("10.1.2.3")) == 3);
  BOOST_TEST(t.lookup(A("11.1.2.3")) == 1);
  BOOST_TEST(t.lookup(A("fd12::1")) == 4);
  BOOST_TEST(t.lookup(A("fe80::1")) == 2);
  BOOST_TEST(t.size() == 4u);
}

BOOST_AUTO_TEST_CASE(host_route_beats_overlapping_slash24_in_either_order) {
  for (bool host_first : {false, true}) {
    AllowedIps<int> t;
    if (host_first) t.insert(P("10.0.0.5/32"), 2);
    t.insert(P("10.0.0.0/24"), 1);
    if (!host_first) t.insert(P("10.0.0.5/32"), 2);
    BOOST_TEST(t.lookup(A("10.0.0.5")) == 2);
    BOOST_TEST(t.lookup(A("10.0.0.4")) == 1);
    BOOST_TEST(t.lookup(A("10.0.0.6")) == 1);
    BOOST_TEST(t.lookup(A("10.0.0.255")) == 1);
    BOOST_TEST(t.lookup(A("10.0.1.5")) == 0);
    BOOST_TEST(t.lookup(A("9.255.255.255")) == 0);
    BOOST_TEST(t.size() == 2u);
    BOOST_TEST(t.node_count() == 2u);
  }
}

BOOST_AUTO_TEST_CASE(v6_host_route_and_slash64) {
  AllowedIps<int> t;
  t.insert(P("fd00:1::/64"), 1);
  t.insert(P("fd00:1::1/128"), 2);
  BOOST_TEST(t.lookup(A("fd00:1::1")) == 2);
  BOOST_TEST(t.lookup(A("fd00:1::2")) == 1);
  BOOST_TEST(t.lookup(A("fd00:1::ffff:ffff:ffff:ffff")) == 1);
  BOOST_TEST(t.lookup(A("fd00:1:0:1::1")) == 0);
  BOOST_TEST(t.lookup(A("fd00:2::1")) == 0);
  // An IPv4 address with the same leading bytes is a different family.
  t.insert(P("253.0.0.1/32"), 3);  // fd.00.00.01
  BOOST_TEST(t.lookup(A("fd00:1::1")) == 2);
  BOOST_TEST(t.lookup(A("fd00:0001::")) == 1);
  BOOST_TEST(t.lookup(A("253.0.0.1")) == 3);
}

BOOST_AUTO_TEST_CASE(v6_prefixes_across_the_64_bit_seam) {
  AllowedIps<int> t;
  t.insert(P("2001:db8::/63"), 63);
  t.insert(P("2001:db8::/64"), 64);
  t.insert(P("2001:db8::/65"), 65);
  t.insert(P("2001:db8:0:0:8000::/65"), 66);
  BOOST_TEST(t.lookup(A("2001:db8::1")) == 65);
  BOOST_TEST(t.lookup(A("2001:db8::8000:0:0:1")) == 66);
  BOOST_TEST(t.lookup(A("2001:db8::7fff:ffff:ffff:ffff")) == 65);
  BOOST_TEST(t.lookup(A("2001:db8:0:1::1")) == 63);
  BOOST_TEST(t.lookup(A("2001:db8:0:2::1")) == 0);
  t.remove(P("2001:db8::/65"));
  BOOST_TEST(t.lookup(A("2001:db8::1")) == 64);
  BOOST_TEST(t.lookup(A("2001:db8::8000:0:0:1")) == 66);
}

BOOST_AUTO_TEST_CASE(host_bits_are_ignored) {
  AllowedIps<int> t;
  t.insert(P("10.1.2.3/24"), 1);
  t.insert(P("fd00::1234/120"), 2);
  BOOST_TEST(t.lookup(A("10.1.2.200")) == 1);
  BOOST_TEST(t.lookup(A("fd00::12ff")) == 2);
  BOOST_TEST(strings(t.prefixes_of(1)) == (Strings{"10.1.2.0/24"}));
  BOOST_TEST(strings(t.prefixes_of(2)) == (Strings{"fd00::1200/120"}));
  t.insert(P("10.1.2.77/24"), 3);  // the same prefix, written differently
  BOOST_TEST(t.size() == 2u);
  BOOST_TEST(t.lookup(A("10.1.2.1")) == 3);
  t.remove(P("10.1.2.99/24"));
  t.remove(P("fd00::12ab/120"));
  BOOST_TEST(t.lookup(A("10.1.2.1")) == 0);
  BOOST_TEST(t.lookup(A("fd00::1201")) == 0);
  BOOST_TEST(t.size() == 0u);
  BOOST_TEST(t.node_count() == 0u);
}

BOOST_AUTO_TEST_CASE(same_prefix_again_replaces_the_value) {
  AllowedIps<int> t;
  t.insert(P("192.168.0.0/16"), 1);
  t.insert(P("fd00::/16"), 1);
  t.insert(P("192.168.0.0/16"), 2);
  BOOST_TEST(t.size() == 2u);
  BOOST_TEST(t.lookup(A("192.168.4.4")) == 2);
  BOOST_TEST(strings(t.prefixes_of(1)) == (Strings{"fd00::/16"}));
  BOOST_TEST(strings(t.prefixes_of(2)) == (Strings{"192.168.0.0/16"}));
  // Inserting "no entry" is a removal.
  t.insert(P("192.168.0.0/16"), 0);
  BOOST_TEST(t.size() == 1u);
  BOOST_TEST(t.lookup(A("192.168.4.4")) == 0);
}

BOOST_AUTO_TEST_CASE(remove_prunes_empty_nodes) {
  AllowedIps<int> t;
  // Two siblings with no stored parent need a fork node: 3 nodes for 2 prefixes.
  t.insert(P("10.1.0.0/16"), 1);
  t.insert(P("10.2.0.0/16"), 2);
  BOOST_TEST(t.node_count() == 3u);
  // Absent prefixes, including the fork's own prefix and ones on the path, change nothing.
  t.remove(P("10.0.0.0/14"));
  t.remove(P("10.0.0.0/8"));
  t.remove(P("10.3.0.0/16"));
  t.remove(P("10.1.0.0/17"));
  t.remove(P("fd00::/16"));
  BOOST_TEST(t.size() == 2u);
  BOOST_TEST(t.node_count() == 3u);
  BOOST_TEST(t.lookup(A("10.1.9.9")) == 1);

  t.remove(P("10.1.0.0/16"));  // the fork goes with it
  BOOST_TEST(t.node_count() == 1u);
  BOOST_TEST(t.lookup(A("10.1.9.9")) == 0);
  BOOST_TEST(t.lookup(A("10.2.9.9")) == 2);
  t.remove(P("10.2.0.0/16"));
  BOOST_TEST(t.node_count() == 0u);
  BOOST_TEST(t.size() == 0u);

  // A stored prefix whose two children split right below it stays, as the fork, when removed.
  t.insert(P("10.0.0.0/8"), 9);
  t.insert(P("10.0.0.0/16"), 1);    // bit 8 is 0
  t.insert(P("10.128.0.0/16"), 2);  // bit 8 is 1
  BOOST_TEST(t.node_count() == 3u);
  t.remove(P("10.0.0.0/8"));
  BOOST_TEST(t.node_count() == 3u);
  BOOST_TEST(t.size() == 2u);
  BOOST_TEST(t.lookup(A("10.3.0.1")) == 0);
  BOOST_TEST(t.lookup(A("10.128.0.1")) == 2);
  BOOST_TEST(t.lookup(A("10.0.0.1")) == 1);
  // Once one child goes, the valueless fork goes too.
  t.remove(P("10.128.0.0/16"));
  BOOST_TEST(t.node_count() == 1u);
  BOOST_TEST(t.lookup(A("10.0.0.1")) == 1);
  t.clear();

  // A stored prefix with a single child (here a fork at /14 above 10.1/16 and 10.2/16) is
  // bypassed when removed.
  t.insert(P("10.0.0.0/8"), 9);
  t.insert(P("10.1.0.0/16"), 1);
  t.insert(P("10.2.0.0/16"), 2);
  BOOST_TEST(t.node_count() == 4u);
  t.remove(P("10.0.0.0/8"));
  BOOST_TEST(t.node_count() == 3u);
  BOOST_TEST(t.lookup(A("10.3.0.1")) == 0);
  BOOST_TEST(t.lookup(A("10.1.0.1")) == 1);
  BOOST_TEST(t.lookup(A("10.2.0.1")) == 2);
  t.remove(P("10.2.0.0/16"));
  t.remove(P("10.1.0.0/16"));
  BOOST_TEST(t.node_count() == 0u);
}

BOOST_AUTO_TEST_CASE(remove_all_drops_every_prefix_of_one_value) {
  AllowedIps<int> t;
  t.insert(P("10.0.0.0/8"), 2);
  t.insert(P("fd00::/8"), 2);
  t.insert(P("10.1.0.0/16"), 1);
  t.insert(P("10.1.2.3/32"), 1);
  t.insert(P("10.200.0.0/16"), 1);
  t.insert(P("fd00:1::/64"), 1);
  t.insert(P("0.0.0.0/0"), 3);
  BOOST_TEST(t.size() == 7u);
  BOOST_TEST(strings(t.prefixes_of(1)) ==
             (Strings{"10.1.0.0/16", "10.1.2.3/32", "10.200.0.0/16", "fd00:1::/64"}));

  t.remove_all(1);
  BOOST_TEST(t.size() == 3u);
  BOOST_TEST(t.node_count() == 3u);
  BOOST_TEST(t.prefixes_of(1).empty());
  BOOST_TEST(t.lookup(A("10.1.2.3")) == 2);
  BOOST_TEST(t.lookup(A("10.200.1.1")) == 2);
  BOOST_TEST(t.lookup(A("fd00:1::1")) == 2);
  BOOST_TEST(t.lookup(A("11.0.0.1")) == 3);
  t.remove_all(1);  // nothing left to remove
  t.remove_all(0);  // "no entry" is never stored
  BOOST_TEST(t.size() == 3u);
  t.remove_all(2);
  t.remove_all(3);
  BOOST_TEST(t.size() == 0u);
  BOOST_TEST(t.node_count() == 0u);
  BOOST_TEST(t.lookup(A("10.1.2.3")) == 0);
}

BOOST_AUTO_TEST_CASE(prefixes_of_is_sorted) {
  AllowedIps<int> t;
  for (auto s : {"fd00::/8", "10.2.0.0/16", "::/0", "10.1.0.0/16", "10.0.0.0/8", "fc00::/7",
                 "192.168.1.1/32", "0.0.0.0/0", "10.1.0.0/24"})
    t.insert(P(s), 7);
  BOOST_TEST(strings(t.prefixes_of(7)) ==
             (Strings{"0.0.0.0/0", "10.0.0.0/8", "10.1.0.0/16", "10.1.0.0/24", "10.2.0.0/16",
                      "192.168.1.1/32", "::/0", "fc00::/7", "fd00::/8"}));
}

BOOST_AUTO_TEST_CASE(lookups_straight_from_packet_headers) {
  AllowedIps<int> t;
  t.insert(P("100.64.0.0/10"), 1);
  t.insert(P("fd7a:115c:a1e0::/48"), 2);
  // IPv4 header: destination at offset 16.
  const std::array<std::uint8_t, 20> v4 = {0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0,
                                           10,   0, 0, 1,  100, 100, 7, 8};
  BOOST_TEST(t.lookup_v4(v4.data() + 16) == 1);
  BOOST_TEST(t.lookup_v4(v4.data() + 12) == 0);  // source 10.0.0.1
  // IPv6 header: source at offset 8, destination at 24.
  std::array<std::uint8_t, 40> v6{};
  v6[0] = 0x60;
  const auto dst = A("fd7a:115c:a1e0:ab12::1");
  std::copy_n(dst.bytes.begin(), 16, v6.begin() + 24);
  BOOST_TEST(t.lookup_v6(v6.data() + 24) == 2);
  BOOST_TEST(t.lookup_v6(v6.data() + 8) == 0);  // source ::
}

BOOST_AUTO_TEST_CASE(clear_empties_both_families) {
  AllowedIps<int> t;
  t.insert(P("10.0.0.0/8"), 1);
  t.insert(P("fd00::/8"), 1);
  t.clear();
  BOOST_TEST(t.size() == 0u);
  BOOST_TEST(t.node_count() == 0u);
  BOOST_TEST(t.lookup(A("10.0.0.1")) == 0);
  BOOST_TEST(t.lookup(A("fd00::1")) == 0);
  t.insert(P("10.0.0.0/8"), 2);  // still usable
  BOOST_TEST(t.lookup(A("10.0.0.1")) == 2);
}

BOOST_AUTO_TEST_CASE(values_can_be_peer_pointers) {
  struct Peer {
    int id;
  };
  Peer alice{1}, bob{2};
  AllowedIps<const Peer*> t;
  t.insert(P("10.0.0.0/24"), &alice);
  t.insert(P("10.0.0.7/32"), &bob);
  BOOST_TEST(t.lookup(A("10.0.0.7")) == &bob);
  BOOST_TEST(t.lookup(A("10.0.0.8")) == &alice);
  BOOST_TEST(t.lookup(A("10.0.1.8")) == nullptr);
  t.remove_all(&bob);
  BOOST_TEST(t.lookup(A("10.0.0.7")) == &alice);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------

namespace {

// The obviously-correct table: a list scanned for the longest containing prefix.
struct NaiveTable {
  std::vector<std::pair<IpPrefix, int>> entries;

  void insert(IpPrefix p, int v) {
    p = p.network();
    for (auto& [q, w] : entries)
      if (q == p) {
        w = v;
        return;
      }
    entries.emplace_back(p, v);
  }
  void remove(IpPrefix p) {
    p = p.network();
    std::erase_if(entries, [&](const auto& e) { return e.first == p; });
  }
  void remove_all(int v) {
    std::erase_if(entries, [&](const auto& e) { return e.second == v; });
  }
  int lookup(const IpAddress& a) const {
    int best = 0, best_len = -1;
    for (const auto& [p, v] : entries)
      if (p.contains(a) && int(p.length) > best_len) {
        best = v;
        best_len = p.length;
      }
    return best;
  }
  std::vector<IpPrefix> prefixes_of(int v) const {
    std::vector<IpPrefix> out;
    for (const auto& [p, w] : entries)
      if (w == v) out.push_back(p);
    std::sort(out.begin(), out.end(), [](const IpPrefix& a, const IpPrefix& b) {
      return std::tie(a.address.family, a.address.bytes, a.length) <
             std::tie(b.address.family, b.address.bytes, b.length);
    });
    return out;
  }
};

// Addresses cluster around a few bases so that random prefixes nest and collide; fully
// random IPv6 prefixes would almost never overlap.
class Generator {
 public:
  explicit Generator(std::uint64_t seed) : rng_(seed) {
    for (auto& b : bases4_) b = random_address(AF_INET);
    for (auto& b : bases6_) b = random_address(AF_INET6);
  }

  unsigned below(unsigned n) { return std::uniform_int_distribution<unsigned>(0, n - 1)(rng_); }

  IpAddress random_address(std::uint8_t family) {
    IpAddress a;
    a.family = family;
    for (unsigned i = 0; i < a.size(); ++i) a.bytes[i] = std::uint8_t(rng_());
    return a;
  }

  // A base address whose bits from a random position on are random.
  IpAddress clustered_address(std::uint8_t family) {
    IpAddress a = family == AF_INET ? bases4_[below(kBases)] : bases6_[below(kBases)];
    randomize_from(a, below(unsigned(a.size()) * 8 + 1));
    return a;
  }

  IpPrefix random_prefix() {
    const std::uint8_t family = below(2) ? AF_INET : AF_INET6;
    IpPrefix p{clustered_address(family), 0};
    const unsigned max = unsigned(p.address.size()) * 8;
    // Mostly medium lengths, sometimes anything (including /0 and host routes).
    p.length = std::uint8_t(below(4) == 0 ? below(max + 1) : max / 4 + below(max / 2 + 1));
    return p;
  }

  // An address inside `p`: its host bits random.
  IpAddress address_inside(const IpPrefix& p) {
    IpAddress a = p.address;
    randomize_from(a, p.length);
    return a;
  }

  // An address inside `p`, sometimes with one prefix bit flipped so that it just misses.
  IpAddress address_near(const IpPrefix& p) {
    IpAddress a = address_inside(p);
    if (p.length > 0 && below(4) == 0) {
      const unsigned bit = below(p.length);
      a.bytes[bit / 8] ^= std::uint8_t(0x80 >> (bit % 8));
    }
    return a;
  }

 private:
  static constexpr unsigned kBases = 4;

  void randomize_from(IpAddress& a, unsigned from_bit) {
    for (unsigned bit = from_bit; bit < a.size() * 8; ++bit) {
      const std::uint8_t m = std::uint8_t(0x80 >> (bit % 8));
      a.bytes[bit / 8] = std::uint8_t(rng_() & 1 ? a.bytes[bit / 8] | m : a.bytes[bit / 8] & ~m);
    }
  }

  std::mt19937_64 rng_;
  std::array<IpAddress, kBases> bases4_, bases6_;
};

constexpr int kValues = 12;  // values 1..kValues, few enough that remove_all bites

void check_lookup(const AllowedIps<int>& t, const NaiveTable& ref, const IpAddress& a) {
  const int want = ref.lookup(a);
  const int got = t.lookup(a);
  BOOST_TEST_REQUIRE(got == want, "lookup(" << a.to_string() << ")");
  const int raw = a.family == AF_INET ? t.lookup_v4(a.bytes.data()) : t.lookup_v6(a.bytes.data());
  BOOST_TEST_REQUIRE(raw == want, "raw lookup(" << a.to_string() << ")");
}

void check_whole_table(const AllowedIps<int>& t, const NaiveTable& ref) {
  BOOST_TEST_REQUIRE(t.size() == ref.entries.size());
  BOOST_TEST_REQUIRE(t.node_count() <= 2 * t.size());  // path compression: < 2n per family
  for (int v = 1; v <= kValues; ++v)
    BOOST_TEST_REQUIRE(strings(t.prefixes_of(v)) == strings(ref.prefixes_of(v)));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(differential)

BOOST_AUTO_TEST_CASE(random_operations_match_a_naive_scan) {
  Generator gen(0x6b65796d657368);  // "keymesh"
  AllowedIps<int> t;
  NaiveTable ref;
  std::size_t lookups = 0, hits = 0, max_size = 0, removes_that_hit = 0;

  auto lookup_some = [&](unsigned n) {
    for (unsigned i = 0; i < n; ++i) {
      IpAddress a;
      if (!ref.entries.empty() && gen.below(2))
        a = gen.address_near(ref.entries[gen.below(unsigned(ref.entries.size()))].first);
      else
        a = gen.clustered_address(gen.below(2) ? AF_INET : AF_INET6);
      check_lookup(t, ref, a);
      ++lookups;
      hits += ref.lookup(a) != 0;
    }
  };

  // Grow to a few thousand prefixes, then churn with removals interleaved, then drain.
  constexpr int kSteps = 16000;
  for (int step = 0; step < kSteps; ++step) {
    const unsigned insert_pct = step < 6000 ? 95 : step < 11000 ? 50 : 10;
    const unsigned r = gen.below(1000);
    if (r < insert_pct * 10) {
      const IpPrefix p = gen.random_prefix();
      const int v = 1 + int(gen.below(kValues));
      t.insert(p, v);
      ref.insert(p, v);
    } else if (r < 995) {
      // Remove a stored prefix (with its host bits re-randomized) or a random one.
      IpPrefix p = gen.random_prefix();
      if (!ref.entries.empty() && gen.below(4) != 0) {
        p = ref.entries[gen.below(unsigned(ref.entries.size()))].first;
        p.address = gen.address_inside(p);
      }
      const std::size_t before = ref.entries.size();
      t.remove(p);
      ref.remove(p);
      removes_that_hit += ref.entries.size() != before;
    } else {
      const int v = 1 + int(gen.below(kValues));
      t.remove_all(v);
      ref.remove_all(v);
    }
    BOOST_TEST_REQUIRE(t.size() == ref.entries.size());
    max_size = std::max(max_size, ref.entries.size());
    lookup_some(4);
    if (step % 500 == 0) check_whole_table(t, ref);
  }
  check_whole_table(t, ref);
  lookup_some(2000);

  for (int v = 1; v <= kValues; ++v) {
    t.remove_all(v);
    ref.remove_all(v);
  }
  check_whole_table(t, ref);
  BOOST_TEST(t.node_count() == 0u);
  lookup_some(100);

  BOOST_TEST_MESSAGE("lookups " << lookups << ", hits " << hits << ", peak size " << max_size
                                << ", removes that hit " << removes_that_hit);
  // The test means something only if lookups both hit and miss and the table got big.
  BOOST_TEST(hits > lookups / 4);
  BOOST_TEST(hits < lookups);
  BOOST_TEST(max_size > 1000u);
  BOOST_TEST(removes_that_hit > 1000u);
}

BOOST_AUTO_TEST_SUITE_END()
