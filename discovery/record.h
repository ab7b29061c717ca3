// discovery::Record: where one identity can be reached now (docs/architecture.md), and its wire form
// (proto/discovery.proto, shared by the lighthouse protocol and the etcd backend).
//
// A record is UNTRUSTED. Its name, key and networks are read from the leaf certificate
// without checking a signature, a time or a CA: the only use of a record is to pick an
// underlay endpoint and try a handshake, and the handshake validates the chain itself. A
// forged record can therefore cost a failed handshake, never grant a path.
//
// Two kinds:
//  - certificate record: `chain` holds a serialized CertificateChain (leaf first, as
//    identity::serialize_chain makes it); fingerprint = the leaf's fingerprint;
//  - raw-key record: `chain` empty, for peers configured by public key only (static file);
//    fingerprint = raw_key_fingerprint(public_key).
//
// Thread safety: a plain value.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/ip.h"
#include "common/result.h"
#include "crypto/primitives.h"
#include "identity/certificate.h"
#include "udp/endpoint.h"

namespace keymesh::proto::discovery {
class Record;
class Endpoint;
}  // namespace keymesh::proto::discovery

namespace keymesh::discovery {

using identity::Fingerprint;

// ---- Limits (our own choices) ----
// Local addresses plus a public one or two; more is a misconfiguration or an attack.
inline constexpr std::size_t kMaxEndpoints = 8;
// Real chains are 1-2 KB (leaf + node CA); 8 KB keeps any record inside one UDP datagram.
inline constexpr std::size_t kMaxRecordChainBytes = 8 * 1024;
inline constexpr std::size_t kMaxRecordNetworks = identity::kMaxNetworks;
// Relays one host keeps paths with: a few per region at most.
inline constexpr std::size_t kMaxRecordRelays = 4;

struct Record {
  Bytes chain;                        // serialized CertificateChain; empty: raw-key record
  crypto::Key public_key{};           // X25519 static key of the leaf
  std::vector<IpPrefix> networks;     // the leaf's overlay networks (host bits clear), NOT validated
  std::string name;
  Fingerprint fingerprint{};
  std::vector<udp::Endpoint> endpoints;  // underlay; local ones first, then public ones
  WallTime expires = WallTime::max();    // forgotten after this unless refreshed
  bool relay = false;                    // the host relays for others (`relay: true`)
  std::vector<IpAddress> relays;         // overlay addresses of relays the host keeps paths with
  std::optional<crypto::Key> host_key;   // the host identity's key, as those relays know it

  bool raw_key() const noexcept { return chain.empty(); }
  // `record "node-a/web-1" (3f2a1b2c3d4e5f60)`
  std::string describe() const;
  // Same identity and reachability (everything but `expires`): a refresh, not a change.
  bool same_content(const Record& other) const noexcept;
};

// Parses a serialized chain (strictly, as identity::parse_chain does: every certificate must be
// well-formed) and fills name, key, networks and fingerprint from the leaf. Does NOT validate
// signatures, times or constraints. A CA leaf is refused (it cannot be a handshake identity).
// `expires` is capped at the leaf's not_after.
Result<Record> record_from_chain(ByteSpan chain, std::vector<udp::Endpoint> endpoints,
                                 WallTime expires);
// A raw-key record (fingerprint = raw_key_fingerprint(key)).
Record raw_key_record(const crypto::Key& public_key, std::vector<IpPrefix> networks,
                      std::string name, std::vector<udp::Endpoint> endpoints,
                      WallTime expires = WallTime::max());
// SHA-256 of the 32 key bytes: the directory key of a raw-key record.
Fingerprint raw_key_fingerprint(const crypto::Key& public_key) noexcept;
// Limits every record must respect (endpoints valid, underlay-usable and at most
// kMaxEndpoints, chain size, network count, name length, at least one network, relays at most
// kMaxRecordRelays). Backends refuse records that fail it.
Result<void> check_record(const Record& record);
// Why an endpoint cannot be an underlay peer address, or nullptr when it can. Refused: port 0,
// the unspecified address, loopback (127/8, ::1), multicast (224/4, ff00::/8), broadcast and
// the reserved 240/4, 0/8, and IPv4-mapped forms of these. Nobody listens for keymesh there,
// and a record naming one would turn initiations and punches at this host itself or at a whole
// segment (docs/discovery.md, "What a record can steer").
const char* unusable_endpoint(const udp::Endpoint& endpoint) noexcept;

// ---- Wire form ----
// `now` converts between `expires` and ttl_seconds (relative, so hosts need no common clock).
void to_wire(const Record& record, WallTime now, proto::discovery::Record& out);
// Decodes and checks a wire record (a certificate record's chain is parsed as above; raw-key
// fields are ignored then). expires = now + min(ttl_seconds, max_ttl).
Result<Record> from_wire(const proto::discovery::Record& in, WallTime now,
                         std::chrono::seconds max_ttl);
void endpoint_to_wire(const udp::Endpoint& endpoint, proto::discovery::Endpoint& out);
// nullopt for a wrong address length or port 0.
std::optional<udp::Endpoint> endpoint_from_wire(const proto::discovery::Endpoint& in);

// Hash for maps keyed by fingerprint (the bytes are already a SHA-256).
struct FingerprintHash {
  std::size_t operator()(const Fingerprint& fp) const noexcept {
    std::size_t h = 0;
    for (std::size_t i = 0; i < sizeof h; ++i) h = h << 8 | fp[i];
    return h;
  }
};

}  // namespace keymesh::discovery
