// rtnetlink over libmnl: links (lookup, MTU, up, veth pairs), addresses, routes in any table,
// policy rules, in any network namespace. The one netlink implementation: TUN setup
// (tun/netlink.h), keymesh-cni, the Docker driver and the site routes use it. Control path only.
//
// A Netlink owns one socket. The socket belongs to the network namespace the thread was in
// when it was opened (open_in() enters the target namespace for the socket() call only), and
// every request acts there, whatever namespace the thread is in later. Not thread-safe: one
// request at a time. Errors carry the kernel's errno text and, when it sends one, its
// extended-ack message ("Nexthop device is not up").
#pragma once

#include <libmnl/libmnl.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/ip.h"
#include "common/result.h"
#include "net/netns.h"

namespace keymesh::net {

struct LinkInfo {
  int index = 0;
  std::string name;
  std::string kind;   // IFLA_INFO_KIND: "veth", "tun", "dummy", ... ("" when none)
  std::string alias;  // IFLA_IFALIAS
  std::string mac;    // "aa:bb:cc:dd:ee:ff" ("" for links without one, e.g. TUN)
  int mtu = 0;
  unsigned type = 0;  // ARPHRD_*: ARPHRD_NONE for TUN and WireGuard links
  bool up = false;    // administratively up (IFF_UP)
  bool loopback = false;
};

// An IPv4 or IPv6 unicast route.
struct RouteSpec {
  std::uint32_t table = 254;            // RT_TABLE_MAIN
  IpPrefix dst;                         // length 0: the default route
  std::optional<IpAddress> gateway;
  int oif = 0;
  bool onlink = false;                  // RTNH_F_ONLINK: gateway reachable without a route
  bool operator==(const RouteSpec&) const = default;
};

// "from SRC iif IIF lookup TABLE" at PRIORITY (IPv4 or IPv6 by `from`'s family).
struct RuleSpec {
  std::uint32_t priority = 0;
  std::uint32_t table = 0;
  IpPrefix from;                        // length 0 with family set: "from all"
  std::string iif;                      // "" : any
  bool operator==(const RuleSpec&) const = default;
};

class Netlink {
 public:
  // A socket in the calling thread's current network namespace.
  static Result<Netlink> open();
  // A socket in `netns`.
  static Result<Netlink> open_in(const Netns& netns);

  // std::nullopt when there is no link of that name.
  Result<std::optional<LinkInfo>> link(std::string_view name);
  Result<std::vector<LinkInfo>> links();

  // Creates veth `name` here and its peer `peer_name` directly in `peer_netns_fd` (-1: here),
  // both with `mtu`. EEXIST when either name is taken.
  Result<void> create_veth(std::string_view name, std::string_view peer_name, int peer_netns_fd,
                           int mtu);
  Result<void> set_alias(int index, std::string_view alias);
  Result<void> set_up(int index);
  Result<void> set_mtu(int index, int mtu);
  // A link that is already gone is not an error.
  Result<void> delete_link(int index);

  // Already present: not an error.
  Result<void> add_address(int index, const IpPrefix& prefix);
  Result<std::vector<IpPrefix>> addresses(int index, std::uint8_t family);

  // replace: create or replace the route to the same destination in the same table.
  Result<void> add_route(const RouteSpec& route, bool replace);
  // Absent: not an error.
  Result<void> delete_route(const RouteSpec& route);
  // Unicast routes of `family` in `table`.
  Result<std::vector<RouteSpec>> routes(std::uint8_t family, std::uint32_t table);

  // Already present: not an error.
  Result<void> add_rule(const RuleSpec& rule);
  // Absent: not an error.
  Result<void> delete_rule(const RuleSpec& rule);
  // Rules of `family` that look up a table (other actions are skipped).
  Result<std::vector<RuleSpec>> rules(std::uint8_t family);

  Netlink(Netlink&& other) noexcept;
  Netlink& operator=(Netlink&& other) noexcept;
  Netlink(const Netlink&) = delete;
  Netlink& operator=(const Netlink&) = delete;
  ~Netlink();

  struct Reply;  // internal: collects one conversation's messages

 private:
  explicit Netlink(mnl_socket* socket);
  // Sends `request` and reads until the ACK or NLMSG_DONE; dump messages go to
  // reply->on_message. Returns 0 or the kernel's errno (reply->ext_msg: its words, if any).
  int converse(nlmsghdr* request, Reply* reply);
  Result<void> simple(nlmsghdr* request, std::string_view what,
                      std::initializer_list<int> ok_errors = {});

  mnl_socket* socket_ = nullptr;
  unsigned portid_ = 0;
  unsigned seq_ = 0;
};

}  // namespace keymesh::net
