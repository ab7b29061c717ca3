// Masquerade on a gateway (config `masquerade:`, docs/sites.md): traffic from the listed LAN
// sources is rewritten, as it enters the keymesh interface, to the gateway's own overlay
// address, and the kernel's connection tracking maps the replies back. For sites whose LAN
// the overlay cannot route to (the subnet is in no gateway certificate, or overlaps another
// site's). Off by default; while off, nftables is never touched.
//
// Mechanism: one nftables table of our own, `table ip keymesh`, with one postrouting NAT
// chain: `oifname "km0" ip saddr { LAN... } snat to OVERLAY`. It is installed through
// libnftables in one transaction that first deletes a table of that name left by an earlier
// run (a crash), so starting is idempotent; the destructor deletes it again.
//
// The rewritten address must lie in the networks of a local identity with a certificate, or
// the receiving daemon drops every such packet as a spoofed source: start() checks that.
//
// Threading: control path only (start and destruction on the loop thread).
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/ip.h"
#include "common/result.h"

namespace keymesh::daemon {

inline constexpr std::string_view kMasqueradeTable = "keymesh";  // family ip

// The nft script that (re)creates the table: pure text, for tests and the log.
std::string masquerade_ruleset(std::string_view interface, const IpAddress& to,
                               std::span<const IpPrefix> sources);

class Masquerade {
 public:
  // Replaces any table of ours with a fresh one. Errors carry nft's message.
  static Result<std::unique_ptr<Masquerade>> start(std::string interface, IpAddress to,
                                                   std::vector<IpPrefix> sources);
  ~Masquerade();  // deletes the table (logged; an error is logged, not thrown)
  Masquerade(const Masquerade&) = delete;
  Masquerade& operator=(const Masquerade&) = delete;

  const IpAddress& address() const noexcept { return to_; }

 private:
  Masquerade(std::string interface, IpAddress to) : interface_(std::move(interface)), to_(to) {}
  std::string interface_;
  IpAddress to_;
};

// The composition root's entry (config `masquerade:` non-empty): the address is the first
// IPv4 address of interface.addresses, which a certified local identity must cover.
struct Config;
class Tunnel;
Result<std::unique_ptr<Masquerade>> start_masquerade(const Config& config, const Tunnel& tunnel);

}  // namespace keymesh::daemon
