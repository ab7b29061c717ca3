// LighthouseClient: the host side of the lighthouse protocol, and a Directory. Sans-I/O: it
// sends through the SendFn it is given (UdpTransport::send in the daemon, an in-memory
// router in tests) and is fed received datagrams with on_datagram; time comes from a
// TimeSource (FakeTimeSource in tests).
//
//  - Registration: publish() records of ours; every lighthouse gets a Register with all of
//    them at the next tick or with the ack of one in flight, again every granted TTL / 3,
//    unanswered ones retried with backoff (1 s, 2 s, ... up to TTL / 3). withdraw(): Deregister.
//  - Lookups answer from the cache (a MemoryDirectory). A miss sends one Query (deduplicated:
//    one outstanding query per key; rate-limited by a token bucket) to the healthiest
//    lighthouse; after query_timeout it is retried on the next lighthouse, up to
//    query_attempts tries. "Unknown" (or no answer anywhere) is remembered briefly: for
//    negative_first the first time, doubling with each further "unknown" for that key in a
//    row, up to negative_ttl; a lookup after that asks again. The daemon repeats the lookup
//    of every packet still waiting for a route at each tick, so a waiting packet's address
//    is re-asked at 250 ms, 750 ms, 1.75 s, ... The answer lands in the cache and watchers
//    get a Change. A lighthouse also remembers an address it could not answer and pushes
//    the record (Notify) when it registers, which usually comes first.
//  - Records the daemon keeps looking up are re-queried shortly before they expire; pushes
//    (Notify) from lighthouses update or remove records at once.
//  - When every lighthouse is down (down_after unanswered requests in a row each), cached
//    records stop expiring: the host keeps working with what it knows until one answers.
//  - Replies are accepted only from a configured lighthouse endpoint and only for a
//    request_id we sent (inside the overlay the source address is authenticated).
//
// Thread safety: none; the loop thread. The SendFn must not call back into the client.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/clock.h"
#include "discovery/lighthouse_messages.h"
#include "discovery/memory_directory.h"

namespace keymesh::discovery {

struct LighthouseClientOptions {
  // Each lighthouse's overlay address and port (kLighthousePort unless configured).
  std::vector<udp::Endpoint> lighthouses;
  std::chrono::seconds register_ttl{60};     // asked for; re-registered at granted TTL / 3
  Duration query_timeout = std::chrono::seconds(1);
  unsigned query_attempts = 3;               // tries per miss, each on another lighthouse if any
  Duration negative_first = std::chrono::milliseconds(250);  // "unknown" remembered this long,
  Duration negative_ttl = std::chrono::seconds(5);           // doubling up to this
  double queries_per_second = 20;            // new queries (retries are free)
  double query_burst = 40;
  std::size_t max_pending = 1024;            // outstanding queries
  unsigned down_after = 2;                   // unanswered requests in a row: lighthouse down
  std::chrono::seconds max_record_ttl{600};  // cap on what a reply may claim
  MemoryDirectoryOptions cache;
  // The node CA this host mints with: claimed in every Register (docs/identity.md).
  std::optional<Fingerprint> node_ca;
};

// "Identity `from` at `endpoints` wants to talk to our identity `target`."
struct PunchRequest {
  std::optional<Fingerprint> from;
  std::vector<udp::Endpoint> endpoints;  // its public endpoint first
  Fingerprint target{};
  udp::Endpoint lighthouse;              // who relayed the request
};

class LighthouseClient final : public Directory {
 public:
  using SendFn = std::function<void(const udp::Endpoint& to, ByteSpan datagram)>;

  // `clock` must outlive the client.
  LighthouseClient(LighthouseClientOptions options, const TimeSource& clock, SendFn send);

  // A datagram received on the client's socket.
  void on_datagram(const udp::Endpoint& from, ByteSpan datagram);

  // Directory. publish() also makes the record visible to lookups here.
  Result<void> publish(Record record) override;
  void withdraw(const Fingerprint& fingerprint) override;
  const Record* lookup_address(const IpAddress& address) noexcept override;
  const Record* lookup_fingerprint(const Fingerprint& fingerprint) noexcept override;
  WatchId watch(WatchFn fn) override { return cache_.watch(std::move(fn)); }
  void unwatch(WatchId id) override { cache_.unwatch(id); }
  // Drives registration, retries and expiry; `now` is the wall time for record expiry, the
  // timers read the TimeSource's monotonic clock.
  void tick(WallTime now) override;

  // Asks the lighthouses to tell `target`'s host that `requester` (one of ours) wants to talk,
  // so both ends can punch through their NATs (the punching itself is for later). Also
  // fetches target's record like a lookup. Rate-limited like queries.
  void request_punch(const Fingerprint& target, const std::optional<Fingerprint>& requester);
  // Registers with every lighthouse at the next tick instead of at TTL / 3: a path stopped
  // answering and our public endpoint may have moved; the RegisterAck says where it is now.
  void refresh_registration() noexcept;

  // Events for the daemon (optional). Called on the loop thread from on_datagram.
  // The public endpoint a lighthouse saw us come from (when it changes).
  void set_on_observed(std::function<void(const udp::Endpoint& lighthouse,
                                          const udp::Endpoint& observed)> fn) {
    on_observed_ = std::move(fn);
  }
  void set_on_punch(std::function<void(const PunchRequest&)> fn) { on_punch_ = std::move(fn); }
  // After each complete RegisterAck when options.node_ca is set: nullopt when the lighthouse
  // granted our node CA claim, else the host that holds it.
  using NodeCaClaimFn = std::function<void(const udp::Endpoint& lighthouse,
                                           const std::optional<udp::Endpoint>& holder)>;
  void set_on_node_ca_claim(NodeCaClaimFn fn) { on_node_ca_claim_ = std::move(fn); }
  // A revocation list as a lighthouse handed it out: UNVERIFIED bytes. The daemon passes them
  // to identity::TrustStore::set_revocation_list (parse_revocation_list first), which checks
  // the issuer's signature and refuses an older list. Each distinct list is passed up once.
  void set_on_revocation_list(std::function<void(ByteSpan list)> fn) {
    on_revocation_list_ = std::move(fn);
  }
  // Offers a list to every lighthouse (a node CA's list after a workload was deleted), which
  // verifies it and, when it accepts it, pushes it to every host (this one too). Until a
  // lighthouse's push of the same bytes comes back it is offered again, after 1 s, 2 s, ...
  // up to 30 s. A later offer for the same `issuer` replaces an unconfirmed one.
  void offer_revocation_list(const Fingerprint& issuer, Bytes list);

  struct LighthouseStatus {
    udp::Endpoint address;
    bool registered = false;         // acked within the last TTL
    bool down = false;
    unsigned unanswered = 0;         // requests in a row without any reply
    std::optional<udp::Endpoint> observed;
  };
  std::vector<LighthouseStatus> lighthouses() const;
  bool all_down() const noexcept;
  const MemoryDirectory& cache() const noexcept { return cache_; }
  std::size_t pending_queries() const noexcept { return pending_.size(); }

  struct Stats {
    std::uint64_t registers_sent = 0;
    std::uint64_t queries_sent = 0;   // including retries
    std::uint64_t query_timeouts = 0;
    std::uint64_t answers = 0;        // records received in replies and pushes
    std::uint64_t negative = 0;       // queries that ended without a record
  };
  const Stats& stats() const noexcept { return stats_; }
  const DropCounters& drops() const noexcept { return drops_; }
  std::uint64_t drops(DropReason r) const noexcept { return drops_[std::size_t(r)]; }

 private:
  // A query key: an overlay address (family, 16 bytes) or a fingerprint (family 0).
  struct Key {
    std::uint8_t family = 0;
    std::array<std::uint8_t, 32> bytes{};
    auto operator<=>(const Key&) const = default;
  };
  struct Pending {
    std::uint64_t id;
    std::size_t lighthouse;
    unsigned attempt;
    TimePoint deadline;
    std::vector<bool> tried;  // per lighthouse
    std::optional<Fingerprint> punch_for;  // set: a punch request on behalf of this identity
    bool punch = false;
  };
  struct Lighthouse {
    udp::Endpoint address;
    TimePoint next_register{};
    Duration backoff{};
    std::optional<std::uint64_t> register_id;  // awaiting this ack
    unsigned register_parts = 0;               // datagrams of it not acked yet
    TimePoint register_deadline{};
    TimePoint registered_until{};
    unsigned unanswered = 0;
    std::optional<udp::Endpoint> observed;
    bool dirty = false;  // records published since the last Register
    std::optional<Fingerprint> crl_set_digest;  // the last RegisterAck's crl_digest we asked for
    std::optional<udp::Endpoint> node_ca_refused;  // holder named by an ack of this Register
  };
  struct Offer {
    Bytes list;
    Fingerprint digest{};
    std::vector<bool> confirmed;  // per lighthouse
    TimePoint next_send{};
    Duration backoff{};
  };
  void send_offers(TimePoint now);
  void on_crl(Lighthouse& lh, const LighthouseMessage& m);

  static Key key_of(const IpAddress& a) noexcept;
  static Key key_of(const Fingerprint& fp) noexcept;
  void start_query(const Key& key, TimePoint now, bool punch = false,
                   const std::optional<Fingerprint>& requester = std::nullopt);
  void send_query(const Key& key, Pending& p, TimePoint now);
  std::optional<std::size_t> pick_lighthouse(const std::vector<bool>& tried) const;
  bool take_token(TimePoint now) noexcept;
  void send_register(Lighthouse& lh, TimePoint now);
  void send(const udp::Endpoint& to, LighthouseMessage& m);
  void accept_record(const proto::discovery::Record& wire, const Key* asked);
  void on_register_ack(Lighthouse& lh, const LighthouseMessage& m, TimePoint now);
  void on_query_reply(const LighthouseMessage& m, TimePoint now);
  void on_notify(Lighthouse& lh, const LighthouseMessage& m);
  void drop(DropReason r) noexcept { ++drops_[std::size_t(r)]; }

  LighthouseClientOptions options_;
  const TimeSource& clock_;
  SendFn send_;
  MemoryDirectory cache_;
  std::vector<Lighthouse> lighthouses_;
  std::map<Fingerprint, Record> own_;
  std::map<Key, Pending> pending_;
  std::unordered_map<std::uint64_t, Key> pending_ids_;
  struct Negative {
    TimePoint until;   // lookups before this do not ask again
    Duration backoff;  // how long the last "unknown" was remembered
  };
  void remember_negative(const Key& key, TimePoint now);
  std::map<Key, Negative> negative_;
  std::unordered_set<Fingerprint, FingerprintHash> used_;  // looked up since last refresh
  std::size_t next_lighthouse_ = 0;  // round robin among equally healthy ones
  std::uint64_t next_id_;
  double tokens_;
  TimePoint last_refill_;
  std::unordered_set<Fingerprint, FingerprintHash> lists_seen_;  // digests passed up
  std::map<Fingerprint, Offer> offers_;                          // by issuer
  std::function<void(const udp::Endpoint&, const udp::Endpoint&)> on_observed_;
  std::function<void(const PunchRequest&)> on_punch_;
  NodeCaClaimFn on_node_ca_claim_;
  std::function<void(ByteSpan)> on_revocation_list_;
  Stats stats_;
  DropCounters drops_{};
};

}  // namespace keymesh::discovery
