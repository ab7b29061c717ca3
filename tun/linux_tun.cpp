#include "tun/linux_tun.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <bit>
#include <cerrno>
#include <cstring>
#include <utility>

#include "tun/netlink.h"

namespace keymesh::tun {

namespace {

struct Attached {
  int fd = -1;
  std::string name;  // as the kernel named it
};

Result<Attached> attach(std::string_view name, bool multi_queue, bool vnet_hdr) {
  if (name.size() >= IFNAMSIZ)
    return fail("tun: interface name '" + std::string(name) + "' is longer than " +
                std::to_string(IFNAMSIZ - 1) + " characters");
  const std::string label = name.empty() ? std::string("(new)") : std::string(name);
  const int fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return fail("tun: open /dev/net/tun: " + std::string(std::strerror(errno)));
  ifreq ifr{};
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  if (multi_queue) ifr.ifr_flags |= IFF_MULTI_QUEUE;
  if (vnet_hdr) ifr.ifr_flags |= IFF_VNET_HDR;
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  if (::ioctl(fd, TUNSETIFF, &ifr) != 0) {
    const int err = errno;
    ::close(fd);
    // EINVAL here usually means an existing interface of another kind or queue mode.
    return fail("tun: attach " + label + ": " + std::strerror(err));
  }
  return Attached{fd, std::string(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ))};
}

// Packet length according to its IP header, or 0 when too little of the header is there.
std::size_t claimed_length(std::span<const std::uint8_t> p) noexcept {
  if (p.size() >= 4 && (p[0] >> 4) == 4) return std::size_t(p[2]) << 8 | p[3];
  if (p.size() >= 6 && (p[0] >> 4) == 6) return 40 + (std::size_t(p[4]) << 8 | p[5]);
  return 0;
}

// Packets written per flush at most (the coalescer's batch).
constexpr std::size_t kWriteBatch = 64;

// Asks for checksum and TCP segmentation offload on a vnet-header fd: the kernel then
// sends super-packets and partial checksums, and accepts them from us.
Result<void> request_offloads(int fd) {
  int header_size = int(offload::kVirtioHeaderSize);
  if (::ioctl(fd, TUNSETVNETHDRSZ, &header_size) != 0)
    return fail(std::string("TUNSETVNETHDRSZ: ") + std::strerror(errno));
  if (::ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) != 0)
    return fail(std::string("TUNSETOFFLOAD: ") + std::strerror(errno));
  return {};
}

// Attaches with IFF_VNET_HDR and offloads when `want_offload`, falling back to plain mode
// (with a warning) when the kernel refuses; *offload says which mode is in effect.
Result<Attached> attach_best(std::string_view name, bool multi_queue, bool want_offload,
                             bool* offload) {
  *offload = false;
  if (want_offload && std::endian::native != std::endian::little) {
    // offload.h speaks little-endian virtio headers, which legacy TUN uses only on LE hosts.
    spdlog::warn("tun: offloads need a little-endian host; using plain mode");
    want_offload = false;
  }
  if (want_offload) {
    auto attached = attach(name, multi_queue, true);
    if (attached) {
      if (auto r = request_offloads(attached->fd); r) {
        *offload = true;
        return attached;
      } else {
        spdlog::warn("tun: {}: {}; using plain mode", attached->name, r.error().message);
      }
      ::close(attached->fd);  // a fresh non-persistent interface goes away; made again below
    } else {
      spdlog::warn("{} (IFF_VNET_HDR); using plain mode", attached.error().message);
    }
  }
  return attach(name, multi_queue, false);
}

}  // namespace

Result<std::unique_ptr<LinuxTun>> LinuxTun::open(std::string_view name, int mtu,
                                                 const LinuxTunOptions& options) {
  bool offload = false;
  auto attached = attach_best(name, options.multi_queue, options.offload, &offload);
  if (!attached) return std::unexpected(attached.error());
  // Owned from here on, so every failure below closes the fd (and the interface goes away).
  std::unique_ptr<LinuxTun> tun(
      new LinuxTun(attached->fd, std::move(attached->name), mtu, options.multi_queue));
  if (offload) {
    if (auto r = tun->enable_offload_buffers(); !r) return std::unexpected(r.error());
  }
  if (auto r = set_link_mtu(tun->name_, mtu); !r) return std::unexpected(r.error());
  if (options.bring_up) {
    if (auto r = set_link_up(tun->name_); !r) return std::unexpected(r.error());
  }
  return tun;
}

Result<std::unique_ptr<LinuxTun>> LinuxTun::open_queue() const {
  if (!multi_queue_) return fail("tun: " + name_ + " was not opened with multi_queue");
  // Offloads are a property of the interface: every queue speaks the same framing.
  auto attached = attach(name_, true, offload_);
  if (!attached) return std::unexpected(attached.error());
  std::unique_ptr<LinuxTun> queue(new LinuxTun(attached->fd, name_, mtu_, true));
  if (offload_) {
    if (auto r = request_offloads(queue->fd_); !r)
      return fail("tun: " + name_ + " queue: " + r.error().message);
    if (auto r = queue->enable_offload_buffers(); !r) return std::unexpected(r.error());
  }
  return queue;
}

Result<void> LinuxTun::enable_offload_buffers() {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) return fail("tun: eventfd: " + std::string(std::strerror(errno)));
  poll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (poll_fd_ < 0) return fail("tun: epoll_create1: " + std::string(std::strerror(errno)));
  for (int fd : {fd_, wake_fd_}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (::epoll_ctl(poll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0)
      return fail("tun: epoll_ctl: " + std::string(std::strerror(errno)));
  }
  // One byte more than the largest frame, so that a truncated read is recognisable.
  frame_.resize(offload::kMaxFrameSize + 1);
  coalescer_ = std::make_unique<offload::Coalescer>(kWriteBatch, std::size_t(mtu_));
  offload_ = true;
  return {};
}

LinuxTun::~LinuxTun() {
  if (poll_fd_ >= 0) ::close(poll_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (fd_ >= 0) ::close(fd_);
}

long LinuxTun::read(std::span<std::uint8_t> buf) noexcept {
  if (offload_) return read_offload(buf);
  for (;;) {
    const ssize_t n = ::read(fd_, buf.data(), buf.size());
    if (n >= 0) {
      // A packet that does not fit is consumed either way, but kernels report it
      // differently: some return the full length after copying a prefix, recent ones
      // return the truncated length. The IP header's own length tells the truth.
      if (std::size_t(n) > buf.size()) return -EMSGSIZE;
      if (std::size_t(n) == buf.size() && claimed_length(buf) > buf.size()) return -EMSGSIZE;
      return long(n);
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    if (errno == EFAULT) return -EMSGSIZE;  // older kernels: the copy itself failed
    return -long(errno);
  }
}

void LinuxTun::set_pending(bool pending) noexcept {
  if (pending == wake_armed_) return;
  std::uint64_t value = 1;
  // Two syscalls per super-packet that outlives one read(), not per packet.
  const ssize_t n = pending ? ::write(wake_fd_, &value, sizeof value)
                            : ::read(wake_fd_, &value, sizeof value);
  (void)n;  // eventfd counter cannot overflow at 1; reading an empty one is harmless
  wake_armed_ = pending;
}

long LinuxTun::read_offload(std::span<std::uint8_t> buf) noexcept {
  while (splitter_.done()) {
    const ssize_t n = ::read(fd_, frame_.data(), frame_.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      return -long(errno);
    }
    if (n == 0) return 0;
    if (std::size_t(n) >= frame_.size()) {
      ++bad_frames_;
      return -EMSGSIZE;
    }
    // Anything else the splitter refuses is not ours to deliver (a GSO type we never
    // asked for, a kernel bug): skip it and read on.
    if (splitter_.start(std::span(frame_.data(), std::size_t(n))) != offload::SplitStatus::Ok)
      ++bad_frames_;
  }
  const long size = splitter_.next(buf);
  set_pending(!splitter_.done());
  return size;
}

bool LinuxTun::write_frame(std::span<const std::uint8_t> header,
                           std::span<const std::span<const std::uint8_t>> pieces) noexcept {
  std::array<iovec, kWriteBatch + 1> iov;
  if (pieces.size() + 1 > iov.size()) return false;
  iov[0] = {const_cast<std::uint8_t*>(header.data()), header.size()};
  std::size_t total = header.size();
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    iov[i + 1] = {const_cast<std::uint8_t*>(pieces[i].data()), pieces[i].size()};
    total += pieces[i].size();
  }
  for (;;) {
    const ssize_t n = ::writev(fd_, iov.data(), int(pieces.size() + 1));
    if (n >= 0) return std::size_t(n) == total;
    if (errno != EINTR) return false;
  }
}

void LinuxTun::flush() noexcept {
  if (!offload_ || coalescer_->size() == 0) return;
  for (const offload::Output& out : coalescer_->coalesce())
    if (!write_frame(out.header, out.pieces)) ++write_failures_;
  coalescer_->clear();
}

bool LinuxTun::write(std::span<const std::uint8_t> packet) noexcept {
  if (offload_) {
    if (coalescer_->add(packet)) return true;
    flush();  // full batch (or a packet it cannot hold: keep the order)
    if (coalescer_->add(packet)) return true;
    static constexpr std::array<std::uint8_t, offload::kVirtioHeaderSize> kPlain{};
    const std::span<const std::uint8_t> whole[1] = {packet};
    return write_frame(kPlain, whole);
  }
  for (;;) {
    const ssize_t n = ::write(fd_, packet.data(), packet.size());
    if (n >= 0) return std::size_t(n) == packet.size();
    if (errno != EINTR) return false;
  }
}

}  // namespace keymesh::tun
