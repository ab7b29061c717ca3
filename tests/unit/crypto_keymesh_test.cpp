// The keymesh handshake variant (docs/protocol.md): payload-carrying initiation/response with a
// receiver hint, its own Noise identifier, classify() of the variable-length messages, and
// mac1/mac2 through CookieChecker/CookieGenerator.
#define BOOST_TEST_MODULE crypto_keymesh
#include <boost/test/unit_test.hpp>

#include <cstring>
#include <vector>

#include "common/clock.h"
#include "crypto/cookie.h"
#include "crypto/keypair.h"
#include "crypto/messages.h"
#include "crypto/noise.h"
#include "crypto_test_util.h"

using namespace keymesh;
using namespace keymesh::crypto;
using namespace std::chrono_literals;
using keymesh::crypto::test::fresh_key;

namespace {

struct Peers : keymesh::crypto::test::TwoIdentities {
  Handshake hi{a, b.public_key, nullptr};
  Handshake hr{b, a.public_key, nullptr};

  Bytes initiation(Span payload, std::uint32_t index = 111) {
    Bytes msg(keymesh_initiation_size(payload.size()) + 7, 0xee);  // larger span is fine
    std::size_t n = 0;
    BOOST_REQUIRE(hi.create_keymesh_initiation(msg, index, clock.wall_now(), payload, n) ==
                  HandshakeError::None);
    BOOST_REQUIRE(n == keymesh_initiation_size(payload.size()));
    msg.resize(n);
    return msg;
  }
  // Responder: consume + accept + respond. Returns the response message.
  Bytes respond(const Bytes& init, Span payload, Bytes& got_payload, SessionKeys& kr) {
    ConsumedInitiation ci;
    BOOST_REQUIRE(consume_keymesh_initiation(b, init, ci, got_payload) == HandshakeError::None);
    BOOST_TEST(ci.remote_static == a.public_key);
    BOOST_TEST(ci.keymesh);
    BOOST_REQUIRE(hr.accept_initiation(std::move(ci), clock.now()) == HandshakeError::None);
    Bytes resp(keymesh_response_size(payload.size()));
    std::size_t n = 0;
    BOOST_REQUIRE(hr.create_keymesh_response(resp, 222, payload, kr, n) == HandshakeError::None);
    BOOST_REQUIRE(n == resp.size());
    return resp;
  }
};

bool same(const SecretKey& x, const SecretKey& y) {
  return std::memcmp(x.data(), y.data(), x.size()) == 0;
}

Bytes random_payload(std::size_t n) {
  Bytes b(n);
  if (n > 0) random_bytes(b);  // an empty vector's data() may be null
  return b;
}

Span bytes_of(const MessageInitiation& m) {
  return Span(reinterpret_cast<const std::uint8_t*>(&m), sizeof m);
}

}  // namespace

BOOST_AUTO_TEST_CASE(full_handshake_with_payloads_both_ways) {
  for (std::size_t size : {std::size_t(0), std::size_t(1), std::size_t(1000), kMaxHandshakePayload}) {
    BOOST_TEST_CONTEXT("payload size " << size) {
      Peers p;
      const Bytes pi = random_payload(size), pr = random_payload(size);
      const Bytes init = p.initiation(pi);
      BOOST_TEST(init.size() == kKeymeshInitiationMinSize + size);
      BOOST_TEST(classify(init) == MessageKind::KeymeshInitiation);
      BOOST_TEST(*keymesh_initiation_payload_length(init) == size);
      BOOST_TEST(p.hi.pending_local_index().value_or(0) == 111u);

      Bytes got_i, got_r;
      SessionKeys ki, kr;
      const Bytes resp = p.respond(init, pr, got_i, kr);
      BOOST_TEST(got_i == pi);
      BOOST_TEST(resp.size() == kKeymeshResponseMinSize + size);
      BOOST_TEST(classify(resp) == MessageKind::KeymeshResponse);
      BOOST_TEST(*keymesh_response_payload_length(resp) == size);
      BOOST_TEST(keymesh_encrypted_payload(resp).size() == size + kTagSize);

      BOOST_REQUIRE(p.hi.consume_keymesh_response(resp, ki, got_r) == HandshakeError::None);
      BOOST_TEST(got_r == pr);
      BOOST_TEST(same(ki.send, kr.recv));
      BOOST_TEST(same(ki.recv, kr.send));
      BOOST_TEST(!same(ki.send, ki.recv));
      BOOST_TEST(ki.initiator);
      BOOST_TEST(!kr.initiator);
      BOOST_TEST(ki.local_index == 111u);
      BOOST_TEST(ki.remote_index == 222u);
      BOOST_TEST(kr.local_index == 222u);
      BOOST_TEST(kr.remote_index == 111u);
      BOOST_TEST(!p.hi.pending_local_index().has_value());

      // The derived keys carry data.
      const TimePoint now = p.clock.now();
      auto kpi = Keypair::from_session(std::move(ki), now);
      auto kpr = Keypair::from_session(std::move(kr), now);
      const std::uint8_t text[] = "hello over keymesh";
      Bytes buf(sizeof text + 15 + kDataOverhead);
      std::size_t n = 0;
      BOOST_REQUIRE(seal_data(*kpi, buf, Span(text), 1420, now, &n) == SealResult::Ok);
      std::span<std::uint8_t> plain;
      BOOST_REQUIRE(open_data(*kpr, std::span(buf.data(), n), now, &plain) == OpenResult::Ok);
      BOOST_TEST(std::memcmp(plain.data(), text, sizeof text) == 0);
    }
  }
}

BOOST_AUTO_TEST_CASE(handshake_with_psk) {
  Peers p;
  SecretKey psk = fresh_key();
  p.hi.set_preshared_key(&psk);
  p.hr.set_preshared_key(&psk);
  const Bytes init = p.initiation(random_payload(10));
  Bytes got_i, got_r;
  SessionKeys ki, kr;
  const Bytes resp = p.respond(init, random_payload(3), got_i, kr);
  BOOST_REQUIRE(p.hi.consume_keymesh_response(resp, ki, got_r) == HandshakeError::None);
  BOOST_TEST(same(ki.send, kr.recv));

  // A responder with another PSK cannot complete.
  Peers q;
  SecretKey other = fresh_key();
  q.hi.set_preshared_key(&psk);
  q.hr.set_preshared_key(&other);
  const Bytes init2 = q.initiation(Span());
  const Bytes resp2 = q.respond(init2, Span(), got_i, kr);
  BOOST_TEST(q.hi.consume_keymesh_response(resp2, ki, got_r) == HandshakeError::DecryptFailed);
}

BOOST_AUTO_TEST_CASE(payload_tampering_fails) {
  for (std::size_t size : {std::size_t(0), std::size_t(1000)}) {
    BOOST_TEST_CONTEXT("payload size " << size) {
      Peers p;
      const Bytes init = p.initiation(random_payload(size));
      // Any byte of the encrypted timestamp||payload||tag.
      for (std::size_t off : {std::size_t(0), kTimestampSize, kTimestampSize + size,
                              kTimestampSize + size + kTagSize - 1}) {
        Bytes bad = init;
        bad[sizeof(KeymeshInitiationHeader) + off] ^= 0x01;
        ConsumedInitiation ci;
        Bytes got{1, 2, 3};
        BOOST_TEST(consume_keymesh_initiation(p.b, bad, ci, got) == HandshakeError::DecryptFailed);
        BOOST_TEST(got.empty());
      }
      Bytes got_i, got_r;
      SessionKeys ki, kr;
      const Bytes resp = p.respond(init, random_payload(size), got_i, kr);
      for (std::size_t off : {std::size_t(0), size, size + kTagSize - 1}) {
        Bytes bad = resp;
        bad[sizeof(KeymeshResponseHeader) + off] ^= 0x80;
        BOOST_TEST(p.hi.consume_keymesh_response(bad, ki, got_r) == HandshakeError::DecryptFailed);
        BOOST_TEST(got_r.empty());
      }
      // The forged responses did not destroy the outstanding initiation.
      BOOST_TEST(p.hi.consume_keymesh_response(resp, ki, got_r) == HandshakeError::None);
      BOOST_TEST(same(ki.send, kr.recv));
    }
  }
}

BOOST_AUTO_TEST_CASE(header_tampering_fails) {
  Peers p;
  const Bytes init = p.initiation(random_payload(5));
  Bytes bad = init;
  bad[offsetof(KeymeshInitiationHeader, encrypted_static)] ^= 1;
  ConsumedInitiation ci;
  Bytes got;
  BOOST_TEST(consume_keymesh_initiation(p.b, bad, ci, got) == HandshakeError::DecryptFailed);
  bad = init;
  bad[offsetof(KeymeshInitiationHeader, ephemeral)] ^= 1;
  BOOST_TEST(consume_keymesh_initiation(p.b, bad, ci, got) == HandshakeError::DecryptFailed);
}

// A WireGuard initiation re-framed as a keymesh one (and the reverse) carries the same fields,
// but the two transcripts start from different identifiers: decryption must fail.
BOOST_AUTO_TEST_CASE(wireguard_and_keymesh_cannot_be_swapped) {
  Peers p;
  MessageInitiation wg;
  BOOST_REQUIRE(p.hi.create_initiation(wg, 5, p.clock.wall_now()) == HandshakeError::None);
  ConsumedInitiation ci;
  Bytes got;
  // As is: wrong type, wrong length.
  BOOST_TEST(consume_keymesh_initiation(p.b, bytes_of(wg), ci, got) == HandshakeError::WrongType);
  BOOST_TEST(classify(bytes_of(wg)) == MessageKind::Initiation);

  Bytes km(keymesh_initiation_size(0), 0);
  auto* h = reinterpret_cast<KeymeshInitiationHeader*>(km.data());
  store_le32(h->type, kTypeKeymeshInitiation);
  std::memcpy(h->sender, wg.sender, 4);
  std::memcpy(h->receiver_hint, p.b.receiver_hint.data(), kReceiverHintSize);
  std::memcpy(h->ephemeral, wg.ephemeral, kKeySize);
  std::memcpy(h->encrypted_static, wg.encrypted_static, sizeof wg.encrypted_static);
  std::memcpy(km.data() + sizeof *h, wg.encrypted_timestamp, sizeof wg.encrypted_timestamp);
  BOOST_REQUIRE(classify(km) == MessageKind::KeymeshInitiation);
  BOOST_TEST(consume_keymesh_initiation(p.b, km, ci, got) == HandshakeError::DecryptFailed);

  // The reverse: an empty-payload keymesh initiation in WireGuard framing.
  const Bytes real = p.initiation(Span());
  const auto& rh = keymesh_initiation_header(real);
  MessageInitiation as_wg{};
  store_le32(as_wg.type, kTypeInitiation);
  std::memcpy(as_wg.sender, rh.sender, 4);
  std::memcpy(as_wg.ephemeral, rh.ephemeral, kKeySize);
  std::memcpy(as_wg.encrypted_static, rh.encrypted_static, sizeof as_wg.encrypted_static);
  std::memcpy(as_wg.encrypted_timestamp, real.data() + sizeof rh, sizeof as_wg.encrypted_timestamp);
  BOOST_TEST(consume_initiation(p.b, as_wg, ci) == HandshakeError::DecryptFailed);
  BOOST_TEST(consume_initiation(p.b, *reinterpret_cast<const MessageInitiation*>(real.data()), ci) ==
             HandshakeError::WrongType);
}

// A handshake stays in its variant: no WireGuard response to a keymesh initiation and back.
BOOST_AUTO_TEST_CASE(variants_do_not_mix_in_one_handshake) {
  Peers p;
  const Bytes init = p.initiation(Span());
  ConsumedInitiation ci;
  Bytes got;
  BOOST_REQUIRE(consume_keymesh_initiation(p.b, init, ci, got) == HandshakeError::None);
  BOOST_REQUIRE(p.hr.accept_initiation(std::move(ci), p.clock.now()) == HandshakeError::None);
  MessageResponse wg_resp;
  SessionKeys k;
  BOOST_TEST(p.hr.create_response(wg_resp, 9, k) == HandshakeError::WrongState);
  // The keymesh response is still possible afterwards.
  Bytes resp(keymesh_response_size(0));
  std::size_t n = 0;
  BOOST_REQUIRE(p.hr.create_keymesh_response(resp, 9, Span(), k, n) == HandshakeError::None);
  // Initiator with a keymesh initiation outstanding refuses a WireGuard response.
  MessageResponse fake{};
  store_le32(fake.type, kTypeResponse);
  store_le32(fake.receiver, 111);
  SessionKeys ki;
  BOOST_TEST(p.hi.consume_response(fake, ki) == HandshakeError::WrongState);
  Bytes got_r;
  BOOST_TEST(p.hi.consume_keymesh_response(resp, ki, got_r) == HandshakeError::None);

  // And a WireGuard initiation outstanding refuses a keymesh response; a WireGuard-accepted
  // responder refuses to answer with a keymesh response.
  Peers q;
  MessageInitiation wg;
  BOOST_REQUIRE(q.hi.create_initiation(wg, 111, q.clock.wall_now()) == HandshakeError::None);
  BOOST_TEST(q.hi.consume_keymesh_response(resp, ki, got_r) == HandshakeError::WrongState);
  BOOST_REQUIRE(consume_initiation(q.b, wg, ci) == HandshakeError::None);
  BOOST_TEST(!ci.keymesh);
  BOOST_REQUIRE(q.hr.accept_initiation(std::move(ci), q.clock.now()) == HandshakeError::None);
  BOOST_TEST(q.hr.create_keymesh_response(resp, 9, Span(), k, n) == HandshakeError::WrongState);
}

BOOST_AUTO_TEST_CASE(receiver_hint_as_documented) {
  Peers p;
  const char label[] = "keymesh-hint";
  const Hash h = hash({Span(reinterpret_cast<const std::uint8_t*>(label), 12), Span(p.b.public_key)});
  const ReceiverHint hint = receiver_hint(p.b.public_key);
  BOOST_TEST(std::memcmp(hint.data(), h.data(), kReceiverHintSize) == 0);
  BOOST_TEST(p.b.receiver_hint == hint);
  BOOST_TEST(!(receiver_hint(p.a.public_key) == hint));
  const Bytes init = p.initiation(Span());
  BOOST_TEST(keymesh_receiver_hint(init) == hint);
  BOOST_TEST(std::memcmp(init.data() + 8, hint.data(), kReceiverHintSize) == 0);

  // Another identity on the same host refuses it before any DH.
  const SecretKey c_priv = fresh_key();
  const LocalStatic c = LocalStatic::from_private(c_priv);
  ConsumedInitiation ci;
  Bytes got;
  BOOST_TEST(consume_keymesh_initiation(c, init, ci, got) == HandshakeError::WrongReceiver);
  // A hint rewritten to c's: c gets past the hint but cannot decrypt.
  Bytes redirected = init;
  std::memcpy(redirected.data() + 8, c.receiver_hint.data(), kReceiverHintSize);
  BOOST_TEST(consume_keymesh_initiation(c, redirected, ci, got) == HandshakeError::DecryptFailed);
}

BOOST_AUTO_TEST_CASE(classify_checks_payload_length) {
  auto make = [](std::uint8_t type, std::size_t len_field, std::size_t size) {
    Bytes b(size, 0xaa);
    b[0] = type;
    b[1] = b[2] = b[3] = 0;
    const std::size_t off = type == kTypeKeymeshInitiation
                                ? offsetof(KeymeshInitiationHeader, payload_length)
                                : offsetof(KeymeshResponseHeader, payload_length);
    if (off + 2 <= size) {
      b[off] = std::uint8_t(len_field);
      b[off + 1] = std::uint8_t(len_field >> 8);
    }
    return b;
  };
  const std::uint8_t ti = kTypeKeymeshInitiation, tr = kTypeKeymeshResponse;
  BOOST_TEST(kKeymeshInitiationMinSize == 154u);
  BOOST_TEST(kKeymeshResponseMinSize == 94u);
  for (std::size_t n : {std::size_t(0), std::size_t(1), std::size_t(1000), kMaxHandshakePayload}) {
    BOOST_TEST(classify(make(ti, n, 154 + n)) == MessageKind::KeymeshInitiation);
    BOOST_TEST(classify(make(tr, n, 94 + n)) == MessageKind::KeymeshResponse);
    BOOST_TEST(classify(make(ti, n, 154 + n + 1)) == MessageKind::Invalid);
    BOOST_TEST(classify(make(ti, n, 154 + n - 1)) == MessageKind::Invalid);
    BOOST_TEST(classify(make(tr, n, 94 + n + 1)) == MessageKind::Invalid);
    BOOST_TEST(classify(make(tr, n, 94 + n - 1)) == MessageKind::Invalid);
    BOOST_TEST(classify(make(ti, n + 1, 154 + n)) == MessageKind::Invalid);
    BOOST_TEST(classify(make(tr, n + 1, 94 + n)) == MessageKind::Invalid);
    // The response's size with the initiation's type and the reverse.
    BOOST_TEST(classify(make(ti, n, 94 + n)) == MessageKind::Invalid);
    BOOST_TEST(classify(make(tr, n, 154 + n)) == MessageKind::Invalid);
  }
  // payload_length above the limit, even with a matching size.
  const std::size_t big = kMaxHandshakePayload + 1;
  BOOST_TEST(classify(make(ti, big, 154 + big)) == MessageKind::Invalid);
  BOOST_TEST(classify(make(tr, big, 94 + big)) == MessageKind::Invalid);
  BOOST_TEST(!keymesh_initiation_payload_length(make(ti, big, 154 + big)));
  BOOST_TEST(classify(make(ti, 0xffff, 154 + 0xffff)) == MessageKind::Invalid);
  // Too short to hold the length field, and the WireGuard sizes.
  BOOST_TEST(classify(make(ti, 0, 93)) == MessageKind::Invalid);
  BOOST_TEST(classify(make(ti, 0, 148)) == MessageKind::Invalid);
  BOOST_TEST(classify(make(tr, 0, 45)) == MessageKind::Invalid);
  BOOST_TEST(classify(make(tr, 0, 92)) == MessageKind::Invalid);
  BOOST_TEST(classify(make(ti, 0, 4)) == MessageKind::Invalid);
  // Reserved bytes must be zero.
  Bytes r = make(ti, 0, 154);
  r[2] = 1;
  BOOST_TEST(classify(r) == MessageKind::Invalid);
  // A consume of a malformed length refuses without touching the crypto.
  Peers p;
  ConsumedInitiation ci;
  Bytes got;
  BOOST_TEST(consume_keymesh_initiation(p.b, make(ti, 3, 154), ci, got) == HandshakeError::BadLength);
  SessionKeys k;
  BOOST_TEST(p.hi.consume_keymesh_response(make(tr, 3, 94), k, got) == HandshakeError::BadLength);
}

BOOST_AUTO_TEST_CASE(create_refuses_bad_sizes) {
  Peers p;
  std::size_t n = 99;
  Bytes small(keymesh_initiation_size(10) - 1);
  const Bytes payload = random_payload(10);
  BOOST_TEST(p.hi.create_keymesh_initiation(small, 1, p.clock.wall_now(), payload, n) ==
             HandshakeError::BadLength);
  BOOST_TEST(n == 0u);
  BOOST_TEST(!p.hi.pending_local_index().has_value());
  const Bytes huge = random_payload(kMaxHandshakePayload + 1);
  Bytes big(keymesh_initiation_size(huge.size()));
  BOOST_TEST(p.hi.create_keymesh_initiation(big, 1, p.clock.wall_now(), huge, n) ==
             HandshakeError::BadLength);
  // Responder: too small an output leaves the accepted initiation in place.
  const Bytes init = p.initiation(Span());
  ConsumedInitiation ci;
  Bytes got;
  BOOST_REQUIRE(consume_keymesh_initiation(p.b, init, ci, got) == HandshakeError::None);
  BOOST_REQUIRE(p.hr.accept_initiation(std::move(ci), p.clock.now()) == HandshakeError::None);
  Bytes resp(keymesh_response_size(10) - 1);
  SessionKeys k;
  BOOST_TEST(p.hr.create_keymesh_response(resp, 2, payload, k, n) == HandshakeError::BadLength);
  resp.resize(keymesh_response_size(10));
  BOOST_TEST(p.hr.create_keymesh_response(resp, 2, payload, k, n) == HandshakeError::None);
  BOOST_TEST(n == resp.size());
}

BOOST_AUTO_TEST_CASE(replayed_keymesh_initiation_refused) {
  Peers p;
  const Bytes init = p.initiation(random_payload(4));
  ConsumedInitiation ci, again;
  Bytes got;
  BOOST_REQUIRE(consume_keymesh_initiation(p.b, init, ci, got) == HandshakeError::None);
  BOOST_REQUIRE(p.hr.accept_initiation(std::move(ci), p.clock.now()) == HandshakeError::None);
  p.clock.advance(1s);
  BOOST_REQUIRE(consume_keymesh_initiation(p.b, init, again, got) == HandshakeError::None);
  BOOST_TEST(p.hr.accept_initiation(std::move(again), p.clock.now()) ==
             HandshakeError::ReplayedTimestamp);
}

BOOST_AUTO_TEST_CASE(macs_on_keymesh_messages) {
  Peers p;
  CookieGenerator gen(p.b.public_key);
  CookieChecker checker(p.b);
  CookieChecker other(p.a);
  const TimePoint now = p.clock.now();
  CookieSource src;
  src.bytes = {10, 0, 0, 1, 0xca, 0x6c};
  src.size = 6;

  for (std::size_t size : {std::size_t(0), std::size_t(1000), kMaxHandshakePayload}) {
    BOOST_TEST_CONTEXT("payload size " << size) {
      Bytes init = p.initiation(random_payload(size));
      BOOST_TEST(!checker.check_mac1(init));  // still zero
      gen.add_macs(init, now);
      const Mac expected = mac(Span(p.b.mac1_key), Span(init).first(init.size() - 32));
      BOOST_TEST(std::memcmp(mac1_of(init).data(), expected.data(), kMacSize) == 0);
      BOOST_TEST(checker.check_mac1(init));
      BOOST_TEST(!other.check_mac1(init));
      for (std::size_t off : {std::size_t(0) + 4, init.size() / 2, init.size() - 17}) {
        Bytes bad = init;
        bad[off] ^= 1;
        BOOST_TEST(!checker.check_mac1(bad));
      }
      // mac2 is not in mac1's range.
      Bytes mac2_changed = init;
      mac2_changed.back() ^= 1;
      BOOST_TEST(checker.check_mac1(mac2_changed));
      // The stamped message still consumes.
      ConsumedInitiation ci;
      Bytes got;
      BOOST_TEST(consume_keymesh_initiation(p.b, init, ci, got) == HandshakeError::None);
    }
  }

  // Cookie round trip on a keymesh initiation: no mac2 until a reply, then a valid one.
  CookieGenerator gen2(p.b.public_key);
  Bytes init = p.initiation(random_payload(100));
  gen2.add_macs(init, now);
  BOOST_TEST(!checker.check_mac2(init, src, now));
  MessageCookieReply reply;
  checker.create_reply(reply, init, 111, src, now);
  BOOST_TEST(load_le32(reply.receiver) == 111u);
  BOOST_REQUIRE(gen2.consume_reply(reply, now));
  init = p.initiation(random_payload(100));
  gen2.add_macs(init, now);
  BOOST_TEST(checker.check_mac1(init));
  BOOST_TEST(checker.check_mac2(init, src, now));

  // A keymesh response is stamped and checked the same way (by the initiator's checker).
  Bytes got_i;
  SessionKeys kr;
  Bytes resp = p.respond(init, random_payload(7), got_i, kr);
  CookieGenerator to_a(p.a.public_key);
  to_a.add_macs(resp, now);
  BOOST_TEST(other.check_mac1(resp));
  BOOST_TEST(!checker.check_mac1(resp));
  resp[20] ^= 1;
  BOOST_TEST(!other.check_mac1(resp));

  // A malformed length is not a handshake message: no macs written, none accepted.
  Bytes odd = p.initiation(Span());
  odd.push_back(0);
  gen.add_macs(odd, now);
  BOOST_TEST(!checker.check_mac1(odd));
}
