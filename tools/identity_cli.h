// Helpers shared by the identity commands (ca, cert, user and access commands): durations,
// times, prefixes and key=value lists, the issuing CA, files that must not be overwritten,
// and how a certificate is shown to a person or as JSON.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/ip.h"
#include "common/result.h"
#include "crypto/primitives.h"
#include "identity/ca_key.h"
#include "identity/certificate.h"

namespace keymesh::tools {

// "8760h", "30m", "90s", "7d", "1h30m" -> seconds (> 0).
Result<std::int64_t> parse_duration(std::string_view text);
// 93784 -> "1d 2h 3m 4s" (zero parts left out).
std::string format_duration(std::int64_t seconds);
// Unix seconds ("1700000000") or UTC RFC 3339 ("2025-01-02T03:04:05Z").
Result<std::int64_t> parse_time(std::string_view text);
std::int64_t now_unix();

std::string join(const std::vector<std::string>& items, const char* sep = ", ");
// A CIDR without host bits; with bare_is_host a bare address is its /32 or /128.
// `option` names the flag in errors.
Result<IpPrefix> parse_prefix(const std::string& text, const char* option, bool bare_is_host);
// "key=value" items (labels, context) into a map; a key given twice is an error.
Result<std::map<std::string, std::string>> parse_pairs(const std::vector<std::string>& items,
                                                       const char* option);

// Refused (naming the file) when one of `paths` exists and --force was not given; empty
// paths are skipped.
Result<void> refuse_overwrite(std::initializer_list<std::string> paths, bool force);

// The CA a command signs with: its certificate file (the CA first, then its chain) and its
// private key, checked to belong together and to be able to sign now. `role` names it in
// errors ("issuing CA", "access CA").
struct Issuer {
  std::vector<identity::Certificate> chain;
  identity::CaKey key;
  const identity::Certificate& cert() const { return chain.front(); }
};
Result<Issuer> read_issuer(const std::string& ca_file, const std::string& key_file,
                           std::string_view role);

// An X25519 private key in WireGuard's format (as `keymesh key gen` writes it), 0600, so
// keymeshd and `wg` read it as is. The text is wiped after the write.
Result<void> write_x25519_key(const std::string& path, const crypto::SecretKey& key, bool force);

// The human view of `keymesh cert show`; `now` for "expires in".
std::string show_certificate(const identity::Certificate& cert, std::int64_t now);
// One JSON object with the same facts.
std::string certificate_json(const identity::Certificate& cert, std::int64_t now);

}  // namespace keymesh::tools
