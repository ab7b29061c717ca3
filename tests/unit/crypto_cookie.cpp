// mac1 / mac2 and cookie replies between a CookieGenerator (initiator) and a CookieChecker
// (responder), including rotation of the responder's secret and replies that must not verify.
#define BOOST_TEST_MODULE crypto_cookie
#include <boost/test/unit_test.hpp>

#include <cstring>

#include "common/clock.h"
#include "crypto/cookie.h"
#include "crypto/noise.h"
#include "crypto_test_util.h"

using namespace keymesh;
using namespace keymesh::crypto;
using namespace std::chrono_literals;
using keymesh::crypto::test::fresh_key;

namespace {

struct Fixture {
  SecretKey a_priv = fresh_key();
  SecretKey b_priv = fresh_key();
  LocalStatic a = LocalStatic::from_private(a_priv);
  LocalStatic b = LocalStatic::from_private(b_priv);
  Handshake hi{a, b.public_key, nullptr};
  CookieGenerator gen{b.public_key};
  CookieChecker checker{b};
  FakeTimeSource clock;
  CookieSource src = make_src(10, 0, 0, 1, 51820);

  static CookieSource make_src(std::uint8_t a0, std::uint8_t a1, std::uint8_t a2, std::uint8_t a3,
                               std::uint16_t port) {
    CookieSource s;
    s.bytes = {a0, a1, a2, a3, std::uint8_t(port >> 8), std::uint8_t(port)};
    s.size = 6;
    return s;
  }
  MessageInitiation stamped_initiation(std::uint32_t index) {
    MessageInitiation m;
    BOOST_REQUIRE(hi.create_initiation(m, index, clock.wall_now()) == HandshakeError::None);
    gen.add_macs(MutSpan(reinterpret_cast<std::uint8_t*>(&m), sizeof m), clock.now());
    return m;
  }
};

Span bytes_of(const MessageInitiation& m) {
  return Span(reinterpret_cast<const std::uint8_t*>(&m), sizeof m);
}

bool is_zero(const std::uint8_t* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (p[i] != 0) return false;
  return true;
}

}  // namespace

BOOST_FIXTURE_TEST_CASE(mac1_accepts_genuine_and_rejects_tampering, Fixture) {
  MessageInitiation m = stamped_initiation(7);
  BOOST_TEST(checker.check_mac1(bytes_of(m)));
  BOOST_TEST(is_zero(m.mac2, kMacSize));  // no cookie yet

  MessageInitiation bad = m;
  bad.mac1[0] ^= 1;
  BOOST_TEST(!checker.check_mac1(bytes_of(bad)));
  bad = m;
  bad.encrypted_timestamp[5] ^= 1;  // mac1 covers everything before it
  BOOST_TEST(!checker.check_mac1(bytes_of(bad)));
  // mac2 is not covered by mac1.
  bad = m;
  bad.mac2[0] ^= 1;
  BOOST_TEST(checker.check_mac1(bytes_of(bad)));
  // Another identity's checker rejects it, and wrong sizes are rejected outright.
  CookieChecker other(a);
  BOOST_TEST(!other.check_mac1(bytes_of(m)));
  BOOST_TEST(!checker.check_mac1(bytes_of(m).first(100)));
}

BOOST_FIXTURE_TEST_CASE(mac1_on_response, Fixture) {
  MessageResponse r{};
  r.type[0] = 2;
  CookieGenerator to_b(b.public_key);
  to_b.add_macs(MutSpan(reinterpret_cast<std::uint8_t*>(&r), sizeof r), clock.now());
  BOOST_TEST(checker.check_mac1(Span(reinterpret_cast<const std::uint8_t*>(&r), sizeof r)));
}

BOOST_FIXTURE_TEST_CASE(cookie_reply_round_trip, Fixture) {
  MessageInitiation m1 = stamped_initiation(7);
  BOOST_TEST(!checker.check_mac2(bytes_of(m1), src, clock.now()));  // under load: no mac2

  MessageCookieReply reply;
  checker.create_reply(reply, bytes_of(m1), load_le32(m1.sender), src, clock.now());
  BOOST_TEST(int(classify(Span(reinterpret_cast<const std::uint8_t*>(&reply), sizeof reply))) ==
             int(MessageKind::CookieReply));
  BOOST_TEST(load_le32(reply.receiver) == 7u);
  clock.advance(100ms);
  BOOST_TEST(gen.consume_reply(reply, clock.now()));
  BOOST_TEST(!gen.consume_reply(reply, clock.now()));  // a second copy is refused

  clock.advance(1s);  // the retry
  MessageInitiation m2 = stamped_initiation(8);
  BOOST_TEST(!is_zero(m2.mac2, kMacSize));
  BOOST_TEST(checker.check_mac1(bytes_of(m2)));
  BOOST_TEST(checker.check_mac2(bytes_of(m2), src, clock.now()));
  // The cookie is bound to the source address and port.
  BOOST_TEST(!checker.check_mac2(bytes_of(m2), make_src(10, 0, 0, 2, 51820), clock.now()));
  BOOST_TEST(!checker.check_mac2(bytes_of(m2), make_src(10, 0, 0, 1, 51821), clock.now()));
  // Tampering with mac2 fails.
  MessageInitiation bad = m2;
  bad.mac2[15] ^= 0x40;
  BOOST_TEST(!checker.check_mac2(bytes_of(bad), src, clock.now()));
}

BOOST_FIXTURE_TEST_CASE(reply_with_wrong_ad_fails, Fixture) {
  MessageInitiation m1 = stamped_initiation(7);
  MessageInitiation other = m1;
  other.mac1[3] ^= 0xff;  // the reply answers a message whose mac1 we did not send
  MessageCookieReply reply;
  checker.create_reply(reply, bytes_of(other), 7, src, clock.now());
  BOOST_TEST(!gen.consume_reply(reply, clock.now()));
  // A genuine reply with a flipped ciphertext bit also fails; the untouched one works.
  checker.create_reply(reply, bytes_of(m1), 7, src, clock.now());
  MessageCookieReply flipped = reply;
  flipped.encrypted_cookie[0] ^= 1;
  BOOST_TEST(!gen.consume_reply(flipped, clock.now()));
  BOOST_TEST(gen.consume_reply(reply, clock.now()));
}

BOOST_FIXTURE_TEST_CASE(reply_sealed_for_other_identity_fails, Fixture) {
  MessageInitiation m1 = stamped_initiation(7);
  CookieChecker wrong_identity(a);  // seals under HASH("cookie--" || a), not b
  MessageCookieReply reply;
  wrong_identity.create_reply(reply, bytes_of(m1), 7, src, clock.now());
  BOOST_TEST(!gen.consume_reply(reply, clock.now()));
}

BOOST_FIXTURE_TEST_CASE(reply_before_any_message_fails, Fixture) {
  MessageInitiation m1{};
  MessageCookieReply reply;
  checker.create_reply(reply, bytes_of(m1), 7, src, clock.now());
  BOOST_TEST(!gen.consume_reply(reply, clock.now()));
}

BOOST_FIXTURE_TEST_CASE(cookie_expires_on_both_sides, Fixture) {
  MessageInitiation m1 = stamped_initiation(7);
  MessageCookieReply reply;
  checker.create_reply(reply, bytes_of(m1), 7, src, clock.now());
  BOOST_REQUIRE(gen.consume_reply(reply, clock.now()));

  // Responder side: after kCookieRefreshTime its secret rotates, so an old cookie fails even
  // if the initiator still used it.
  clock.advance(kCookieRefreshTime - 1s);
  MessageInitiation m2 = stamped_initiation(8);
  BOOST_TEST(!is_zero(m2.mac2, kMacSize));
  clock.advance(2s);
  BOOST_TEST(!checker.check_mac2(bytes_of(m2), src, clock.now()));

  // Initiator side: a cookie older than kCookieRefreshTime is no longer used.
  MessageInitiation m3 = stamped_initiation(9);
  BOOST_TEST(is_zero(m3.mac2, kMacSize));
}
