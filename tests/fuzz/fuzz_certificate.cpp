// Fuzzes what keymeshd does with certificate bytes from a handshake or a file: strict parse as
// a Certificate, as a CertificateChain and as armored text, a revocation list parse, and full
// chain validation against a fixed trust store (fuzz_certificate_pki.h). Never crashes, and a
// parsed certificate keeps its invariants (fingerprint over the input bytes as given).
#include <chrono>
#include <cstdint>
#include <cstring>
#include <span>

#include "identity/cert_file.h"
#include "identity/chain.h"
#include "identity/revocation.h"
#include "tests/fuzz/fuzz_certificate_pki.h"

namespace {

using namespace keymesh;

const fuzz::FuzzPki& pki() {
  static const fuzz::FuzzPki instance;
  return instance;
}

const WallTime kAt{std::chrono::seconds(fuzz::kNow)};

void check_certificate(const identity::Certificate& c, ByteSpan input) {
  if (c.encoded().size() != input.size() ||
      std::memcmp(c.encoded().data(), input.data(), input.size()) != 0)
    __builtin_trap();
  if (c.fingerprint() != identity::sha256(input)) __builtin_trap();
  const auto again = identity::Certificate::parse(c.encoded());
  if (!again || again->fingerprint() != c.fingerprint()) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto& p = pki();
  const ByteSpan input(data, size);

  if (auto cert = identity::Certificate::parse(input)) {
    check_certificate(*cert, input);
    // As a leaf under the fixed node CA, directly under the root, and as a lone chain.
    (void)p.store.validate(identity::Chain{*cert, p.node}, kAt);
    (void)p.store.validate(identity::Chain{*cert}, kAt);
    (void)p.store.verify_chain(identity::Chain{*cert, p.node, p.root}, kAt);
    (void)identity::check_issued_by(*cert, p.node);
    if (auto id = p.store.validate(identity::Chain{*cert, p.node}, kAt)) {
      (void)identity::check_static_key(*id, cert->public_key());
      if (!p.store.recheck(*id, kAt)) __builtin_trap();  // valid a moment ago, still valid
    }
  }

  if (auto chain = identity::parse_chain(input)) {
    if (chain->empty() || chain->size() > identity::kMaxChainLength) __builtin_trap();
    (void)p.store.validate(*chain, kAt);
    (void)p.store.verify_chain(*chain, kAt, std::chrono::seconds(0));
    const Bytes again = identity::serialize_chain(*chain);
    auto reparsed = identity::parse_chain(again);
    if (!reparsed || reparsed->size() != chain->size()) __builtin_trap();
  }
  (void)p.store.validate(input, kAt);

  if (auto certs = identity::parse_certificates_text(input))
    (void)p.store.verify_chain(*certs, kAt);

  if (auto list = identity::parse_revocation_list_text(input)) {
    identity::TrustStore store = p.store;
    if (store.set_revocation_list(*list))
      (void)store.validate(identity::Chain{p.leaf, p.node}, kAt);
  }
  return 0;
}
