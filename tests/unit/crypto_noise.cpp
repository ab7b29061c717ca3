// Noise_IKpsk2 handshakes between two in-memory identities: the happy path with and without a
// preshared key, then every way a handshake must refuse (wrong key, wrong PSK, replayed or
// stale timestamp, flood, low-order points, tampering, wrong state).
#define BOOST_TEST_MODULE crypto_noise
#include <boost/test/unit_test.hpp>

#include <cstring>
#include <string>

#include "common/clock.h"
#include "crypto/keypair.h"
#include "crypto/noise.h"
#include "crypto_test_util.h"

using namespace keymesh;
using namespace keymesh::crypto;
using namespace std::chrono_literals;
using keymesh::crypto::test::fresh_key;

namespace {

using Peers = keymesh::crypto::test::TwoIdentities;

bool same(const SecretKey& x, const SecretKey& y) {
  return std::memcmp(x.data(), y.data(), x.size()) == 0;
}

// Runs initiation -> response; returns the responder's error or the initiator's.
HandshakeError run(Peers& p, Handshake& hi, Handshake& hr, SessionKeys& ki, SessionKeys& kr) {
  MessageInitiation init;
  BOOST_REQUIRE(hi.create_initiation(init, 111, p.clock.wall_now()) == HandshakeError::None);
  ConsumedInitiation ci;
  if (auto e = consume_initiation(p.b, init, ci); e != HandshakeError::None) return e;
  BOOST_TEST(ci.remote_static == p.a.public_key);
  BOOST_TEST(ci.remote_index == 111u);
  if (auto e = hr.accept_initiation(std::move(ci), p.clock.now()); e != HandshakeError::None)
    return e;
  MessageResponse resp;
  if (auto e = hr.create_response(resp, 222, kr); e != HandshakeError::None) return e;
  return hi.consume_response(resp, ki);
}

void check_data_both_ways(SessionKeys&& ki, SessionKeys&& kr, TimePoint now) {
  auto kpi = Keypair::from_session(std::move(ki), now);
  auto kpr = Keypair::from_session(std::move(kr), now);
  const std::string msgs[] = {"ping from initiator", "pong from responder"};
  for (int dir = 0; dir < 2; ++dir) {
    Keypair& tx = dir == 0 ? *kpi : *kpr;
    Keypair& rx = dir == 0 ? *kpr : *kpi;
    const std::string& m = msgs[dir];
    Bytes buf(m.size() + 15 + kDataOverhead);
    std::size_t n = 0;
    BOOST_REQUIRE(seal_data(tx, buf, Span(reinterpret_cast<const std::uint8_t*>(m.data()), m.size()),
                            1420, now, &n) == SealResult::Ok);
    BOOST_TEST(load_le32(buf.data() + 4) == rx.local_index);
    std::span<std::uint8_t> plain;
    BOOST_REQUIRE(open_data(rx, std::span(buf.data(), n), now, &plain) == OpenResult::Ok);
    BOOST_TEST(std::string(plain.begin(), plain.begin() + m.size()) == m);
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(full_handshake_without_psk) {
  Peers p;
  Handshake hi(p.a, p.b.public_key, nullptr), hr(p.b, p.a.public_key, nullptr);
  SessionKeys ki, kr;
  BOOST_REQUIRE(run(p, hi, hr, ki, kr) == HandshakeError::None);
  BOOST_TEST(same(ki.send, kr.recv));
  BOOST_TEST(same(ki.recv, kr.send));
  BOOST_TEST(!same(ki.send, ki.recv));
  BOOST_TEST(!ki.send.is_zero());
  BOOST_TEST(ki.initiator);
  BOOST_TEST(!kr.initiator);
  BOOST_TEST(ki.local_index == 111u);
  BOOST_TEST(ki.remote_index == 222u);
  BOOST_TEST(kr.local_index == 222u);
  BOOST_TEST(kr.remote_index == 111u);
  BOOST_TEST(!hi.pending_local_index().has_value());
  check_data_both_ways(std::move(ki), std::move(kr), p.clock.now());
}

BOOST_AUTO_TEST_CASE(full_handshake_with_psk) {
  Peers p;
  SecretKey psk = fresh_key();
  Handshake hi(p.a, p.b.public_key, &psk), hr(p.b, p.a.public_key, &psk);
  SessionKeys ki, kr;
  BOOST_REQUIRE(run(p, hi, hr, ki, kr) == HandshakeError::None);
  BOOST_TEST(same(ki.send, kr.recv));
  BOOST_TEST(same(ki.recv, kr.send));
  check_data_both_ways(std::move(ki), std::move(kr), p.clock.now());
}

BOOST_AUTO_TEST_CASE(initiation_fields_and_pending_index) {
  Peers p;
  Handshake hi(p.a, p.b.public_key, nullptr);
  MessageInitiation init;
  BOOST_TEST(hi.create_initiation(init, 0xdeadbeef, p.clock.wall_now()) == HandshakeError::None);
  BOOST_TEST(int(classify(Span(reinterpret_cast<const std::uint8_t*>(&init), sizeof init))) ==
             int(MessageKind::Initiation));
  BOOST_TEST(load_le32(init.sender) == 0xdeadbeefu);
  BOOST_TEST(*hi.pending_local_index() == 0xdeadbeefu);
  hi.clear();
  BOOST_TEST(!hi.pending_local_index().has_value());
}

BOOST_AUTO_TEST_CASE(wrong_responder_key_fails_decrypt) {
  Peers p;
  const LocalStatic c = LocalStatic::from_private(fresh_key());
  Handshake hi(p.a, c.public_key, nullptr);  // initiator believes it talks to c
  MessageInitiation init;
  BOOST_REQUIRE(hi.create_initiation(init, 1, p.clock.wall_now()) == HandshakeError::None);
  ConsumedInitiation ci;
  BOOST_TEST(consume_initiation(p.b, init, ci) == HandshakeError::DecryptFailed);
  BOOST_TEST(consume_initiation(c, init, ci) == HandshakeError::None);
}

BOOST_AUTO_TEST_CASE(wrong_psk_fails_and_keeps_initiation) {
  Peers p;
  SecretKey psk1 = fresh_key(), psk2 = fresh_key();
  Handshake hi(p.a, p.b.public_key, &psk1), hr(p.b, p.a.public_key, &psk2);
  SessionKeys ki, kr;
  BOOST_TEST(run(p, hi, hr, ki, kr) == HandshakeError::DecryptFailed);
  // The forged/mismatched response did not destroy the outstanding initiation.
  BOOST_TEST(hi.pending_local_index().has_value());
  // PSK on one side only also fails.
  Handshake hi2(p.a, p.b.public_key, nullptr), hr2(p.b, p.a.public_key, &psk2);
  p.clock.advance(1s);
  BOOST_TEST(run(p, hi2, hr2, ki, kr) == HandshakeError::DecryptFailed);
}

BOOST_AUTO_TEST_CASE(replayed_initiation_rejected) {
  Peers p;
  Handshake hi(p.a, p.b.public_key, nullptr), hr(p.b, p.a.public_key, nullptr);
  MessageInitiation init;
  BOOST_REQUIRE(hi.create_initiation(init, 1, p.clock.wall_now()) == HandshakeError::None);
  ConsumedInitiation ci;
  BOOST_REQUIRE(consume_initiation(p.b, init, ci) == HandshakeError::None);
  BOOST_TEST(hr.accept_initiation(std::move(ci), p.clock.now()) == HandshakeError::None);
  p.clock.advance(5s);  // well past the flood interval: only the timestamp protects us
  hr.clear();           // timestamp memory must survive clear()
  ConsumedInitiation again;
  BOOST_REQUIRE(consume_initiation(p.b, init, again) == HandshakeError::None);
  BOOST_TEST(hr.accept_initiation(std::move(again), p.clock.now()) ==
             HandshakeError::ReplayedTimestamp);
}

BOOST_AUTO_TEST_CASE(stale_timestamp_rejected) {
  Peers p;
  Handshake hi(p.a, p.b.public_key, nullptr), hr(p.b, p.a.public_key, nullptr);
  MessageInitiation newer, older;
  BOOST_REQUIRE(hi.create_initiation(newer, 1, p.clock.wall_now()) == HandshakeError::None);
  BOOST_REQUIRE(hi.create_initiation(older, 2, p.clock.wall_now() - 1s) == HandshakeError::None);
  ConsumedInitiation c1, c2;
  BOOST_REQUIRE(consume_initiation(p.b, newer, c1) == HandshakeError::None);
  BOOST_REQUIRE(consume_initiation(p.b, older, c2) == HandshakeError::None);
  BOOST_TEST(hr.accept_initiation(std::move(c1), p.clock.now()) == HandshakeError::None);
  p.clock.advance(1s);
  BOOST_TEST(hr.accept_initiation(std::move(c2), p.clock.now()) ==
             HandshakeError::ReplayedTimestamp);
}

BOOST_AUTO_TEST_CASE(initiation_flood_rejected) {
  Peers p;
  Handshake hi(p.a, p.b.public_key, nullptr), hr(p.b, p.a.public_key, nullptr);
  MessageInitiation m1, m2, m3;
  BOOST_REQUIRE(hi.create_initiation(m1, 1, p.clock.wall_now()) == HandshakeError::None);
  BOOST_REQUIRE(hi.create_initiation(m2, 2, p.clock.wall_now() + 1s) == HandshakeError::None);
  BOOST_REQUIRE(hi.create_initiation(m3, 3, p.clock.wall_now() + 2s) == HandshakeError::None);
  ConsumedInitiation c1, c2, c3;
  BOOST_REQUIRE(consume_initiation(p.b, m1, c1) == HandshakeError::None);
  BOOST_REQUIRE(consume_initiation(p.b, m2, c2) == HandshakeError::None);
  BOOST_REQUIRE(consume_initiation(p.b, m3, c3) == HandshakeError::None);
  BOOST_TEST(hr.accept_initiation(std::move(c1), p.clock.now()) == HandshakeError::None);
  p.clock.advance(10ms);
  BOOST_TEST(hr.accept_initiation(std::move(c2), p.clock.now()) == HandshakeError::Flood);
  p.clock.advance(15ms);  // 25 ms after the first accepted one
  BOOST_TEST(hr.accept_initiation(std::move(c3), p.clock.now()) == HandshakeError::None);
}

BOOST_AUTO_TEST_CASE(initiation_for_other_peer_is_unknown) {
  Peers p;
  const LocalStatic c = LocalStatic::from_private(fresh_key());
  Handshake hi(p.a, p.b.public_key, nullptr);
  Handshake hr_for_c(p.b, c.public_key, nullptr);
  MessageInitiation init;
  BOOST_REQUIRE(hi.create_initiation(init, 1, p.clock.wall_now()) == HandshakeError::None);
  ConsumedInitiation ci;
  BOOST_REQUIRE(consume_initiation(p.b, init, ci) == HandshakeError::None);
  BOOST_TEST(hr_for_c.accept_initiation(std::move(ci), p.clock.now()) ==
             HandshakeError::UnknownPeer);
}

BOOST_AUTO_TEST_CASE(low_order_points_rejected) {
  Peers p;
  Handshake hi(p.a, p.b.public_key, nullptr);
  MessageInitiation init;
  BOOST_REQUIRE(hi.create_initiation(init, 1, p.clock.wall_now()) == HandshakeError::None);
  std::memset(init.ephemeral, 0, sizeof init.ephemeral);
  ConsumedInitiation ci;
  BOOST_TEST(consume_initiation(p.b, init, ci) == HandshakeError::DhFailed);

  // A peer configured with a low-order static key can never be initiated to.
  Key zero{};
  Handshake bad(p.a, zero, nullptr);
  BOOST_TEST(bad.create_initiation(init, 1, p.clock.wall_now()) == HandshakeError::DhFailed);
  BOOST_TEST(!bad.pending_local_index().has_value());

  // A response whose ephemeral is low-order.
  Handshake hr(p.b, p.a.public_key, nullptr);
  BOOST_REQUIRE(hi.create_initiation(init, 5, p.clock.wall_now()) == HandshakeError::None);
  BOOST_REQUIRE(consume_initiation(p.b, init, ci) == HandshakeError::None);
  BOOST_REQUIRE(hr.accept_initiation(std::move(ci), p.clock.now()) == HandshakeError::None);
  MessageResponse resp;
  SessionKeys kr, ki;
  BOOST_REQUIRE(hr.create_response(resp, 6, kr) == HandshakeError::None);
  std::memset(resp.ephemeral, 0, sizeof resp.ephemeral);
  BOOST_TEST(hi.consume_response(resp, ki) == HandshakeError::DhFailed);
}

BOOST_AUTO_TEST_CASE(tampered_messages_fail) {
  Peers p;
  Handshake hi(p.a, p.b.public_key, nullptr), hr(p.b, p.a.public_key, nullptr);
  MessageInitiation init;
  BOOST_REQUIRE(hi.create_initiation(init, 1, p.clock.wall_now()) == HandshakeError::None);
  ConsumedInitiation ci;
  for (std::size_t off : {offsetof(MessageInitiation, encrypted_static) + 3,
                          offsetof(MessageInitiation, encrypted_timestamp) + 20,
                          offsetof(MessageInitiation, ephemeral) + 1}) {
    MessageInitiation bad = init;
    reinterpret_cast<std::uint8_t*>(&bad)[off] ^= 0x01;
    BOOST_TEST(consume_initiation(p.b, bad, ci) != HandshakeError::None);
  }
  BOOST_REQUIRE(consume_initiation(p.b, init, ci) == HandshakeError::None);
  BOOST_REQUIRE(hr.accept_initiation(std::move(ci), p.clock.now()) == HandshakeError::None);
  MessageResponse resp;
  SessionKeys ki, kr;
  BOOST_REQUIRE(hr.create_response(resp, 2, kr) == HandshakeError::None);
  MessageResponse bad = resp;
  bad.encrypted_nothing[0] ^= 0x80;
  BOOST_TEST(hi.consume_response(bad, ki) == HandshakeError::DecryptFailed);
  BOOST_TEST(hi.consume_response(resp, ki) == HandshakeError::None);  // the real one still works
  BOOST_TEST(same(ki.send, kr.recv));
}

BOOST_AUTO_TEST_CASE(wrong_type_and_state) {
  Peers p;
  Handshake hi(p.a, p.b.public_key, nullptr), hr(p.b, p.a.public_key, nullptr);
  MessageInitiation init;
  BOOST_REQUIRE(hi.create_initiation(init, 1, p.clock.wall_now()) == HandshakeError::None);
  MessageInitiation wrong = init;
  wrong.type[0] = 2;
  ConsumedInitiation ci;
  BOOST_TEST(consume_initiation(p.b, wrong, ci) == HandshakeError::WrongType);

  MessageResponse resp{};
  SessionKeys keys;
  BOOST_TEST(hr.create_response(resp, 1, keys) == HandshakeError::WrongState);
  resp.type[0] = 2;
  BOOST_TEST(hr.consume_response(resp, keys) == HandshakeError::WrongState);
  store_le32(resp.receiver, 999);  // not the pending index 1
  BOOST_TEST(hi.consume_response(resp, keys) == HandshakeError::WrongState);
  resp.type[0] = 1;
  BOOST_TEST(hi.consume_response(resp, keys) == HandshakeError::WrongType);
  BOOST_TEST(std::string(to_string(HandshakeError::Flood)) == "initiation flood");
}
