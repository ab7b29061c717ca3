// SocketBind's offload halves: GSO on send (UDP_SEGMENT), GRO on receive (UDP_GRO).
// The arithmetic is in udp/offload.h; this file is the socket side of it.
#include <errno.h>
#include <netinet/udp.h>
#include <poll.h>
#include <spdlog/spdlog.h>

#include <cstring>

#include "udp/offload.h"
#include "udp/socket_bind.h"

namespace keymesh::udp {

namespace {
constexpr std::size_t kGroSlots = 16;           // coalesced receives per recvmmsg
constexpr std::size_t kGroSlotBytes = 65536;    // the largest a coalesced receive can be
constexpr std::size_t kGsoControl = CMSG_SPACE(sizeof(std::uint16_t));
constexpr std::size_t kGroControl = CMSG_SPACE(sizeof(int));
}  // namespace

void SocketBind::enable_offload() noexcept {
  // Setting the segment size to 0 is what a kernel without UDP_SEGMENT refuses
  // (ENOPROTOOPT); 0 also means "no GSO unless a message asks for it".
  const int zero = 0, one = 1;
  gso_ = ::setsockopt(fd_, SOL_UDP, UDP_SEGMENT, &zero, sizeof zero) == 0;
  if (!gso_) spdlog::info("udp: kernel refused UDP_SEGMENT ({}): one datagram per send", std::strerror(errno));
  gro_ = ::setsockopt(fd_, SOL_UDP, UDP_GRO, &one, sizeof one) == 0;
  if (!gro_) spdlog::info("udp: kernel refused UDP_GRO ({}): one datagram per receive", std::strerror(errno));
  try {
    if (gso_) {
      const std::size_t n = send_msgs_.size();
      gso_msgs_.resize(n);
      gso_first_.resize(n);
      gso_control_ = std::make_unique<std::uint8_t[]>(n * kGsoControl);
    }
    if (gro_) {
      // Not zeroed: pages are touched only when a receive needs them.
      gro_buffer_ = std::make_unique_for_overwrite<std::uint8_t[]>(kGroSlots * kGroSlotBytes);
      gro_control_ = std::make_unique<std::uint8_t[]>(kGroSlots * kGroControl);
      gro_addrs_.resize(kGroSlots);
      gro_iov_.resize(kGroSlots);
      gro_msgs_.resize(kGroSlots);
      pending_.resize(kGroSlots);
      for (std::size_t i = 0; i < kGroSlots; ++i) {
        gro_iov_[i] = {gro_buffer_.get() + i * kGroSlotBytes, kGroSlotBytes};
        std::memset(&gro_msgs_[i], 0, sizeof gro_msgs_[i]);
        gro_msgs_[i].msg_hdr.msg_name = &gro_addrs_[i];
        gro_msgs_[i].msg_hdr.msg_iov = &gro_iov_[i];
        gro_msgs_[i].msg_hdr.msg_iovlen = 1;
      }
    }
  } catch (...) {  // out of memory at open: plain sends and receives still work
    gso_ = false;
    if (gro_) {
      const int off = 0;
      gro_ = ::setsockopt(fd_, SOL_UDP, UDP_GRO, &off, sizeof off) != 0;
    }
  }
}

// ---- send

void SocketBind::flush_gso() noexcept {
  // Cut the batch into runs (udp/offload.h) and point one header at each run's iovecs.
  std::size_t runs = 0;
  auto same_destination = [this](std::size_t a, std::size_t b) {
    const socklen_t len = send_msgs_[a].msg_hdr.msg_namelen;
    return send_msgs_[b].msg_hdr.msg_namelen == len &&
           std::memcmp(&send_addrs_[a], &send_addrs_[b], len) == 0;
  };
  const std::span<const std::size_t> sizes(send_sizes_.data(), send_count_);
  for (std::size_t i = 0; i < send_count_; ++runs) {
    const std::size_t count = gso_run_length(sizes, i, same_destination);
    msghdr& h = gso_msgs_[runs].msg_hdr;
    h = send_msgs_[i].msg_hdr;  // name, namelen, iov of the first slot
    h.msg_iovlen = count;
    h.msg_control = nullptr;
    h.msg_controllen = 0;
    if (count > 1) {
      h.msg_control = gso_control_.get() + runs * kGsoControl;
      h.msg_controllen = kGsoControl;
      cmsghdr* c = CMSG_FIRSTHDR(&h);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
      const auto segment = std::uint16_t(sizes[i]);
      std::memcpy(CMSG_DATA(c), &segment, sizeof segment);
    }
    gso_first_[runs] = i;
    i += count;
  }
  auto run_end = [&](std::size_t r) { return r + 1 < runs ? gso_first_[r + 1] : send_count_; };

  std::size_t off = 0;
  bool waited = false;
  while (off < runs) {
    const int n = ::sendmmsg(fd_, gso_msgs_.data() + off, unsigned(runs - off), MSG_DONTWAIT);
    if (n > 0) {
      for (std::size_t r = off; r < off + std::size_t(n); ++r) {
        const std::size_t count = run_end(r) - gso_first_[r];
        stats_.sent += count;
        if (count > 1) ++stats_.gso_sends;
      }
      off += std::size_t(n);
      continue;
    }
    const int err = n < 0 ? errno : 0;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      if (!waited) {
        waited = true;
        pollfd p{fd_, POLLOUT, 0};
        (void)::poll(&p, 1, kSendWaitMs);
        continue;
      }
      const std::size_t rest = send_count_ - gso_first_[off];
      stats_.dropped_would_block += rest;
      stats_.send_errors += rest;
      return;
    }
    const std::size_t first = gso_first_[off], end = run_end(off);
    if (end - first == 1) {  // a lone datagram: as in send_plain
      count_send_error(first, err);
      ++off;
      continue;
    }
    // The kernel refused the run. EIO: the route's device cannot checksum a GSO packet, so
    // no later run would do better: GSO off for good. EINVAL/EMSGSIZE: this segment size
    // does not fit the path (DF); one by one, each datagram gets its own verdict.
    ++stats_.gso_fallbacks;
    if (err == EIO || err == ENOPROTOOPT || err == EOPNOTSUPP) {
      gso_ = false;
      spdlog::warn("udp: the kernel refused a GSO send ({}): GSO off on this socket, one datagram per send",
                   std::strerror(err));
      return send_plain(first, send_count_);
    }
    send_plain(first, end);
    ++off;
  }
}

// ---- receive

std::size_t SocketBind::receive_pending(std::span<Datagram> batch) noexcept {
  std::size_t k = 0;
  while (k < batch.size() && pending_head_ < pending_count_) {
    GroPending& p = pending_[pending_head_];
    const std::uint8_t* slot = gro_buffer_.get() + p.slot * kGroSlotBytes;
    while (k < batch.size() && p.offset < p.end) {
      const Segment s = gro_segment(p.end, p.segment, p.offset / p.segment);
      if (s.size <= batch[k].buffer.size()) {
        std::memcpy(batch[k].buffer.data(), slot + s.offset, s.size);
        batch[k].size = s.size;
        batch[k].from = p.from;
        ++k;
      } else {
        ++stats_.truncated;
      }
      p.offset = s.offset + s.size;
    }
    if (p.offset >= p.end) ++pending_head_;
  }
  stats_.received += k;
  return k;
}

std::size_t SocketBind::receive_gro(std::span<Datagram> batch) noexcept {
  std::size_t total = receive_pending(batch);
  while (total < batch.size()) {
    // pending_ is empty here (receive_pending stops early only when the batch is full).
    const std::size_t want = std::min(kGroSlots, batch.size() - total);
    const std::size_t got = receive_gro_chunk(want);
    total += receive_pending(batch.subspan(total));
    if (got < want) break;  // socket drained
  }
  return total;
}

std::size_t SocketBind::receive_gro_chunk(std::size_t count) noexcept {
  for (std::size_t i = 0; i < count; ++i) {
    msghdr& h = gro_msgs_[i].msg_hdr;
    h.msg_namelen = sizeof(sockaddr_storage);
    h.msg_control = gro_control_.get() + i * kGroControl;
    h.msg_controllen = kGroControl;
    h.msg_flags = 0;
    gro_msgs_[i].msg_len = 0;
  }
  int n;
  do {
    n = ::recvmmsg(fd_, gro_msgs_.data(), unsigned(count), MSG_DONTWAIT, nullptr);
  } while (n < 0 && errno == EINTR);
  pending_head_ = pending_count_ = 0;
  if (n <= 0) {
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ++stats_.receive_errors;
    return 0;
  }
  std::size_t kept = 0;
  for (std::size_t i = 0; i < std::size_t(n); ++i) {
    msghdr& h = gro_msgs_[i].msg_hdr;
    const std::size_t len = gro_msgs_[i].msg_len;
    if ((h.msg_flags & MSG_TRUNC) != 0 || len == 0) {
      if ((h.msg_flags & MSG_TRUNC) != 0) ++stats_.truncated;
      continue;
    }
    std::size_t segment = len;
    for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(&h, c))
      if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO &&
          c->cmsg_len >= CMSG_LEN(sizeof(int))) {
        int gso_size = 0;
        std::memcpy(&gso_size, CMSG_DATA(c), sizeof gso_size);
        if (gso_size > 0 && std::size_t(gso_size) < len) segment = std::size_t(gso_size);
      }
    if (gro_segment_count(len, segment) > 1) ++stats_.gro_coalesced;
    pending_[kept++] = {i, 0, len, segment,
                        Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(h.msg_name))};
  }
  pending_count_ = kept;
  return std::size_t(n);
}

}  // namespace keymesh::udp
