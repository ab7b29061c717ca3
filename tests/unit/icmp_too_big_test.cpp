// tun/icmp_too_big.h: the ICMP answer keymeshd writes into km0 for an inner packet that does
// not fit the path. Checked the way the sender's kernel reads it: addresses swapped, type and
// code, the MTU field, valid checksums, the original packet quoted; and no answer where RFC
// 1122/4443 forbid one.
#define BOOST_TEST_MODULE icmp_too_big
#include <boost/test/unit_test.hpp>
#include <vector>

#include "tun/checksum.h"
#include "tun/icmp_too_big.h"

using namespace keymesh::tun;
using namespace keymesh::tun::checksum;

namespace {

std::vector<std::uint8_t> tcp_v4(std::size_t size, std::uint8_t src0 = 100) {
  std::vector<std::uint8_t> p(size, 0xab);
  p[0] = 0x45;
  p[1] = 0;
  store_be16(&p[2], std::uint16_t(size));
  store_be16(&p[6], 0x4000);  // DF
  p[8] = 64;
  p[9] = 6;
  const std::uint8_t src[4] = {src0, 64, 1, 2}, dst[4] = {100, 64, 2, 3};
  std::memcpy(&p[12], src, 4);
  std::memcpy(&p[16], dst, 4);
  set_ipv4_header_checksum(p, 20);
  return p;
}

std::vector<std::uint8_t> tcp_v6(std::size_t size) {
  std::vector<std::uint8_t> p(size, 0xcd);
  p[0] = 0x60;
  store_be16(&p[4], std::uint16_t(size - 40));
  p[6] = 6;
  p[7] = 64;
  for (int i = 0; i < 16; ++i) p[8 + i] = i == 0 ? 0xfd : std::uint8_t(i);
  for (int i = 0; i < 16; ++i) p[24 + i] = i == 0 ? 0xfd : std::uint8_t(0x40 + i);
  return p;
}

std::vector<std::uint8_t> answer(const std::vector<std::uint8_t>& packet, std::uint32_t mtu) {
  std::vector<std::uint8_t> out(kMaxTooBigAnswer);
  out.resize(build_too_big(packet, mtu, out));
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(ipv4_fragmentation_needed) {
  const auto p = tcp_v4(1400);
  const auto a = answer(p, 1300);
  BOOST_REQUIRE(a.size() == 576u);
  BOOST_TEST(a[0] == 0x45);
  BOOST_TEST(load_be16(&a[2]) == 576u);
  BOOST_TEST(a[9] == 1);
  BOOST_TEST(sum16(std::span(a).first(20)) == 0xffff);       // IP header checksum
  BOOST_TEST(std::memcmp(&a[12], &p[16], 4) == 0);           // from the destination
  BOOST_TEST(std::memcmp(&a[16], &p[12], 4) == 0);           // to the source
  BOOST_TEST(a[20] == 3);
  BOOST_TEST(a[21] == 4);
  BOOST_TEST(load_be16(&a[26]) == 1300u);
  BOOST_TEST(sum16(std::span(a).subspan(20)) == 0xffff);     // ICMP checksum
  BOOST_TEST(std::memcmp(&a[28], p.data(), 548) == 0);       // the packet, quoted
  // A limit under IPv4's minimum is raised to it.
  BOOST_TEST(load_be16(&answer(p, 100)[26]) == kMinIpv4Mtu);
}

BOOST_AUTO_TEST_CASE(ipv6_packet_too_big) {
  const auto p = tcp_v6(1500);
  const auto a = answer(p, 1400);
  BOOST_REQUIRE(a.size() == 1280u);
  BOOST_TEST(a[0] == 0x60);
  BOOST_TEST(load_be16(&a[4]) == 1240u);
  BOOST_TEST(a[6] == 58);
  BOOST_TEST(std::memcmp(&a[8], &p[24], 16) == 0);
  BOOST_TEST(std::memcmp(&a[24], &p[8], 16) == 0);
  BOOST_TEST(a[40] == 2);
  BOOST_TEST(load_be32(&a[44]) == 1400u);
  const std::uint32_t sum = fold(std::uint64_t(sum16(std::span(a).subspan(40))) +
                                 pseudo_header_sum(a, 58, a.size() - 40));
  BOOST_TEST(sum == 0xffffu);
  BOOST_TEST(std::memcmp(&a[48], p.data(), 1232) == 0);
  BOOST_TEST(load_be32(&answer(p, 1000)[44]) == kMinIpv6Mtu);
}

BOOST_AUTO_TEST_CASE(a_short_packet_is_quoted_whole) {
  const auto p = tcp_v4(60);
  const auto a = answer(p, 1300);
  BOOST_REQUIRE(a.size() == 88u);
  BOOST_TEST(std::memcmp(&a[28], p.data(), 60) == 0);
}

BOOST_AUTO_TEST_CASE(no_answer_where_none_is_allowed) {
  auto frag = tcp_v4(1400);
  store_be16(&frag[6], 0x2000 | 100);  // a later fragment
  BOOST_TEST(answer(frag, 1300).empty());
  auto icmp_error = tcp_v4(1400);
  icmp_error[9] = 1;
  icmp_error[20] = 3;  // destination unreachable
  BOOST_TEST(answer(icmp_error, 1300).empty());
  auto echo = tcp_v4(1400);
  echo[9] = 1;
  echo[20] = 8;  // echo request: answered (ping -M do -s 1400 learns the MTU)
  BOOST_TEST(!answer(echo, 1300).empty());
  BOOST_TEST(answer(tcp_v4(1400, 224), 1300).empty());  // multicast source
  BOOST_TEST(answer(tcp_v4(1400, 127), 1300).empty());  // loopback source
  BOOST_TEST(answer(tcp_v4(1400, 0), 1300).empty());
  auto v6_error = tcp_v6(1400);
  v6_error[6] = 58;
  v6_error[40] = 1;
  BOOST_TEST(answer(v6_error, 1300).empty());
  BOOST_TEST(answer({0x45, 0}, 1300).empty());  // shorter than its header
  std::vector<std::uint8_t> small(100);
  BOOST_TEST(build_too_big(tcp_v4(1400), 1300, small) == 0u);
}
