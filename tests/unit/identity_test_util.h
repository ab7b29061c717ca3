// Helpers for the identity tests: a fixed clock origin and one-line builders for roots,
// sub-CAs and leaves, so each test states only what it changes.
#pragma once

#include "tests/unit/cli_test_util.h"

#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "cert.pb.h"
#include "common/clock.h"
#include "crypto/primitives.h"
#include "identity/ca_key.h"
#include "identity/certificate.h"
#include "identity/chain.h"

namespace keymesh::identity::test {

inline constexpr std::int64_t kT0 = 1'800'000'000;  // "now" in most tests
inline constexpr std::int64_t kHour = 3600, kDay = 86400;

inline WallTime at(std::int64_t unix_seconds) {
  return WallTime(std::chrono::seconds(unix_seconds));
}

inline IpPrefix cidr(const char* text) {
  auto p = IpPrefix::parse(text);
  if (!p) throw std::runtime_error(std::string("bad prefix in test: ") + text);
  return *p;
}

template <class T>
T must(CertResult<T> r) {
  if (!r) throw std::runtime_error("unexpected failure: " + r.error().message);
  return std::move(*r);
}

struct Ca {
  Certificate cert;
  CaKey key;
};

inline Ca make_root(const std::string& name = "root", CaConstraints c = {.may_sign_ca = true},
                    std::int64_t not_before = kT0 - 30 * kDay,
                    std::int64_t not_after = kT0 + 365 * kDay) {
  CaKey key = CaKey::generate();
  CertificateFields f;
  f.name = name;
  f.kind = Kind::Ca;
  f.public_key = key.public_key();
  f.not_before = not_before;
  f.not_after = not_after;
  f.constraints = std::move(c);
  Certificate cert = must(sign_certificate(std::move(f), nullptr, key));
  return Ca{std::move(cert), std::move(key)};
}

// A CA below `issuer` (`keymesh cert sign --kind ca`) with the constraints given.
inline Ca make_sub_ca(const Ca& issuer, const std::string& name, CaConstraints c,
                      std::int64_t not_before = kT0 - kDay,
                      std::int64_t not_after = kT0 + 30 * kDay) {
  CaKey key = CaKey::generate();
  CertificateFields f;
  f.name = name;
  f.kind = Kind::Ca;
  f.public_key = key.public_key();
  f.not_before = not_before;
  f.not_after = not_after;
  f.constraints = std::move(c);
  Certificate cert = must(sign_certificate(std::move(f), &issuer.cert, issuer.key));
  return Ca{std::move(cert), std::move(key)};
}

// A node CA as `keymesh cert sign --kind ca` makes one: pod CIDR, name prefix, max lifetime.
inline Ca make_node_ca(const Ca& issuer, const std::string& name = "node-a",
                       CaConstraints c = {.allowed_networks = {cidr("10.1.0.0/24")},
                                          .name_pattern = "node-a/*",
                                          .max_lifetime_seconds = 24 * 3600,
                                          .may_sign_ca = false},
                       std::int64_t not_before = kT0 - kDay,
                       std::int64_t not_after = kT0 + 30 * kDay) {
  return make_sub_ca(issuer, name, std::move(c), not_before, not_after);
}

// A chain-rule refusal with this reason, its message containing `text` (Boost.Test).
#define EXPECT_REFUSED(result, code, text)                                              \
  do {                                                                                  \
    const auto& r_ = (result);                                                          \
    BOOST_REQUIRE_MESSAGE(!r_, "expected a rejection");                                 \
    BOOST_TEST(to_string(r_.error().reason) == to_string(code));                        \
    BOOST_TEST(r_.error().message.find(text) != std::string::npos, r_.error().message); \
  } while (0)

inline crypto::Key random_x25519_public() {
  crypto::SecretKey k;
  crypto::generate_private_key(k);
  return crypto::public_key(k);
}

struct LeafSpec {
  std::string name = "node-a/web-1";
  Kind kind = Kind::Workload;
  std::vector<IpPrefix> networks = {cidr("10.1.0.5/32")};
  std::int64_t not_before = kT0 - kHour;
  std::int64_t not_after = kT0 + 11 * kHour;  // 12 h lifetime
  crypto::Key public_key = random_x25519_public();
};

inline Certificate make_leaf(const Ca& issuer, LeafSpec spec = {}) {
  CertificateFields f;
  f.name = spec.name;
  f.kind = spec.kind;
  f.public_key = spec.public_key;
  f.networks = spec.networks;
  f.groups = {"web"};
  f.labels = {{"app", "web"}, {"tier", "front end"}};
  f.not_before = spec.not_before;
  f.not_after = spec.not_after;
  return must(sign_certificate(std::move(f), &issuer.cert, issuer.key));
}

// A certificate body built by hand (no library checks), signed by `signer`: for chains the
// library would never produce, e.g. one "issued" by a workload.
inline Certificate forge(const std::string& name, const Fingerprint& issuer_fp,
                         const CaKey& signer) {
  proto::CertificateBody body;
  body.set_version(1);
  body.set_name(name);
  body.set_kind(proto::CertificateBody::WORKLOAD);
  const auto pub = random_x25519_public();
  body.set_public_key(pub.data(), pub.size());
  body.add_networks("10.1.0.9/32");
  body.set_not_before(kT0 - kHour);
  body.set_not_after(kT0 + kHour);
  body.set_issuer_fingerprint(issuer_fp.data(), issuer_fp.size());
  const std::string b = body.SerializeAsString();
  const auto sig = signer.sign(ByteSpan(reinterpret_cast<const std::uint8_t*>(b.data()), b.size()));
  proto::Certificate outer;
  outer.set_body(b);
  outer.set_signature(sig.data(), sig.size());
  const std::string e = outer.SerializeAsString();
  return must(Certificate::parse(ByteSpan(reinterpret_cast<const std::uint8_t*>(e.data()), e.size())));
}

using keymesh::test::TempDir;

}  // namespace keymesh::identity::test
