#include "identity/revocation_set.h"

#include <algorithm>

namespace keymesh::identity {

CertResult<void> RevocationSet::put(const RevocationList& list, const std::string& issuer) {
  const auto it = lists_.find(list.issuer());
  if (it != lists_.end() && it->second.issued_at() > list.issued_at())
    return cert_fail(CertError::StaleRevocationList,
                     "revocation list of " + issuer + " issued at " +
                         format_utc(list.issued_at()) + " is older than the one in use (" +
                         format_utc(it->second.issued_at()) + ")");
  lists_.insert_or_assign(list.issuer(), list);
  return {};
}

bool RevocationSet::revokes(std::span<const Fingerprint> path, std::size_t i) const noexcept {
  if (i >= path.size()) return false;
  for (std::size_t j = i + 1; j < path.size(); ++j) {
    const auto it = lists_.find(path[j]);
    if (it != lists_.end() && it->second.contains(path[i])) return true;
  }
  return false;
}

std::optional<std::size_t> RevocationSet::first_revoked(
    std::span<const Fingerprint> path) const noexcept {
  if (lists_.empty()) return std::nullopt;
  for (std::size_t i = path.size(); i-- > 0;)
    if (revokes(path, i)) return i;
  return std::nullopt;
}

bool RevocationSet::listed(const Fingerprint& fp) const noexcept {
  return std::any_of(lists_.begin(), lists_.end(),
                     [&](const auto& entry) { return entry.second.contains(fp); });
}

const RevocationList* RevocationSet::find(const Fingerprint& issuer) const noexcept {
  const auto it = lists_.find(issuer);
  return it == lists_.end() ? nullptr : &it->second;
}

}  // namespace keymesh::identity
