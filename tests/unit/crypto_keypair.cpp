// Data messages (seal_data/open_data: padding, counters, limits, tampering, replay) and the
// previous/current/next rotation of Keypairs with WireGuard's semantics.
#define BOOST_TEST_MODULE crypto_keypair
#include <boost/test/unit_test.hpp>

#include <cstring>
#include <string>

#include "common/clock.h"
#include "crypto/keypair.h"
#include "crypto_test_util.h"

using namespace keymesh;
using namespace keymesh::crypto;
using namespace std::chrono_literals;
using keymesh::crypto::test::key_from_byte;

namespace {

const TimePoint kT0 = TimePoint(std::chrono::hours(1000));

// Two keypairs that talk to each other: a (index 10) <-> b (index 20).
struct Link {
  std::unique_ptr<Keypair> a, b;
  Link() {
    SessionKeys ka, kb;
    ka.send = key_from_byte(1);
    ka.recv = key_from_byte(2);
    kb.send = key_from_byte(2);
    kb.recv = key_from_byte(1);
    ka.local_index = 10;
    ka.remote_index = 20;
    kb.local_index = 20;
    kb.remote_index = 10;
    ka.initiator = true;
    a = Keypair::from_session(std::move(ka), kT0);
    b = Keypair::from_session(std::move(kb), kT0);
  }
};

Span str(const std::string& s) { return Span(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()); }

std::unique_ptr<Keypair> keypair_with_index(std::uint32_t index) {
  SessionKeys k;
  k.send = key_from_byte(std::uint8_t(index));
  k.recv = key_from_byte(std::uint8_t(index + 1));
  k.local_index = index;
  return Keypair::from_session(std::move(k), kT0);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(data_messages)

BOOST_AUTO_TEST_CASE(round_trip_and_padding) {
  Link l;
  struct Case { std::size_t len, mtu, wire; };
  const Case cases[] = {
      {0, 1420, 32},        // keepalive: header + tag only
      {1, 1420, 48},        // padded to 16
      {16, 1420, 48},       // already a multiple
      {17, 1420, 64},
      {1419, 1420, 1452},   // padding stops at the MTU (1420, not 1424)
      {1420, 1420, 1452},
      {100, 0, 144},        // mtu 0: pad without a cap
  };
  std::uint64_t expected_counter = 0;
  for (const Case& c : cases) {
    std::string payload(c.len, 'x');
    for (std::size_t i = 0; i < c.len; ++i) payload[i] = char('a' + i % 26);
    Bytes buf(c.len + 15 + kDataOverhead);
    std::size_t n = 0;
    BOOST_REQUIRE(seal_data(*l.a, buf, str(payload), c.mtu, kT0, &n) == SealResult::Ok);
    BOOST_TEST(n == c.wire);
    BOOST_TEST(buf[0] == 4);
    BOOST_TEST(load_le32(buf.data() + 4) == 20u);
    BOOST_TEST(load_le64(buf.data() + 8) == expected_counter++);
    BOOST_TEST(int(classify(Span(buf.data(), n))) == int(MessageKind::Data));
    std::span<std::uint8_t> plain;
    BOOST_REQUIRE(open_data(*l.b, std::span(buf.data(), n), kT0, &plain) == OpenResult::Ok);
    BOOST_TEST(plain.size() == n - kDataOverhead);
    BOOST_TEST(std::string(plain.begin(), plain.begin() + c.len) == payload);
    for (std::size_t i = c.len; i < plain.size(); ++i) BOOST_TEST(plain[i] == 0);
  }
}

BOOST_AUTO_TEST_CASE(plaintext_already_inside_out_buffer) {
  Link l;
  Bytes buf(16 + 5 + 15 + 16);
  std::memcpy(buf.data() + 16, "hello", 5);  // zero-copy layout used by the send path
  std::size_t n = 0;
  BOOST_REQUIRE(seal_data(*l.a, buf, Span(buf.data() + 16, 5), 1420, kT0, &n) == SealResult::Ok);
  std::span<std::uint8_t> plain;
  BOOST_REQUIRE(open_data(*l.b, std::span(buf.data(), n), kT0, &plain) == OpenResult::Ok);
  BOOST_TEST(std::string(plain.begin(), plain.begin() + 5) == "hello");
}

BOOST_AUTO_TEST_CASE(bit_flip_is_auth_failure_and_does_not_advance) {
  Link l;
  Bytes buf(64);
  std::size_t n = 0;
  BOOST_REQUIRE(seal_data(*l.a, buf, str("secret payload"), 1420, kT0, &n) == SealResult::Ok);
  for (std::size_t bit : {std::size_t(16 * 8 + 3), std::size_t(40 * 8 + 7), (n - 1) * 8,
                          std::size_t(9 * 8 + 1) /* counter */}) {
    Bytes copy(buf.begin(), buf.begin() + n);
    copy[bit / 8] ^= std::uint8_t(1 << (bit % 8));
    std::span<std::uint8_t> plain;
    BOOST_TEST(open_data(*l.b, copy, kT0, &plain) == OpenResult::AuthFailed);
  }
  // The genuine message still opens (no forged counter was committed), but only once.
  Bytes copy(buf.begin(), buf.begin() + n);
  std::span<std::uint8_t> plain;
  BOOST_TEST(open_data(*l.b, copy, kT0, &plain) == OpenResult::Ok);
  copy.assign(buf.begin(), buf.begin() + n);
  BOOST_TEST(open_data(*l.b, copy, kT0, &plain) == OpenResult::Replayed);
}

BOOST_AUTO_TEST_CASE(wrong_direction_key_fails) {
  Link l;
  Bytes buf(64);
  std::size_t n = 0;
  BOOST_REQUIRE(seal_data(*l.a, buf, str("x"), 1420, kT0, &n) == SealResult::Ok);
  std::span<std::uint8_t> plain;
  BOOST_TEST(open_data(*l.a, std::span(buf.data(), n), kT0, &plain) == OpenResult::AuthFailed);
}

BOOST_AUTO_TEST_CASE(reordered_delivery_opens) {
  Link l;
  std::vector<Bytes> msgs;
  for (int i = 0; i < 5; ++i) {
    Bytes buf(48);
    std::size_t n = 0;
    BOOST_REQUIRE(seal_data(*l.a, buf, str("m"), 1420, kT0, &n) == SealResult::Ok);
    buf.resize(n);
    msgs.push_back(buf);
  }
  std::span<std::uint8_t> plain;
  for (int i : {4, 0, 3, 1, 2}) BOOST_TEST(open_data(*l.b, msgs[i], kT0, &plain) == OpenResult::Ok);
}

BOOST_AUTO_TEST_CASE(message_limit) {
  Link l;
  const KeyLimits limits{kRejectAfterTime, 3};
  Bytes buf(64);
  std::size_t n = 0;
  for (int i = 0; i < 3; ++i)
    BOOST_TEST(seal_data(*l.a, buf, str("m"), 1420, kT0, &n, limits) == SealResult::Ok);
  BOOST_TEST(seal_data(*l.a, buf, str("m"), 1420, kT0, &n, limits) == SealResult::CounterExhausted);
  BOOST_TEST(n == 0u);
  // Default limits: the counter may not reach kRejectAfterMessages.
  l.a->send_counter = kRejectAfterMessages - 1;
  BOOST_TEST(seal_data(*l.a, buf, str("m"), 1420, kT0, &n) == SealResult::Ok);
  BOOST_TEST(seal_data(*l.a, buf, str("m"), 1420, kT0, &n) == SealResult::CounterExhausted);
  // The receiver refuses counters at the limit even if the sender were to use them.
  Link l2;
  l2.a->send_counter = 3;
  BOOST_REQUIRE(seal_data(*l2.a, buf, str("m"), 1420, kT0, &n) == SealResult::Ok);
  std::span<std::uint8_t> plain;
  BOOST_TEST(open_data(*l2.b, std::span(buf.data(), n), kT0, &plain, limits) == OpenResult::Replayed);
}

BOOST_AUTO_TEST_CASE(time_limit) {
  Link l;
  Bytes buf(64);
  std::size_t n = 0;
  const TimePoint late = kT0 + kRejectAfterTime;
  BOOST_TEST(seal_data(*l.a, buf, str("m"), 1420, late - 1s, &n) == SealResult::Ok);
  Bytes copy(buf.begin(), buf.begin() + n);
  BOOST_TEST(seal_data(*l.a, buf, str("m"), 1420, late, &n) == SealResult::KeyExpired);
  std::span<std::uint8_t> plain;
  BOOST_TEST(open_data(*l.b, copy, late, &plain) == OpenResult::KeyExpired);
  // Test-shortened lifetime.
  Link l2;
  const KeyLimits short_life{2s, kRejectAfterMessages};
  BOOST_TEST(seal_data(*l2.a, buf, str("m"), 1420, kT0 + 1s, &n, short_life) == SealResult::Ok);
  copy.assign(buf.begin(), buf.begin() + n);
  BOOST_TEST(seal_data(*l2.a, buf, str("m"), 1420, kT0 + 2s, &n, short_life) == SealResult::KeyExpired);
  BOOST_TEST(open_data(*l2.b, copy, kT0 + 3s, &plain, short_life) == OpenResult::KeyExpired);
}

BOOST_AUTO_TEST_CASE(too_big_no_key_and_malformed) {
  Link l;
  Bytes small(16 + 16 + 16 - 1);
  std::size_t n = 0;
  BOOST_TEST(seal_data(*l.a, small, str("hello"), 1420, kT0, &n) == SealResult::TooBig);
  BOOST_TEST(l.a->send_counter == 0u);  // a refused seal burns no counter

  Bytes buf(64);
  l.a->send_key.clear();
  BOOST_TEST(seal_data(*l.a, buf, str("m"), 1420, kT0, &n) == SealResult::NoKey);
  // A wiped receive key (all zeros, which anyone could seal under) opens nothing.
  Link l1;
  BOOST_REQUIRE(seal_data(*l1.a, buf, str("m"), 1420, kT0, &n) == SealResult::Ok);
  l1.b->recv_key.clear();
  std::span<std::uint8_t> plain;
  BOOST_TEST(open_data(*l1.b, std::span(buf.data(), n), kT0, &plain) == OpenResult::KeyExpired);

  Link l2;
  Bytes runt(31, 0);
  runt[0] = 4;
  BOOST_TEST(open_data(*l2.b, runt, kT0, &plain) == OpenResult::BadPadding);
  Bytes not_data(48, 0);
  not_data[0] = 1;
  BOOST_TEST(open_data(*l2.b, not_data, kT0, &plain) == OpenResult::BadPadding);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(rotation)

BOOST_AUTO_TEST_CASE(responder_next_promoted_on_first_data) {
  Keypairs kps;
  auto kp = keypair_with_index(1);
  Keypair* raw = kp.get();
  auto ev = kps.install_responder(std::move(kp));
  BOOST_TEST(!ev[0].has_value());
  BOOST_TEST(!ev[1].has_value());
  BOOST_TEST(kps.current() == nullptr);
  BOOST_TEST(kps.next() == raw);
  BOOST_TEST(kps.by_local_index(1) == raw);

  std::optional<std::uint32_t> evicted;
  BOOST_TEST(kps.received_with(raw, &evicted));
  BOOST_TEST(kps.current() == raw);
  BOOST_TEST(kps.next() == nullptr);
  BOOST_TEST(!evicted.has_value());
  BOOST_TEST(!kps.received_with(raw));  // already current: no second promotion

  // A second responder handshake: next waits, current stays usable until promotion.
  auto kp2 = keypair_with_index(2);
  Keypair* raw2 = kp2.get();
  kps.install_responder(std::move(kp2));
  BOOST_TEST(kps.current() == raw);
  BOOST_TEST(!kps.received_with(raw));  // data under current does not promote
  BOOST_TEST(kps.received_with(raw2, &evicted));
  BOOST_TEST(kps.current() == raw2);
  BOOST_TEST(kps.previous() == raw);
  BOOST_TEST(!evicted.has_value());

  // Third: promotion destroys the old previous and reports its index.
  auto kp3 = keypair_with_index(3);
  Keypair* raw3 = kp3.get();
  auto ev3 = kps.install_responder(std::move(kp3));
  BOOST_TEST(*ev3[1] == 1u);  // install_responder drops previous
  BOOST_TEST(kps.previous() == nullptr);
  BOOST_TEST(kps.received_with(raw3, &evicted));
  BOOST_TEST(!evicted.has_value());
  BOOST_TEST(kps.previous() == raw2);
  BOOST_TEST(kps.by_local_index(1) == nullptr);
}

BOOST_AUTO_TEST_CASE(initiator_installs_into_current) {
  Keypairs kps;
  auto k1 = keypair_with_index(1);
  Keypair* r1 = k1.get();
  auto ev = kps.install_initiator(std::move(k1));
  BOOST_TEST(!ev[0].has_value());
  BOOST_TEST(!ev[1].has_value());
  BOOST_TEST(kps.current() == r1);

  auto k2 = keypair_with_index(2);
  Keypair* r2 = k2.get();
  kps.install_initiator(std::move(k2));
  BOOST_TEST(kps.current() == r2);
  BOOST_TEST(kps.previous() == r1);

  auto k3 = keypair_with_index(3);
  ev = kps.install_initiator(std::move(k3));
  BOOST_TEST(*ev[0] == 1u);  // old previous destroyed
  BOOST_TEST(kps.previous() == r2);
  BOOST_TEST(kps.by_local_index(1) == nullptr);
  BOOST_TEST(kps.by_local_index(2) == r2);
}

BOOST_AUTO_TEST_CASE(initiator_install_with_pending_next) {
  Keypairs kps;
  kps.install_initiator(keypair_with_index(1));          // current = 1
  auto k2 = keypair_with_index(2);
  Keypair* r2 = k2.get();
  kps.install_responder(std::move(k2));                  // next = 2
  auto ev = kps.install_initiator(keypair_with_index(3));  // both sides initiated at once
  // As WireGuard: the unconfirmed next becomes previous, the old current is dropped.
  BOOST_TEST(kps.previous() == r2);
  BOOST_TEST(kps.current()->local_index == 3u);
  BOOST_TEST(kps.next() == nullptr);
  BOOST_TEST(((ev[0] && *ev[0] == 1u) || (ev[1] && *ev[1] == 1u)));
  kps.clear();
  BOOST_TEST(kps.current() == nullptr);
  BOOST_TEST(kps.by_local_index(2) == nullptr);
}

BOOST_AUTO_TEST_SUITE_END()
