#include "tun/netlink.h"

#include <libmnl/libmnl.h>
#include <net/if.h>  // before any linux/ header: glibc and the kernel both define ifreq
#include <linux/if_arp.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

namespace keymesh::tun {

namespace {

// Dumps can carry messages larger than a page; libmnl suggests 32 KiB for them.
constexpr std::size_t kBufferSize = 32768;

std::atomic<unsigned> next_seq{1};

std::string describe(std::string_view what, int err) {
  return "netlink: " + std::string(what) + ": " + std::strerror(err);
}

// One rtnetlink conversation on its own socket: send a request, run the replies through
// `cb` until the kernel's ACK or NLMSG_DONE. Returns 0 or the kernel's errno.
int converse(nlmsghdr* request, mnl_cb_t cb = nullptr, void* data = nullptr) {
  mnl_socket* nl = mnl_socket_open(NETLINK_ROUTE);
  if (nl == nullptr) return errno;
  int err = 0;
  if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
    err = errno;
    mnl_socket_close(nl);
    return err;
  }
  const unsigned portid = mnl_socket_get_portid(nl);
  const unsigned seq = next_seq.fetch_add(1);
  request->nlmsg_seq = seq;
  std::vector<char> buf(kBufferSize);
  if (mnl_socket_sendto(nl, request, request->nlmsg_len) < 0) {
    err = errno;
  } else {
    int ret;
    do {
      const ssize_t n = mnl_socket_recvfrom(nl, buf.data(), buf.size());
      if (n < 0) {
        ret = -1;
        break;
      }
      ret = mnl_cb_run(buf.data(), std::size_t(n), seq, portid, cb, data);
    } while (ret > 0);  // MNL_CB_OK: more messages to come; MNL_CB_STOP (0): ACK or DONE
    if (ret < 0) err = errno;
  }
  mnl_socket_close(nl);
  return err;
}

// 0 (with errno set) when the interface does not exist or the name cannot be one.
unsigned ifindex(std::string_view ifname) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ) {
    errno = EINVAL;
    return 0;
  }
  return if_nametoindex(std::string(ifname).c_str());
}

bool valid_prefix(const IpPrefix& p) {
  return (p.address.family == AF_INET && p.length <= 32) ||
         (p.address.family == AF_INET6 && p.length <= 128);
}

Result<void> change_link(std::string_view what, std::string_view ifname, unsigned change,
                         unsigned flags, const int* mtu) {
  const unsigned index = ifindex(ifname);
  if (index == 0) return fail(describe(what, errno));
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = RTM_NEWLINK;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  auto* ifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifm->ifi_family = AF_UNSPEC;
  ifm->ifi_index = int(index);
  ifm->ifi_change = change;
  ifm->ifi_flags = flags;
  if (mtu != nullptr) mnl_attr_put_u32(nlh, IFLA_MTU, std::uint32_t(*mtu));
  if (int err = converse(nlh); err != 0) return fail(describe(what, err));
  return {};
}

enum class RouteOp { kAdd, kDelete };

Result<void> change_route(RouteOp op, std::string_view ifname, const IpPrefix& prefix) {
  const IpPrefix net = prefix.network();
  const std::string what = std::string(op == RouteOp::kAdd ? "add" : "delete") + " route " +
                           net.to_string() + " via " + std::string(ifname);
  if (!valid_prefix(prefix)) return fail(describe(what, EINVAL));
  const unsigned index = ifindex(ifname);
  if (index == 0) {
    // The interface took its routes with it: nothing left to delete.
    if (op == RouteOp::kDelete && errno == ENODEV) return {};
    return fail(describe(what, errno));
  }
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = op == RouteOp::kAdd ? RTM_NEWROUTE : RTM_DELROUTE;
  // Add is "replace": the daemon owns its overlay prefixes, so a stale route to the same
  // prefix (say, via a previous incarnation's interface) is taken over rather than kept.
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  if (op == RouteOp::kAdd) nlh->nlmsg_flags |= NLM_F_CREATE | NLM_F_REPLACE;
  auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
  const bool v4 = net.address.family == AF_INET;
  rtm->rtm_family = net.address.family;
  rtm->rtm_dst_len = net.length;
  rtm->rtm_table = RT_TABLE_MAIN;
  if (op == RouteOp::kAdd) {
    rtm->rtm_protocol = RTPROT_STATIC;
    // IPv6 has no link scope for routes; the kernel wants universe there.
    rtm->rtm_scope = v4 ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
    rtm->rtm_type = RTN_UNICAST;
  } else {
    rtm->rtm_scope = RT_SCOPE_NOWHERE;  // "any scope" for a delete
  }
  if (net.length > 0) mnl_attr_put(nlh, RTA_DST, v4 ? 4 : 16, net.address.bytes.data());
  mnl_attr_put_u32(nlh, RTA_OIF, index);
  const int err = converse(nlh);
  if (err == 0 || (op == RouteOp::kDelete && err == ESRCH)) return {};
  return fail(describe(what, err));
}

struct UnderlayScan {
  int best = 0;
};

int on_link(const nlmsghdr* nlh, void* data) {
  auto* scan = static_cast<UnderlayScan*>(data);
  const auto* ifm = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
  if ((ifm->ifi_flags & IFF_UP) == 0 || (ifm->ifi_flags & IFF_LOOPBACK) != 0) return MNL_CB_OK;
  // ARPHRD_NONE is what TUN and WireGuard links report: overlays, not the underlay.
  if (ifm->ifi_type == ARPHRD_NONE) return MNL_CB_OK;
  int mtu = 0;
  // (mnl_attr_for_each assigns from void*, which C++ refuses; the callback form is the same.)
  mnl_attr_parse(
      nlh, sizeof(*ifm),
      [](const nlattr* attr, void* out) {
        if (mnl_attr_get_type(attr) == IFLA_MTU && mnl_attr_validate(attr, MNL_TYPE_U32) >= 0)
          *static_cast<int*>(out) = int(mnl_attr_get_u32(attr));
        return int(MNL_CB_OK);
      },
      &mtu);
  scan->best = std::max(scan->best, mtu);
  return MNL_CB_OK;
}

}  // namespace

Result<void> set_link_mtu(std::string_view ifname, int mtu) {
  const std::string what = "set mtu " + std::to_string(mtu) + " on " + std::string(ifname);
  if (mtu <= 0) return fail(describe(what, EINVAL));
  return change_link(what, ifname, 0, 0, &mtu);
}

Result<void> set_link_up(std::string_view ifname) {
  return change_link("set " + std::string(ifname) + " up", ifname, IFF_UP, IFF_UP, nullptr);
}

Result<void> add_address(std::string_view ifname, const IpPrefix& prefix) {
  const std::string what = "add address " + prefix.to_string() + " to " + std::string(ifname);
  if (!valid_prefix(prefix)) return fail(describe(what, EINVAL));
  const unsigned index = ifindex(ifname);
  if (index == 0) return fail(describe(what, errno));
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = RTM_NEWADDR;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
  auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
  const bool v4 = prefix.address.family == AF_INET;
  ifa->ifa_family = prefix.address.family;
  ifa->ifa_prefixlen = prefix.length;
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  ifa->ifa_index = index;
  // No duplicate address detection: nothing else lives on a TUN link, and DAD would keep
  // the address "tentative" (unusable as a source) for a second or more.
  if (!v4) ifa->ifa_flags = IFA_F_NODAD;
  const std::size_t len = v4 ? 4 : 16;
  mnl_attr_put(nlh, IFA_LOCAL, len, prefix.address.bytes.data());
  mnl_attr_put(nlh, IFA_ADDRESS, len, prefix.address.bytes.data());
  const int err = converse(nlh);
  if (err == 0 || err == EEXIST) return {};
  return fail(describe(what, err));
}

Result<void> add_route(std::string_view ifname, const IpPrefix& prefix) {
  return change_route(RouteOp::kAdd, ifname, prefix);
}

Result<void> delete_route(std::string_view ifname, const IpPrefix& prefix) {
  return change_route(RouteOp::kDelete, ifname, prefix);
}

Result<int> underlay_mtu() {
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = RTM_GETLINK;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  // A full ifinfomsg (not the legacy rtgenmsg) so strict-checking kernels accept the dump.
  auto* ifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifm->ifi_family = AF_UNSPEC;
  UnderlayScan scan;
  if (int err = converse(nlh, on_link, &scan); err != 0) return fail(describe("list links", err));
  return scan.best > 0 ? scan.best : 1500;
}

}  // namespace keymesh::tun
