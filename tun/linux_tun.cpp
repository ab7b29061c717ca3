#include "tun/linux_tun.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <unistd.h>

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

Result<Attached> attach(std::string_view name, bool multi_queue) {
  if (name.size() >= IFNAMSIZ)
    return fail("tun: interface name '" + std::string(name) + "' is longer than " +
                std::to_string(IFNAMSIZ - 1) + " characters");
  const std::string label = name.empty() ? std::string("(new)") : std::string(name);
  const int fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return fail("tun: open /dev/net/tun: " + std::string(std::strerror(errno)));
  ifreq ifr{};
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  if (multi_queue) ifr.ifr_flags |= IFF_MULTI_QUEUE;
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

}  // namespace

Result<std::unique_ptr<LinuxTun>> LinuxTun::open(std::string_view name, int mtu,
                                                 const LinuxTunOptions& options) {
  auto attached = attach(name, options.multi_queue);
  if (!attached) return std::unexpected(attached.error());
  // Owned from here on, so every failure below closes the fd (and the interface goes away).
  std::unique_ptr<LinuxTun> tun(
      new LinuxTun(attached->fd, std::move(attached->name), mtu, options.multi_queue));
  if (auto r = set_link_mtu(tun->name_, mtu); !r) return std::unexpected(r.error());
  if (options.bring_up) {
    if (auto r = set_link_up(tun->name_); !r) return std::unexpected(r.error());
  }
  return tun;
}

Result<std::unique_ptr<LinuxTun>> LinuxTun::open_queue() const {
  if (!multi_queue_) return fail("tun: " + name_ + " was not opened with multi_queue");
  auto attached = attach(name_, true);
  if (!attached) return std::unexpected(attached.error());
  return std::unique_ptr<LinuxTun>(new LinuxTun(attached->fd, name_, mtu_, true));
}

LinuxTun::~LinuxTun() {
  if (fd_ >= 0) ::close(fd_);
}

long LinuxTun::read(std::span<std::uint8_t> buf) noexcept {
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

bool LinuxTun::write(std::span<const std::uint8_t> packet) noexcept {
  for (;;) {
    const ssize_t n = ::write(fd_, packet.data(), packet.size());
    if (n >= 0) return std::size_t(n) == packet.size();
    if (errno != EINTR) return false;
  }
}

}  // namespace keymesh::tun
