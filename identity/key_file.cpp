#include "identity/key_file.h"

#include <sodium.h>

#include "common/files.h"

namespace keymesh::identity {

namespace {

constexpr std::size_t kMaxKeyFileBytes = 127;  // 44 characters plus generous whitespace

std::string_view trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n";
  const auto b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(kSpace) - b + 1);
}

}  // namespace

bool decode_key_bytes(std::string_view text, std::uint8_t* out) noexcept {
  if (text.size() != 44) return false;
  std::size_t len = 0;
  const char* end = nullptr;
  return sodium_base642bin(out, 32, text.data(), text.size(), nullptr, &len, &end,
                           sodium_base64_VARIANT_ORIGINAL) == 0 &&
         len == 32 && end == text.data() + text.size();
}

Result<crypto::SecretKey> decode_key(std::string_view text) {
  crypto::SecretKey key;
  if (!decode_key_bytes(trim(text), key.data()))
    return fail("not a WireGuard key (expected 44 base64 characters)");
  return key;
}

Result<crypto::SecretKey> read_key_file(const std::string& path, bool require_private) {
  auto text = read_small_file(path, kMaxKeyFileBytes, require_private);
  if (!text) return std::unexpected(text.error());
  Result<crypto::SecretKey> key = decode_key(*text);
  sodium_memzero(text->data(), text->size());
  if (!key) return fail(path + ": not a WireGuard key (expected 44 base64 characters)");
  if (key->is_zero()) return fail(path + ": the key is all zeros");
  return key;
}

}  // namespace keymesh::identity
