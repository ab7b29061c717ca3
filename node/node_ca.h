// The node CA: the CA certificate the root issued to this host (constrained to the node's
// overlay range, a name pattern and a maximum lifetime) and its Ed25519 key. keymeshd uses it
// to mint short-lived workload certificates for the containers it attaches (docs/architecture.md).
//
// Ownership: NodeCa owns its certificates and its key (a wiping CaKey). It is an immutable
// value after loading; mint/issue are const and keep no state, so any thread may call them.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/ip.h"
#include "common/result.h"
#include "crypto/primitives.h"
#include "crypto/secret.h"
#include "identity/ca_key.h"
#include "identity/certificate.h"
#include "identity/revocation.h"

namespace keymesh::node {

// Minted certificates start this far in the past, so a peer whose clock is a little behind
// accepts them at once.
inline constexpr std::chrono::seconds kBackdate{60};

struct MintRequest {
  std::string name;                            // must match every CA's name pattern
  IpAddress address;                           // the certificate's one network: address/32
  std::vector<std::string> groups;
  std::map<std::string, std::string> labels;
  std::chrono::seconds lifetime{24 * 3600};    // clamped to the CAs' limits (see issue)
};

struct Minted {
  crypto::SecretKey key;                       // X25519 private key, wiped when destroyed
  std::vector<identity::Certificate> chain;    // leaf, node CA, its issuers (no root)
};

class NodeCa {
 public:
  // `chain` is the node CA certificate first, then its issuers; a trailing self-signed root is
  // dropped. Checks: the first certificate is a CA, `key` is its key, each certificate was
  // issued by the next (identity::check_issued_by), and the node CA allows an IPv4 network.
  static Result<NodeCa> create(std::vector<identity::Certificate> chain, identity::CaKey key);

  const identity::Certificate& certificate() const noexcept { return chain_.front(); }
  // Node CA first, then its issuers, up to but not including the root.
  const std::vector<identity::Certificate>& chain() const noexcept { return chain_; }
  // The node CA's allowed networks; never empty.
  const std::vector<IpPrefix>& range() const noexcept;
  // The first IPv4 network of range(), host bits cleared: workload addresses come from here.
  const IpPrefix& pool() const noexcept { return pool_; }

  // Whether every CA on the chain allows a leaf called `name` (the message says which does
  // not). Checked before any address is taken.
  Result<void> check_name(const std::string& name) const;

  // A workload certificate for `public_key`: kind workload, networks [address/32],
  // not_before = now - kBackdate, not_after = now + lifetime clamped to every CA's
  // max_lifetime and not_after. Runs check_issued_by on the result. Returns leaf + chain().
  Result<std::vector<identity::Certificate>> issue(const crypto::Key& public_key,
                                                   const MintRequest& request,
                                                   WallTime now) const;
  // A fresh X25519 key and issue() for it.
  Result<Minted> mint(const MintRequest& request, WallTime now) const;
  // A revocation list signed by this node CA, carrying chain() (node/revocation_issuer.h).
  Result<identity::RevocationList> sign_revocations(std::vector<identity::Fingerprint> revoked,
                                                    std::int64_t issued_at) const;

 private:
  NodeCa(std::vector<identity::Certificate> chain, identity::CaKey key, IpPrefix pool)
      : chain_(std::move(chain)), key_(std::move(key)), pool_(pool) {}

  std::vector<identity::Certificate> chain_;
  identity::CaKey key_;
  IpPrefix pool_;
};

// Reads the node CA certificate file (armored chain, node CA first) and its key file (0600),
// then NodeCa::create. Errors name the file.
Result<NodeCa> load_node_ca(const std::string& cert_file, const std::string& key_file);

}  // namespace keymesh::node
