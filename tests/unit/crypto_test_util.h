// Helpers shared by the crypto unit tests: hex literals and two in-memory identities.
#pragma once

#include <boost/test/unit_test.hpp>

#include <ostream>
#include <string_view>

#include "common/bytes.h"
#include "common/clock.h"
#include "crypto/keypair.h"
#include "crypto/messages.h"
#include "crypto/noise.h"

namespace keymesh::crypto {
// So that BOOST_TEST can print the result enums when a check fails.
inline std::ostream& operator<<(std::ostream& os, HandshakeError e) { return os << to_string(e); }
inline std::ostream& operator<<(std::ostream& os, SealResult r) { return os << "SealResult(" << int(r) << ")"; }
inline std::ostream& operator<<(std::ostream& os, OpenResult r) { return os << "OpenResult(" << int(r) << ")"; }
inline std::ostream& operator<<(std::ostream& os, MessageKind k) { return os << "MessageKind(" << int(k) << ")"; }
}  // namespace keymesh::crypto

namespace keymesh::crypto::test {

inline Bytes hex(std::string_view s) {
  auto b = from_hex(s);
  BOOST_REQUIRE_MESSAGE(b.has_value(), "bad hex literal in test");
  return *b;
}

inline std::string hex_of(Span s) { return to_hex(s); }

inline SecretKey fresh_key() {
  SecretKey k;
  generate_private_key(k);
  return k;
}

inline SecretKey key_from_byte(std::uint8_t b) {
  SecretKey k;
  for (std::size_t i = 0; i < k.size(); ++i) k.data()[i] = std::uint8_t(b + i);
  return k;
}

// Two static identities, a (the initiator) and b (the responder), and a fake clock.
struct TwoIdentities {
  SecretKey a_priv = fresh_key();
  SecretKey b_priv = fresh_key();
  LocalStatic a = LocalStatic::from_private(a_priv);
  LocalStatic b = LocalStatic::from_private(b_priv);
  FakeTimeSource clock;
};

}  // namespace keymesh::crypto::test
