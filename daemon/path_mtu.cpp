// Path MTU that TCP can follow (docs/architecture.md, "Path MTU").
//
// The UDP socket sets don't-fragment, so a datagram over the path MTU is refused with
// EMSGSIZE (the route's MTU, or a PMTU the kernel learned from an ICMP error on the underlay).
// When that happens the bind names the destination (udp::Bind::take_too_big); we ask the
// kernel for that path's MTU and give every peer behind that endpoint an inner limit: what
// still fits after the outer IP and UDP headers, the data header, the tag and the padding.
// From then on an inner packet over the limit is not sealed: it is dropped (too_big_for_path)
// and answered through km0 with ICMP "fragmentation needed" / "packet too big" carrying the
// limit (tun/icmp_too_big.h), at most kTooBigAnswersPerSecond a second, so the sender's kernel
// lowers its path MTU and TCP re-segments. The limit lapses after kPathLimitLifetime and is
// learned again if the path is still small (one lost datagram per lapse).
#include <algorithm>

#include "common/log.h"
#include "daemon/tunnel.h"
#include "tun/icmp_too_big.h"
#include "udp/path_mtu.h"

namespace keymesh::daemon {

namespace {
constexpr auto kPathLimitLifetime = std::chrono::seconds(60);
constexpr std::uint32_t kTooBigAnswersPerSecond = 100;
constexpr std::size_t kUdpHeader = 8;
// Data header (16) and tag (16) around the inner packet, which is padded to 16 bytes.
constexpr std::size_t kDataOverhead = sizeof(crypto::MessageDataHeader) + crypto::kTagSize;
}  // namespace

void Tunnel::learn_path_mtu() noexcept {
  const auto refused = bind_.take_too_big();
  if (!refused) return;  // the bind counted it (path_mtu_exceeded)
  const auto mtu = udp::kernel_path_mtu(*refused);
  if (!mtu) return;
  const std::size_t ip_header = refused->family == AF_INET6 ? 40 : 20;
  for (auto& p : peers_) {
    const bool relayed = p->relay.via.has_value();
    if ((relayed ? *p->relay.via : p->endpoint) != *refused) continue;
    const std::size_t overhead =
        ip_header + kUdpHeader + kDataOverhead + (relayed ? kRelayEnvelopeSize : 0);
    const std::size_t room = *mtu > overhead ? *mtu - overhead : 0;
    const auto limit = std::uint32_t(room / crypto::kPaddingMultiple * crypto::kPaddingMultiple);
    if (limit >= mtu_) continue;  // everything km0 lets through fits: nothing to answer
    if (p->path_limit != limit)
      spdlog::info("path MTU to {} is {}: inner packets over {} bytes to {} are answered with "
                   "ICMP too-big (interface mtu {})",
                   refused->to_string(), *mtu, limit, p->name, mtu_);
    p->path_limit = limit;
    p->path_limit_until = now() + kPathLimitLifetime;
  }
}

bool Tunnel::over_path_limit(Peer& peer, std::span<const std::uint8_t> packet) noexcept {
  if (peer.path_limit == 0) return false;
  if (now() >= peer.path_limit_until) {
    peer.path_limit = 0;
    return false;
  }
  if (packet.size() <= peer.path_limit) return false;
  drop(DropReason::TooBigForPath);
  if (now() - too_big_window_ >= std::chrono::seconds(1)) {
    too_big_window_ = now();
    too_big_answers_ = 0;
  }
  if (too_big_answers_ >= kTooBigAnswersPerSecond) return true;
  const std::size_t n = tun::build_too_big(packet, peer.path_limit, too_big_answer_);
  if (n != 0 && device_.write(std::span(too_big_answer_.data(), n))) ++too_big_answers_;
  return true;
}

}  // namespace keymesh::daemon
