// Who is who, as the tunnel sees it: the local identities this daemon speaks for, and the
// remote identities it knows how to reach.
//
// A local identity is a static X25519 key plus, usually, a certificate chain that names it,
// its overlay networks and groups (docs/architecture.md). The host's own key (config
// `private_key_file`) is one; every workload the CNI plugin or the Docker driver attaches
// is another. A remote identity is what a validated certificate chain says about a peer's
// key, or, for raw-key WireGuard peers, what the config says.
//
// Lookups the packet path makes, all O(1) or O(prefix length):
//   inside packet:  source address -> LocalIdentity   (`local_routes`, LPM)
//                   destination    -> RemoteIdentity  (`remote_routes`, LPM)
//                   (local, remote key) -> path       (LocalIdentity::paths)
//   initiation in:  receiver hint  -> LocalIdentity   (`by_hint`), confirmed by mac1
//
// Ownership: the Tunnel owns every LocalIdentity (unique_ptr: Handshakes keep a reference to
// `statics`, so an identity never moves) and shares RemoteIdentity records with the paths
// that use them. Single-threaded: the tunnel's thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/ip.h"
#include "crypto/cookie.h"
#include "crypto/noise.h"
#include "crypto/secret.h"
#include "daemon/allowed_ips.h"
#include "identity/certificate.h"
#include "identity/chain.h"
#include "policy/rule.h"
#include "udp/endpoint.h"

namespace keymesh::daemon {

struct Peer;

struct KeyHash {
  std::size_t operator()(const crypto::Key& k) const noexcept {
    std::size_t h;
    std::memcpy(&h, k.data(), sizeof h);  // keys are uniformly random
    return h;
  }
};

// What the control path hands the tunnel to create a local identity.
struct LocalIdentitySpec {
  std::string name;                  // shown in status; unique among local identities
  crypto::SecretKey private_key;
  std::vector<identity::Certificate> chain;  // leaf first; empty: raw key only
  bool accepts_raw_peers = false;    // plain WireGuard initiations are tried against it
  std::string source;                // "config", "imported", "minted", "workload"
  std::optional<WallTime> renew_at;  // when the control path will re-mint its certificate
};

struct LocalIdentity {
  explicit LocalIdentity(const crypto::SecretKey& key)
      : statics(crypto::LocalStatic::from_private(key)), cookie_checker(statics) {}
  LocalIdentity(const LocalIdentity&) = delete;
  LocalIdentity& operator=(const LocalIdentity&) = delete;

  std::string name;
  crypto::LocalStatic statics;
  crypto::CookieChecker cookie_checker;
  bool accepts_raw_peers = false;
  std::string source;
  std::optional<WallTime> renew_at;

  // Certificate facts (absent for a raw-key-only identity, which cannot open keymesh paths).
  bool certified = false;
  identity::ValidatedIdentity cert;  // validated against our own trust roots when added
  Bytes chain_bytes;                 // the payload of our keymesh handshake messages
  policy::Subject subject;

  // Paths of this identity to keymesh peers, by remote static key.
  std::unordered_map<crypto::Key, Peer*, KeyHash> paths;

  // Its share of discovery lookups on send-path misses (send.cpp, token bucket).
  double miss_tokens = 0;
  std::optional<TimePoint> miss_refilled;
  // How many of its packets wait in the tunnel's unrouted queue (send.cpp's fair share).
  std::size_t unrouted = 0;
};

struct RemoteIdentity {
  std::string name;
  crypto::Key public_key{};
  bool certified = false;             // false: a raw-key peer from the config
  identity::ValidatedIdentity cert;   // when certified
  policy::Subject subject;
  std::vector<IpPrefix> networks;     // cryptokey routing: allowed inner sources
  std::vector<udp::Endpoint> endpoints;  // where it may be reached (directory / config)
  // Where its last authenticated handshake came from: a path another local identity opens to
  // it later starts there when no directory named an endpoint (paths.cpp).
  udp::Endpoint observed;
  std::string source;                 // "directory", "handshake"
};

}  // namespace keymesh::daemon
