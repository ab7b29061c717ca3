// Certificate files: one or more armored "KEYMESH CERTIFICATE" blocks (several blocks = a
// chain, leaf first), or raw binary (a serialized Certificate or CertificateChain).
// Certificates are public: files are written 0644 and may be pasted anywhere.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"
#include "identity/certificate.h"

namespace keymesh::identity {

inline constexpr std::string_view kCertificateLabel = "KEYMESH CERTIFICATE";

// Armored text or raw bytes -> certificates in file order. At least one.
CertResult<std::vector<Certificate>> parse_certificates_text(ByteSpan data);
Result<std::vector<Certificate>> read_certificates_file(const std::string& path);
std::string armor_certificates(std::span<const Certificate> certs);
Result<void> write_certificates_file(const std::string& path, std::span<const Certificate> certs,
                                     bool force);

}  // namespace keymesh::identity
