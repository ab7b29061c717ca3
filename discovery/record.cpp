#include "discovery/record.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "discovery.pb.h"
#include "identity/chain.h"

namespace keymesh::discovery {

namespace {

WallTime add_seconds(WallTime now, std::chrono::seconds ttl) noexcept {
  // WallTime::max() means "never": keep sums away from overflow.
  if (now >= WallTime::max() - std::chrono::duration_cast<WallTime::duration>(ttl))
    return WallTime::max();
  return now + ttl;
}

}  // namespace

const char* unusable_endpoint(const udp::Endpoint& e) noexcept {
  if (!e.valid()) return "has no address";
  if (e.port == 0) return "has port 0";
  const std::uint8_t* a = e.addr.data();
  if (e.family == AF_INET6) {
    static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(a, kMapped, sizeof kMapped) == 0) {
      a += 12;  // ::ffff:a.b.c.d is a.b.c.d: checked as IPv4 below
    } else {
      if (a[0] == 0xff) return "is multicast";
      static constexpr std::uint8_t kZero[15] = {};
      if (std::memcmp(a, kZero, 15) == 0) return a[15] == 0 ? "is unspecified" : a[15] == 1 ? "is loopback" : nullptr;
      return nullptr;
    }
  } else if (e.family != AF_INET) {
    return "has an unknown address family";
  }
  if (a[0] == 0) return "is unspecified (0.0.0.0/8)";
  if (a[0] == 127) return "is loopback";
  if (a[0] >= 224 && a[0] < 240) return "is multicast";
  if (a[0] >= 240) return "is broadcast or reserved (240.0.0.0/4)";
  return nullptr;
}

std::string Record::describe() const {
  return "record \"" + name + "\" (" + identity::short_hex(fingerprint) + ")";
}

bool Record::same_content(const Record& o) const noexcept {
  return fingerprint == o.fingerprint && chain == o.chain && public_key == o.public_key &&
         networks == o.networks && name == o.name && endpoints == o.endpoints &&
         relay == o.relay && relays == o.relays && host_key == o.host_key;
}

Result<Record> record_from_chain(ByteSpan chain, std::vector<udp::Endpoint> endpoints,
                                 WallTime expires) {
  if (chain.empty()) return fail("empty certificate chain");
  if (chain.size() > kMaxRecordChainBytes)
    return fail("certificate chain of " + std::to_string(chain.size()) +
                " bytes is larger than discovery carries (" +
                std::to_string(kMaxRecordChainBytes) + ")");
  auto parsed = identity::parse_chain(chain);
  if (!parsed) return fail(parsed.error().message);
  if (parsed->empty()) return fail("empty certificate chain");
  const identity::Certificate& leaf = parsed->front();
  if (leaf.is_ca()) return fail(leaf.describe() + " is a CA certificate, not an identity");
  Record r;
  r.chain.assign(chain.begin(), chain.end());
  r.public_key = leaf.public_key();
  r.networks = leaf.fields().networks;
  r.name = leaf.name();
  r.fingerprint = leaf.fingerprint();
  r.endpoints = std::move(endpoints);
  // Certificates may run to year 9999; WallTime (nanoseconds) ends in 2262.
  const auto last = std::chrono::duration_cast<std::chrono::seconds>(WallTime::max().time_since_epoch());
  const std::int64_t not_after = leaf.fields().not_after;
  if (not_after < last.count()) r.expires = std::min(expires, WallTime{std::chrono::seconds(not_after)});
  else r.expires = expires;
  return r;
}

Fingerprint raw_key_fingerprint(const crypto::Key& public_key) noexcept {
  return identity::sha256(ByteSpan(public_key.data(), public_key.size()));
}

Record raw_key_record(const crypto::Key& public_key, std::vector<IpPrefix> networks,
                      std::string name, std::vector<udp::Endpoint> endpoints, WallTime expires) {
  Record r;
  r.public_key = public_key;
  for (auto& n : networks) n = n.network();
  r.networks = std::move(networks);
  r.name = std::move(name);
  r.fingerprint = raw_key_fingerprint(public_key);
  r.endpoints = std::move(endpoints);
  r.expires = expires;
  return r;
}

Result<void> check_record(const Record& r) {
  if (r.endpoints.size() > kMaxEndpoints)
    return fail(r.describe() + ": " + std::to_string(r.endpoints.size()) +
                " endpoints (at most " + std::to_string(kMaxEndpoints) + ")");
  for (const auto& e : r.endpoints)
    if (const char* why = unusable_endpoint(e))
      return fail(r.describe() + ": endpoint " + e.to_string() + " " + why);
  if (r.relays.size() > kMaxRecordRelays)
    return fail(r.describe() + ": " + std::to_string(r.relays.size()) + " relays (at most " +
                std::to_string(kMaxRecordRelays) + ")");
  if (r.chain.size() > kMaxRecordChainBytes)
    return fail(r.describe() + ": certificate chain larger than " +
                std::to_string(kMaxRecordChainBytes) + " bytes");
  if (r.networks.empty()) return fail(r.describe() + ": no overlay networks");
  if (r.networks.size() > kMaxRecordNetworks)
    return fail(r.describe() + ": more than " + std::to_string(kMaxRecordNetworks) + " networks");
  if (r.name.size() > identity::kMaxNameLength) return fail("record name too long");
  return {};
}

void endpoint_to_wire(const udp::Endpoint& e, proto::discovery::Endpoint& out) {
  const std::size_t n = e.family == AF_INET6 ? 16 : 4;
  out.set_address(e.addr.data(), n);
  out.set_port(e.port);
}

std::optional<udp::Endpoint> endpoint_from_wire(const proto::discovery::Endpoint& in) {
  udp::Endpoint e;
  const std::string& a = in.address();
  if (a.size() == 4)
    e.family = AF_INET;
  else if (a.size() == 16)
    e.family = AF_INET6;
  else
    return std::nullopt;
  if (in.port() == 0 || in.port() > 65535) return std::nullopt;
  std::memcpy(e.addr.data(), a.data(), a.size());
  e.port = std::uint16_t(in.port());
  return e;
}

void to_wire(const Record& r, WallTime now, proto::discovery::Record& out) {
  out.Clear();
  if (r.raw_key()) {
    out.set_public_key(r.public_key.data(), r.public_key.size());
    for (const auto& n : r.networks) out.add_networks(n.to_string());
    out.set_name(r.name);
  } else {
    out.set_chain(r.chain.data(), r.chain.size());
  }
  for (const auto& e : r.endpoints) endpoint_to_wire(e, *out.add_endpoints());
  std::int64_t ttl = 0;
  if (r.expires == WallTime::max())
    ttl = std::numeric_limits<std::uint32_t>::max();
  else if (r.expires > now)
    ttl = std::chrono::ceil<std::chrono::seconds>(r.expires - now).count();
  out.set_ttl_seconds(std::uint32_t(std::clamp<std::int64_t>(ttl, 0, UINT32_MAX)));
  out.set_relay(r.relay);
  for (const auto& a : r.relays) out.add_relays(a.bytes.data(), a.size());
  if (r.host_key) out.set_host_key(r.host_key->data(), r.host_key->size());
}

Result<Record> from_wire(const proto::discovery::Record& in, WallTime now,
                         std::chrono::seconds max_ttl) {
  if (std::size_t(in.endpoints_size()) > kMaxEndpoints)
    return fail("record with " + std::to_string(in.endpoints_size()) + " endpoints");
  std::vector<udp::Endpoint> endpoints;
  for (const auto& e : in.endpoints()) {
    auto ep = endpoint_from_wire(e);
    if (!ep) return fail("record with an unusable endpoint");
    endpoints.push_back(*ep);
  }
  const auto ttl = std::min<std::chrono::seconds>(std::chrono::seconds(in.ttl_seconds()), max_ttl);
  const WallTime expires = add_seconds(now, ttl);
  Record r;
  if (!in.chain().empty()) {
    const auto& c = in.chain();
    auto rec = record_from_chain(ByteSpan(reinterpret_cast<const std::uint8_t*>(c.data()), c.size()),
                                 std::move(endpoints), expires);
    if (!rec) return rec;
    r = std::move(*rec);
  } else {
    if (in.public_key().size() != crypto::Key{}.size()) return fail("raw-key record without a key");
    if (std::size_t(in.networks_size()) > kMaxRecordNetworks) return fail("too many networks");
    crypto::Key key;
    std::memcpy(key.data(), in.public_key().data(), key.size());
    std::vector<IpPrefix> networks;
    for (const auto& text : in.networks()) {
      auto p = IpPrefix::parse(text);
      if (!p) return fail("raw-key record with a bad network");
      networks.push_back(*p);
    }
    if (!identity::valid_name(in.name())) return fail("raw-key record with a bad name");
    r = raw_key_record(key, std::move(networks), in.name(), std::move(endpoints), expires);
  }
  r.relay = in.relay();
  if (std::size_t(in.relays_size()) > kMaxRecordRelays) return fail("record with too many relays");
  for (const auto& a : in.relays()) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(a.data());
    if (a.size() == 4) r.relays.push_back(IpAddress::v4(p));
    else if (a.size() == 16) r.relays.push_back(IpAddress::v6(p));
    else return fail("record with a bad relay address");
  }
  if (!in.host_key().empty()) {
    if (in.host_key().size() != crypto::Key{}.size()) return fail("record with a bad host key");
    crypto::Key key;
    std::memcpy(key.data(), in.host_key().data(), key.size());
    r.host_key = key;
  }
  if (auto ok = check_record(r); !ok) return std::unexpected(ok.error());
  return r;
}

}  // namespace keymesh::discovery
