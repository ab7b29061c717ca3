// LighthouseServer: the lighthouse side of the protocol (proto/discovery.proto), sans-I/O.
// Hand it a datagram, its source and `now`; it returns the datagrams to send. The daemon runs
// it when configured with `lighthouse: true`, on a UdpTransport bound to its host overlay
// address, port kLighthousePort.
//
// What it does:
//  - Register: stores each record (expiring after the granted TTL), adds the endpoint the
//    request was seen from (the host's public endpoint), answers RegisterAck with that
//    endpoint, and pushes Notify(updated) to subscribers when a record's content changed.
//  - Deregister, Query (by overlay address, longest prefix: every record holding that network,
//    newest first, up to kMaxRecordsPerAddressReply; or by fingerprint), CrlRequest.
//    A query subscribes its source to changes of that fingerprint for subscription_ttl.
//  - Crl from a host: a revocation list it offers, queued for the daemon (take_offered_lists).
//  - A query by address that finds nothing is remembered (MissTable: `misses` bounds its
//    size, per-asker share and lifetime); when a record covering that address registers
//    later, the asker gets Notify(updated) at once and is subscribed to it. A workload that
//    is looked up before its host registered it is thus reachable one push after the
//    Register, not after the asker's next retry.
//  - Query with `punch`: also sends the target's host a Notify(punch) naming the requester's
//    public endpoint (NAT traversal is for later; the message flow is in place).
//  - tick: expires records (Notify(removed) to subscribers) and subscriptions.
//
// TRUST: the server does not validate certificates (the handshake does) and cannot tell a
// genuine record from a forged one. It only keeps registration consistent: once a fingerprint
// is registered from a source address, only that address may refresh, change or deregister
// it until it expires. Inside the overlay the source address is the sender's authenticated
// overlay address (cryptokey routing), so a host cannot overwrite another host's records; it
// can still register records for certificates it does not own (it can copy public chains),
// which at worst points peers at the wrong endpoint: their handshake then fails. First come,
// first served also means a squatter can hold a fingerprint until its TTL runs out.
//
// Robustness: never throws on input, never trusts a length; everything dropped is counted in
// drops(). Memory is capped (records, records per source, subscriptions).
// Thread safety: none; the loop thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "discovery/lighthouse_messages.h"
#include "discovery/miss_table.h"
#include "discovery/prefix_index.h"
#include "discovery/record.h"

namespace keymesh::discovery {

struct LighthouseServerOptions {
  std::chrono::seconds min_ttl{10};   // a shorter TTL asked for is raised to this
  std::chrono::seconds max_ttl{600};  // a longer one is cut to this
  std::size_t max_records = 100000;
  std::size_t max_records_per_source = 4096;  // a node with its workloads fits easily
  std::size_t max_subscriptions = 200000;     // (querier, fingerprint) pairs
  std::size_t max_subscribers_per_record = 256;
  std::chrono::seconds subscription_ttl{120};  // renewed by every query
  MissTableOptions misses;  // unanswered address queries, pushed to when the record arrives
};

// One datagram to send: destination and bytes (owned).
struct Outgoing {
  udp::Endpoint to;
  Bytes bytes;
};

// Maps a request's source (an overlay address:port) to the underlay endpoint the host was seen
// from: the daemon answers with the current endpoint of the tunnel that carried it. Unset (or
// nullopt) in tests without a tunnel: the source itself is reported.
using ObservedEndpointFn = std::function<std::optional<udp::Endpoint>(const udp::Endpoint& source)>;

class LighthouseServer {
 public:
  explicit LighthouseServer(LighthouseServerOptions options = {}, ObservedEndpointFn observed = {});

  std::vector<Outgoing> handle_datagram(const udp::Endpoint& from, ByteSpan datagram,
                                        TimePoint now);
  // For an already decoded request (replies and pushes are dropped as WrongDirection).
  std::vector<Outgoing> handle(const udp::Endpoint& from, const LighthouseMessage& message,
                               TimePoint now);
  std::vector<Outgoing> tick(TimePoint now);

  // The revocation lists to hand out (bytes as their CAs signed them; the daemon hands over
  // only lists its TrustStore accepted, one per issuer). Each list not held before is pushed
  // at once to every host with a live registration, one Crl datagram per list; later hosts
  // learn the digest of the whole set in their RegisterAck and ask (CrlRequest: every list).
  // Fails, changing nothing, when a list is larger than kMaxRevocationListBytes.
  Result<std::vector<Outgoing>> set_revocation_lists(std::vector<Bytes> lists);
  Result<std::vector<Outgoing>> set_revocation_list(Bytes list) {  // a set of one
    return set_revocation_lists({std::move(list)});
  }
  std::size_t revocation_list_count() const noexcept { return revocation_lists_.size(); }
  // Lists hosts offered (Crl sent to the lighthouse: a node CA's list for the workloads it
  // deleted), UNVERIFIED, oldest first; emptied by the call. The daemon verifies each and
  // passes what it accepted back through set_revocation_lists. At most kMaxOfferedLists wait;
  // more are dropped (OverLimit).
  std::vector<Bytes> take_offered_lists() { return std::exchange(offered_, {}); }
  static constexpr std::size_t kMaxOfferedLists = 64;

  std::size_t record_count() const noexcept { return records_.size(); }
  std::size_t subscription_count() const noexcept { return subscription_count_; }
  // The stored record (endpoints include the observed one); nullptr when unknown or expired.
  const Record* find(const Fingerprint& fp) const noexcept;
  std::size_t miss_count() const noexcept { return misses_.size(); }
  // Node CA claims (Register.node_ca): the first host to claim a node CA fingerprint holds
  // it while it keeps registering (its TTL); another host's claim meanwhile is answered with
  // RegisterAck.node_ca_holder. The holder of `node_ca`, if any.
  std::optional<udp::Endpoint> node_ca_holder(const Fingerprint& node_ca, TimePoint now) const;
  const DropCounters& drops() const noexcept { return drops_; }
  std::uint64_t drops(DropReason r) const noexcept { return drops_[std::size_t(r)]; }

  struct Stats {
    std::uint64_t queries = 0;
    std::uint64_t misses = 0;       // address queries answered "unknown" (and remembered)
    std::uint64_t miss_pushes = 0;  // Notify(updated) sent to an earlier asker on registration
  };
  const Stats& stats() const noexcept { return stats_; }

 private:
  struct Stored {
    Record record;
    udp::Endpoint source;  // the registering host's socket (replies, punch, CRL pushes)
    TimePoint expires;
    std::uint64_t order;
  };
  struct Subscriber {
    udp::Endpoint to;
    TimePoint until;
  };
  using Records = std::unordered_map<Fingerprint, Stored, FingerprintHash>;

  void on_register(const udp::Endpoint& from, const LighthouseMessage& m, TimePoint now,
                   std::vector<Outgoing>& out);
  void on_deregister(const udp::Endpoint& from, const LighthouseMessage& m,
                     std::vector<Outgoing>& out);
  void on_query(const udp::Endpoint& from, const LighthouseMessage& m, TimePoint now,
                std::vector<Outgoing>& out);
  void erase(Records::iterator it, std::vector<Outgoing>& out);
  // Takes or refreshes `from`'s claim; returns the other holder when the claim is refused.
  std::optional<udp::Endpoint> claim_node_ca(const std::string& node_ca, const udp::Endpoint& from,
                                             TimePoint expires, TimePoint now);
  void subscribe(const udp::Endpoint& who, const Fingerprint& fp, TimePoint now);
  void notify_updated(const Stored& s, TimePoint now, std::vector<Outgoing>& out);
  void notify_earlier_askers(const Stored& s, TimePoint now, std::vector<Outgoing>& out);
  void record_to_wire(const Stored& s, TimePoint now, proto::discovery::Record& out) const;
  static Outgoing crl_message(const udp::Endpoint& to, const Bytes& list, std::uint64_t id = 0);
  void drop(DropReason r) noexcept { ++drops_[std::size_t(r)]; }

  LighthouseServerOptions options_;
  ObservedEndpointFn observed_;
  Records records_;
  PrefixIndex index_;
  std::unordered_map<IpAddress, std::size_t, IpAddressHash> per_source_;
  std::unordered_map<Fingerprint, std::vector<Subscriber>, FingerprintHash> subscribers_;
  std::size_t subscription_count_ = 0;
  MissTable misses_;
  std::uint64_t next_order_ = 1;
  std::vector<Bytes> revocation_lists_;
  std::optional<Fingerprint> revocation_digest_;  // over the whole set
  std::vector<Bytes> offered_;
  struct NodeCaClaim {
    udp::Endpoint holder;
    TimePoint expires;
  };
  std::unordered_map<Fingerprint, NodeCaClaim, FingerprintHash> node_ca_claims_;
  Stats stats_;
  DropCounters drops_{};
};

}  // namespace keymesh::discovery
