#include "node/workloads.h"

#include <algorithm>

#include "identity/chain.h"

namespace keymesh::node {

namespace {

// meta key of the IPAM cursor: persisted with each allocation so that a restart does not hand
// out a just-freed address again.
constexpr const char* kCursorKey = "ipam.cursor";

std::int64_t unix_seconds(WallTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

WallTime from_unix(std::int64_t s) { return WallTime(std::chrono::seconds(s)); }

bool valid_front_door(std::string_view f) {
  return f == kFrontDoorCni || f == kFrontDoorDocker || f == kFrontDoorApi;
}

// How messages name an attachment.
std::string describe(const std::string& container_id, const std::string& ifname) {
  if (container_id.starts_with(kIdentityPrefix) && ifname.empty())
    return "identity \"" + container_id.substr(kIdentityPrefix.size()) + "\"";
  return "container " + container_id + " interface " + ifname;
}

}  // namespace

Result<WorkloadStore> WorkloadStore::open(const std::string& state_dir, NodeCa ca,
                                          Options options) {
  auto db = StateStore::open(state_dir);
  if (!db) return std::unexpected(db.error());
  WorkloadStore store(std::move(*db), std::move(ca), options);
  if (auto r = store.load(); !r) return std::unexpected(r.error());
  return store;
}

Result<void> WorkloadStore::load() {
  auto cursor = db_.get_meta(kCursorKey);
  if (!cursor) return std::unexpected(cursor.error());
  if (*cursor)
    if (auto a = IpAddress::parse(**cursor)) ipam_.set_cursor(*a);
  auto rows = db_.load_workloads();
  if (!rows) return std::unexpected(rows.error());
  for (auto& row : *rows) {
    const std::string where = db_.path() + ": " + describe(row.container_id, row.ifname) + ": ";
    auto chain = identity::parse_chain(row.chain);
    if (!chain) return fail(where + "stored certificate chain: " + chain.error().message);
    const identity::Certificate& leaf = chain->front();
    if (!equal_ct(crypto::public_key(row.private_key), leaf.public_key()))
      return fail(where + "the stored key does not match " + leaf.describe());
    const auto address = IpAddress::parse(row.address);
    const IpPrefix host{address.value_or(IpAddress{}), 32};
    if (!address || leaf.fields().networks != std::vector<IpPrefix>{host})
      return fail(where + "address " + row.address + " is not the network of " + leaf.describe());
    ipam_.take(*address, false);

    Workload w{.container_id = row.container_id,
               .ifname = row.ifname,
               .netns = row.netns,
               .front_door = row.front_door,
               .address = host,
               .key = std::move(row.private_key),
               .chain = std::move(*chain),
               .created_at = from_unix(row.created_at),
               .renewed_at = from_unix(row.renewed_at),
               .renew_at = {}};
    // Issued by an earlier node CA certificate (rotated since): renew at once, so every
    // workload presents the current chain.
    const bool current = w.chain.size() > 1 &&
                          w.chain[1].fingerprint() == ca_.certificate().fingerprint();
    w.renew_at = current ? renew_time(w.certificate()) : WallTime{};
    workloads_.emplace(w.attachment(), std::move(w));
  }
  auto reserved = db_.list_kv(std::string(kReservationNamespace));
  if (!reserved) return std::unexpected(reserved.error());
  for (auto& [text, owner] : *reserved) {
    // A row that no longer means anything (not an address, or one a workload holds) holds
    // nothing back: only a live reservation may keep an address from the pool.
    const auto a = IpAddress::parse(text);
    if (!a || find_by_address(*a) != nullptr) continue;
    ipam_.take(*a, false);
    reservations_.emplace(a->to_string(), std::move(owner));
  }
  return {};
}

WallTime WorkloadStore::renew_time(const identity::Certificate& leaf) const {
  const auto& f = leaf.fields();
  const double fraction = std::clamp(options_.renew_fraction, 0.0, 1.0);
  // Count the lifetime from when the certificate was minted: not_before is backdated by
  // kBackdate for clock skew, which would otherwise make a short lifetime due at once.
  const std::int64_t minted = std::min(f.not_before + kBackdate.count(), f.not_after);
  return from_unix(minted + std::int64_t(double(f.not_after - minted) * fraction));
}

Result<const Workload*> WorkloadStore::add(const WorkloadSpec& spec, WallTime now) {
  if (spec.container_id.empty()) return fail("workload: container id is empty");
  if (!valid_front_door(spec.front_door))
    return fail("workload: unknown front door \"" + spec.front_door +
                "\" (expected cni, docker or api)");
  if (spec.ifname.empty() && spec.front_door != kFrontDoorApi)
    return fail("workload: interface name is empty");
  const std::string who = describe(spec.container_id, spec.ifname);
  if (const Workload* w = find(spec.container_id, spec.ifname))
    return fail(who + " already exists (address " + w->address.to_string() + ", identity \"" +
                w->name() + "\")");
  if (auto r = ca_.check_name(spec.identity); !r) return fail(who + ": " + r.error().message);

  auto address = ipam_.pick(spec.address);
  if (!address) {
    if (spec.address) {
      if (const Workload* owner = find_by_address(*spec.address))
        return fail(who + ": address " + spec.address->to_string() + " is already in use by " +
                    describe(owner->container_id, owner->ifname));
      if (const auto it = reservations_.find(spec.address->to_string()); it != reservations_.end())
        return fail(who + ": address " + spec.address->to_string() + " is reserved by " +
                    it->second);
    }
    return fail(who + ": " + address.error().message);
  }
  auto minted = ca_.mint(MintRequest{.name = spec.identity,
                                     .address = *address,
                                     .groups = spec.groups,
                                     .labels = spec.labels,
                                     .lifetime = options_.lifetime},
                         now);
  if (!minted) return fail(who + ": " + minted.error().message);

  const std::int64_t t = unix_seconds(now);
  WorkloadRow row{.container_id = spec.container_id,
                  .ifname = spec.ifname,
                  .front_door = spec.front_door,
                  .netns = spec.netns,
                  .identity = spec.identity,
                  .address = address->to_string(),
                  .private_key = crypto::SecretKey(minted->key.span()),
                  .chain = identity::serialize_chain(minted->chain),
                  .created_at = t,
                  .renewed_at = t};
  // Only allocations move the cursor; an explicit address leaves the scan where it was.
  const bool allocated = !spec.address.has_value();
  if (auto r = db_.insert_workload(row, allocated ? kCursorKey : "",
                                   allocated ? row.address : "");
      !r)
    return fail(who + ": " + r.error().message);
  ipam_.take(*address, allocated);

  Workload w{.container_id = spec.container_id,
             .ifname = spec.ifname,
             .netns = spec.netns,
             .front_door = spec.front_door,
             .address = IpPrefix{*address, 32},
             .key = std::move(minted->key),
             .chain = std::move(minted->chain),
             .created_at = from_unix(t),
             .renewed_at = from_unix(t),
             .renew_at = {}};
  w.renew_at = renew_time(w.certificate());
  auto [it, inserted] = workloads_.emplace(w.attachment(), std::move(w));
  return &it->second;
}

Result<const Workload*> WorkloadStore::mint_identity(const std::string& name,
                                                     std::vector<std::string> groups,
                                                     std::map<std::string, std::string> labels,
                                                     const std::optional<IpAddress>& address,
                                                     WallTime now) {
  return add(WorkloadSpec{.container_id = std::string(kIdentityPrefix) + name,
                          .ifname = "",
                          .netns = "",
                          .front_door = std::string(kFrontDoorApi),
                          .identity = name,
                          .groups = std::move(groups),
                          .labels = std::move(labels),
                          .address = address},
             now);
}

Result<bool> WorkloadStore::remove(const std::string& container_id, const std::string& ifname) {
  const auto it = workloads_.find(Attachment{container_id, ifname});
  if (it == workloads_.end()) return false;
  if (auto r = db_.delete_workloads({{container_id, ifname}}); !r)
    return std::unexpected(r.error());
  ipam_.release(it->second.address.address);
  workloads_.erase(it);
  return true;
}

Result<std::vector<Workload>> WorkloadStore::gc(const std::set<Attachment>& keep,
                                                std::string_view front_door) {
  std::vector<std::pair<std::string, std::string>> victims;
  for (const auto& [a, w] : workloads_)
    if (w.front_door == front_door && !keep.contains(a))
      victims.emplace_back(a.container_id, a.ifname);
  if (victims.empty()) return std::vector<Workload>{};
  if (auto r = db_.delete_workloads(victims); !r) return std::unexpected(r.error());
  std::vector<Workload> removed;
  for (const auto& [id, ifname] : victims) {
    auto node = workloads_.extract(Attachment{id, ifname});
    ipam_.release(node.mapped().address.address);
    removed.push_back(std::move(node.mapped()));
  }
  return removed;
}

Result<IpAddress> WorkloadStore::reserve(const std::optional<IpAddress>& wanted,
                                         const std::string& owner) {
  auto address = ipam_.pick(wanted);
  if (!address) {
    if (wanted) {
      if (const Workload* w = find_by_address(*wanted))
        return fail("address " + wanted->to_string() + " is already in use by " +
                    describe(w->container_id, w->ifname));
      if (const auto it = reservations_.find(wanted->to_string()); it != reservations_.end())
        return fail("address " + wanted->to_string() + " is already reserved by " + it->second);
    }
    return std::unexpected(address.error());
  }
  const std::string text = address->to_string();
  if (auto r = db_.put_kv(std::string(kReservationNamespace), text, owner); !r)
    return std::unexpected(r.error());
  ipam_.take(*address, !wanted.has_value());
  reservations_.emplace(text, owner);
  return *address;
}

Result<bool> WorkloadStore::unreserve(const IpAddress& a) {
  const auto it = reservations_.find(a.to_string());
  if (it == reservations_.end()) return false;
  if (auto r = db_.del_kv(std::string(kReservationNamespace), it->first); !r)
    return std::unexpected(r.error());
  ipam_.release(a);
  reservations_.erase(it);
  return true;
}

const Workload* WorkloadStore::find(const std::string& container_id,
                                    const std::string& ifname) const {
  const auto it = workloads_.find(Attachment{container_id, ifname});
  return it == workloads_.end() ? nullptr : &it->second;
}

const Workload* WorkloadStore::find_by_address(const IpAddress& a) const {
  for (const auto& [_, w] : workloads_)
    if (w.address.address == a) return &w;
  return nullptr;
}

std::vector<const Workload*> WorkloadStore::list() const {
  std::vector<const Workload*> out;
  out.reserve(workloads_.size());
  for (const auto& [_, w] : workloads_) out.push_back(&w);
  return out;
}

std::vector<Attachment> WorkloadStore::due_for_renewal(WallTime now) const {
  std::vector<Attachment> out;
  for (const auto& [a, w] : workloads_)
    if (w.renew_at <= now) out.push_back(a);
  return out;
}

Result<const Workload*> WorkloadStore::renew(const std::string& container_id,
                                             const std::string& ifname, WallTime now) {
  const auto it = workloads_.find(Attachment{container_id, ifname});
  if (it == workloads_.end()) return fail(describe(container_id, ifname) + " does not exist");
  return reissue(container_id, ifname, it->second.groups(), it->second.labels(), now);
}

Result<const Workload*> WorkloadStore::reissue(const std::string& container_id,
                                               const std::string& ifname,
                                               std::vector<std::string> groups,
                                               std::map<std::string, std::string> labels,
                                               WallTime now) {
  const auto it = workloads_.find(Attachment{container_id, ifname});
  if (it == workloads_.end()) return fail(describe(container_id, ifname) + " does not exist");
  Workload& w = it->second;
  const std::string who = describe(container_id, ifname);
  auto chain = ca_.issue(crypto::public_key(w.key),
                         MintRequest{.name = w.name(),
                                     .address = w.address.address,
                                     .groups = std::move(groups),
                                     .labels = std::move(labels),
                                     .lifetime = options_.lifetime},
                         now);
  if (!chain) return fail(who + ": renewal: " + chain.error().message);
  const std::int64_t t = unix_seconds(now);
  auto updated = db_.update_chain(container_id, ifname, identity::serialize_chain(*chain), t);
  if (!updated) return fail(who + ": renewal: " + updated.error().message);
  if (!*updated) return fail(who + ": renewal: the row is missing from " + db_.path());
  w.chain = std::move(*chain);
  w.renewed_at = from_unix(t);
  w.renew_at = renew_time(w.certificate());
  return &w;
}

}  // namespace keymesh::node
