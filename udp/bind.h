// udp::Bind: the outside edge (encrypted WireGuard messages over UDP).
// Implementations: SocketBind (socket_bind.h: recvmmsg/sendmmsg, large buffers) and
// MemoryBind (memory_bind.h: an in-process network with loss, reordering and NAT for tests).
// Threading: one bind per worker thread; not shared.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <cstring>
#include <span>

#include "udp/endpoint.h"

namespace keymesh::udp {

// One received datagram: the caller provides `buffer`; receive_batch sets `size` and `from`.
struct Datagram {
  std::span<std::uint8_t> buffer;
  std::size_t size = 0;
  Endpoint from;
};

class Bind {
 public:
  virtual ~Bind() = default;

  virtual int fd() const noexcept = 0;  // pollable, or -1 (memory)
  virtual std::uint16_t local_port() const noexcept = 0;

  // Fills up to batch.size() datagrams; returns how many (0: nothing ready). Never blocks.
  virtual std::size_t receive_batch(std::span<Datagram> batch) noexcept = 0;
  // Datagrams already read from the kernel that did not fit the last batch (a coalesced
  // receive: SocketBind with GRO); no system call. 0 when none wait.
  virtual std::size_t receive_pending(std::span<Datagram>) noexcept { return 0; }

  // Zero-copy send: prepare_send returns a buffer of at least `capacity` bytes inside the
  // pending batch, valid until the matching commit_send (or until flush). commit_send queues
  // the first `size` bytes for `to`; the batch is flushed when full, and on flush().
  // An empty span means the datagram cannot be sent (too big): the caller counts a drop.
  virtual std::span<std::uint8_t> prepare_send(std::size_t capacity) noexcept = 0;
  virtual void commit_send(const Endpoint& to, std::size_t size) noexcept = 0;
  virtual void flush() noexcept = 0;

  // Convenience for rare messages (handshakes): one copy, then queued like any other.
  void send(const Endpoint& to, std::span<const std::uint8_t> data) noexcept {
    auto buf = prepare_send(data.size());
    if (buf.size() < data.size()) return;
    std::memcpy(buf.data(), data.data(), data.size());
    commit_send(to, data.size());
  }

  // Datagrams the kernel refused (counted by the implementation; the sender cannot know
  // which one failed inside a batch).
  virtual std::uint64_t send_errors() const noexcept = 0;
  // Of those, datagrams refused as larger than the path allows (EMSGSIZE: the route's MTU or
  // a learned path MTU). The tunnel reports them as path_mtu_exceeded with a log line.
  virtual std::uint64_t too_big_errors() const noexcept { return 0; }
  // The destination of the last datagram refused with EMSGSIZE since the last call, so the
  // tunnel can learn that path's MTU (udp/path_mtu.h) and answer inner senders with ICMP.
  virtual std::optional<Endpoint> take_too_big() noexcept { return std::nullopt; }
};

}  // namespace keymesh::udp
