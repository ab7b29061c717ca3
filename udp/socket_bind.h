// SocketBind: udp::Bind over one kernel UDP socket, with recvmmsg/sendmmsg batching.
//
// The socket is AF_INET6 dual-stack (IPv4 peers appear as v4-mapped and are converted by
// Endpoint), or AF_INET when IPv6 is unavailable in the namespace. It is non-blocking;
// receive_batch never waits. Socket buffers are enlarged by the daemon itself
// (SO_RCVBUFFORCE, falling back to SO_RCVBUF without CAP_NET_ADMIN) because the
// net.core.*mem_max sysctls are read-only inside a network namespace.
//
// Send batching: prepare_send hands out a slot of a preallocated batch (no allocation per
// datagram); commit_send queues it; the batch goes out with one sendmmsg when full and on
// flush(). When the socket's send buffer is full (EAGAIN) we wait once, up to
// kSendWaitMs, for POLLOUT and retry; whatever still does not fit is dropped and counted
// in send_errors() and stats().dropped_would_block. Rationale: UDP has no back-pressure
// worth honouring at this layer, a large SO_SNDBUF makes this rare, and a worker must
// never stall its TUN queue for long.
//
// Offload (options.offload, socket_offload.cpp): runs of equal-sized datagrams to one
// destination in a flushed batch leave as one sendmsg with UDP_SEGMENT (GSO), and the
// socket takes coalesced receives (UDP_GRO), cut back into datagrams here. Each is used
// only when the kernel accepts it at open; a GSO send the kernel refuses (EIO: the route's
// device cannot checksum it) turns GSO off for the socket, logged once and counted in
// stats().gso_fallbacks, and the datagrams go out one by one.
//
// Threading: one SocketBind per worker thread. Several workers can share a port with
// SocketBindOptions::reuse_port (SO_REUSEPORT): open the first with the wanted port (or 0),
// then the others with its local_port().
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "common/result.h"
#include "udp/bind.h"

namespace keymesh::udp {

struct SocketBindOptions {
  bool reuse_port = false;          // SO_REUSEPORT, for one socket per worker on one port
  std::size_t send_batch = 64;      // datagrams per sendmmsg
  std::size_t max_datagram = 65535; // largest datagram prepare_send can hand out
  bool allow_ipv6 = true;           // false: plain AF_INET socket
  bool dont_fragment = true;        // IP(V6)_PMTUDISC_DO: EMSGSIZE instead of fragments
  bool offload = true;              // UDP GSO on send, GRO on receive, when the kernel has them
};

struct SocketBindStats {
  std::uint64_t sent = 0;                 // datagrams the kernel accepted
  std::uint64_t send_errors = 0;          // refused or dropped (includes dropped_would_block)
  std::uint64_t dropped_would_block = 0;  // send buffer still full after the short wait
  std::uint64_t received = 0;
  std::uint64_t receive_errors = 0;       // recvmmsg failures other than EAGAIN
  std::uint64_t truncated = 0;            // datagrams larger than the caller's buffer, dropped
  std::uint64_t too_big = 0;              // refused with EMSGSIZE (counted in send_errors too)
  std::uint64_t gso_sends = 0;            // sendmsg calls that carried more than one datagram
  std::uint64_t gso_fallbacks = 0;        // GSO sends the kernel refused, resent one by one
  std::uint64_t gro_coalesced = 0;        // receives that carried more than one datagram
};

class SocketBind final : public Bind {
 public:
  static constexpr int kSendWaitMs = 2;

  // port 0: the kernel picks one; local_port() returns it. buffer_bytes <= 0 keeps the
  // kernel defaults.
  static Result<std::unique_ptr<SocketBind>> open(std::uint16_t port, int buffer_bytes,
                                                  const SocketBindOptions& options = {});
  ~SocketBind() override;
  SocketBind(const SocketBind&) = delete;
  SocketBind& operator=(const SocketBind&) = delete;

  int fd() const noexcept override { return fd_; }
  std::uint16_t local_port() const noexcept override { return port_; }
  std::size_t receive_batch(std::span<Datagram> batch) noexcept override;
  std::span<std::uint8_t> prepare_send(std::size_t capacity) noexcept override;
  void commit_send(const Endpoint& to, std::size_t size) noexcept override;
  void flush() noexcept override;
  std::uint64_t send_errors() const noexcept override { return stats_.send_errors; }
  std::uint64_t too_big_errors() const noexcept override { return stats_.too_big; }
  std::optional<Endpoint> take_too_big() noexcept override {
    return std::exchange(too_big_to_, std::nullopt);
  }

  // Datagrams of a coalesced receive that did not fit the caller's batch; handed out by the
  // next receive_batch or by this (no system call). Call it until it returns 0 when a
  // receive_batch filled the whole batch and no further receive_batch follows.
  std::size_t receive_pending(std::span<Datagram> batch) noexcept override;

  int family() const noexcept { return family_; }  // AF_INET6 (dual-stack) or AF_INET
  // Whether GSO (send) and GRO (receive) are in use: asked for, granted by the kernel at
  // open, and (GSO) not since refused by it. socket_offload.cpp.
  bool gso() const noexcept { return gso_; }
  bool gro() const noexcept { return gro_; }
  const SocketBindStats& stats() const noexcept { return stats_; }
  // What the kernel granted (it reports twice the requested size: bookkeeping overhead).
  int receive_buffer_bytes() const noexcept;
  int send_buffer_bytes() const noexcept;

 private:
  static constexpr std::size_t kReceiveChunk = 64;  // recvmmsg vector length per call

  SocketBind(int fd, int family, std::uint16_t port, const SocketBindOptions& options);
  // One recvmmsg over `part` (at most kReceiveChunk). Returns how many the kernel gave;
  // `kept` is how many are valid at the front of `part` (truncated ones are dropped).
  std::size_t receive_chunk(std::span<Datagram> part, std::size_t& kept) noexcept;
  // socket_offload.cpp: the GSO/GRO halves of flush and receive_batch.
  void enable_offload() noexcept;
  void send_plain(std::size_t from, std::size_t to) noexcept;  // slots [from, to), one each
  void count_send_error(std::size_t slot, int err) noexcept;  // too_big when EMSGSIZE
  void flush_gso() noexcept;
  std::size_t receive_gro(std::span<Datagram> batch) noexcept;
  std::size_t receive_gro_chunk(std::size_t count) noexcept;  // into gro_ slots -> pending

  int fd_;
  int family_;
  std::uint16_t port_;
  std::size_t max_datagram_;
  SocketBindStats stats_;

  // Send side: slot i owns send_buffer_[i * max_datagram_ ...], its address and header.
  // Not zeroed (4 MiB at the defaults): a slot's pages are touched only when a datagram
  // that size is prepared, so an idle daemon does not carry them.
  std::unique_ptr<std::uint8_t[]> send_buffer_;
  std::vector<sockaddr_storage> send_addrs_;
  std::optional<Endpoint> too_big_to_;  // take_too_big()
  std::vector<iovec> send_iov_;
  std::vector<mmsghdr> send_msgs_;
  std::size_t send_count_ = 0;   // committed slots
  bool prepared_ = false;        // slot send_count_ handed out by prepare_send

  std::vector<std::size_t> send_sizes_;  // committed size of each slot (GSO runs)

  // GSO: one header per run, pointing into the slots' iovecs, with its UDP_SEGMENT cmsg.
  bool gso_ = false;
  std::vector<mmsghdr> gso_msgs_;
  std::vector<std::size_t> gso_first_;  // first slot of each run
  std::unique_ptr<std::uint8_t[]> gso_control_;

  // GRO: coalesced receives land in our own 64 KiB slots and are cut into the caller's
  // buffers; what does not fit waits in pending_ (one entry per slot).
  struct GroPending {
    std::size_t slot = 0, offset = 0, end = 0, segment = 0;
    Endpoint from;
  };
  bool gro_ = false;
  std::unique_ptr<std::uint8_t[]> gro_buffer_;
  std::unique_ptr<std::uint8_t[]> gro_control_;
  std::vector<sockaddr_storage> gro_addrs_;
  std::vector<iovec> gro_iov_;
  std::vector<mmsghdr> gro_msgs_;
  std::vector<GroPending> pending_;
  std::size_t pending_head_ = 0, pending_count_ = 0;  // entries [head, count) still wait

  // Receive side: headers for one recvmmsg chunk; buffers belong to the caller.
  std::vector<sockaddr_storage> recv_addrs_;
  std::vector<iovec> recv_iov_;
  std::vector<mmsghdr> recv_msgs_;
};

}  // namespace keymesh::udp
