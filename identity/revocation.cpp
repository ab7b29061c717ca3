#include "identity/revocation.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>

#include "cert.pb.h"
#include "identity/ca_key.h"
#include "identity/chain.h"
#include "identity/files.h"

namespace keymesh::identity {

namespace {

CertResult<RevocationList> bad(std::string what) {
  return cert_fail(CertError::BadRevocationList, "revocation list: " + std::move(what));
}

ByteSpan as_bytes(const std::string& s) {
  return ByteSpan(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

}  // namespace

bool RevocationList::contains(const Fingerprint& fp) const noexcept {
  return std::binary_search(revoked_.begin(), revoked_.end(), fp);
}

bool RevocationList::signature_valid_for(const crypto::Key& issuer_key) const noexcept {
  return crypto_sign_verify_detached(signature_.data(), body_.data(), body_.size(),
                                     issuer_key.data()) == 0;
}

CertResult<RevocationList> RevocationList::parse(ByteSpan bytes) {
  if (bytes.size() > kMaxIdentityFileSize) return bad("larger than 1 MiB");
  proto::RevocationList outer;
  if (!outer.ParseFromArray(bytes.data(), int(bytes.size()))) return bad("does not parse");
  if (outer.signature().size() != crypto_sign_BYTES) return bad("signature is not 64 bytes");
  if (outer.issuer_chain().size() > kMaxChainSize) return bad("issuer chain is too large");
  {
    proto::RevocationList again;
    again.set_body(outer.body());
    again.set_signature(outer.signature());
    again.set_issuer_chain(outer.issuer_chain());
    const std::string out = again.SerializeAsString();
    if (out.size() != bytes.size() ||
        (!out.empty() && std::memcmp(out.data(), bytes.data(), out.size()) != 0))
      return bad("not canonically encoded");
  }
  proto::RevocationListBody body;
  if (!body.ParseFromString(outer.body())) return bad("body does not parse");
  if (!body.GetReflection()->GetUnknownFields(body).empty()) return bad("body has unknown fields");
  if (body.issuer_fingerprint().size() != 32) return bad("issuer fingerprint is not 32 bytes");
  if (body.issued_at() < 0 || body.issued_at() > kMaxTime) return bad("issued_at out of range");

  RevocationList list;
  std::copy(body.issuer_fingerprint().begin(), body.issuer_fingerprint().end(),
            list.issuer_.begin());
  list.issued_at_ = body.issued_at();
  list.revoked_.reserve(std::size_t(body.revoked_fingerprints_size()));
  for (const auto& r : body.revoked_fingerprints()) {
    if (r.size() != 32) return bad("a revoked fingerprint is not 32 bytes");
    Fingerprint fp{};
    std::copy(r.begin(), r.end(), fp.begin());
    list.revoked_.push_back(fp);
  }
  std::sort(list.revoked_.begin(), list.revoked_.end());
  list.revoked_.erase(std::unique(list.revoked_.begin(), list.revoked_.end()),
                      list.revoked_.end());
  list.encoded_.assign(bytes.begin(), bytes.end());
  list.body_.assign(outer.body().begin(), outer.body().end());
  list.issuer_chain_.assign(outer.issuer_chain().begin(), outer.issuer_chain().end());
  std::copy(outer.signature().begin(), outer.signature().end(), list.signature_.begin());
  return list;
}

CertResult<RevocationList> sign_revocation_list(const Certificate& root, const CaKey& key,
                                                std::vector<Fingerprint> revoked,
                                                std::int64_t issued_at,
                                                std::span<const Certificate> issuer_chain) {
  if (!root.is_ca()) return bad("must be signed by a CA, not " + root.describe());
  if (root.is_self_signed() != issuer_chain.empty())
    return bad(root.is_self_signed()
                   ? "a root's list carries no issuer chain"
                   : "a list of " + root.describe() + " (not a root) must carry its chain");
  if (!issuer_chain.empty() && issuer_chain.front().fingerprint() != root.fingerprint())
    return bad("the issuer chain must begin with " + root.describe());
  if (!equal_ct(root.public_key(), key.public_key()))
    return cert_fail(CertError::KeyMismatch,
                     "revocation list: the signing key does not belong to " + root.describe());
  std::sort(revoked.begin(), revoked.end());
  revoked.erase(std::unique(revoked.begin(), revoked.end()), revoked.end());
  proto::RevocationListBody body;
  body.set_issuer_fingerprint(root.fingerprint().data(), root.fingerprint().size());
  body.set_issued_at(issued_at);
  for (const auto& fp : revoked) body.add_revoked_fingerprints(fp.data(), fp.size());
  const std::string body_bytes = body.SerializeAsString();  // serialized once, then signed
  const Signature sig = key.sign(as_bytes(body_bytes));
  proto::RevocationList outer;
  outer.set_body(body_bytes);
  outer.set_signature(sig.data(), sig.size());
  if (!issuer_chain.empty()) {
    const Bytes chain = serialize_chain(issuer_chain);
    outer.set_issuer_chain(chain.data(), chain.size());
  }
  const std::string encoded = outer.SerializeAsString();
  return RevocationList::parse(as_bytes(encoded));
}

CertResult<void> verify_revocation_list(const RevocationList& list, const Certificate& root) {
  if (list.issuer() != root.fingerprint())
    return cert_fail(CertError::BadRevocationList,
                     "revocation list was issued by " + short_hex(list.issuer()) + ", not by " +
                         root.describe());
  if (!list.signature_valid_for(root.public_key()))
    return cert_fail(CertError::BadRevocationList,
                     "revocation list signature does not verify with " + root.describe());
  return {};
}

CertResult<RevocationList> parse_revocation_list_text(ByteSpan data) {
  const std::string_view text(reinterpret_cast<const char*>(data.data()), data.size());
  if (!has_armor(text, kRevocationListLabel)) return RevocationList::parse(data);
  auto blocks = armored_blocks(text, kRevocationListLabel);
  if (!blocks) return bad(blocks.error().message);
  if (blocks->size() != 1) return bad("expected exactly one block");
  Bytes raw(blocks->front().size() * 3 / 4 + 3);
  const long n = decode_armored(blocks->front(), raw);
  if (n < 0) return bad("block is not valid base64");
  raw.resize(std::size_t(n));
  return RevocationList::parse(raw);
}

Result<RevocationList> read_revocation_list_file(const std::string& path) {
  auto text = read_identity_file(path, false);
  if (!text) return std::unexpected(text.error());
  auto list = parse_revocation_list_text(as_bytes(*text));
  if (!list) return fail(path + ": " + list.error().message);
  return std::move(*list);
}

std::string armor_revocation_list(const RevocationList& list) {
  return armor(kRevocationListLabel, list.encoded());
}

}  // namespace keymesh::identity
