// Small-file I/O for identity material: armored (PEM-like) blocks and crash-safe writes.
//
// Armor:   -----BEGIN <LABEL>-----
//          base64, 64 characters a line
//          -----END <LABEL>-----
// Text outside blocks is ignored, so a file may carry comments and several blocks (a chain).
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"

namespace keymesh::identity {

inline constexpr std::size_t kMaxIdentityFileSize = 1 << 20;

std::string armor(std::string_view label, ByteSpan bytes);
// True when `text` has a BEGIN line for `label`.
bool has_armor(std::string_view text, std::string_view label) noexcept;
// The base64 text inside every `label` block, in order (views into `text`); an error when a
// block is not terminated. Decode with decode_armored.
Result<std::vector<std::string_view>> armored_blocks(std::string_view text,
                                                     std::string_view label);
// Decodes a block's base64 (line breaks and spaces ignored) into `out`; returns the length, or
// -1 when it is not base64 or does not fit. Writes straight into caller memory so secrets
// need no temporary copy.
long decode_armored(std::string_view block, MutableByteSpan out) noexcept;

// Reads a whole file of at most kMaxIdentityFileSize bytes. With `require_private`, refuses a
// file that group or others may read. The caller wipes the text when it holds a secret.
Result<std::string> read_identity_file(const std::string& path, bool require_private);
// Writes through a fresh temporary in the same directory (fsync, then link or rename), so a
// crash leaves the old file or the new one, never half of one. Without `force` an existing
// file is never replaced ("already exists (use --force ...)").
Result<void> write_identity_file(const std::string& path, std::string_view data, mode_t mode,
                                 bool force);

}  // namespace keymesh::identity
