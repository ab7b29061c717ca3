#include "net/netlink.h"

#include <net/if.h>  // before any linux/ header: glibc and the kernel both define ifreq
#include <linux/fib_rules.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <utility>

#include "net/netns.h"

namespace keymesh::net {

struct Netlink::Reply {
  std::function<void(const nlmsghdr*)> on_message;
  std::string ext_msg;
};

namespace {

constexpr std::size_t kBufferSize = 32768;  // dumps can exceed a page; libmnl suggests 32 KiB

std::string errno_text(int err) { return std::strerror(err); }

std::string mac_text(const void* data, std::size_t len) {
  const auto* b = static_cast<const std::uint8_t*>(data);
  std::string out;
  char part[4];
  for (std::size_t i = 0; i < len; ++i) {
    std::snprintf(part, sizeof part, i == 0 ? "%02x" : ":%02x", b[i]);
    out += part;
  }
  return out;
}

std::size_t addr_len(std::uint8_t family) { return family == AF_INET6 ? 16 : 4; }

IpAddress address_from(std::uint8_t family, const void* data) {
  return family == AF_INET6 ? IpAddress::v6(static_cast<const std::uint8_t*>(data))
                            : IpAddress::v4(static_cast<const std::uint8_t*>(data));
}

// mnl_attr_parse with a lambda: fills `table[type]` for every attribute up to `max`.
template <std::size_t N>
void parse_attrs(const nlmsghdr* nlh, std::size_t offset, const nlattr* (&table)[N]) {
  mnl_attr_parse(
      nlh, unsigned(offset),
      [](const nlattr* attr, void* data) {
        auto* t = static_cast<const nlattr**>(data);
        const unsigned type = mnl_attr_get_type(attr);
        if (type < N) t[type] = attr;
        return int(MNL_CB_OK);
      },
      table);
}

template <std::size_t N>
void parse_nested(const nlattr* nest, const nlattr* (&table)[N]) {
  mnl_attr_parse_nested(
      nest,
      [](const nlattr* attr, void* data) {
        auto* t = static_cast<const nlattr**>(data);
        const unsigned type = mnl_attr_get_type(attr);
        if (type < N) t[type] = attr;
        return int(MNL_CB_OK);
      },
      table);
}

std::string attr_string(const nlattr* a) {
  if (a == nullptr) return {};
  const char* s = static_cast<const char*>(mnl_attr_get_payload(a));
  return std::string(s, ::strnlen(s, mnl_attr_get_payload_len(a)));
}

std::uint32_t attr_u32(const nlattr* a, std::uint32_t fallback = 0) {
  if (a == nullptr || mnl_attr_get_payload_len(a) < 4) return fallback;
  return mnl_attr_get_u32(a);
}

LinkInfo parse_link(const nlmsghdr* nlh) {
  const auto* ifm = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
  const nlattr* tb[IFLA_MAX + 1] = {};
  parse_attrs(nlh, sizeof(*ifm), tb);
  LinkInfo link;
  link.index = ifm->ifi_index;
  link.type = ifm->ifi_type;
  link.up = (ifm->ifi_flags & IFF_UP) != 0;
  link.loopback = (ifm->ifi_flags & IFF_LOOPBACK) != 0;
  link.name = attr_string(tb[IFLA_IFNAME]);
  link.alias = attr_string(tb[IFLA_IFALIAS]);
  link.mtu = int(attr_u32(tb[IFLA_MTU]));
  if (tb[IFLA_ADDRESS] != nullptr && mnl_attr_get_payload_len(tb[IFLA_ADDRESS]) == 6)
    link.mac = mac_text(mnl_attr_get_payload(tb[IFLA_ADDRESS]), 6);
  if (tb[IFLA_LINKINFO] != nullptr) {
    const nlattr* info[IFLA_INFO_MAX + 1] = {};
    parse_nested(tb[IFLA_LINKINFO], info);
    link.kind = attr_string(info[IFLA_INFO_KIND]);
  }
  return link;
}

nlmsghdr* put_header(std::vector<char>& buf, std::uint16_t type, std::uint16_t flags) {
  buf.assign(MNL_SOCKET_BUFFER_SIZE, 0);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = NLM_F_REQUEST | flags;
  return nlh;
}

std::string route_text(const RouteSpec& r) {
  std::string s = r.dst.length == 0 ? "default" : r.dst.to_string();
  if (r.gateway) s += " via " + r.gateway->to_string();
  if (r.oif != 0) s += " dev #" + std::to_string(r.oif);
  if (r.onlink) s += " onlink";
  return s + " table " + std::to_string(r.table);
}

std::string rule_text(const RuleSpec& r) {
  std::string s = "rule " + std::to_string(r.priority) + ": from " +
                  (r.from.length == 0 ? std::string("all") : r.from.to_string());
  if (!r.iif.empty()) s += " iif " + r.iif;
  return s + " lookup " + std::to_string(r.table);
}

}  // namespace

Netlink::Netlink(mnl_socket* socket) : socket_(socket), portid_(mnl_socket_get_portid(socket)) {}

Netlink::Netlink(Netlink&& other) noexcept
    : socket_(std::exchange(other.socket_, nullptr)), portid_(other.portid_), seq_(other.seq_) {}

Netlink& Netlink::operator=(Netlink&& other) noexcept {
  if (this != &other) {
    if (socket_ != nullptr) mnl_socket_close(socket_);
    socket_ = std::exchange(other.socket_, nullptr);
    portid_ = other.portid_;
    seq_ = other.seq_;
  }
  return *this;
}

Netlink::~Netlink() {
  if (socket_ != nullptr) mnl_socket_close(socket_);
}

Result<Netlink> Netlink::open() {
  mnl_socket* nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
  if (nl == nullptr) return fail("netlink socket: " + errno_text(errno));
  if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
    const int err = errno;
    mnl_socket_close(nl);
    return fail("netlink bind: " + errno_text(err));
  }
  // Extended acks carry the kernel's reason in words; capped acks keep them small.
  int one = 1;
  mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof one);
  mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof one);
  return Netlink(nl);
}

Result<Netlink> Netlink::open_in(const Netns& netns) {
  auto scope = NetnsScope::enter(netns);
  if (!scope) return std::unexpected(scope.error());
  return open();  // the socket stays in `netns` after the scope returns the thread
}

int Netlink::converse(nlmsghdr* request, Reply* reply) {
  request->nlmsg_seq = ++seq_;
  if (mnl_socket_sendto(socket_, request, request->nlmsg_len) < 0) return errno;
  std::vector<char> buf(kBufferSize);
  for (;;) {
    const ssize_t n = mnl_socket_recvfrom(socket_, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    int len = int(n);
    for (auto* nlh = reinterpret_cast<nlmsghdr*>(buf.data()); mnl_nlmsg_ok(nlh, len);
         nlh = mnl_nlmsg_next(nlh, &len)) {
      if (nlh->nlmsg_seq != seq_ || nlh->nlmsg_pid != portid_) continue;  // not ours
      if (nlh->nlmsg_type == NLMSG_DONE) {
        // A dump can end with an error code in NLMSG_DONE's payload.
        if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(int)) {
          int err;
          std::memcpy(&err, mnl_nlmsg_get_payload(nlh), sizeof err);
          if (err < 0) return -err;
        }
        return 0;
      }
      if (nlh->nlmsg_type == NLMSG_ERROR) {
        const auto* e = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
        if (e->error != 0 && reply != nullptr && (nlh->nlmsg_flags & NLM_F_ACK_TLVS) != 0) {
          // Capped ack: the TLVs follow nlmsgerr (whose echoed request is the header only).
          const nlattr* tb[NLMSGERR_ATTR_MAX + 1] = {};
          parse_attrs(nlh, sizeof(nlmsgerr), tb);
          reply->ext_msg = attr_string(tb[NLMSGERR_ATTR_MSG]);
        }
        return -e->error;
      }
      if (nlh->nlmsg_type < NLMSG_MIN_TYPE) continue;  // NOOP, OVERRUN
      if (reply != nullptr && reply->on_message) reply->on_message(nlh);
    }
  }
}

Result<void> Netlink::simple(nlmsghdr* request, std::string_view what,
                             std::initializer_list<int> ok_errors) {
  Reply reply;
  const int err = converse(request, &reply);
  if (err == 0) return {};
  for (const int ok : ok_errors)
    if (err == ok) return {};
  std::string msg = "netlink: " + std::string(what) + ": " + errno_text(err);
  if (!reply.ext_msg.empty()) msg += " (" + reply.ext_msg + ")";
  return fail(msg);
}

Result<std::optional<LinkInfo>> Netlink::link(std::string_view name) {
  if (name.empty() || name.size() >= IFNAMSIZ) return std::optional<LinkInfo>{};
  std::vector<char> buf;
  nlmsghdr* nlh = put_header(buf, RTM_GETLINK, NLM_F_ACK);
  auto* ifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifm->ifi_family = AF_UNSPEC;
  mnl_attr_put_strz(nlh, IFLA_IFNAME, std::string(name).c_str());
  std::optional<LinkInfo> found;
  Reply reply;
  reply.on_message = [&](const nlmsghdr* m) {
    if (m->nlmsg_type == RTM_NEWLINK) found = parse_link(m);
  };
  const int err = converse(nlh, &reply);
  if (err == ENODEV) return std::optional<LinkInfo>{};
  if (err != 0) return fail("netlink: get link " + std::string(name) + ": " + errno_text(err));
  return found;
}

Result<std::vector<LinkInfo>> Netlink::links() {
  std::vector<char> buf;
  nlmsghdr* nlh = put_header(buf, RTM_GETLINK, NLM_F_DUMP);
  auto* ifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifm->ifi_family = AF_UNSPEC;
  std::vector<LinkInfo> out;
  Reply reply;
  reply.on_message = [&](const nlmsghdr* m) {
    if (m->nlmsg_type == RTM_NEWLINK) out.push_back(parse_link(m));
  };
  if (const int err = converse(nlh, &reply); err != 0)
    return fail("netlink: list links: " + errno_text(err));
  return out;
}

Result<void> Netlink::create_veth(std::string_view name, std::string_view peer_name,
                                  int peer_netns_fd, int mtu) {
  const std::string what = "create veth " + std::string(name) + " (peer " + std::string(peer_name) + ")";
  if (name.empty() || name.size() >= IFNAMSIZ || peer_name.empty() || peer_name.size() >= IFNAMSIZ)
    return fail("netlink: " + what + ": " + errno_text(EINVAL));
  std::vector<char> buf;
  nlmsghdr* nlh = put_header(buf, RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
  auto* ifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifm->ifi_family = AF_UNSPEC;
  mnl_attr_put_strz(nlh, IFLA_IFNAME, std::string(name).c_str());
  mnl_attr_put_u32(nlh, IFLA_MTU, std::uint32_t(mtu));
  nlattr* linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
  mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
  nlattr* data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
  nlattr* peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
  // The peer's attributes follow its own ifinfomsg.
  auto* peer_ifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  peer_ifm->ifi_family = AF_UNSPEC;
  mnl_attr_put_strz(nlh, IFLA_IFNAME, std::string(peer_name).c_str());
  mnl_attr_put_u32(nlh, IFLA_MTU, std::uint32_t(mtu));
  if (peer_netns_fd >= 0) mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, std::uint32_t(peer_netns_fd));
  mnl_attr_nest_end(nlh, peer);
  mnl_attr_nest_end(nlh, data);
  mnl_attr_nest_end(nlh, linkinfo);
  return simple(nlh, what);
}

Result<void> Netlink::set_alias(int index, std::string_view alias) {
  std::vector<char> buf;
  nlmsghdr* nlh = put_header(buf, RTM_NEWLINK, NLM_F_ACK);
  auto* ifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifm->ifi_family = AF_UNSPEC;
  ifm->ifi_index = index;
  mnl_attr_put_strz(nlh, IFLA_IFALIAS, std::string(alias).c_str());
  return simple(nlh, "set alias of link #" + std::to_string(index));
}

Result<void> Netlink::set_up(int index) {
  std::vector<char> buf;
  nlmsghdr* nlh = put_header(buf, RTM_NEWLINK, NLM_F_ACK);
  auto* ifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifm->ifi_family = AF_UNSPEC;
  ifm->ifi_index = index;
  ifm->ifi_change = IFF_UP;
  ifm->ifi_flags = IFF_UP;
  return simple(nlh, "set link #" + std::to_string(index) + " up");
}

Result<void> Netlink::set_mtu(int index, int mtu) {
  const std::string what = "set mtu " + std::to_string(mtu) + " on link #" + std::to_string(index);
  if (mtu <= 0) return fail("netlink: " + what + ": " + errno_text(EINVAL));
  std::vector<char> buf;
  nlmsghdr* nlh = put_header(buf, RTM_NEWLINK, NLM_F_ACK);
  auto* ifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifm->ifi_family = AF_UNSPEC;
  ifm->ifi_index = index;
  mnl_attr_put_u32(nlh, IFLA_MTU, std::uint32_t(mtu));
  return simple(nlh, what);
}

Result<void> Netlink::delete_link(int index) {
  std::vector<char> buf;
  nlmsghdr* nlh = put_header(buf, RTM_DELLINK, NLM_F_ACK);
  auto* ifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifm->ifi_family = AF_UNSPEC;
  ifm->ifi_index = index;
  return simple(nlh, "delete link #" + std::to_string(index), {ENODEV});
}

Result<void> Netlink::add_address(int index, const IpPrefix& prefix) {
  std::vector<char> buf;
  nlmsghdr* nlh = put_header(buf, RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
  auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
  const std::uint8_t family = prefix.address.family;
  ifa->ifa_family = family;
  ifa->ifa_prefixlen = prefix.length;
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  ifa->ifa_index = unsigned(index);
  if (family == AF_INET6) ifa->ifa_flags = IFA_F_NODAD;
  mnl_attr_put(nlh, IFA_LOCAL, addr_len(family), prefix.address.bytes.data());
  mnl_attr_put(nlh, IFA_ADDRESS, addr_len(family), prefix.address.bytes.data());
  return simple(nlh, "add address " + prefix.to_string() + " to link #" + std::to_string(index),
                {EEXIST});
}

Result<std::vector<IpPrefix>> Netlink::addresses(int index, std::uint8_t family) {
  std::vector<char> buf;
  nlmsghdr* nlh = put_header(buf, RTM_GETADDR, NLM_F_DUMP);
  auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
  ifa->ifa_family = family;
  std::vector<IpPrefix> out;
  Reply reply;
  reply.on_message = [&](const nlmsghdr* m) {
    if (m->nlmsg_type != RTM_NEWADDR) return;
    const auto* a = static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(m));
    if (int(a->ifa_index) != index || a->ifa_family != family) return;
    const nlattr* tb[IFA_MAX + 1] = {};
    parse_attrs(m, sizeof(*a), tb);
    const nlattr* at = tb[IFA_LOCAL] != nullptr ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
    if (at == nullptr || mnl_attr_get_payload_len(at) != addr_len(family)) return;
    out.push_back(IpPrefix{address_from(family, mnl_attr_get_payload(at)), a->ifa_prefixlen});
  };
  if (const int err = converse(nlh, &reply); err != 0)
    return fail("netlink: list addresses: " + errno_text(err));
  return out;
}

Result<void> Netlink::add_route(const RouteSpec& r, bool replace) {
  std::vector<char> buf;
  nlmsghdr* nlh = put_header(buf, RTM_NEWROUTE,
                             NLM_F_ACK | NLM_F_CREATE | (replace ? NLM_F_REPLACE : NLM_F_EXCL));
  auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
  const std::uint8_t family = r.dst.address.family;
  rtm->rtm_family = family;
  rtm->rtm_dst_len = r.dst.length;
  rtm->rtm_table = r.table < 256 ? std::uint8_t(r.table) : std::uint8_t(RT_TABLE_UNSPEC);
  rtm->rtm_protocol = RTPROT_STATIC;
  // A route with a gateway is "universe"; a direct IPv4 route to a link is "link".
  rtm->rtm_scope = (r.gateway || family == AF_INET6) ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
  rtm->rtm_type = RTN_UNICAST;
  if (r.onlink) rtm->rtm_flags |= RTNH_F_ONLINK;
  mnl_attr_put_u32(nlh, RTA_TABLE, r.table);
  if (r.dst.length > 0) mnl_attr_put(nlh, RTA_DST, addr_len(family), r.dst.network().address.bytes.data());
  if (r.gateway) mnl_attr_put(nlh, RTA_GATEWAY, addr_len(family), r.gateway->bytes.data());
  if (r.oif != 0) mnl_attr_put_u32(nlh, RTA_OIF, std::uint32_t(r.oif));
  return simple(nlh, "add route " + route_text(r), {EEXIST});
}

Result<void> Netlink::delete_route(const RouteSpec& r) {
  std::vector<char> buf;
  nlmsghdr* nlh = put_header(buf, RTM_DELROUTE, NLM_F_ACK);
  auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
  const std::uint8_t family = r.dst.address.family;
  rtm->rtm_family = family;
  rtm->rtm_dst_len = r.dst.length;
  rtm->rtm_table = r.table < 256 ? std::uint8_t(r.table) : std::uint8_t(RT_TABLE_UNSPEC);
  rtm->rtm_scope = RT_SCOPE_NOWHERE;  // "any scope" for a delete
  mnl_attr_put_u32(nlh, RTA_TABLE, r.table);
  if (r.dst.length > 0) mnl_attr_put(nlh, RTA_DST, addr_len(family), r.dst.network().address.bytes.data());
  if (r.gateway) mnl_attr_put(nlh, RTA_GATEWAY, addr_len(family), r.gateway->bytes.data());
  if (r.oif != 0) mnl_attr_put_u32(nlh, RTA_OIF, std::uint32_t(r.oif));
  return simple(nlh, "delete route " + route_text(r), {ESRCH, ENODEV});
}

Result<std::vector<RouteSpec>> Netlink::routes(std::uint8_t family, std::uint32_t table) {
  std::vector<char> buf;
  nlmsghdr* nlh = put_header(buf, RTM_GETROUTE, NLM_F_DUMP);
  auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
  rtm->rtm_family = family;
  std::vector<RouteSpec> out;
  Reply reply;
  reply.on_message = [&](const nlmsghdr* m) {
    if (m->nlmsg_type != RTM_NEWROUTE) return;
    const auto* rt = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(m));
    if (rt->rtm_family != family || rt->rtm_type != RTN_UNICAST) return;
    const nlattr* tb[RTA_MAX + 1] = {};
    parse_attrs(m, sizeof(*rt), tb);
    if (attr_u32(tb[RTA_TABLE], rt->rtm_table) != table) return;
    RouteSpec r;
    r.table = table;
    r.dst.address.family = family;
    r.dst.length = rt->rtm_dst_len;
    if (tb[RTA_DST] != nullptr && mnl_attr_get_payload_len(tb[RTA_DST]) == addr_len(family))
      r.dst.address = address_from(family, mnl_attr_get_payload(tb[RTA_DST]));
    if (tb[RTA_GATEWAY] != nullptr && mnl_attr_get_payload_len(tb[RTA_GATEWAY]) == addr_len(family))
      r.gateway = address_from(family, mnl_attr_get_payload(tb[RTA_GATEWAY]));
    r.oif = int(attr_u32(tb[RTA_OIF]));
    r.onlink = (rt->rtm_flags & RTNH_F_ONLINK) != 0;
    out.push_back(r);
  };
  if (const int err = converse(nlh, &reply); err != 0)
    return fail("netlink: list routes: " + errno_text(err));
  return out;
}

namespace {

nlmsghdr* put_rule(std::vector<char>& buf, std::uint16_t type, std::uint16_t flags,
                   const RuleSpec& r) {
  nlmsghdr* nlh = put_header(buf, type, flags);
  auto* frh = static_cast<fib_rule_hdr*>(mnl_nlmsg_put_extra_header(nlh, sizeof(fib_rule_hdr)));
  const std::uint8_t family = r.from.address.family;
  frh->family = family;
  frh->src_len = r.from.length;
  frh->table = r.table < 256 ? std::uint8_t(r.table) : std::uint8_t(RT_TABLE_UNSPEC);
  frh->action = FR_ACT_TO_TBL;
  mnl_attr_put_u32(nlh, FRA_PRIORITY, r.priority);
  mnl_attr_put_u32(nlh, FRA_TABLE, r.table);
  if (r.from.length > 0)
    mnl_attr_put(nlh, FRA_SRC, addr_len(family), r.from.network().address.bytes.data());
  if (!r.iif.empty()) mnl_attr_put_strz(nlh, FRA_IIFNAME, r.iif.c_str());
  return nlh;
}

}  // namespace

Result<void> Netlink::add_rule(const RuleSpec& r) {
  std::vector<char> buf;
  nlmsghdr* nlh = put_rule(buf, RTM_NEWRULE, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, r);
  return simple(nlh, "add " + rule_text(r), {EEXIST});
}

Result<void> Netlink::delete_rule(const RuleSpec& r) {
  std::vector<char> buf;
  nlmsghdr* nlh = put_rule(buf, RTM_DELRULE, NLM_F_ACK, r);
  return simple(nlh, "delete " + rule_text(r), {ENOENT});
}

Result<std::vector<RuleSpec>> Netlink::rules(std::uint8_t family) {
  std::vector<char> buf;
  nlmsghdr* nlh = put_header(buf, RTM_GETRULE, NLM_F_DUMP);
  auto* frh = static_cast<fib_rule_hdr*>(mnl_nlmsg_put_extra_header(nlh, sizeof(fib_rule_hdr)));
  frh->family = family;
  std::vector<RuleSpec> out;
  Reply reply;
  reply.on_message = [&](const nlmsghdr* m) {
    if (m->nlmsg_type != RTM_NEWRULE) return;
    const auto* h = static_cast<const fib_rule_hdr*>(mnl_nlmsg_get_payload(m));
    if (h->family != family || h->action != FR_ACT_TO_TBL) return;
    const nlattr* tb[FRA_MAX + 1] = {};
    parse_attrs(m, sizeof(*h), tb);
    RuleSpec r;
    r.priority = attr_u32(tb[FRA_PRIORITY]);
    r.table = attr_u32(tb[FRA_TABLE], h->table);
    r.from.address.family = family;
    r.from.length = h->src_len;
    if (tb[FRA_SRC] != nullptr && mnl_attr_get_payload_len(tb[FRA_SRC]) == addr_len(family))
      r.from.address = address_from(family, mnl_attr_get_payload(tb[FRA_SRC]));
    r.iif = attr_string(tb[FRA_IIFNAME]);
    out.push_back(std::move(r));
  };
  if (const int err = converse(nlh, &reply); err != 0)
    return fail("netlink: list rules: " + errno_text(err));
  return out;
}

}  // namespace keymesh::net
