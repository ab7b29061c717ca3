// WireGuard-style key files and key text: 44 base64 characters for 32 bytes, as `wg genkey`
// writes them. Read by keymeshd's config (private_key_file, preshared_key_file), reloads and
// the `keymesh key` commands; errors never quote the text, which may be a secret.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"
#include "crypto/secret.h"

namespace keymesh::identity {

// Decodes exactly 44 base64 characters into 32 bytes at `out` (no whitespace allowed).
bool decode_key_bytes(std::string_view text, std::uint8_t* out) noexcept;

// Decodes WireGuard base64 key text (44 characters; surrounding whitespace is ignored).
Result<crypto::SecretKey> decode_key(std::string_view text);

// Reads a WireGuard-style base64 key file (44 chars + optional newline). Refuses files
// readable by group or others when `require_private` (keys on disk are 0600), and all-zero keys.
Result<crypto::SecretKey> read_key_file(const std::string& path, bool require_private);

}  // namespace keymesh::identity
