#include "node/node_ca.h"

#include <sys/socket.h>

#include <algorithm>

#include "common/bytes.h"
#include "identity/cert_file.h"
#include "identity/chain.h"

namespace keymesh::node {

namespace {

std::int64_t unix_seconds(WallTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

Result<NodeCa> NodeCa::create(std::vector<identity::Certificate> chain, identity::CaKey key) {
  // The root lives in the trust store, not in the chain we hand out.
  if (chain.size() > 1 && chain.back().is_self_signed()) chain.pop_back();
  if (chain.empty()) return fail("node CA: no certificate");
  const identity::Certificate& ca = chain.front();
  if (!ca.is_ca())
    return fail("node CA: " + ca.describe() + " is a " +
                std::string(identity::kind_name(ca.kind())) + " certificate, not a CA");
  if (!equal_ct(key.public_key(), ca.public_key()))
    return fail("node CA: the key does not belong to " + ca.describe());
  for (std::size_t i = 0; i + 1 < chain.size(); ++i)
    if (auto r = identity::check_issued_by(chain[i], chain[i + 1]); !r)
      return fail("node CA: " + r.error().message);
  const auto& nets = ca.constraints().allowed_networks;
  const auto v4 = std::find_if(nets.begin(), nets.end(),
                               [](const IpPrefix& p) { return p.address.family == AF_INET; });
  if (v4 == nets.end())
    return fail("node CA: " + ca.describe() +
                " allows no IPv4 network, so there is no pool to give workloads addresses from");
  const IpPrefix pool = v4->network();
  return NodeCa(std::move(chain), std::move(key), pool);
}

const std::vector<IpPrefix>& NodeCa::range() const noexcept {
  return certificate().constraints().allowed_networks;
}

Result<void> NodeCa::check_name(const std::string& name) const {
  if (!identity::valid_name(name))
    return fail("identity name \"" + name + "\" is not valid (1 to " +
                std::to_string(identity::kMaxNameLength) + " printable characters, no spaces)");
  for (const auto& ca : chain_) {
    const std::string& pattern = ca.constraints().name_pattern;
    if (!pattern.empty() && !identity::glob_match(pattern, name))
      return fail("identity name \"" + name + "\" does not match the pattern \"" + pattern +
                  "\" of " + ca.describe());
  }
  return {};
}

Result<std::vector<identity::Certificate>> NodeCa::issue(const crypto::Key& public_key,
                                                         const MintRequest& request,
                                                         WallTime now) const {
  if (auto r = check_name(request.name); !r) return std::unexpected(r.error());
  if (!pool_.contains(request.address))
    return fail("address " + request.address.to_string() + " is outside the node range " +
                pool_.to_string());
  if (request.lifetime.count() <= 0) return fail("certificate lifetime must be positive");

  const std::int64_t t = unix_seconds(now);
  const std::int64_t not_before = std::max<std::int64_t>(0, t - kBackdate.count());
  std::int64_t not_after = t + request.lifetime.count();
  for (const auto& ca : chain_) {
    if (ca.fields().not_after <= t)
      return fail("cannot mint \"" + request.name + "\": " + ca.describe() + " expired at " +
                  identity::format_utc(ca.fields().not_after));
    not_after = std::min(not_after, ca.fields().not_after);
    if (const auto max = ca.constraints().max_lifetime_seconds; max > 0)
      not_after = std::min(not_after, not_before + max);
  }
  if (not_after <= t)
    return fail("cannot mint \"" + request.name + "\": the node CA's maximum lifetime is shorter "
                "than the " + std::to_string(kBackdate.count()) + " s back-dating");

  identity::CertificateFields f;
  f.name = request.name;
  f.kind = identity::Kind::Workload;
  f.public_key = public_key;
  f.networks = {IpPrefix{request.address, 32}};
  f.groups = request.groups;
  f.labels = request.labels;
  f.not_before = not_before;
  f.not_after = not_after;
  auto leaf = identity::sign_certificate(std::move(f), &certificate(), key_);
  if (!leaf) return fail("cannot mint \"" + request.name + "\": " + leaf.error().message);
  if (auto r = identity::check_issued_by(*leaf, certificate()); !r)
    return fail("cannot mint \"" + request.name + "\": " + r.error().message);

  std::vector<identity::Certificate> out;
  out.reserve(chain_.size() + 1);
  out.push_back(std::move(*leaf));
  out.insert(out.end(), chain_.begin(), chain_.end());
  return out;
}

Result<identity::RevocationList> NodeCa::sign_revocations(
    std::vector<identity::Fingerprint> revoked, std::int64_t issued_at) const {
  auto list = identity::sign_revocation_list(certificate(), key_, std::move(revoked), issued_at,
                                             chain_);
  if (!list) return fail("node CA revocation list: " + list.error().message);
  return std::move(*list);
}

Result<Minted> NodeCa::mint(const MintRequest& request, WallTime now) const {
  Minted m;
  crypto::generate_private_key(m.key);
  auto chain = issue(crypto::public_key(m.key), request, now);
  if (!chain) return std::unexpected(chain.error());
  m.chain = std::move(*chain);
  return m;
}

Result<NodeCa> load_node_ca(const std::string& cert_file, const std::string& key_file) {
  auto certs = identity::read_certificates_file(cert_file);
  if (!certs) return std::unexpected(certs.error());
  auto key = identity::read_ca_key_file(key_file);
  if (!key) return std::unexpected(key.error());
  auto ca = NodeCa::create(std::move(*certs), std::move(*key));
  if (!ca) return fail(cert_file + ": " + ca.error().message);
  return ca;
}

}  // namespace keymesh::node
