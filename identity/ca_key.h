// A CA's Ed25519 signing key (libsodium's 64-byte secret: seed || public key), and its file.
//
// File format (written 0600, refused when group/other can read it):
//   -----BEGIN KEYMESH CA PRIVATE KEY-----
//   <base64 of the 64-byte secret>
//   -----END KEYMESH CA PRIVATE KEY-----
// The secret lives only in a wiping crypto::Secret<64> and never appears in an error message.
#pragma once

#include <span>
#include <string>

#include "common/bytes.h"
#include "common/result.h"
#include "crypto/primitives.h"
#include "crypto/secret.h"
#include "identity/certificate.h"

namespace keymesh::identity {

inline constexpr std::string_view kCaKeyLabel = "KEYMESH CA PRIVATE KEY";

class CaKey {
 public:
  static CaKey generate();
  // Checks that the public half embedded in the secret matches the seed.
  static std::optional<CaKey> from_secret(std::span<const std::uint8_t, 64> secret);

  const crypto::Key& public_key() const noexcept { return public_key_; }
  Signature sign(ByteSpan message) const noexcept;
  const crypto::Secret<64>& secret() const noexcept { return secret_; }

 private:
  CaKey() = default;
  crypto::Secret<64> secret_;
  crypto::Key public_key_{};
};

// Reads a CA key file; refuses one readable by group or others.
Result<CaKey> read_ca_key_file(const std::string& path);
// Writes the key armored, mode 0600; an existing file is kept unless `force`.
Result<void> write_ca_key_file(const std::string& path, const CaKey& key, bool force);

}  // namespace keymesh::identity
