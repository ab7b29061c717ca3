// The fixed PKI shared by fuzz_certificate and its seed generator: keys come from constant
// seeds and Ed25519 signatures are deterministic, so the generator reproduces the corpus byte
// for byte and the corpus chains validate against the fuzzer's trust store.
//   root "fuzz-root" (may sign CAs) -> node CA "node-a" (10.1.0.0/24, "node-a/*", 1 day)
//     -> workload "node-a/web" (10.1.0.5/32)
#pragma once

#include <sodium.h>

#include <array>
#include <cstdint>
#include <stdexcept>

#include "identity/ca_key.h"
#include "identity/chain.h"
#include "identity/revocation.h"

namespace keymesh::fuzz {

inline constexpr std::int64_t kNow = 1'800'000'000;

inline identity::CaKey seeded_ca_key(std::uint8_t fill) {
  std::array<std::uint8_t, 32> seed;
  seed.fill(fill);
  std::array<std::uint8_t, 32> pk{};
  std::array<std::uint8_t, 64> sk{};
  crypto_sign_seed_keypair(pk.data(), sk.data(), seed.data());
  auto key = identity::CaKey::from_secret(sk);
  sodium_memzero(sk.data(), sk.size());
  if (!key) throw std::runtime_error("seeded key");
  return std::move(*key);
}

template <class T>
T must(identity::CertResult<T> r) {
  if (!r) throw std::runtime_error(r.error().message);
  return std::move(*r);
}

struct FuzzPki {
  identity::CaKey root_key = seeded_ca_key(1);
  identity::CaKey node_key = seeded_ca_key(2);
  identity::Certificate root = make_root();
  identity::Certificate node = make_node();
  identity::Certificate leaf = make_leaf();
  identity::RevocationList crl =
      must(identity::sign_revocation_list(root, root_key, {identity::sha256(Bytes{0})}, kNow));
  identity::TrustStore store = make_store();

 private:
  identity::Certificate make_root() {
    identity::CertificateFields f;
    f.name = "fuzz-root";
    f.kind = identity::Kind::Ca;
    f.public_key = root_key.public_key();
    f.not_before = kNow - 100 * 86400;
    f.not_after = kNow + 100 * 86400;
    f.constraints = identity::CaConstraints{.may_sign_ca = true};
    return must(identity::sign_certificate(f, nullptr, root_key));
  }
  identity::Certificate make_node() {
    identity::CertificateFields f;
    f.name = "node-a";
    f.kind = identity::Kind::Ca;
    f.public_key = node_key.public_key();
    f.not_before = kNow - 10 * 86400;
    f.not_after = kNow + 10 * 86400;
    f.constraints = identity::CaConstraints{.allowed_networks = {*IpPrefix::parse("10.1.0.0/24")},
                                            .name_pattern = "node-a/*",
                                            .max_lifetime_seconds = 86400};
    return must(identity::sign_certificate(f, &root, root_key));
  }
  identity::Certificate make_leaf() {
    identity::CertificateFields f;
    f.name = "node-a/web";
    f.kind = identity::Kind::Workload;
    f.public_key.fill(9);
    f.networks = {*IpPrefix::parse("10.1.0.5/32")};
    f.groups = {"web"};
    f.labels = {{"app", "web"}};
    f.not_before = kNow - 3600;
    f.not_after = kNow + 3600;
    return must(identity::sign_certificate(f, &node, node_key));
  }
  identity::TrustStore make_store() {
    identity::TrustStore s;
    if (!s.add_root(root) || !s.set_revocation_list(crl)) throw std::runtime_error("store");
    return s;
  }
};

}  // namespace keymesh::fuzz
