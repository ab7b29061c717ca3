// tun/offload.h: splitting the kernel's TCP super-packets and coalescing the tunnel's
// segments, checked against an independent checksum and hand-built packets.
#define BOOST_TEST_MODULE tun_offload
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <vector>

#include "tun/offload.h"

namespace off = keymesh::tun::offload;
using Bytes = std::vector<std::uint8_t>;

namespace {

constexpr std::uint8_t kFin = 0x01, kPsh = 0x08, kAck = 0x10, kCwr = 0x80;

// RFC 1071, the slow obvious way: 16-bit big-endian words, end-around carry.
std::uint32_t slow_sum(const std::uint8_t* p, std::size_t n, std::uint32_t sum = 0) {
  for (std::size_t i = 0; i < n; i += 2) {
    sum += std::uint32_t(p[i]) << 8 | (i + 1 < n ? p[i + 1] : 0);
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return sum;
}

bool ipv4_header_ok(const Bytes& p) { return slow_sum(p.data(), (p[0] & 15) * 4u) == 0xffff; }

std::size_t ip_header_len(const Bytes& p) { return (p[0] >> 4) == 4 ? (p[0] & 15) * 4u : 40; }

std::uint32_t pseudo(const Bytes& p, std::uint8_t proto, std::size_t l4len) {
  const bool v4 = (p[0] >> 4) == 4;
  std::uint32_t s = v4 ? slow_sum(&p[12], 8) : slow_sum(&p[8], 32);
  s = slow_sum(nullptr, 0, s + proto + std::uint32_t(l4len >> 16) + (l4len & 0xffff));
  return (s & 0xffff) + (s >> 16);
}

bool l4_checksum_ok(const Bytes& p, std::uint8_t proto) {
  const std::size_t ip = ip_header_len(p);
  return slow_sum(&p[ip], p.size() - ip, pseudo(p, proto, p.size() - ip)) == 0xffff;
}

std::uint16_t be16(const std::uint8_t* p) { return std::uint16_t(p[0] << 8 | p[1]); }
std::uint32_t be32(const std::uint8_t* p) { return std::uint32_t(be16(p)) << 16 | be16(p + 2); }
void put16(std::uint8_t* p, std::uint32_t v) {
  p[0] = std::uint8_t(v >> 8);
  p[1] = std::uint8_t(v);
}
void put32(std::uint8_t* p, std::uint32_t v) { put16(p, v >> 16), put16(p + 2, v); }

struct Flow {
  int version = 4;
  std::uint8_t src_last = 1;
  std::uint16_t sport = 40000, dport = 5201;
  bool timestamps = true;
};

Bytes payload_bytes(std::size_t n, std::uint8_t salt) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = std::uint8_t(i * 7 + salt + (i >> 8));
  return b;
}

// A TCP packet with valid IP and TCP checksums (or, with `partial`, the TCP checksum field
// seeded with the pseudo-header sum as the kernel leaves it for NEEDS_CSUM).
Bytes tcp_packet(const Flow& f, std::uint32_t seq, std::uint16_t id, std::uint8_t flags,
                 const Bytes& payload, bool partial = false) {
  const std::size_t ip = f.version == 4 ? 20 : 40;
  const std::size_t tcp = f.timestamps ? 32 : 20;
  Bytes p(ip + tcp + payload.size());
  if (f.version == 4) {
    p[0] = 0x45;
    p[1] = 0;
    put16(&p[2], std::uint32_t(p.size()));
    put16(&p[4], id);
    put16(&p[6], 0x4000);  // DF
    p[8] = 64;
    p[9] = 6;
    p[12] = 198, p[13] = 18, p[14] = 0, p[15] = f.src_last;
    p[16] = 198, p[17] = 19, p[18] = 0, p[19] = 2;
    put16(&p[10], ~slow_sum(p.data(), 20) & 0xffff);
  } else {
    p[0] = 0x60;
    put16(&p[4], std::uint32_t(p.size() - 40));
    p[6] = 6;
    p[7] = 64;
    p[8] = 0xfd, p[23] = f.src_last;
    p[24] = 0xfd, p[39] = 2;
  }
  std::uint8_t* t = &p[ip];
  put16(t, f.sport);
  put16(t + 2, f.dport);
  put32(t + 4, seq);
  put32(t + 8, 777);
  t[12] = std::uint8_t((tcp / 4) << 4);
  t[13] = flags;
  put16(t + 14, 512);
  if (f.timestamps) {
    t[20] = 1, t[21] = 1, t[22] = 8, t[23] = 10;
    put32(t + 24, 1111);
    put32(t + 28, 2222);
  }
  std::copy(payload.begin(), payload.end(), p.begin() + long(ip + tcp));
  const std::uint32_t ps = pseudo(p, 6, p.size() - ip);
  put16(t + 16, partial ? ps : ~slow_sum(t, p.size() - ip, ps) & 0xffff);
  return p;
}

Bytes udp_packet(std::uint8_t tag) {
  Bytes p(20 + 8 + 5, tag);
  p[0] = 0x45;
  put16(&p[2], std::uint32_t(p.size()));
  put16(&p[6], 0);
  p[8] = 64;
  p[9] = 17;
  p[12] = 198, p[13] = 18, p[14] = 0, p[15] = 1;
  p[16] = 198, p[17] = 19, p[18] = 0, p[19] = 2;
  put16(&p[10], 0);
  put16(&p[10], ~slow_sum(p.data(), 20) & 0xffff);
  put16(&p[24], 13);
  put16(&p[26], 0);
  return p;
}

Bytes frame(const off::VirtioHeader& h, const Bytes& packet) {
  const auto hb = h.encode();
  Bytes f(hb.begin(), hb.end());
  f.insert(f.end(), packet.begin(), packet.end());
  return f;
}

std::vector<Bytes> split_all(const Bytes& fr, std::size_t mtu) {
  off::Splitter s;
  BOOST_REQUIRE(s.start(fr) == off::SplitStatus::Ok);
  std::vector<Bytes> out;
  Bytes buf(mtu);
  while (!s.done()) {
    const long n = s.next(buf);
    BOOST_REQUIRE(n > 0);
    out.emplace_back(buf.begin(), buf.begin() + n);
  }
  return out;
}

Bytes joined(const off::Output& o) {
  Bytes b;
  for (auto piece : o.pieces) b.insert(b.end(), piece.begin(), piece.end());
  return b;
}

Bytes tcp_payload(const Bytes& p) {
  const std::size_t ip = ip_header_len(p);
  const std::size_t tcp = (p[ip + 12] >> 4) * 4u;
  return Bytes(p.begin() + long(ip + tcp), p.end());
}

void check_split(int version) {
  const std::size_t mtu = 1400;
  Flow f;
  f.version = version;
  const std::size_t headers = (version == 4 ? 20 : 40) + 32;
  const std::size_t mss = mtu - headers;
  const Bytes data = payload_bytes(mss * 7 + 123, 5);
  const Bytes super = tcp_packet(f, 0xfffff000, 0xfffe, kAck | kPsh | kFin | kCwr, data, true);
  off::VirtioHeader h;
  h.flags = off::kFlagNeedsCsum;
  h.gso_type = version == 4 ? off::kGsoTcpV4 : off::kGsoTcpV6;
  h.hdr_len = std::uint16_t(headers);
  h.gso_size = std::uint16_t(mss);
  h.csum_start = std::uint16_t(headers - 32);
  h.csum_offset = 16;
  const auto segs = split_all(frame(h, super), mtu);
  BOOST_REQUIRE_EQUAL(segs.size(), 8u);
  Bytes rebuilt;
  for (std::size_t i = 0; i < segs.size(); ++i) {
    const Bytes& s = segs[i];
    const std::size_t ip = ip_header_len(s);
    BOOST_TEST(s.size() <= mtu);
    BOOST_TEST(s.size() == (i + 1 < segs.size() ? mtu : headers + 123));
    if (version == 4) {
      BOOST_TEST(ipv4_header_ok(s));
      BOOST_TEST(be16(&s[2]) == s.size());
      BOOST_TEST(be16(&s[4]) == std::uint16_t(0xfffe + i));
    } else {
      BOOST_TEST(be16(&s[4]) == s.size() - 40);
    }
    BOOST_TEST(l4_checksum_ok(s, 6), "segment " << i);
    BOOST_TEST(be32(&s[ip + 4]) == std::uint32_t(0xfffff000 + i * mss));
    const std::uint8_t flags = s[ip + 13];
    const bool last = i + 1 == segs.size();
    BOOST_TEST(bool(flags & kFin) == last);
    BOOST_TEST(bool(flags & kPsh) == last);
    BOOST_TEST(bool(flags & kCwr) == (i == 0));
    BOOST_TEST(bool(flags & kAck));
    const Bytes pl = tcp_payload(s);
    rebuilt.insert(rebuilt.end(), pl.begin(), pl.end());
  }
  BOOST_TEST(rebuilt == data);
}

}  // namespace

BOOST_AUTO_TEST_CASE(virtio_header_round_trips) {
  off::VirtioHeader h{1, 4, 0x1234, 1448, 40, 16};
  const auto b = h.encode();
  BOOST_TEST(b[2] == 0x34);  // little-endian
  BOOST_TEST(b[3] == 0x12);
  const auto d = off::VirtioHeader::decode(b);
  BOOST_TEST(d.hdr_len == 0x1234);
  BOOST_TEST(d.gso_size == 1448);
  BOOST_TEST(d.csum_start == 40);
  BOOST_TEST(d.csum_offset == 16);
}

BOOST_AUTO_TEST_CASE(splits_ipv4_super_packet) { check_split(4); }
BOOST_AUTO_TEST_CASE(splits_ipv6_super_packet) { check_split(6); }

BOOST_AUTO_TEST_CASE(completes_partial_checksum_of_plain_packet) {
  Bytes udp = udp_packet(9);
  put16(&udp[26], pseudo(udp, 17, 13));  // seeded, as the kernel leaves it
  off::VirtioHeader h;
  h.flags = off::kFlagNeedsCsum;
  h.csum_start = 20;
  h.csum_offset = 6;
  const auto out = split_all(frame(h, udp), 1500);
  BOOST_REQUIRE_EQUAL(out.size(), 1u);
  BOOST_TEST(l4_checksum_ok(out[0], 17));

  Flow f;
  const Bytes tcp = tcp_packet(f, 5, 1, kAck, payload_bytes(99, 1), true);
  h.csum_start = 20;
  h.csum_offset = 16;
  const auto t = split_all(frame(h, tcp), 1500);
  BOOST_REQUIRE_EQUAL(t.size(), 1u);
  BOOST_TEST(l4_checksum_ok(t[0], 6));

  off::VirtioHeader none;  // no flags: passed through byte for byte
  BOOST_TEST(split_all(frame(none, udp), 1500)[0] == udp);
}

BOOST_AUTO_TEST_CASE(splitter_rejects_and_reports_too_small_buffers) {
  off::Splitter s;
  BOOST_TEST((s.start(Bytes(5)) == off::SplitStatus::Malformed));
  BOOST_TEST(s.done());
  off::VirtioHeader h;
  h.gso_type = off::kGsoUdp;
  BOOST_TEST((s.start(frame(h, udp_packet(1))) == off::SplitStatus::Unsupported));
  h.gso_type = off::kGsoTcpV4;  // claims TCP, carries UDP
  h.gso_size = 100;
  BOOST_TEST((s.start(frame(h, udp_packet(1))) == off::SplitStatus::Malformed));
  h.flags = off::kFlagNeedsCsum;
  h.gso_type = off::kGsoNone;
  h.csum_start = 30;  // field beyond the packet
  h.csum_offset = 6;
  BOOST_TEST((s.start(frame(h, udp_packet(1))) == off::SplitStatus::Malformed));

  h = {};
  const Bytes fr = frame(h, udp_packet(1));
  BOOST_REQUIRE(s.start(fr) == off::SplitStatus::Ok);
  Bytes small(10);
  BOOST_TEST(s.next(small) == -EMSGSIZE);
  BOOST_TEST(s.done());
}

BOOST_AUTO_TEST_CASE(coalesces_interleaved_flows_and_passes_others_in_order) {
  Flow a;                  // IPv4
  Flow b;
  b.version = 6;           // IPv6
  b.timestamps = false;
  const std::size_t mss_a = 1000, mss_b = 900;
  std::vector<Bytes> a_pkts, b_pkts;
  Bytes a_data, b_data;
  for (int i = 0; i < 5; ++i) {
    const Bytes pa = payload_bytes(i == 4 ? 300 : mss_a, std::uint8_t(i));
    const Bytes pb = payload_bytes(mss_b, std::uint8_t(100 + i));
    a_pkts.push_back(tcp_packet(a, 1000 + std::uint32_t(i * mss_a), std::uint16_t(50 + i),
                                std::uint8_t(kAck | (i == 4 ? kPsh : 0)), pa));
    b_pkts.push_back(tcp_packet(b, 7 + std::uint32_t(i * mss_b), 0, kAck, pb));
    a_data.insert(a_data.end(), pa.begin(), pa.end());
    b_data.insert(b_data.end(), pb.begin(), pb.end());
  }
  const Bytes udp1 = udp_packet(1), udp2 = udp_packet(2);
  off::Coalescer c(64, 1500);
  for (int i = 0; i < 5; ++i) {
    BOOST_REQUIRE(c.add(a_pkts[i]));
    if (i == 1) BOOST_REQUIRE(c.add(udp1));
    BOOST_REQUIRE(c.add(b_pkts[i]));
    if (i == 3) BOOST_REQUIRE(c.add(udp2));
  }
  const auto outs = c.coalesce();
  BOOST_REQUIRE_EQUAL(outs.size(), 4u);

  const Bytes sa = joined(outs[0]);
  const auto ha = off::VirtioHeader::decode(outs[0].header);
  BOOST_TEST(outs[0].merged == 5u);
  BOOST_TEST(sa.size() == outs[0].size);
  BOOST_TEST(ha.gso_type == off::kGsoTcpV4);
  BOOST_TEST(ha.flags == off::kFlagNeedsCsum);
  BOOST_TEST(ha.gso_size == mss_a);
  BOOST_TEST(ha.hdr_len == 52);
  BOOST_TEST(ha.csum_start == 20);
  BOOST_TEST(ha.csum_offset == 16);
  BOOST_TEST(tcp_payload(sa) == a_data);
  BOOST_TEST(ipv4_header_ok(sa));
  BOOST_TEST(be16(&sa[2]) == sa.size());
  BOOST_TEST(be16(&sa[4]) == 50);
  BOOST_TEST((sa[20 + 13] & kPsh) != 0);  // PSH of the last segment
  BOOST_TEST(be16(&sa[20 + 16]) == pseudo(sa, 6, sa.size() - 20));  // seeded for NEEDS_CSUM

  const Bytes sb = joined(outs[1]);
  const auto hb = off::VirtioHeader::decode(outs[1].header);
  BOOST_TEST(outs[1].merged == 5u);
  BOOST_TEST(hb.gso_type == off::kGsoTcpV6);
  BOOST_TEST(hb.gso_size == mss_b);
  BOOST_TEST(hb.hdr_len == 60);
  BOOST_TEST(hb.csum_start == 40);
  BOOST_TEST(tcp_payload(sb) == b_data);
  BOOST_TEST(be16(&sb[4]) == sb.size() - 40);
  BOOST_TEST(be16(&sb[40 + 16]) == pseudo(sb, 6, sb.size() - 40));

  BOOST_TEST(joined(outs[2]) == udp1);
  BOOST_TEST(joined(outs[3]) == udp2);
  for (std::size_t i = 2; i < 4; ++i) {
    const auto h = off::VirtioHeader::decode(outs[i].header);
    BOOST_TEST(h.gso_type == off::kGsoNone);
    BOOST_TEST(h.flags == 0);
  }
}

BOOST_AUTO_TEST_CASE(does_not_merge_gaps_or_past_a_short_or_pushed_segment) {
  Flow f;
  const Bytes full = payload_bytes(500, 1), shorter = payload_bytes(200, 2);
  off::Coalescer c(64, 1500);
  // seq gap between 1 and 2; 3 is short (ends the run), 4 cannot follow it.
  c.add(tcp_packet(f, 0, 1, kAck, full));
  c.add(tcp_packet(f, 500, 2, kAck, full));
  c.add(tcp_packet(f, 1500, 3, kAck, full));
  c.add(tcp_packet(f, 2000, 4, kAck, shorter));
  c.add(tcp_packet(f, 2200, 5, kAck, full));
  // PSH ends a run; a pure ACK and a bad checksum pass through and break the flow's run.
  c.add(tcp_packet(f, 2700, 6, kAck | kPsh, full));
  c.add(tcp_packet(f, 3200, 7, kAck, full));
  c.add(tcp_packet(f, 3700, 8, kAck, {}));
  Bytes bad = tcp_packet(f, 3700, 9, kAck, full);
  bad.back() ^= 1;
  c.add(bad);
  c.add(tcp_packet(f, 4200, 10, kAck, full));
  const auto outs = c.coalesce();
  std::vector<std::size_t> merged;
  for (const auto& o : outs) merged.push_back(o.merged);
  const std::vector<std::size_t> want = {2, 2, 2, 1, 1, 1, 1};
  BOOST_TEST(merged == want, boost::test_tools::per_element());
  BOOST_TEST(joined(outs[5]) == bad);
}

BOOST_AUTO_TEST_CASE(other_ip_fields_and_ids_must_match) {
  Flow f;
  const Bytes pl = payload_bytes(400, 3);
  off::Coalescer c(64, 1500);
  c.add(tcp_packet(f, 0, 1, kAck, pl));
  Bytes ttl = tcp_packet(f, 400, 2, kAck, pl);
  ttl[8] = 63;
  put16(&ttl[10], 0);
  put16(&ttl[10], ~slow_sum(ttl.data(), 20) & 0xffff);
  c.add(ttl);                                  // TTL differs
  c.add(tcp_packet(f, 800, 9, kAck, pl));      // id jumps
  const auto outs = c.coalesce();
  BOOST_TEST(outs.size() == 3u);
}

BOOST_AUTO_TEST_CASE(split_of_coalesce_restores_segments) {
  for (int version : {4, 6}) {
    Flow f;
    f.version = version;
    std::vector<Bytes> segs;
    const std::size_t mss = 1300;
    for (int i = 0; i < 40; ++i) {
      const bool last = i == 39;
      segs.push_back(tcp_packet(f, 0xffff0000u + std::uint32_t(i * mss), std::uint16_t(65530 + i),
                                std::uint8_t(kAck | (last ? kPsh : 0)),
                                payload_bytes(last ? 77 : mss, std::uint8_t(i))));
    }
    off::Coalescer c(64, 1500);
    for (const auto& s : segs) BOOST_REQUIRE(c.add(s));
    const auto outs = c.coalesce();
    BOOST_REQUIRE_EQUAL(outs.size(), 1u);
    const auto fr = [&] {
      Bytes b(outs[0].header.begin(), outs[0].header.end());
      const Bytes j = joined(outs[0]);
      b.insert(b.end(), j.begin(), j.end());
      return b;
    }();
    const auto back = split_all(fr, 1500);
    BOOST_REQUIRE_EQUAL(back.size(), segs.size());
    for (std::size_t i = 0; i < segs.size(); ++i) BOOST_TEST(back[i] == segs[i], "segment " << i);
  }
}

BOOST_AUTO_TEST_CASE(coalescer_bounds) {
  off::Coalescer c(2, 100);
  BOOST_TEST(!c.add(Bytes(101)));
  BOOST_TEST(!c.add(Bytes{}));
  BOOST_TEST(c.add(Bytes(100, 0x45)));
  BOOST_TEST(c.add(Bytes(3, 0x60)));
  BOOST_TEST(c.full());
  BOOST_TEST(!c.add(Bytes(3)));
  const auto outs = c.coalesce();
  BOOST_TEST(outs.size() == 2u);
  c.clear();
  BOOST_TEST(c.size() == 0u);
}
