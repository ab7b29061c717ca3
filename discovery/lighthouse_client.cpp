#include "discovery/lighthouse_client.h"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "discovery/directory_set.h"

namespace keymesh::discovery {

namespace {

constexpr Duration kFirstRetry = std::chrono::seconds(1);
// Upper bound for remembered negative answers; beyond it new misses are simply re-asked.
constexpr std::size_t kNegativeCacheFactor = 8;
constexpr Duration kMaxOfferRetry = std::chrono::seconds(30);
constexpr std::size_t kMaxListsSeen = 4096;  // distinct revocation lists remembered

}  // namespace

LighthouseClient::LighthouseClient(LighthouseClientOptions options, const TimeSource& clock,
                                   SendFn send)
    : options_(std::move(options)),
      clock_(clock),
      send_(std::move(send)),
      cache_(options_.cache),
      next_id_(std::uint64_t(randombytes_random()) << 32 | randombytes_random()),
      tokens_(options_.query_burst),
      last_refill_(clock.now()) {
  if (options_.register_ttl < std::chrono::seconds(3)) options_.register_ttl = std::chrono::seconds(3);
  if (options_.query_attempts == 0) options_.query_attempts = 1;
  for (const auto& a : options_.lighthouses) lighthouses_.push_back(Lighthouse{.address = a});
}

LighthouseClient::Key LighthouseClient::key_of(const IpAddress& a) noexcept {
  Key k;
  k.family = a.family;
  std::copy(a.bytes.begin(), a.bytes.end(), k.bytes.begin());
  return k;
}

LighthouseClient::Key LighthouseClient::key_of(const Fingerprint& fp) noexcept {
  Key k;
  k.bytes = fp;
  return k;
}

void LighthouseClient::send(const udp::Endpoint& to, LighthouseMessage& m) {
  const Bytes bytes = encode_message(m);
  if (send_) send_(to, bytes);
}

// ---- Directory ----

Result<void> LighthouseClient::publish(Record record) {
  if (auto ok = check_record(record); !ok) return ok;
  if (auto ok = cache_.publish(record); !ok) return ok;
  own_[record.fingerprint] = std::move(record);
  for (auto& lh : lighthouses_) lh.dirty = true;  // sent at the next tick, batched
  return {};
}

void LighthouseClient::withdraw(const Fingerprint& fingerprint) {
  if (own_.erase(fingerprint) == 0) return;
  cache_.withdraw(fingerprint);
  LighthouseMessage m;
  m.set_request_id(next_id_++);
  m.mutable_deregister()->add_fingerprints(fingerprint.data(), fingerprint.size());
  for (const auto& lh : lighthouses_) send(lh.address, m);
}

const Record* LighthouseClient::lookup_address(const IpAddress& address) noexcept {
  if (const Record* r = cache_.lookup_address(address)) {
    used_.insert(r->fingerprint);
    return r;
  }
  start_query(key_of(address), clock_.now());
  return nullptr;
}

const Record* LighthouseClient::lookup_fingerprint(const Fingerprint& fingerprint) noexcept {
  if (const Record* r = cache_.lookup_fingerprint(fingerprint)) {
    used_.insert(r->fingerprint);
    return r;
  }
  start_query(key_of(fingerprint), clock_.now());
  return nullptr;
}

// ---- Queries ----

bool LighthouseClient::take_token(TimePoint now) noexcept {
  const double elapsed = std::chrono::duration<double>(now - last_refill_).count();
  last_refill_ = now;
  tokens_ = std::min(options_.query_burst, tokens_ + elapsed * options_.queries_per_second);
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

std::optional<std::size_t> LighthouseClient::pick_lighthouse(const std::vector<bool>& tried) const {
  // The untried lighthouse with the fewest unanswered requests, starting the scan at the
  // round-robin position so equally healthy lighthouses share the load.
  std::optional<std::size_t> best;
  const std::size_t n = lighthouses_.size();
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t i = (next_lighthouse_ + k) % n;
    if (tried[i]) continue;
    if (!best || lighthouses_[i].unanswered < lighthouses_[*best].unanswered) best = i;
  }
  return best;
}

void LighthouseClient::request_punch(const Fingerprint& target,
                                     const std::optional<Fingerprint>& requester) {
  start_query(key_of(target), clock_.now(), true, requester);
}

void LighthouseClient::refresh_registration() noexcept {
  for (auto& lh : lighthouses_) lh.dirty = true;
}

void LighthouseClient::start_query(const Key& key, TimePoint now, bool punch,
                                   const std::optional<Fingerprint>& requester) {
  if (lighthouses_.empty() || pending_.contains(key)) return;
  if (const auto neg = negative_.find(key); neg != negative_.end())
    if (now < neg->second.until && !punch) return;  // kept: the next "unknown" backs off more
  if (pending_.size() >= options_.max_pending) {
    drop(DropReason::OverLimit);
    return;
  }
  if (!take_token(now)) {
    drop(DropReason::RateLimited);
    return;
  }
  Pending p{.id = next_id_++, .lighthouse = 0, .attempt = 0, .deadline = {},
            .tried = std::vector<bool>(lighthouses_.size(), false),
            .punch_for = requester, .punch = punch};
  auto& stored = pending_.emplace(key, std::move(p)).first->second;
  pending_ids_.emplace(stored.id, key);
  next_lighthouse_ = (next_lighthouse_ + 1) % lighthouses_.size();
  send_query(key, stored, now);
}

void LighthouseClient::send_query(const Key& key, Pending& p, TimePoint now) {
  auto pick = pick_lighthouse(p.tried);
  if (!pick) {  // every lighthouse tried once: start over with the healthiest
    std::fill(p.tried.begin(), p.tried.end(), false);
    pick = pick_lighthouse(p.tried);
  }
  p.lighthouse = *pick;
  p.tried[*pick] = true;
  p.deadline = now + options_.query_timeout;
  LighthouseMessage m;
  m.set_request_id(p.id);
  auto* q = m.mutable_query();
  if (key.family == 0)
    q->set_fingerprint(key.bytes.data(), 32);
  else
    q->set_address(key.bytes.data(), key.family == AF_INET6 ? 16 : 4);
  if (p.punch) {
    q->set_punch(true);
    if (p.punch_for) q->set_requester(p.punch_for->data(), p.punch_for->size());
  }
  ++stats_.queries_sent;
  send(lighthouses_[*pick].address, m);
}

// ---- Registration ----

void LighthouseClient::send_register(Lighthouse& lh, TimePoint now) {
  const std::uint64_t id = next_id_++;
  const WallTime wall = clock_.wall_now();
  lh.node_ca_refused.reset();
  LighthouseMessage m;
  unsigned parts = 0;
  auto flush = [&] {
    m.set_request_id(id);
    m.mutable_register_()->set_ttl_seconds(std::uint32_t(options_.register_ttl.count()));
    if (options_.node_ca) m.mutable_register_()->set_node_ca(options_.node_ca->data(), options_.node_ca->size());
    ++stats_.registers_sent;
    ++parts;
    send(lh.address, m);
    m.Clear();
  };
  // Split so that each datagram fits one overlay packet (kMaxUnfragmentedMessage): a
  // fragmented Register would be lost to the policy's fragment rule.
  constexpr std::size_t kEnvelope = 32;  // version, request id, ttl, tags: generously
  std::size_t size = kEnvelope;
  for (const auto& [fp, record] : own_) {
    proto::discovery::Record wire;
    to_wire(record, wall, wire);
    const std::size_t add = wire.ByteSizeLong() + 4;  // field tag and length
    if (m.register_().records_size() > 0 &&
        (m.register_().records_size() >= int(kMaxRecordsPerMessage) ||
         size + add > kMaxUnfragmentedMessage)) {
      flush();
      size = kEnvelope;
    }
    *m.mutable_register_()->add_records() = std::move(wire);
    size += add;
  }
  if (m.register_().records_size() > 0) flush();
  lh.register_id = id;
  lh.register_parts = parts;
  lh.register_deadline = now + options_.query_timeout;
}

// ---- Timers ----

void LighthouseClient::tick(WallTime wall) {
  const TimePoint now = clock_.now();
  const Duration refresh = options_.register_ttl / 3;

  for (auto& lh : lighthouses_) {
    if (lh.register_id && now >= lh.register_deadline) {  // no ack: back off and retry
      lh.register_id.reset();
      lh.register_parts = 0;
      ++lh.unanswered;
      lh.backoff = lh.backoff == Duration{} ? kFirstRetry : std::min<Duration>(lh.backoff * 2, refresh);
      lh.next_register = now + lh.backoff;
    }
    if (own_.empty() || lh.register_id) continue;
    if (lh.dirty || now >= lh.next_register) {
      lh.dirty = false;
      send_register(lh, now);
    }
  }

  send_offers(now);

  std::vector<Key> expired;
  for (auto& [key, p] : pending_)
    if (now >= p.deadline) expired.push_back(key);
  for (const Key& key : expired) {
    Pending& p = pending_.at(key);
    ++stats_.query_timeouts;
    ++lighthouses_[p.lighthouse].unanswered;
    if (++p.attempt < options_.query_attempts) {
      send_query(key, p, now);
      continue;
    }
    pending_ids_.erase(p.id);
    pending_.erase(key);
    remember_negative(key, now);
  }
  // An entry outlives its `until` by negative_ttl, so a key that stays unknown backs off.
  std::erase_if(negative_,
                [&](const auto& kv) { return kv.second.until + options_.negative_ttl <= now; });

  // Refresh ahead: records still in use are asked for again before they expire.
  for (auto it = used_.begin(); it != used_.end();) {
    const Record* r = cache_.lookup_fingerprint(*it);
    if (r == nullptr || own_.contains(*it)) {
      it = used_.erase(it);
    } else if (r->expires != WallTime::max() && r->expires - wall < refresh) {
      start_query(key_of(*it), now);
      it = used_.erase(it);
    } else {
      ++it;
    }
  }

  // Keep working with what we know while no lighthouse answers.
  if (!all_down()) cache_.tick(wall);
}

// ---- Receiving ----

void LighthouseClient::on_datagram(const udp::Endpoint& from, ByteSpan datagram) {
  const auto lh = std::find_if(lighthouses_.begin(), lighthouses_.end(),
                               [&](const Lighthouse& l) { return l.address == from; });
  if (lh == lighthouses_.end()) {
    drop(DropReason::UnknownSource);
    return;
  }
  auto m = decode_message(datagram);
  if (!m) {
    drop(m.error());
    return;
  }
  const TimePoint now = clock_.now();
  lh->unanswered = 0;
  switch (m->body_case()) {
    case LighthouseMessage::kRegisterAck:
      on_register_ack(*lh, *m, now);
      break;
    case LighthouseMessage::kQueryReply:
      on_query_reply(*m, now);
      break;
    case LighthouseMessage::kNotify:
      on_notify(*lh, *m);
      break;
    case LighthouseMessage::kCrl:
      on_crl(*lh, *m);
      break;
    default:
      drop(DropReason::WrongDirection);
      break;
  }
}

void LighthouseClient::on_register_ack(Lighthouse& lh, const LighthouseMessage& m, TimePoint now) {
  if (!lh.register_id || *lh.register_id != m.request_id() || lh.register_parts == 0) {
    drop(DropReason::UnknownRequest);
    return;
  }
  const auto& ack = m.register_ack();
  if (ack.has_observed()) {
    auto observed = endpoint_from_wire(ack.observed());
    if (observed && observed != lh.observed) {
      lh.observed = observed;
      if (on_observed_) on_observed_(lh.address, *observed);
    }
  }
  if (ack.has_node_ca_holder()) lh.node_ca_refused = endpoint_from_wire(ack.node_ca_holder());
  if (--lh.register_parts > 0) return;  // registered once every datagram of it is acked
  if (options_.node_ca && on_node_ca_claim_) on_node_ca_claim_(lh.address, lh.node_ca_refused);
  lh.node_ca_refused.reset();
  lh.register_id.reset();
  lh.backoff = {};
  auto granted = std::chrono::seconds(ack.ttl_seconds());
  if (granted <= std::chrono::seconds(0)) granted = options_.register_ttl;
  lh.next_register = now + granted / 3;
  lh.registered_until = now + granted;
  // A set of lists we have not asked this lighthouse for (a push lost, or we just started).
  Fingerprint set_digest{};
  if (ack.crl_digest().size() == set_digest.size()) {
    std::memcpy(set_digest.data(), ack.crl_digest().data(), set_digest.size());
  }
  if (ack.crl_digest().size() == set_digest.size() && lh.crl_set_digest != set_digest) {
    lh.crl_set_digest = set_digest;
    LighthouseMessage req;
    req.set_request_id(next_id_++);
    req.mutable_crl_request();
    send(lh.address, req);
  }
  // Records published while this Register was in flight (a workload minted meanwhile) go
  // now, not at the next tick.
  if (lh.dirty && !own_.empty()) {
    lh.dirty = false;
    send_register(lh, now);
  }
}

void LighthouseClient::accept_record(const proto::discovery::Record& wire, const Key* asked) {
  auto r = from_wire(wire, clock_.wall_now(), options_.max_record_ttl);
  if (!r) {
    drop(DropReason::BadRecord);
    return;
  }
  if (asked != nullptr) {  // an answer must answer the question
    const bool ok = asked->family == 0 ? r->fingerprint == asked->bytes
                                       : match_length(*r, [&] {
                                           IpAddress a;
                                           a.family = asked->family;
                                           std::copy_n(asked->bytes.begin(), 16, a.bytes.begin());
                                           return a;
                                         }()) >= 0;
    if (!ok) {
      drop(DropReason::BadRecord);
      return;
    }
  }
  if (own_.contains(r->fingerprint)) return;  // our own record: we know better
  ++stats_.answers;
  (void)cache_.publish(std::move(*r));  // a full cache counts its own refusals
}

void LighthouseClient::on_query_reply(const LighthouseMessage& m, TimePoint now) {
  const auto id = pending_ids_.find(m.request_id());
  if (id == pending_ids_.end()) {
    drop(DropReason::UnknownRequest);
    return;
  }
  const Key key = id->second;
  pending_ids_.erase(id);
  pending_.erase(key);
  const auto before = stats_.answers;
  for (const auto& wire : m.query_reply().records()) accept_record(wire, &key);
  if (stats_.answers == before) remember_negative(key, now);
}

void LighthouseClient::remember_negative(const Key& key, TimePoint now) {
  ++stats_.negative;
  auto it = negative_.find(key);
  if (it == negative_.end()) {
    if (negative_.size() >= options_.max_pending * kNegativeCacheFactor) return;
    it = negative_.emplace(key, Negative{now, Duration{}}).first;
  }
  Negative& n = it->second;
  n.backoff = std::min<Duration>(n.backoff == Duration{} ? options_.negative_first : n.backoff * 2,
                                 options_.negative_ttl);
  n.until = now + n.backoff;
}

void LighthouseClient::on_notify(Lighthouse& lh, const LighthouseMessage& m) {
  const auto& n = m.notify();
  switch (n.event_case()) {
    case proto::discovery::Notify::kUpdated:
      accept_record(n.updated(), nullptr);
      break;
    case proto::discovery::Notify::kRemoved: {
      Fingerprint fp;
      if (n.removed().size() != fp.size()) {
        drop(DropReason::BadRecord);
        break;
      }
      std::memcpy(fp.data(), n.removed().data(), fp.size());
      if (!own_.contains(fp)) cache_.withdraw(fp);
      break;
    }
    case proto::discovery::Notify::kPunch: {
      const auto& p = n.punch();
      PunchRequest req;
      req.lighthouse = lh.address;
      if (p.target().size() != req.target.size() || p.endpoints_size() == 0 ||
          std::size_t(p.endpoints_size()) > kMaxEndpoints) {
        drop(DropReason::BadRecord);
        break;
      }
      std::memcpy(req.target.data(), p.target().data(), req.target.size());
      if (p.from().size() == 32) {
        Fingerprint from;
        std::memcpy(from.data(), p.from().data(), from.size());
        req.from = from;
      }
      for (const auto& e : p.endpoints())
        if (auto ep = endpoint_from_wire(e)) req.endpoints.push_back(*ep);
      if (on_punch_ && own_.contains(req.target)) on_punch_(req);
      break;
    }
    default:
      drop(DropReason::NoBody);
      break;
  }
}

// ---- Revocation lists ----

void LighthouseClient::on_crl(Lighthouse& lh, const LighthouseMessage& m) {
  const std::string& list = m.crl().revocation_list();
  if (list.empty()) return;
  if (list.size() > kMaxRevocationListBytes) {
    drop(DropReason::TooLarge);
    return;
  }
  const Fingerprint digest = identity::sha256(as_bytes(list));
  const std::size_t index = std::size_t(&lh - lighthouses_.data());
  for (auto& [issuer, offer] : offers_)
    if (offer.digest == digest) offer.confirmed[index] = true;
  std::erase_if(offers_, [](const auto& kv) {
    return std::all_of(kv.second.confirmed.begin(), kv.second.confirmed.end(),
                       [](bool c) { return c; });
  });
  // Bounded memory: forgetting the digests only means a list is verified once more.
  if (lists_seen_.size() >= kMaxListsSeen) lists_seen_.clear();
  if (!lists_seen_.insert(digest).second) return;
  if (on_revocation_list_) on_revocation_list_(as_bytes(list));
}

void LighthouseClient::offer_revocation_list(const Fingerprint& issuer, Bytes list) {
  if (lighthouses_.empty() || list.empty() || list.size() > kMaxRevocationListBytes) return;
  Offer offer;
  offer.digest = identity::sha256(list);
  offer.list = std::move(list);
  offer.confirmed.assign(lighthouses_.size(), false);
  offer.next_send = clock_.now();  // sent now
  lists_seen_.insert(offer.digest);  // ours: the echo need not be verified again
  offers_.insert_or_assign(issuer, std::move(offer));
  send_offers(clock_.now());
}

void LighthouseClient::send_offers(TimePoint now) {
  for (auto& [issuer, offer] : offers_) {
    if (now < offer.next_send) continue;
    LighthouseMessage m;
    m.mutable_crl()->set_revocation_list(offer.list.data(), offer.list.size());
    for (std::size_t i = 0; i < lighthouses_.size(); ++i)
      if (!offer.confirmed[i]) send(lighthouses_[i].address, m);
    offer.backoff = offer.backoff == Duration{}
                        ? kFirstRetry
                        : std::min<Duration>(offer.backoff * 2, kMaxOfferRetry);
    offer.next_send = now + offer.backoff;
  }
}

// ---- Status ----

bool LighthouseClient::all_down() const noexcept {
  if (lighthouses_.empty()) return false;
  return std::all_of(lighthouses_.begin(), lighthouses_.end(),
                     [&](const Lighthouse& l) { return l.unanswered >= options_.down_after; });
}

std::vector<LighthouseClient::LighthouseStatus> LighthouseClient::lighthouses() const {
  std::vector<LighthouseStatus> out;
  const TimePoint now = clock_.now();
  for (const auto& l : lighthouses_)
    out.push_back(LighthouseStatus{l.address, l.registered_until > now,
                                   l.unanswered >= options_.down_after, l.unanswered, l.observed});
  return out;
}

}  // namespace keymesh::discovery
