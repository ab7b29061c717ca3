#include "identity/ca_key.h"

#include <sodium.h>

#include "identity/files.h"

namespace keymesh::identity {

CaKey CaKey::generate() {
  CaKey key;
  crypto_sign_keypair(key.public_key_.data(), key.secret_.data());
  return key;
}

std::optional<CaKey> CaKey::from_secret(std::span<const std::uint8_t, 64> secret) {
  CaKey key;
  key.secret_.assign(secret);
  // Re-derive from the seed: a file whose two halves disagree would sign with one key and
  // claim another.
  crypto::Secret<64> check;
  crypto_sign_seed_keypair(key.public_key_.data(), check.data(), key.secret_.data());
  if (sodium_memcmp(check.data(), key.secret_.data(), 64) != 0) return std::nullopt;
  return key;
}

Signature CaKey::sign(ByteSpan message) const noexcept {
  Signature sig{};
  crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(), secret_.data());
  return sig;
}

Result<CaKey> read_ca_key_file(const std::string& path) {
  auto text = read_identity_file(path, true);
  if (!text) return std::unexpected(text.error());
  struct Wipe {
    std::string& s;
    ~Wipe() { sodium_memzero(s.data(), s.size()); }
  } wipe{*text};
  auto blocks = armored_blocks(*text, kCaKeyLabel);
  if (!blocks) return fail(path + ": " + blocks.error().message);
  if (blocks->size() != 1)
    return fail(path + ": not a keymesh CA key (expected one \"BEGIN " +
                std::string(kCaKeyLabel) + "\" block)");
  crypto::Secret<64> secret;
  if (decode_armored(blocks->front(), secret.span()) != 64)
    return fail(path + ": CA key block is not 64 bytes of base64");
  auto key = CaKey::from_secret(secret.span());
  if (!key) return fail(path + ": CA key is inconsistent (public half does not match)");
  return std::move(*key);
}

Result<void> write_ca_key_file(const std::string& path, const CaKey& key, bool force) {
  std::string text = armor(kCaKeyLabel, key.secret().span());
  auto r = write_identity_file(path, text, 0600, force);
  sodium_memzero(text.data(), text.size());
  return r;
}

}  // namespace keymesh::identity
