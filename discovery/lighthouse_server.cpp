#include "discovery/lighthouse_server.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <unordered_set>

namespace keymesh::discovery {

namespace {

bool same_address(const udp::Endpoint& a, const udp::Endpoint& b) noexcept {
  return a.family == b.family && a.addr == b.addr;
}

std::optional<Fingerprint> fingerprint_from(const std::string& bytes) noexcept {
  Fingerprint fp;
  if (bytes.size() != fp.size()) return std::nullopt;
  std::memcpy(fp.data(), bytes.data(), fp.size());
  return fp;
}

std::uint32_t seconds_left(TimePoint expires, TimePoint now) noexcept {
  if (expires <= now) return 0;
  return std::uint32_t(std::chrono::ceil<std::chrono::seconds>(expires - now).count());
}

Outgoing make(const udp::Endpoint& to, LighthouseMessage& m) {
  return Outgoing{to, encode_message(m)};
}

}  // namespace

LighthouseServer::LighthouseServer(LighthouseServerOptions options, ObservedEndpointFn observed)
    : options_(options), observed_(std::move(observed)), misses_(options.misses) {}

const Record* LighthouseServer::find(const Fingerprint& fp) const noexcept {
  const auto it = records_.find(fp);
  return it == records_.end() ? nullptr : &it->second.record;
}

std::vector<Outgoing> LighthouseServer::handle_datagram(const udp::Endpoint& from,
                                                        ByteSpan datagram, TimePoint now) {
  auto m = decode_message(datagram);
  if (!m) {
    drop(m.error());
    return {};
  }
  return handle(from, *m, now);
}

std::vector<Outgoing> LighthouseServer::handle(const udp::Endpoint& from,
                                               const LighthouseMessage& m, TimePoint now) {
  std::vector<Outgoing> out;
  switch (m.body_case()) {
    case LighthouseMessage::kRegister:
      on_register(from, m, now, out);
      break;
    case LighthouseMessage::kDeregister:
      on_deregister(from, m, out);
      break;
    case LighthouseMessage::kQuery:
      on_query(from, m, now, out);
      break;
    case LighthouseMessage::kCrlRequest:
      if (revocation_lists_.empty()) out.push_back(crl_message(from, {}, m.request_id()));
      for (const Bytes& list : revocation_lists_)
        out.push_back(crl_message(from, list, m.request_id()));
      break;
    case LighthouseMessage::kCrl: {
      const std::string& list = m.crl().revocation_list();
      if (list.empty() || list.size() > kMaxRevocationListBytes) {
        drop(DropReason::BadRecord);
      } else if (offered_.size() >= kMaxOfferedLists) {
        drop(DropReason::OverLimit);
      } else {
        offered_.emplace_back(list.begin(), list.end());
      }
      break;
    }
    case LighthouseMessage::BODY_NOT_SET:
      drop(DropReason::NoBody);
      break;
    default:
      drop(DropReason::WrongDirection);
      break;
  }
  return out;
}

void LighthouseServer::record_to_wire(const Stored& s, TimePoint now,
                                      proto::discovery::Record& out) const {
  to_wire(s.record, WallTime{}, out);
  out.set_ttl_seconds(seconds_left(s.expires, now));
}

void LighthouseServer::on_register(const udp::Endpoint& from, const LighthouseMessage& m,
                                   TimePoint now, std::vector<Outgoing>& out) {
  const auto& reg = m.register_();
  const auto ttl = std::clamp(std::chrono::seconds(reg.ttl_seconds()), options_.min_ttl,
                              options_.max_ttl);
  std::optional<udp::Endpoint> observed = observed_ ? observed_(from) : std::optional(from);
  std::uint32_t accepted = 0, rejected = 0;
  const IpAddress source = from.address();
  int index = 0;
  for (const auto& wire : reg.records()) {
    if (index++ >= int(kMaxRecordsPerMessage)) {
      drop(DropReason::OverLimit);
      ++rejected;
      continue;
    }
    // The wall clock plays no part here: the server keeps its own monotonic expiry.
    auto rec = from_wire(wire, WallTime{}, options_.max_ttl);
    if (!rec) {
      drop(DropReason::BadRecord);
      ++rejected;
      continue;
    }
    rec->expires = WallTime::max();
    if (observed && observed->port != 0 &&
        std::find(rec->endpoints.begin(), rec->endpoints.end(), *observed) == rec->endpoints.end()) {
      if (rec->endpoints.size() >= kMaxEndpoints) rec->endpoints.pop_back();
      rec->endpoints.push_back(*observed);
    }
    auto it = records_.find(rec->fingerprint);
    if (it != records_.end() && !same_address(it->second.source, from)) {
      drop(DropReason::SourceMismatch);
      ++rejected;
      continue;
    }
    if (it == records_.end()) {
      const auto held = per_source_.find(source);
      if (records_.size() >= options_.max_records ||
          (held != per_source_.end() && held->second >= options_.max_records_per_source)) {
        drop(DropReason::OverLimit);
        ++rejected;
        continue;
      }
      const Fingerprint fp = rec->fingerprint;
      Stored& s = records_.emplace(fp, Stored{std::move(*rec), from, now + ttl, next_order_++})
                      .first->second;
      ++per_source_[source];
      for (const auto& n : s.record.networks) index_.add(n, fp, s.order);
      ++accepted;
      notify_updated(s, now, out);  // subscribers who asked before it existed
      notify_earlier_askers(s, now, out);
      continue;
    }
    Stored& s = it->second;
    s.expires = now + ttl;
    s.source = from;  // same address; the port may have changed (client restarted)
    ++accepted;
    if (s.record.same_content(*rec)) continue;
    for (const auto& n : s.record.networks) index_.remove(n, s.record.fingerprint);
    s.record = std::move(*rec);
    s.order = next_order_++;
    for (const auto& n : s.record.networks) index_.add(n, s.record.fingerprint, s.order);
    notify_updated(s, now, out);
    notify_earlier_askers(s, now, out);  // its networks may have grown
  }
  LighthouseMessage reply;
  reply.set_request_id(m.request_id());
  auto* ack = reply.mutable_register_ack();
  if (observed && observed->valid()) endpoint_to_wire(*observed, *ack->mutable_observed());
  ack->set_accepted(accepted);
  ack->set_rejected(rejected);
  ack->set_ttl_seconds(std::uint32_t(ttl.count()));
  if (revocation_digest_) ack->set_crl_digest(revocation_digest_->data(), revocation_digest_->size());
  if (const auto holder = claim_node_ca(reg.node_ca(), from, now + ttl, now))
    endpoint_to_wire(*holder, *ack->mutable_node_ca_holder());
  out.push_back(make(from, reply));
}

std::optional<udp::Endpoint> LighthouseServer::claim_node_ca(const std::string& node_ca,
                                                             const udp::Endpoint& from,
                                                             TimePoint expires, TimePoint now) {
  if (node_ca.empty()) return std::nullopt;
  const auto fp = fingerprint_from(node_ca);
  if (!fp) {
    drop(DropReason::BadRecord);
    return std::nullopt;
  }
  const auto it = node_ca_claims_.find(*fp);
  if (it != node_ca_claims_.end() && it->second.expires > now &&
      !same_address(it->second.holder, from))
    return it->second.holder;  // held by another host: refused, and the holder keeps it
  if (it == node_ca_claims_.end() && node_ca_claims_.size() >= options_.max_records) {
    drop(DropReason::OverLimit);
    return std::nullopt;
  }
  node_ca_claims_[*fp] = NodeCaClaim{from, expires};
  return std::nullopt;
}

std::optional<udp::Endpoint> LighthouseServer::node_ca_holder(const Fingerprint& node_ca,
                                                              TimePoint now) const {
  const auto it = node_ca_claims_.find(node_ca);
  if (it == node_ca_claims_.end() || it->second.expires <= now) return std::nullopt;
  return it->second.holder;
}

void LighthouseServer::on_deregister(const udp::Endpoint& from, const LighthouseMessage& m,
                                     std::vector<Outgoing>& out) {
  for (const auto& bytes : m.deregister().fingerprints()) {
    const auto fp = fingerprint_from(bytes);
    if (!fp) {
      drop(DropReason::BadRecord);
      continue;
    }
    const auto it = records_.find(*fp);
    if (it == records_.end()) continue;
    if (!same_address(it->second.source, from)) {
      drop(DropReason::SourceMismatch);
      continue;
    }
    erase(it, out);
  }
}

void LighthouseServer::on_query(const udp::Endpoint& from, const LighthouseMessage& m,
                                TimePoint now, std::vector<Outgoing>& out) {
  const auto& q = m.query();
  ++stats_.queries;
  // By address, every record holding the longest matching network (two gateways of one site
  // both answer for its subnet: the daemon keeps both as failover candidates).
  std::array<const Fingerprint*, kMaxRecordsPerAddressReply> also{};
  std::size_t also_count = 0;
  const Fingerprint* fp = nullptr;
  std::optional<Fingerprint> asked;
  IpAddress address;
  if (q.key_case() == proto::discovery::Query::kAddress) {
    const std::string& bytes = q.address();
    if (bytes.size() == 4)
      address = IpAddress::v4(reinterpret_cast<const std::uint8_t*>(bytes.data()));
    else if (bytes.size() == 16)
      address = IpAddress::v6(reinterpret_cast<const std::uint8_t*>(bytes.data()));
    else {
      drop(DropReason::BadQuery);
      return;
    }
    also_count = index_.lookup_all(address, also);
    if (also_count > 0) fp = also[0];
  } else if (q.key_case() == proto::discovery::Query::kFingerprint) {
    asked = fingerprint_from(q.fingerprint());
    if (!asked) {
      drop(DropReason::BadQuery);
      return;
    }
    fp = &*asked;
  } else {
    drop(DropReason::BadQuery);
    return;
  }

  LighthouseMessage reply;
  reply.set_request_id(m.request_id());
  auto* body = reply.mutable_query_reply();
  const Stored* target = nullptr;
  if (fp != nullptr) {
    const auto it = records_.find(*fp);
    if (it != records_.end() && it->second.expires > now) target = &it->second;
    // Subscribe to a fingerprint even when unknown: the Notify brings it when it registers.
    subscribe(from, *fp, now);
  }
  if (target != nullptr) record_to_wire(*target, now, *body->add_records());
  if (q.key_case() == proto::discovery::Query::kAddress && target == nullptr) {
    // Unknown now; its host may be registering it this very moment (a workload just minted).
    ++stats_.misses;
    if (!misses_.remember(address, from, now)) drop(DropReason::OverLimit);
  }
  for (std::size_t i = 1; i < also_count; ++i) {
    const auto it = records_.find(*also[i]);
    if (it == records_.end() || it->second.expires <= now) continue;
    // Only as many as fit one overlay packet (kMaxUnfragmentedMessage): the first is enough
    // to start, the rest are failover candidates.
    proto::discovery::Record wire;
    record_to_wire(it->second, now, wire);
    if (body->records_size() > 0 &&
        reply.ByteSizeLong() + wire.ByteSizeLong() + 8 > kMaxUnfragmentedMessage)
      break;
    *body->add_records() = std::move(wire);
    subscribe(from, *also[i], now);
  }
  out.push_back(make(from, reply));

  if (target != nullptr && q.punch()) {
    LighthouseMessage push;
    auto* punch = push.mutable_notify()->mutable_punch();
    // The public endpoint the lighthouse saw goes first: it is the one a NAT lets through.
    std::vector<udp::Endpoint> endpoints;
    std::optional<udp::Endpoint> seen = observed_ ? observed_(from) : std::optional(from);
    if (seen && seen->valid()) endpoints.push_back(*seen);
    if (auto requester = fingerprint_from(q.requester())) {
      punch->set_from(requester->data(), requester->size());
      // Then the requester's own registered endpoints, if this host registered it.
      const auto r = records_.find(*requester);
      if (r != records_.end() && same_address(r->second.source, from))
        for (const auto& e : r->second.record.endpoints)
          if (std::find(endpoints.begin(), endpoints.end(), e) == endpoints.end())
            endpoints.push_back(e);
    }
    if (endpoints.size() > kMaxEndpoints) endpoints.resize(kMaxEndpoints);
    for (const auto& e : endpoints) endpoint_to_wire(e, *punch->add_endpoints());
    punch->set_target(target->record.fingerprint.data(), target->record.fingerprint.size());
    out.push_back(make(target->source, push));
  }
}

void LighthouseServer::subscribe(const udp::Endpoint& who, const Fingerprint& fp, TimePoint now) {
  auto& subs = subscribers_[fp];
  for (auto& s : subs)
    if (s.to == who) {
      s.until = now + options_.subscription_ttl;
      return;
    }
  if (subscription_count_ >= options_.max_subscriptions ||
      subs.size() >= options_.max_subscribers_per_record) {
    drop(DropReason::OverLimit);
    if (subs.empty()) subscribers_.erase(fp);
    return;
  }
  subs.push_back(Subscriber{who, now + options_.subscription_ttl});
  ++subscription_count_;
}

void LighthouseServer::notify_updated(const Stored& s, TimePoint now, std::vector<Outgoing>& out) {
  const auto it = subscribers_.find(s.record.fingerprint);
  if (it == subscribers_.end()) return;
  LighthouseMessage push;
  record_to_wire(s, now, *push.mutable_notify()->mutable_updated());
  const Bytes bytes = encode_message(push);
  for (const auto& sub : it->second)
    if (sub.until > now) out.push_back(Outgoing{sub.to, bytes});
}

void LighthouseServer::notify_earlier_askers(const Stored& s, TimePoint now,
                                             std::vector<Outgoing>& out) {
  if (misses_.size() == 0) return;
  // Who notify_updated just told (they had asked for this fingerprint too).
  std::unordered_set<udp::Endpoint> told;
  if (const auto subs = subscribers_.find(s.record.fingerprint); subs != subscribers_.end())
    for (const auto& sub : subs->second)
      if (sub.until > now) told.insert(sub.to);
  Bytes bytes;
  for (const auto& n : s.record.networks)
    for (const auto& who : misses_.take(n, now)) {
      subscribe(who, s.record.fingerprint, now);  // its later changes and removal too
      if (!told.insert(who).second) continue;
      if (bytes.empty()) {
        LighthouseMessage push;
        record_to_wire(s, now, *push.mutable_notify()->mutable_updated());
        bytes = encode_message(push);
      }
      ++stats_.miss_pushes;
      out.push_back(Outgoing{who, bytes});
    }
}

void LighthouseServer::erase(Records::iterator it, std::vector<Outgoing>& out) {
  Stored& s = it->second;
  for (const auto& n : s.record.networks) index_.remove(n, s.record.fingerprint);
  const IpAddress source = s.source.address();
  if (auto p = per_source_.find(source); p != per_source_.end() && --p->second == 0)
    per_source_.erase(p);
  if (const auto subs = subscribers_.find(s.record.fingerprint); subs != subscribers_.end()) {
    LighthouseMessage push;
    push.mutable_notify()->set_removed(s.record.fingerprint.data(), s.record.fingerprint.size());
    const Bytes bytes = encode_message(push);
    for (const auto& sub : subs->second) out.push_back(Outgoing{sub.to, bytes});
  }
  records_.erase(it);
}

std::vector<Outgoing> LighthouseServer::tick(TimePoint now) {
  std::vector<Outgoing> out;
  misses_.expire(now);
  std::erase_if(node_ca_claims_, [&](const auto& kv) { return kv.second.expires <= now; });
  for (auto it = records_.begin(); it != records_.end();) {
    auto next = std::next(it);
    if (it->second.expires <= now) erase(it, out);
    it = next;
  }
  for (auto it = subscribers_.begin(); it != subscribers_.end();) {
    auto& subs = it->second;
    const auto before = subs.size();
    std::erase_if(subs, [&](const Subscriber& s) { return s.until <= now; });
    subscription_count_ -= before - subs.size();
    it = subs.empty() ? subscribers_.erase(it) : std::next(it);
  }
  return out;
}

Outgoing LighthouseServer::crl_message(const udp::Endpoint& to, const Bytes& list,
                                       std::uint64_t id) {
  LighthouseMessage m;
  m.set_request_id(id);
  m.mutable_crl()->set_revocation_list(list.data(), list.size());
  return make(to, m);
}

Result<std::vector<Outgoing>> LighthouseServer::set_revocation_lists(std::vector<Bytes> lists) {
  for (const Bytes& list : lists)
    if (list.size() > kMaxRevocationListBytes)
      return fail("revocation list of " + std::to_string(list.size()) +
                  " bytes is larger than a lighthouse distributes (" +
                  std::to_string(kMaxRevocationListBytes) + ")");
  std::erase_if(lists, [](const Bytes& l) { return l.empty(); });
  std::sort(lists.begin(), lists.end());
  lists.erase(std::unique(lists.begin(), lists.end()), lists.end());
  std::vector<const Bytes*> fresh;
  for (const Bytes& list : lists)
    if (!std::binary_search(revocation_lists_.begin(), revocation_lists_.end(), list))
      fresh.push_back(&list);
  std::vector<Outgoing> out;
  if (fresh.empty() && lists.size() == revocation_lists_.size()) return out;
  // The set's digest: SHA-256 over each list's digest, in the (sorted) order held.
  Bytes digests;
  for (const Bytes& list : lists) {
    const Fingerprint d = identity::sha256(list);
    digests.insert(digests.end(), d.begin(), d.end());
  }
  if (lists.empty())
    revocation_digest_.reset();
  else
    revocation_digest_ = identity::sha256(digests);
  std::unordered_set<udp::Endpoint> hosts;
  for (const auto& [fp, s] : records_) hosts.insert(s.source);
  for (const udp::Endpoint& host : hosts)
    for (const Bytes* list : fresh) out.push_back(crl_message(host, *list));
  revocation_lists_ = std::move(lists);
  return out;
}

}  // namespace keymesh::discovery
