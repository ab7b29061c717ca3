// tun_probe: the real-kernel half of tests/netns/tun_netlink.sh. Runs inside the test's
// network namespace as root.
//
//   tun_probe IFNAME MTU
//
// 1. Opens IFNAME as a LinuxTun with MTU (and a second, multi-queue interface IFNAME-mq
//    with two queues), configures it through tun/netlink.cpp, repeating each add to show
//    that "already there" is not an error, and deleting a route twice likewise.
// 2. Prints "ready" and waits (20 s at most) for packets from the kernel. The first packet
//    is read into a 16-byte buffer and must come back as -EMSGSIZE; each packet after that
//    is printed as "packet len=N src=S dst=D".
// 3. On the first ICMP echo request to 100.64.10.0/24 it writes the echo reply back into
//    the TUN (so the test's ping succeeds only if write() works), prints "replied", exits 0.
#include <arpa/inet.h>
#include <poll.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "tun/linux_tun.h"
#include "tun/netlink.h"

using namespace keymesh;

namespace {

int die(const std::string& message) {
  std::printf("error: %s\n", message.c_str());
  std::fflush(stdout);
  return 1;
}

IpPrefix prefix(const char* text) { return *IpPrefix::parse(text); }

// Turns an IPv4 ICMP echo request into its reply in place. Swapping the addresses leaves
// the IPv4 header checksum unchanged (one's-complement sums commute); the ICMP checksum
// is adjusted for type 8 -> 0 (RFC 1624).
void make_echo_reply(std::uint8_t* p) {
  const std::size_t ihl = (p[0] & 0x0f) * 4;
  std::uint8_t tmp[4];
  std::memcpy(tmp, p + 12, 4);
  std::memcpy(p + 12, p + 16, 4);
  std::memcpy(p + 16, tmp, 4);
  std::uint8_t* icmp = p + ihl;
  icmp[0] = 0;
  std::uint32_t sum = std::uint32_t(icmp[2] << 8 | icmp[3]) + 0x0800;
  sum = (sum & 0xffff) + (sum >> 16);
  icmp[2] = std::uint8_t(sum >> 8);
  icmp[3] = std::uint8_t(sum);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) return die("usage: tun_probe IFNAME MTU");
  setvbuf(stdout, nullptr, _IOLBF, 0);
  const std::string name = argv[1];
  const int mtu = std::stoi(argv[2]);

  auto tun = tun::LinuxTun::open(name, mtu);
  if (!tun) return die(tun.error().message);
  std::printf("opened %s mtu %d fd %d\n", (*tun)->name().c_str(), (*tun)->mtu(), (*tun)->fd());

  for (int round = 0; round < 2; ++round) {
    for (const char* p : {"100.64.9.1/24", "fd00:6b6d::1/64"})
      if (auto r = tun::add_address(name, prefix(p)); !r) return die(r.error().message);
    if (auto r = tun::add_route(name, prefix("100.64.10.0/24")); !r) return die(r.error().message);
  }
  if (auto r = tun::add_route(name, prefix("100.64.11.7/24")); !r) return die(r.error().message);
  for (int round = 0; round < 2; ++round)
    if (auto r = tun::delete_route(name, prefix("100.64.11.0/24")); !r)
      return die(r.error().message);
  if (auto r = tun::add_address("kmt-missing0", prefix("100.64.9.1/24")); !r)
    std::printf("expected failure: %s\n", r.error().message.c_str());
  if (auto r = tun::set_link_mtu(name, 100000); !r)
    std::printf("expected failure: %s\n", r.error().message.c_str());

  const std::string mq_name = name + "-mq";
  auto mq = tun::LinuxTun::open(mq_name, mtu, {.multi_queue = true});
  if (!mq) return die(mq.error().message);
  auto mq2 = (*mq)->open_queue();
  if (!mq2) return die(mq2.error().message);
  if ((*tun)->open_queue()) return die("open_queue on a single-queue interface succeeded");
  std::printf("multiqueue %s queues 2\n", mq_name.c_str());

  auto underlay = tun::underlay_mtu();
  if (!underlay) return die(underlay.error().message);
  std::printf("underlay mtu %d\n", *underlay);
  std::printf("ready\n");

  auto& dev = **tun;
  std::vector<std::uint8_t> buf(65536);
  bool checked_small = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{dev.fd(), POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    if (!checked_small) {
      std::uint8_t tiny[16];
      const long n = dev.read(tiny);
      if (n == 0) continue;
      if (n != -EMSGSIZE) return die("16-byte read returned " + std::to_string(n));
      std::printf("oversized packet reported as EMSGSIZE\n");
      checked_small = true;
      continue;
    }
    const long n = dev.read(buf);
    if (n == 0) continue;
    if (n < 0) return die("read: " + std::string(std::strerror(int(-n))));
    const int version = buf[0] >> 4;
    char src[INET6_ADDRSTRLEN] = "?", dst[INET6_ADDRSTRLEN] = "?";
    if (version == 4 && n >= 20) {
      inet_ntop(AF_INET, &buf[12], src, sizeof src);
      inet_ntop(AF_INET, &buf[16], dst, sizeof dst);
    } else if (version == 6 && n >= 40) {
      inet_ntop(AF_INET6, &buf[8], src, sizeof src);
      inet_ntop(AF_INET6, &buf[24], dst, sizeof dst);
    }
    std::printf("packet len=%ld src=%s dst=%s\n", n, src, dst);
    const bool echo_request = version == 4 && n >= 28 && buf[9] == 1 /*ICMP*/ &&
                              buf[(buf[0] & 0x0f) * 4] == 8;
    if (echo_request && prefix("100.64.10.0/24").contains(IpAddress::v4(&buf[16]))) {
      make_echo_reply(buf.data());
      if (!dev.write(std::span(buf.data(), std::size_t(n)))) return die("write refused");
      std::printf("replied\n");
      return 0;
    }
  }
  return die("no echo request within 20 s");
}
