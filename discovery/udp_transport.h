// UdpTransport: one libuv UDP socket for lighthouse traffic, feeding the sans-I/O
// LighthouseClient / LighthouseServer.
//
// Lighthouse traffic runs INSIDE the overlay: the daemon binds this socket to its host's
// overlay address, so the kernel routes what it sends through the TUN and the tunnel
// encrypts it, and what arrives has an overlay source address that the tunnel authenticated.
// A lighthouse binds port kLighthousePort (4243); a client binds port 0 (any).
//
// send() never blocks: it tries the socket at once (uv_udp_try_send) and, when the kernel
// buffer is busy, queues one copy with uv_udp_send. Failures are counted, not returned (UDP
// is best effort; the protocol retries).
// Threading: the loop's thread only. Destroy before the loop stops running: the handle closes
// asynchronously (common/uv_handle.h).
#pragma once

#include <uv.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>

#include "common/bytes.h"
#include "common/result.h"
#include "common/uv_handle.h"
#include "udp/endpoint.h"

namespace keymesh::discovery {

class UdpTransport {
 public:
  // `from` and the bytes are valid during the call only.
  using ReceiveFn = std::function<void(const udp::Endpoint& from, ByteSpan datagram)>;

  // Binds `bind` (address and port; port 0 picks one) and starts receiving.
  static Result<std::unique_ptr<UdpTransport>> open(uv_loop_t* loop, const udp::Endpoint& bind,
                                                    ReceiveFn on_receive);
  ~UdpTransport();
  UdpTransport(const UdpTransport&) = delete;
  UdpTransport& operator=(const UdpTransport&) = delete;

  void send(const udp::Endpoint& to, ByteSpan datagram) noexcept;
  // The bound address and port (the kernel's pick when port 0 was asked for).
  const udp::Endpoint& local() const noexcept { return local_; }

  struct Stats {
    std::uint64_t sent = 0;
    std::uint64_t queued = 0;          // sent through the asynchronous path
    std::uint64_t send_errors = 0;
    std::uint64_t received = 0;
    std::uint64_t receive_errors = 0;
    std::uint64_t truncated = 0;       // larger than the receive buffer: dropped
  };
  const Stats& stats() const noexcept { return stats_; }

 private:
  explicit UdpTransport(ReceiveFn on_receive);
  static void on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void on_recv(uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf,
                      const sockaddr* addr, unsigned flags);

  ReceiveFn on_receive_;
  UvHandle<uv_udp_t> socket_;
  udp::Endpoint local_;
  std::array<std::uint8_t, 65536> buffer_{};
  Stats stats_;
};

}  // namespace keymesh::discovery
