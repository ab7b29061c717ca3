#include "identity/cert_file.h"

#include "identity/chain.h"
#include "identity/files.h"

namespace keymesh::identity {

CertResult<std::vector<Certificate>> parse_certificates_text(ByteSpan data) {
  const std::string_view text(reinterpret_cast<const char*>(data.data()), data.size());
  if (has_armor(text, kCertificateLabel)) {
    auto blocks = armored_blocks(text, kCertificateLabel);
    if (!blocks) return cert_fail(CertError::Malformed, blocks.error().message);
    if (blocks->size() > kMaxChainLength)
      return cert_fail(CertError::ChainTooLong,
                       "more than " + std::to_string(kMaxChainLength) + " certificates");
    std::vector<Certificate> certs;
    for (std::size_t i = 0; i < blocks->size(); ++i) {
      Bytes raw((*blocks)[i].size() * 3 / 4 + 3);
      const long n = decode_armored((*blocks)[i], raw);
      if (n < 0)
        return cert_fail(CertError::Malformed,
                         "certificate block " + std::to_string(i + 1) + " is not valid base64");
      raw.resize(std::size_t(n));
      auto cert = Certificate::parse(raw);
      if (!cert) return std::unexpected(cert.error());
      certs.push_back(std::move(*cert));
    }
    return certs;
  }
  // Raw binary: a Certificate, or else a CertificateChain.
  auto single = Certificate::parse(data);
  if (single) return std::vector<Certificate>{std::move(*single)};
  auto chain = parse_chain(data);
  if (chain && !chain->empty()) return std::move(*chain);
  return std::unexpected(single.error());
}

Result<std::vector<Certificate>> read_certificates_file(const std::string& path) {
  auto text = read_identity_file(path, false);
  if (!text) return std::unexpected(text.error());
  auto certs = parse_certificates_text(
      ByteSpan(reinterpret_cast<const std::uint8_t*>(text->data()), text->size()));
  if (!certs) return fail(path + ": " + certs.error().message);
  return std::move(*certs);
}

std::string armor_certificates(std::span<const Certificate> certs) {
  std::string out;
  for (const auto& c : certs) out += armor(kCertificateLabel, c.encoded());
  return out;
}

Result<void> write_certificates_file(const std::string& path, std::span<const Certificate> certs,
                                     bool force) {
  return write_identity_file(path, armor_certificates(certs), 0644, force);
}

}  // namespace keymesh::identity
