#include "node/revocation_issuer.h"

#include <algorithm>
#include <charconv>
#include <string>

#include "common/bytes.h"

namespace keymesh::node {

namespace {

constexpr std::string_view kIssuedAtKey = "issued_at";

std::int64_t unix_seconds(WallTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

std::optional<std::int64_t> to_int(const std::string& s) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

Result<RevocationIssuer> RevocationIssuer::open(StateStore& db, const NodeCa& ca, WallTime now) {
  RevocationIssuer issuer(db, ca);
  auto rows = db.list_kv(std::string(kRevokedNamespace));
  if (!rows) return std::unexpected(rows.error());
  for (const auto& [hex, not_after] : *rows) {
    auto bytes = from_hex(hex);
    auto t = to_int(not_after);
    identity::Fingerprint fp{};
    if (!bytes || bytes->size() != fp.size() || !t)
      return fail("state: revoked certificate entry \"" + hex + "\" is damaged");
    std::copy(bytes->begin(), bytes->end(), fp.begin());
    issuer.revoked_.emplace(fp, *t);
  }
  auto last = db.get_kv(std::string(kRevokedMetaNamespace), std::string(kIssuedAtKey));
  if (!last) return std::unexpected(last.error());
  if (*last) issuer.last_issued_ = to_int(**last).value_or(0);
  if (!issuer.revoked_.empty())
    if (auto r = issuer.sign(now); !r) return std::unexpected(r.error());
  return issuer;
}

Result<identity::RevocationList> RevocationIssuer::revoke(const identity::Certificate& cert,
                                                          WallTime now) {
  if (cert.is_self_signed() || *cert.fields().issuer != ca_->certificate().fingerprint())
    return fail("cannot revoke " + cert.describe() + ": the node CA did not issue it");
  const std::string hex = to_hex(cert.fingerprint());
  if (auto r = db_->put_kv(std::string(kRevokedNamespace), hex,
                           std::to_string(cert.fields().not_after));
      !r)
    return std::unexpected(r.error());
  revoked_.insert_or_assign(cert.fingerprint(), cert.fields().not_after);
  if (auto r = sign(now); !r) return std::unexpected(r.error());
  return *current_;
}

Result<void> RevocationIssuer::sign(WallTime now) {
  const std::int64_t t = unix_seconds(now);
  for (auto it = revoked_.begin(); it != revoked_.end();) {  // expired: refused anyway
    if (it->second >= t) {
      ++it;
      continue;
    }
    (void)db_->del_kv(std::string(kRevokedNamespace), to_hex(it->first));
    it = revoked_.erase(it);
  }
  const std::int64_t issued_at = std::max(t, last_issued_ + 1);
  if (auto r = db_->put_kv(std::string(kRevokedMetaNamespace), std::string(kIssuedAtKey),
                           std::to_string(issued_at));
      !r)
    return std::unexpected(r.error());
  std::vector<identity::Fingerprint> fps;
  for (const auto& [fp, not_after] : revoked_) fps.push_back(fp);
  auto list = ca_->sign_revocations(std::move(fps), issued_at);
  if (!list) return std::unexpected(list.error());
  last_issued_ = issued_at;
  current_ = std::move(*list);
  return {};
}

}  // namespace keymesh::node
