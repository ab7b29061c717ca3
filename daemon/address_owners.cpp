#include "daemon/address_owners.h"

#include <sodium.h>

#include "identity/certificate.h"

namespace keymesh::daemon {

namespace {
std::int64_t unix_seconds(WallTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
bool same_key(const crypto::Key& a, const crypto::Key& b) {
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}
}  // namespace

const AddressOwners::Claim* AddressOwners::live(const std::string& network, WallTime now) const {
  const auto it = claims_.find(network);
  if (it == claims_.end() || it->second.not_after <= unix_seconds(now)) return nullptr;
  return &it->second;
}

std::optional<std::string> AddressOwners::refusal(const identity::ValidatedIdentity& v,
                                                  WallTime now) const {
  if (!applies(v)) return std::nullopt;
  for (const auto& net : v.networks) {
    const std::string text = net.network().to_string();
    const Claim* c = live(text, now);
    if (c == nullptr || same_key(c->key, v.public_key)) continue;
    if (c->not_before >= v.not_before)
      return "an older certificate for " + text + ": " + v.name + " (not_before " +
             identity::format_utc(v.not_before) + ") does not replace " + c->name +
             " (not_before " + identity::format_utc(c->not_before) +
             "); newest not_before owns an address";
  }
  return std::nullopt;
}

std::vector<crypto::Key> AddressOwners::claim(const identity::ValidatedIdentity& v, WallTime now,
                                              bool confirmed) {
  std::vector<crypto::Key> displaced;
  if (!applies(v)) return displaced;
  for (const auto& net : v.networks) {
    const std::string text = net.network().to_string();
    Claim& c = claims_[text];
    const bool same = same_key(c.key, v.public_key);
    if (!same && live(text, now) != nullptr) displaced.push_back(c.key);
    c.confirmed = confirmed || (same && c.confirmed && c.not_after > unix_seconds(now));
    c.key = v.public_key;
    c.not_before = v.not_before;
    c.not_after = v.not_after;
    c.name = v.name;
  }
  return displaced;
}

bool AddressOwners::confirmed_elsewhere(const identity::ValidatedIdentity& v,
                                        WallTime now) const {
  if (!applies(v)) return false;
  for (const auto& net : v.networks) {
    const Claim* c = live(net.network().to_string(), now);
    if (c && c->confirmed && !same_key(c->key, v.public_key)) return true;
  }
  return false;
}

void AddressOwners::prune(WallTime now) {
  const std::int64_t t = unix_seconds(now);
  std::erase_if(claims_, [&](const auto& kv) { return kv.second.not_after <= t; });
}

}  // namespace keymesh::daemon
