// TUN offloads in userspace (sans-I/O): the two halves of what IFF_VNET_HDR + TUNSETOFFLOAD
// (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) ask of the daemon.
//
//   kernel ──frame──▶ Splitter  ──▶ MTU-sized IP packets with full checksums ──▶ tunnel
//   kernel ◀─frame── Coalescer ◀── IP packets the tunnel decrypted (one batch)
//
// A frame is a 10-byte virtio_net_hdr followed by one IP packet:
//
//    0      1         2       4        6          8           10
//   ┌──────┬─────────┬───────┬────────┬──────────┬───────────┬───────────── ─ ─
//   │flags │gso_type │hdr_len│gso_size│csum_start│csum_offset│ IP packet …
//   └──────┴─────────┴───────┴────────┴──────────┴───────────┴───────────── ─ ─
//
// Multi-byte fields are little-endian: the TUN default on the little-endian hosts keymesh
// runs on (legacy virtio headers are in host order; TUNSETVNETLE would pin them).
//
// Splitter: the kernel hands over a TCP super-packet (up to 64 KiB, gso_type TCPV4/TCPV6,
// NEEDS_CSUM) or a plain packet whose checksum it left partial (NEEDS_CSUM). next() writes
// the packet(s) the wire would have carried: per segment the IPv4 id / total length /
// header checksum or IPv6 payload length, TCP sequence number, flags (FIN and PSH only on
// the last segment, CWR only on the first) and a TCP checksum computed in full.
//
// Coalescer: the tunnel's decrypted packets of one batch go in with add(); coalesce()
// merges runs of TCP segments of one flow (Linux GRO's rules: consecutive sequence numbers,
// same ack/window/flags except PSH on the last, same IP fields, IPv4 ids consecutive, no IP
// options, TCP options only an identical timestamp, equal payload sizes except a smaller
// last one, valid checksums, at most 65535 bytes) into one super-packet with a GSO virtio
// header. Everything else passes through unchanged with a zero header. Output order is the
// order of each output's first packet, so packets of one flow stay in order.
//
// Ownership and threading: neither class allocates after construction. Splitter borrows the
// frame given to start() until it is done() or start() is called again. Coalescer owns
// copies of the packets added. Each object is used by one thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace keymesh::tun::offload {

// ---- virtio_net_hdr (include/uapi/linux/virtio_net.h) -------------------------------------
inline constexpr std::size_t kVirtioHeaderSize = 10;
inline constexpr std::uint8_t kFlagNeedsCsum = 1;  // checksum from csum_start, seeded
inline constexpr std::uint8_t kFlagDataValid = 2;  // checksum already verified
inline constexpr std::uint8_t kGsoNone = 0;
inline constexpr std::uint8_t kGsoTcpV4 = 1;
inline constexpr std::uint8_t kGsoUdp = 3;
inline constexpr std::uint8_t kGsoTcpV6 = 4;
inline constexpr std::uint8_t kGsoEcn = 0x80;  // modifier bit: the flow uses ECN

// Largest IP packet either side handles (IPv4 total length / IPv6 payload length field).
inline constexpr std::size_t kMaxPacketSize = 65535;
// Largest frame the kernel hands over with the offloads keymesh requests (an IPv6 packet
// carries up to 65535 bytes behind its 40-byte header; no jumbograms, BIG TCP stays off).
inline constexpr std::size_t kMaxFrameSize = kVirtioHeaderSize + 40 + kMaxPacketSize;

struct VirtioHeader {
  std::uint8_t flags = 0;
  std::uint8_t gso_type = kGsoNone;
  std::uint16_t hdr_len = 0;
  std::uint16_t gso_size = 0;
  std::uint16_t csum_start = 0;
  std::uint16_t csum_offset = 0;

  // `bytes` must hold at least kVirtioHeaderSize bytes.
  static VirtioHeader decode(std::span<const std::uint8_t> bytes) noexcept;
  std::array<std::uint8_t, kVirtioHeaderSize> encode() const noexcept;
};

// ---- Splitter (kernel → tunnel) ---------------------------------------------------------
enum class SplitStatus {
  Ok,           // next() yields at least one packet
  Malformed,    // frame too short, header fields out of range, not the IP/TCP it claims
  Unsupported,  // a GSO type keymesh does not request (UDP, SCTP, …)
};

class Splitter {
 public:
  // Parses a frame (virtio header + IP packet); the frame is borrowed until done().
  // On anything but Ok, done() is true and nothing is yielded.
  SplitStatus start(std::span<const std::uint8_t> frame) noexcept;
  bool done() const noexcept { return next_ >= count_; }
  std::size_t remaining() const noexcept { return count_ - next_; }
  // Writes the next packet into `out` and returns its size; -EMSGSIZE when it does not
  // fit (it is consumed all the same). Only call while !done().
  long next(std::span<std::uint8_t> out) noexcept;

 private:
  std::span<const std::uint8_t> packet_;  // the IP packet inside the frame
  VirtioHeader header_;
  bool segment_ = false;     // TCP segmentation (otherwise one packet, maybe a checksum)
  std::size_t headers_ = 0;  // IP + TCP header bytes (segmentation)
  std::size_t ip_header_ = 0;
  std::size_t mss_ = 0;
  std::size_t count_ = 0;
  std::size_t next_ = 0;
};

// ---- Coalescer (tunnel → kernel) --------------------------------------------------------
// One write to the kernel: `header` then `pieces` back to back (writev). The first piece is
// a whole IP packet (its headers rewritten for the merged length), the others are the TCP
// payloads merged behind it.
struct Output {
  std::array<std::uint8_t, kVirtioHeaderSize> header{};
  std::span<const std::span<const std::uint8_t>> pieces;
  std::size_t size = 0;   // IP packet bytes in all pieces
  std::size_t merged = 1; // how many input packets it carries
};

class Coalescer {
 public:
  // Storage for `max_packets` packets of at most `max_packet_size` bytes, allocated here.
  Coalescer(std::size_t max_packets, std::size_t max_packet_size);
  ~Coalescer();
  Coalescer(const Coalescer&) = delete;
  Coalescer& operator=(const Coalescer&) = delete;

  // Copies `packet` into the batch. False when the batch is full or the packet is empty or
  // larger than max_packet_size: nothing is added (flush first, or write it on its own).
  bool add(std::span<const std::uint8_t> packet) noexcept;
  std::size_t size() const noexcept { return count_; }
  bool full() const noexcept { return count_ == max_packets_; }
  std::size_t max_packet_size() const noexcept { return slot_size_; }

  // Groups the batch and returns the writes to make, in order. The spans point into the
  // coalescer and stay valid until the next add() or clear(). Call once per batch.
  std::span<const Output> coalesce() noexcept;
  void clear() noexcept { count_ = 0; }

 private:
  struct Info;   // what coalesce() parsed about one packet
  struct Group;  // one output under construction
  bool parse(std::size_t index, Info& info) noexcept;
  bool can_merge(const Group& group, const Info& info) const noexcept;
  void finish(Group& group) noexcept;

  std::size_t max_packets_;
  std::size_t slot_size_;
  std::size_t count_ = 0;
  std::vector<std::uint8_t> storage_;
  std::vector<std::size_t> lengths_;
  std::vector<Info> infos_;
  std::vector<Group> groups_;
  std::vector<std::size_t> next_member_;  // linked list of each group's packets
  std::vector<std::span<const std::uint8_t>> pieces_;
  std::vector<Output> outputs_;
};

}  // namespace keymesh::tun::offload
