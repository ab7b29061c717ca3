// The relay envelope (daemon/relay.h): its exact layout, what the parser refuses, and the
// relay's forwarding decision (who may send through the relay, to whom).
#define BOOST_TEST_MODULE relay_envelope
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <ostream>
#include <vector>

#include "daemon/relay.h"
#include "discovery.pb.h"
#include "discovery/record.h"

// Printable in test failure messages.
namespace keymesh::udp {
inline std::ostream& operator<<(std::ostream& o, const Endpoint& e) { return o << e.to_string(); }
}  // namespace keymesh::udp
namespace keymesh::daemon {
inline std::ostream& operator<<(std::ostream& o, DropReason r) { return o << to_string(r); }
}  // namespace keymesh::daemon

using namespace keymesh::daemon;
using keymesh::udp::Endpoint;

namespace {

Endpoint ep(const char* text) {
  auto e = Endpoint::parse(text);
  BOOST_REQUIRE(e);
  return *e;
}

// An envelope around a 32-byte data-looking inner message.
std::vector<std::uint8_t> envelope(KeyId sender, KeyId target, std::size_t inner = 32) {
  std::vector<std::uint8_t> d(kRelayEnvelopeSize + inner, 0);
  write_relay_envelope(d, sender, target);
  d[kRelayEnvelopeSize] = 4;  // a WireGuard data message
  return d;
}

}  // namespace

BOOST_AUTO_TEST_CASE(layout_is_fixed) {
  auto d = envelope(0x0807060504030201ull, 0x1817161514131211ull);
  const std::vector<std::uint8_t> header(d.begin(), d.begin() + 20);
  const std::vector<std::uint8_t> want = {0x13, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8,
                                          0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18};
  BOOST_TEST(header == want, boost::test_tools::per_element());
  auto e = parse_relay_envelope(d);
  BOOST_REQUIRE(e);
  BOOST_TEST(e->sender == 0x0807060504030201ull);
  BOOST_TEST(e->target == 0x1817161514131211ull);
  BOOST_TEST(e->inner.data() == d.data() + 20);
  BOOST_TEST(e->inner.size() == 32u);
}

BOOST_AUTO_TEST_CASE(key_id_is_the_first_eight_key_bytes) {
  keymesh::crypto::Key k{};
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = std::uint8_t(i + 1);
  BOOST_TEST(key_id(k) == 0x0807060504030201ull);
}

BOOST_AUTO_TEST_CASE(parser_refuses_bad_envelopes) {
  auto ok = envelope(1, 2);
  BOOST_TEST(parse_relay_envelope(ok).has_value());
  // Too short: header only, or an inner message under 32 bytes.
  auto shorter = envelope(1, 2, 31);
  BOOST_TEST(!parse_relay_envelope(shorter).has_value());
  std::vector<std::uint8_t> empty;
  BOOST_TEST(!parse_relay_envelope(empty).has_value());
  // Reserved bytes must be zero.
  for (int i = 1; i <= 3; ++i) {
    auto d = envelope(1, 2);
    d[std::size_t(i)] = 1;
    BOOST_TEST(!parse_relay_envelope(d).has_value());
  }
  // Not an envelope.
  auto other = envelope(1, 2);
  other[0] = 4;
  BOOST_TEST(!parse_relay_envelope(other).has_value());
  BOOST_TEST(!is_relay_envelope(other));
  // No envelope inside an envelope: relays do not chain.
  auto nested = envelope(1, 2, 60);
  write_relay_envelope(std::span(nested).subspan(20), 3, 4);
  BOOST_TEST(!parse_relay_envelope(nested).has_value());
}

BOOST_AUTO_TEST_CASE(relay_forwards_only_between_live_paths) {
  auto d = envelope(1, 2);
  const auto e = *parse_relay_envelope(d);
  const Endpoint a = ep("198.18.1.1:51820"), b = ep("198.18.2.1:40000");
  const RelayPathState sender{a, true}, target{b, true};

  auto ok = decide_relay(true, e, a, &sender, &target);
  BOOST_TEST(!ok.refused.has_value());
  BOOST_TEST(ok.to == b);

  // Not a relay: nothing is forwarded.
  BOOST_TEST(*decide_relay(false, e, a, &sender, &target).refused == DropReason::RelayDisabled);
  // The sender has no path with the relay, a dead one, or sends from elsewhere (spoofed source).
  BOOST_TEST(*decide_relay(true, e, a, nullptr, &target).refused == DropReason::RelayUnknownSender);
  const RelayPathState dead_sender{a, false};
  BOOST_TEST(*decide_relay(true, e, a, &dead_sender, &target).refused ==
             DropReason::RelayUnknownSender);
  BOOST_TEST(*decide_relay(true, e, ep("198.18.9.9:51820"), &sender, &target).refused ==
             DropReason::RelayUnknownSender);
  // The target has no live path with the relay.
  BOOST_TEST(*decide_relay(true, e, a, &sender, nullptr).refused == DropReason::RelayUnknownTarget);
  const RelayPathState dead_target{b, false};
  BOOST_TEST(*decide_relay(true, e, a, &sender, &dead_target).refused ==
             DropReason::RelayUnknownTarget);
  // Back to the sender itself (a loop), by key id or by endpoint.
  auto self = envelope(1, 1);
  const auto es = *parse_relay_envelope(self);
  BOOST_TEST(*decide_relay(true, es, a, &sender, &sender).refused == DropReason::RelayUnknownTarget);
  const RelayPathState target_at_a{a, true};
  BOOST_TEST(*decide_relay(true, e, a, &sender, &target_at_a).refused ==
             DropReason::RelayUnknownTarget);
}

// Records carry the relays a host is reachable through and the host key the envelope names.
BOOST_AUTO_TEST_CASE(records_carry_relays_and_host_key) {
  namespace disc = keymesh::discovery;
  keymesh::crypto::Key key{}, host{};
  key[0] = 1;
  host[0] = 2;
  auto r = disc::raw_key_record(key, {*keymesh::IpPrefix::parse("100.64.9.0/24")}, "peer",
                                {ep("198.18.0.9:51820")});
  r.relay = true;
  r.relays = {*keymesh::IpAddress::parse("100.64.0.20"), *keymesh::IpAddress::parse("fd00::20")};
  r.host_key = host;
  const auto now = keymesh::WallTime(std::chrono::seconds(1'800'000'000));
  keymesh::proto::discovery::Record wire;
  disc::to_wire(r, now, wire);
  auto back = disc::from_wire(wire, now, std::chrono::seconds(60));
  BOOST_REQUIRE(back);
  BOOST_TEST(back->relay);
  BOOST_REQUIRE_EQUAL(back->relays.size(), 2u);
  BOOST_TEST(back->relays[1].to_string() == "fd00::20");
  BOOST_TEST((back->host_key == host));
  BOOST_TEST(back->same_content(r));

  auto bad = wire;
  bad.set_host_key("short");
  BOOST_TEST(!disc::from_wire(bad, now, std::chrono::seconds(60)));
  bad = wire;
  bad.add_relays("abc");  // neither 4 nor 16 bytes
  BOOST_TEST(!disc::from_wire(bad, now, std::chrono::seconds(60)));
  bad = wire;
  for (int i = 0; i < 3; ++i) bad.add_relays(std::string(4, char(i)));
  BOOST_TEST(!disc::from_wire(bad, now, std::chrono::seconds(60)));  // 5 > kMaxRecordRelays
}
