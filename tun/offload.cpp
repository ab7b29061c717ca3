#include "tun/offload.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>

#include "tun/checksum.h"

namespace keymesh::tun::offload {

using namespace checksum;

namespace {

constexpr std::uint8_t kProtoTcp = 6;
constexpr std::uint8_t kTcpFin = 0x01;
constexpr std::uint8_t kTcpPsh = 0x08;
constexpr std::uint8_t kTcpAck = 0x10;
constexpr std::uint8_t kTcpEce = 0x40;
constexpr std::uint8_t kTcpCwr = 0x80;
constexpr std::size_t kTcpChecksumOffset = 16;
constexpr std::size_t kUdpChecksumOffset = 6;
// NOP, NOP, timestamp (kind 8, length 10): the only TCP options Linux sends on data segments
// of an established flow without SACK blocks, and the only ones GRO lets through.
constexpr std::uint8_t kTimestampOption[4] = {1, 1, 8, 10};

// Complete TCP checksum of `ip` whose TCP header starts at `l4`.
void set_tcp_checksum(std::span<std::uint8_t> ip, std::size_t l4) noexcept {
  std::uint8_t* field = &ip[l4 + kTcpChecksumOffset];
  store_be16(field, 0);
  const std::uint32_t sum = fold(std::uint64_t(sum16(ip.subspan(l4))) +
                                 pseudo_header_sum(ip, kProtoTcp, ip.size() - l4));
  store_be16(field, std::uint16_t(~sum));
}

bool tcp_checksum_valid(std::span<const std::uint8_t> ip, std::size_t l4) noexcept {
  const std::uint32_t sum = fold(std::uint64_t(sum16(ip.subspan(l4))) +
                                 pseudo_header_sum(ip, kProtoTcp, ip.size() - l4));
  return sum == 0xffff;
}

}  // namespace

VirtioHeader VirtioHeader::decode(std::span<const std::uint8_t> b) noexcept {
  auto le16 = [&](std::size_t i) { return std::uint16_t(b[i] | b[i + 1] << 8); };
  return VirtioHeader{b[0], b[1], le16(2), le16(4), le16(6), le16(8)};
}

std::array<std::uint8_t, kVirtioHeaderSize> VirtioHeader::encode() const noexcept {
  std::array<std::uint8_t, kVirtioHeaderSize> out{};
  out[0] = flags;
  out[1] = gso_type;
  const std::uint16_t fields[4] = {hdr_len, gso_size, csum_start, csum_offset};
  for (std::size_t i = 0; i < 4; ++i) {
    out[2 + 2 * i] = std::uint8_t(fields[i]);
    out[3 + 2 * i] = std::uint8_t(fields[i] >> 8);
  }
  return out;
}

// ---- Splitter ---------------------------------------------------------------------------

SplitStatus Splitter::start(std::span<const std::uint8_t> frame) noexcept {
  count_ = next_ = 0;
  segment_ = false;
  if (frame.size() <= kVirtioHeaderSize || frame.size() > kMaxFrameSize)
    return SplitStatus::Malformed;
  header_ = VirtioHeader::decode(frame);
  packet_ = frame.subspan(kVirtioHeaderSize);
  const std::size_t size = packet_.size();
  const std::uint8_t gso = header_.gso_type & std::uint8_t(~kGsoEcn);

  if (gso == kGsoNone) {
    if ((header_.flags & kFlagNeedsCsum) &&
        std::size_t(header_.csum_start) + header_.csum_offset + 2 > size)
      return SplitStatus::Malformed;
    count_ = 1;
    return SplitStatus::Ok;
  }
  if (gso != kGsoTcpV4 && gso != kGsoTcpV6) return SplitStatus::Unsupported;

  const std::uint8_t* p = packet_.data();
  const unsigned version = p[0] >> 4;
  if (gso == kGsoTcpV4) {
    if (size < 20 || version != 4) return SplitStatus::Malformed;
    ip_header_ = std::size_t(p[0] & 0x0f) * 4;
    // Fragments cannot be TSO super-packets.
    if (ip_header_ < 20 || p[9] != kProtoTcp || (load_be16(p + 6) & 0x3fff) != 0)
      return SplitStatus::Malformed;
  } else {
    // The kernel's TSO6 packets carry TCP right after the fixed header.
    if (size < 40 || version != 6 || p[6] != kProtoTcp) return SplitStatus::Malformed;
    ip_header_ = 40;
  }
  if (size < ip_header_ + 20) return SplitStatus::Malformed;
  const std::size_t tcp_header = std::size_t(p[ip_header_ + 12] >> 4) * 4;
  headers_ = ip_header_ + tcp_header;
  if (tcp_header < 20 || headers_ > size || header_.gso_size == 0) return SplitStatus::Malformed;
  mss_ = header_.gso_size;
  const std::size_t payload = size - headers_;
  count_ = payload == 0 ? 1 : (payload + mss_ - 1) / mss_;
  segment_ = true;
  return SplitStatus::Ok;
}

long Splitter::next(std::span<std::uint8_t> out) noexcept {
  const std::size_t index = next_++;
  if (!segment_) {
    const std::size_t size = packet_.size();
    if (size > out.size()) return -EMSGSIZE;
    std::memcpy(out.data(), packet_.data(), size);
    if (header_.flags & kFlagNeedsCsum) {
      // The field holds the seeded pseudo-header sum; the sum from csum_start covers it.
      std::uint8_t* field = &out[std::size_t(header_.csum_start) + header_.csum_offset];
      const auto covered = out.first(size).subspan(header_.csum_start);
      std::uint16_t sum = std::uint16_t(~sum16(covered));
      if (sum == 0 && header_.csum_offset == kUdpChecksumOffset) sum = 0xffff;  // RFC 768
      store_be16(field, sum);
    }
    return long(size);
  }

  const std::size_t offset = index * mss_;
  const std::size_t payload = std::min(mss_, packet_.size() - headers_ - offset);
  const std::size_t size = headers_ + payload;
  if (size > out.size()) return -EMSGSIZE;
  std::uint8_t* o = out.data();
  std::memcpy(o, packet_.data(), headers_);
  std::memcpy(o + headers_, packet_.data() + headers_ + offset, payload);
  const auto seg = out.first(size);

  if ((o[0] >> 4) == 4) {
    store_be16(o + 2, std::uint16_t(size));
    store_be16(o + 4, std::uint16_t(load_be16(o + 4) + index));
    set_ipv4_header_checksum(seg, ip_header_);
  } else {
    store_be16(o + 4, std::uint16_t(size - 40));
  }
  std::uint8_t* tcp = o + ip_header_;
  store_be32(tcp + 4, std::uint32_t(load_be32(tcp + 4) + offset));
  if (next_ < count_) tcp[13] &= std::uint8_t(~(kTcpFin | kTcpPsh));
  if (index > 0) tcp[13] &= std::uint8_t(~kTcpCwr);
  set_tcp_checksum(seg, ip_header_);
  return long(size);
}

// ---- Coalescer --------------------------------------------------------------------------

struct Coalescer::Info {
  bool keyed = false;      // TCP with known addresses and ports: it orders its flow
  bool candidate = false;  // may be merged (GRO preconditions hold)
  std::uint8_t version = 0;
  std::uint8_t flags = 0;
  std::uint16_t id = 0;
  std::size_t ip_len = 0;
  std::size_t tcp_len = 0;
  std::size_t payload = 0;
  std::uint32_t seq = 0;
};

struct Coalescer::Group {
  std::size_t first = 0;
  std::size_t last = 0;
  std::size_t count = 0;
  std::size_t payload = 0;  // TCP payload bytes of all members
  bool open = false;        // may take another segment
};

Coalescer::Coalescer(std::size_t max_packets, std::size_t max_packet_size)
    : max_packets_(std::max<std::size_t>(max_packets, 1)),
      slot_size_(std::clamp<std::size_t>(max_packet_size, 1, kMaxPacketSize)),
      storage_(max_packets_ * slot_size_),
      lengths_(max_packets_),
      infos_(max_packets_),
      groups_(max_packets_),
      next_member_(max_packets_),
      pieces_(max_packets_),
      outputs_(max_packets_) {}

Coalescer::~Coalescer() = default;

bool Coalescer::add(std::span<const std::uint8_t> packet) noexcept {
  if (full() || packet.empty() || packet.size() > slot_size_) return false;
  std::memcpy(&storage_[count_ * slot_size_], packet.data(), packet.size());
  lengths_[count_++] = packet.size();
  return true;
}

bool Coalescer::parse(std::size_t index, Info& info) noexcept {
  info = Info{};
  const std::span<const std::uint8_t> pkt(&storage_[index * slot_size_], lengths_[index]);
  const std::uint8_t* p = pkt.data();
  const std::size_t size = pkt.size();
  info.version = p[0] >> 4;
  bool plain_ip = false;  // no options or extension headers, length fields exact
  if (info.version == 4) {
    if (size < 20 || p[9] != kProtoTcp || (load_be16(p + 6) & 0x3fff) != 0) return false;
    info.ip_len = std::size_t(p[0] & 0x0f) * 4;
    if (info.ip_len < 20 || size < info.ip_len + 20) return false;
    info.id = load_be16(p + 4);
    plain_ip = info.ip_len == 20 && load_be16(p + 2) == size &&
               sum16(pkt.first(20)) == 0xffff;
  } else if (info.version == 6) {
    if (size < 60 || p[6] != kProtoTcp) return false;
    info.ip_len = 40;
    plain_ip = load_be16(p + 4) + 40u == size;
  } else {
    return false;
  }
  info.keyed = true;
  const std::uint8_t* tcp = p + info.ip_len;
  info.tcp_len = std::size_t(tcp[12] >> 4) * 4;
  if (!plain_ip || info.tcp_len < 20 || info.ip_len + info.tcp_len > size) return true;
  if (info.tcp_len != 20 &&
      !(info.tcp_len == 32 && std::memcmp(tcp + 20, kTimestampOption, 4) == 0))
    return true;
  info.payload = size - info.ip_len - info.tcp_len;
  info.seq = load_be32(tcp + 4);
  info.flags = tcp[13];
  // Only plain data segments: no SYN/FIN/RST/URG, no CWR (it belongs on a first segment).
  const bool data_flags = (info.flags & std::uint8_t(~(kTcpPsh | kTcpEce))) == kTcpAck;
  info.candidate = data_flags && info.payload > 0 && load_be16(tcp + 18) == 0 &&
                   tcp_checksum_valid(pkt, info.ip_len);
  return true;
}

bool Coalescer::can_merge(const Group& g, const Info& in) const noexcept {
  const Info& f = infos_[g.first];
  if (!g.open || !in.candidate || in.version != f.version || in.tcp_len != f.tcp_len) return false;
  const std::uint8_t* a = &storage_[g.first * slot_size_];
  const std::uint8_t* b = &storage_[std::size_t(&in - infos_.data()) * slot_size_];
  if (f.version == 4) {
    // TOS, flags/fragment (DF), TTL; ids must count up like the sender's TSO would.
    if (a[1] != b[1] || a[6] != b[6] || a[7] != b[7] || a[8] != b[8]) return false;
    if (in.id != std::uint16_t(f.id + g.count)) return false;
  } else {
    // Traffic class and flow label, hop limit.
    if (std::memcmp(a, b, 4) != 0 || a[7] != b[7]) return false;
  }
  const std::uint8_t* ta = a + f.ip_len;
  const std::uint8_t* tb = b + in.ip_len;
  // Ack, window and options (timestamps) identical; flags identical but for PSH.
  if (load_be32(ta + 8) != load_be32(tb + 8) || load_be16(ta + 14) != load_be16(tb + 14) ||
      std::memcmp(ta + 20, tb + 20, f.tcp_len - 20) != 0 ||
      (f.flags & std::uint8_t(~kTcpPsh)) != (in.flags & std::uint8_t(~kTcpPsh)))
    return false;
  if (in.seq != std::uint32_t(f.seq + g.payload) || in.payload > f.payload) return false;
  return f.ip_len + f.tcp_len + g.payload + in.payload <= kMaxPacketSize;
}

void Coalescer::finish(Group& g) noexcept {
  Output& out = outputs_[std::size_t(&g - groups_.data())];
  const Info& f = infos_[g.first];
  const std::size_t headers = f.ip_len + f.tcp_len;
  out.size = headers + g.payload;
  out.merged = g.count;
  out.header = {};
  if (g.count == 1) {
    out.size = lengths_[g.first];
    return;
  }
  // The first packet's headers now describe the whole super-packet.
  const std::span<std::uint8_t> ip(&storage_[g.first * slot_size_], lengths_[g.first]);
  std::uint8_t* tcp = &ip[f.ip_len];
  if (f.version == 4) {
    store_be16(&ip[2], std::uint16_t(out.size));
    set_ipv4_header_checksum(ip, f.ip_len);
  } else {
    store_be16(&ip[4], std::uint16_t(out.size - 40));
  }
  tcp[13] |= infos_[g.last].flags & kTcpPsh;
  // NEEDS_CSUM: the field holds the pseudo-header sum, not complemented; the kernel (or the
  // device that resegments) finishes it from csum_start.
  store_be16(tcp + kTcpChecksumOffset,
             std::uint16_t(pseudo_header_sum(ip, kProtoTcp, out.size - f.ip_len)));
  VirtioHeader h;
  h.flags = kFlagNeedsCsum;
  h.gso_type = f.version == 4 ? kGsoTcpV4 : kGsoTcpV6;
  h.hdr_len = std::uint16_t(headers);
  h.gso_size = std::uint16_t(f.payload);
  h.csum_start = std::uint16_t(f.ip_len);
  h.csum_offset = std::uint16_t(kTcpChecksumOffset);
  out.header = h.encode();
}

std::span<const Output> Coalescer::coalesce() noexcept {
  std::size_t groups = 0;
  for (std::size_t i = 0; i < count_; ++i) {
    Info& in = infos_[i];
    parse(i, in);
    next_member_[i] = i;  // end of list: points at itself
    // The latest group of this flow, if any: only it may grow, so the flow keeps its order.
    Group* target = nullptr;
    if (in.keyed) {
      const std::uint8_t* b = &storage_[i * slot_size_];
      for (std::size_t k = groups; k-- > 0;) {
        const Info& f = infos_[groups_[k].first];
        if (!f.keyed || f.version != in.version) continue;
        const std::uint8_t* a = &storage_[groups_[k].first * slot_size_];
        const bool same_flow =
            (in.version == 4 ? std::memcmp(a + 12, b + 12, 8) == 0
                             : std::memcmp(a + 8, b + 8, 32) == 0) &&
            std::memcmp(a + f.ip_len, b + in.ip_len, 4) == 0;
        if (!same_flow) continue;
        if (can_merge(groups_[k], in)) target = &groups_[k];
        break;
      }
    }
    if (target != nullptr) {
      next_member_[target->last] = i;
      target->last = i;
      ++target->count;
      target->payload += in.payload;
      target->open = in.payload == infos_[target->first].payload && !(in.flags & kTcpPsh);
      continue;
    }
    groups_[groups++] = Group{i, i, 1, in.payload,
                              in.candidate && !(in.flags & kTcpPsh)};
  }

  std::size_t piece = 0;
  for (std::size_t k = 0; k < groups; ++k) {
    Group& g = groups_[k];
    finish(g);
    Output& out = outputs_[k];
    const std::size_t begin = piece;
    pieces_[piece++] = std::span<const std::uint8_t>(&storage_[g.first * slot_size_],
                                                     lengths_[g.first]);
    for (std::size_t i = g.first; next_member_[i] != i;) {
      i = next_member_[i];
      const std::size_t headers = infos_[i].ip_len + infos_[i].tcp_len;
      pieces_[piece++] =
          std::span<const std::uint8_t>(&storage_[i * slot_size_ + headers], infos_[i].payload);
    }
    out.pieces = std::span<const std::span<const std::uint8_t>>(&pieces_[begin], piece - begin);
  }
  return std::span<const Output>(outputs_.data(), groups);
}

}  // namespace keymesh::tun::offload
