#include "udp/socket_bind.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

namespace keymesh::udp {

namespace {

struct Opened {
  int fd = -1;
  int err = 0;  // errno of the failing step when fd < 0
  std::string message;
};

Opened open_socket(int family, std::uint16_t port, bool reuse_port) {
  Opened o;
  const char* where = family == AF_INET6 ? "[::]" : "0.0.0.0";
  auto failed = [&](const char* step) {
    o.err = errno;
    o.message = std::string("udp: ") + step + " " + where + ":" + std::to_string(port) + ": " +
                std::strerror(o.err);
    if (o.fd >= 0) ::close(o.fd);
    o.fd = -1;
    return o;
  };
  o.fd = ::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (o.fd < 0) return failed("socket");
  const int off = 0, on = 1;
  if (family == AF_INET6 &&
      ::setsockopt(o.fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) != 0)
    return failed("dual-stack (IPV6_V6ONLY=0)");
  if (reuse_port && ::setsockopt(o.fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0)
    return failed("SO_REUSEPORT");
  sockaddr_storage ss{};
  socklen_t len;
  if (family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    in6->sin6_addr = in6addr_any;
    len = sizeof *in6;
  } else {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    in->sin_addr.s_addr = htonl(INADDR_ANY);
    len = sizeof *in;
  }
  if (::bind(o.fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) return failed("bind");
  return o;
}

// Without CAP_NET_ADMIN the *FORCE options fail with EPERM; the plain ones are then capped
// by net.core.{r,w}mem_max, which is the best an unprivileged daemon can do.
void set_buffer(int fd, int force_option, int option, int bytes) {
  if (bytes <= 0) return;
  if (::setsockopt(fd, SOL_SOCKET, force_option, &bytes, sizeof bytes) == 0) return;
  (void)::setsockopt(fd, SOL_SOCKET, option, &bytes, sizeof bytes);
}

int get_int_option(int fd, int option) {
  int value = 0;
  socklen_t len = sizeof value;
  if (::getsockopt(fd, SOL_SOCKET, option, &value, &len) != 0) return -1;
  return value;
}

// Socket address for `to` as this socket's family needs it: an AF_INET6 socket reaches IPv4
// peers through v4-mapped addresses. 0 when the socket cannot reach `to` at all.
socklen_t destination(const Endpoint& to, int socket_family, sockaddr_storage& out) noexcept {
  if (socket_family == AF_INET6 && to.family == AF_INET) {
    std::memset(&out, 0, sizeof out);
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&out);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(to.port);
    auto* bytes = reinterpret_cast<std::uint8_t*>(&in6->sin6_addr);
    bytes[10] = bytes[11] = 0xff;
    std::memcpy(bytes + 12, to.addr.data(), 4);
    return sizeof *in6;
  }
  if (socket_family == AF_INET && to.family != AF_INET) return 0;
  return to.to_sockaddr(out);
}

}  // namespace

Result<std::unique_ptr<SocketBind>> SocketBind::open(std::uint16_t port, int buffer_bytes,
                                                     const SocketBindOptions& options) {
  if (options.send_batch == 0 || options.max_datagram == 0 || options.max_datagram > 65535)
    return fail("udp: invalid SocketBind options (send_batch and max_datagram 1..65535)");
  Opened o;
  int family = AF_INET6;
  if (options.allow_ipv6) o = open_socket(AF_INET6, port, options.reuse_port);
  // Only "this namespace has no IPv6" falls back; a port in use is in use for IPv4 too.
  if (!options.allow_ipv6 || (o.fd < 0 && (o.err == EAFNOSUPPORT || o.err == EPROTONOSUPPORT ||
                                           o.err == EADDRNOTAVAIL))) {
    family = AF_INET;
    o = open_socket(AF_INET, port, options.reuse_port);
  }
  if (o.fd < 0) return fail(o.message);

  set_buffer(o.fd, SO_RCVBUFFORCE, SO_RCVBUF, buffer_bytes);
  set_buffer(o.fd, SO_SNDBUFFORCE, SO_SNDBUF, buffer_bytes);
  // Never fragment silently (docs/architecture.md): DF on every datagram, and a datagram over the
  // known path MTU is refused with EMSGSIZE, which flush() counts (too_big) and the tunnel
  // reports as path_mtu_exceeded. Both levels: a dual-stack socket sends IPv4 too.
  if (options.dont_fragment) {
    const int pmtu = IP_PMTUDISC_DO, pmtu6 = IPV6_PMTUDISC_DO;
    (void)::setsockopt(o.fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu);
    if (family == AF_INET6)
      (void)::setsockopt(o.fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &pmtu6, sizeof pmtu6);
  }

  sockaddr_storage local{};
  socklen_t len = sizeof local;
  if (::getsockname(o.fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) {
    const int err = errno;
    ::close(o.fd);
    return fail(std::string("udp: getsockname: ") + std::strerror(err));
  }
  const std::uint16_t real_port = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&local)).port;
  std::unique_ptr<SocketBind> bind(new SocketBind(o.fd, family, real_port, options));
  if (options.offload) bind->enable_offload();
  return bind;
}

SocketBind::SocketBind(int fd, int family, std::uint16_t port, const SocketBindOptions& options)
    : fd_(fd),
      family_(family),
      port_(port),
      max_datagram_(options.max_datagram),
      send_buffer_(std::make_unique_for_overwrite<std::uint8_t[]>(options.send_batch *
                                                                  options.max_datagram)),
      send_addrs_(options.send_batch),
      send_iov_(options.send_batch),
      send_msgs_(options.send_batch),
      send_sizes_(options.send_batch),
      recv_addrs_(kReceiveChunk),
      recv_iov_(kReceiveChunk),
      recv_msgs_(kReceiveChunk) {
  // Headers point at their own slot for the socket's lifetime; commit_send only fills in
  // the lengths, so the send path never rebuilds them.
  for (std::size_t i = 0; i < send_msgs_.size(); ++i) {
    send_iov_[i].iov_base = send_buffer_.get() + i * max_datagram_;
    std::memset(&send_msgs_[i], 0, sizeof send_msgs_[i]);
    send_msgs_[i].msg_hdr.msg_name = &send_addrs_[i];
    send_msgs_[i].msg_hdr.msg_iov = &send_iov_[i];
    send_msgs_[i].msg_hdr.msg_iovlen = 1;
  }
  for (std::size_t i = 0; i < kReceiveChunk; ++i) {
    std::memset(&recv_msgs_[i], 0, sizeof recv_msgs_[i]);
    recv_msgs_[i].msg_hdr.msg_name = &recv_addrs_[i];
    recv_msgs_[i].msg_hdr.msg_iov = &recv_iov_[i];
    recv_msgs_[i].msg_hdr.msg_iovlen = 1;
  }
}

SocketBind::~SocketBind() {
  flush();  // committed datagrams were promised to the network
  ::close(fd_);
}

int SocketBind::receive_buffer_bytes() const noexcept { return get_int_option(fd_, SO_RCVBUF); }
int SocketBind::send_buffer_bytes() const noexcept { return get_int_option(fd_, SO_SNDBUF); }

std::size_t SocketBind::receive_batch(std::span<Datagram> batch) noexcept {
  if (gro_) return receive_gro(batch);
  std::size_t total = 0;
  while (total < batch.size()) {
    const std::size_t chunk = std::min(kReceiveChunk, batch.size() - total);
    std::size_t kept = 0;
    const std::size_t raw = receive_chunk(batch.subspan(total, chunk), kept);
    total += kept;
    if (raw < chunk) break;  // socket drained
  }
  stats_.received += total;
  return total;
}

std::size_t SocketBind::receive_chunk(std::span<Datagram> part, std::size_t& kept) noexcept {
  for (std::size_t i = 0; i < part.size(); ++i) {
    recv_iov_[i].iov_base = part[i].buffer.data();
    recv_iov_[i].iov_len = part[i].buffer.size();
    recv_msgs_[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
    recv_msgs_[i].msg_hdr.msg_flags = 0;
    recv_msgs_[i].msg_len = 0;
  }
  int n;
  do {
    n = ::recvmmsg(fd_, recv_msgs_.data(), unsigned(part.size()), MSG_DONTWAIT, nullptr);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) ++stats_.receive_errors;
    return 0;
  }
  const auto raw = std::size_t(n);
  for (std::size_t i = 0; i < raw; ++i) {
    const auto& h = recv_msgs_[i].msg_hdr;
    const std::size_t len = recv_msgs_[i].msg_len;
    if ((h.msg_flags & MSG_TRUNC) != 0 || part[kept].buffer.size() < len) {
      ++stats_.truncated;
      continue;
    }
    // A dropped datagram leaves a hole; close it so the caller sees a dense prefix.
    // Rare path (only after truncation), so a copy is fine.
    if (kept != i) std::memmove(part[kept].buffer.data(), part[i].buffer.data(), len);
    part[kept].size = len;
    part[kept].from = Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(h.msg_name));
    ++kept;
  }
  return raw;
}

std::span<std::uint8_t> SocketBind::prepare_send(std::size_t capacity) noexcept {
  if (capacity > max_datagram_) return {};
  prepared_ = true;
  return {send_buffer_.get() + send_count_ * max_datagram_, max_datagram_};
}

void SocketBind::commit_send(const Endpoint& to, std::size_t size) noexcept {
  if (!prepared_ || size > max_datagram_) {
    if (size > max_datagram_) ++stats_.too_big;
    ++stats_.send_errors;
    return;
  }
  prepared_ = false;
  const std::size_t slot = send_count_;
  const socklen_t len = destination(to, family_, send_addrs_[slot]);
  if (len == 0) {  // unset endpoint, or IPv6 peer on an IPv4-only socket
    ++stats_.send_errors;
    return;
  }
  send_msgs_[slot].msg_hdr.msg_namelen = len;
  send_iov_[slot].iov_len = size;
  send_sizes_[slot] = size;
  if (++send_count_ == send_msgs_.size()) flush();
}

void SocketBind::flush() noexcept {
  prepared_ = false;
  if (gso_ && send_count_ > 1)
    flush_gso();
  else
    send_plain(0, send_count_);
  send_count_ = 0;
}

void SocketBind::send_plain(std::size_t from, std::size_t to) noexcept {
  std::size_t off = from;
  bool waited = false;
  while (off < to) {
    const int n = ::sendmmsg(fd_, send_msgs_.data() + off, unsigned(to - off), MSG_DONTWAIT);
    if (n > 0) {
      stats_.sent += std::uint64_t(n);
      off += std::size_t(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!waited) {
        waited = true;
        pollfd p{fd_, POLLOUT, 0};
        (void)::poll(&p, 1, kSendWaitMs);
        continue;
      }
      const std::size_t rest = to - off;
      stats_.dropped_would_block += rest;
      stats_.send_errors += rest;
      break;
    }
    // sendmmsg fails only for the first datagram it tried (unreachable, too big, ...):
    // count it and carry on with the rest of the batch.
    count_send_error(off, errno);
    ++off;
  }
}

void SocketBind::count_send_error(std::size_t slot, int err) noexcept {
  if (err == EMSGSIZE) {  // over the known path MTU (DF): the tunnel answers with too-big
    ++stats_.too_big;
    too_big_to_ = Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&send_addrs_[slot]));
  }
  ++stats_.send_errors;
}

}  // namespace keymesh::udp
