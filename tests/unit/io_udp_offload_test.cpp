// UDP GSO/GRO: the run and segment arithmetic (udp/offload.h), then SocketBind over the
// loopback interface of the current namespace (127.0.0.1 only) with offload on and off.
#define BOOST_TEST_MODULE io_udp_offload
#include <poll.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstring>
#include <vector>

#include "common/bytes.h"
#include "udp/offload.h"
#include "udp/socket_bind.h"

using namespace keymesh::udp;
using keymesh::Bytes;

namespace {

auto everyone_same = [](std::size_t, std::size_t) { return true; };

std::size_t run(const std::vector<std::size_t>& sizes, std::size_t first = 0) {
  return gso_run_length(std::span<const std::size_t>(sizes), first, everyone_same);
}

std::unique_ptr<SocketBind> open_bind(bool offload) {
  auto b = SocketBind::open(0, 4 << 20, {.offload = offload});
  BOOST_REQUIRE_MESSAGE(b.has_value(), (b ? "" : b.error().message));
  return std::move(*b);
}

Endpoint loopback4(std::uint16_t port) {
  auto e = *Endpoint::parse("127.0.0.1:0");
  e.port = port;
  return e;
}

// Datagram i: `size` bytes, its index in the first four, then the index's low byte.
void queue(SocketBind& a, const Endpoint& to, std::uint32_t i, std::size_t size) {
  auto buf = a.prepare_send(size);
  BOOST_REQUIRE(buf.size() >= size);
  std::memset(buf.data(), std::uint8_t(i), size);
  keymesh::store_le32(buf.data(), i);
  a.commit_send(to, size);
}

// Receives with a caller batch of `slots` buffers of 2048 bytes until `want` datagrams came
// or two seconds passed; the payloads in arrival order.
std::vector<Bytes> collect(SocketBind& b, std::size_t want, std::size_t slots) {
  std::vector<std::vector<std::uint8_t>> storage(slots, std::vector<std::uint8_t>(2048));
  std::vector<Datagram> batch(slots);
  for (std::size_t i = 0; i < slots; ++i) batch[i].buffer = std::span(storage[i]);
  std::vector<Bytes> got;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (got.size() < want && std::chrono::steady_clock::now() < deadline) {
    pollfd p{b.fd(), POLLIN, 0};
    ::poll(&p, 1, 50);
    std::size_t n = b.receive_batch(batch);
    while (n > 0) {
      for (std::size_t i = 0; i < n; ++i)
        got.emplace_back(batch[i].buffer.begin(), batch[i].buffer.begin() + batch[i].size);
      n = b.receive_pending(batch);
    }
  }
  return got;
}

// 40 datagrams of 1200 bytes and a last one of 500 to b, in one flush: one GSO run.
std::vector<std::size_t> send_train(SocketBind& a, const SocketBind& b) {
  std::vector<std::size_t> sizes;
  for (std::uint32_t i = 0; i < 41; ++i) {
    sizes.push_back(i < 40 ? 1200 : 500);
    queue(a, loopback4(b.local_port()), i, sizes.back());
  }
  a.flush();
  return sizes;
}

void check_train(const std::vector<Bytes>& got, const std::vector<std::size_t>& sizes) {
  BOOST_REQUIRE_EQUAL(got.size(), sizes.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    BOOST_TEST_CONTEXT("datagram " << i) {
      BOOST_TEST(got[i].size() == sizes[i]);
      BOOST_TEST(keymesh::load_le32(got[i].data()) == i);  // in order, none lost or doubled
      BOOST_TEST(got[i].back() == std::uint8_t(i));
    }
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(run_of_equal_sizes_with_a_shorter_last) {
  BOOST_TEST(run({1200, 1200, 1200, 500}) == 4u);
  BOOST_TEST(run({1200, 1200, 500, 1200}) == 3u);  // a shorter one ends the run
  BOOST_TEST(run({1200, 1300, 1200}) == 1u);       // a larger one cannot follow
  BOOST_TEST(run({500, 1200}, 0) == 1u);
  BOOST_TEST(run({500, 1200}, 1) == 1u);
  BOOST_TEST(run({500}, 1) == 0u);                 // past the end
  BOOST_TEST(run({0, 0}) == 1u);                   // an empty datagram goes alone
}

BOOST_AUTO_TEST_CASE(run_stops_at_another_destination) {
  const std::vector<std::size_t> sizes = {100, 100, 100, 100};
  const std::vector<int> to = {1, 1, 2, 2};
  auto same = [&](std::size_t a, std::size_t b) { return to[a] == to[b]; };
  BOOST_TEST(gso_run_length(std::span<const std::size_t>(sizes), 0, same) == 2u);
  BOOST_TEST(gso_run_length(std::span<const std::size_t>(sizes), 2, same) == 2u);
}

BOOST_AUTO_TEST_CASE(run_respects_the_segment_and_byte_limits) {
  const std::vector<std::size_t> many(100, 100);
  BOOST_TEST(run(many) == kMaxGsoSegments);
  const std::vector<std::size_t> big(60, 1472);
  BOOST_TEST(run(big) == kMaxGsoBytes / 1472);  // 44 of them fill one IP packet
  BOOST_TEST(run(big) * 1472 <= kMaxGsoBytes);
  BOOST_TEST(gso_run_length(std::span<const std::size_t>(many), 0, everyone_same, 3) == 3u);
}

BOOST_AUTO_TEST_CASE(coalesced_receive_is_cut_every_segment_size) {
  BOOST_TEST(gro_segment_count(0, 1200) == 0u);
  BOOST_TEST(gro_segment_count(1200, 0) == 1u);
  BOOST_TEST(gro_segment_count(1200, 1200) == 1u);
  BOOST_TEST(gro_segment_count(2400, 1200) == 2u);
  BOOST_TEST(gro_segment_count(2401, 1200) == 3u);
  const Segment last = gro_segment(2900, 1200, 2);
  BOOST_TEST(last.offset == 2400u);
  BOOST_TEST(last.size == 500u);
  const Segment second = gro_segment(2900, 1200, 1);
  BOOST_TEST(second.offset == 1200u);
  BOOST_TEST(second.size == 1200u);
  BOOST_TEST(gro_segment(900, 0, 0).size == 900u);
  BOOST_TEST(gro_segment(900, 0, 1).size == 0u);
}

BOOST_AUTO_TEST_CASE(gso_train_arrives_whole_and_in_order_through_gro) {
  auto a = open_bind(true);
  auto b = open_bind(true);
  if (!a->gso() || !b->gro()) {
    BOOST_TEST_MESSAGE("kernel without UDP GSO/GRO; skipped");
    return;
  }
  const auto sizes = send_train(*a, *b);
  BOOST_TEST(a->send_errors() == 0u);
  BOOST_TEST(a->stats().sent == 41u);
  BOOST_TEST(a->stats().gso_sends == 1u);  // one sendmsg carried all 41
  // A batch of 8 is smaller than the coalesced receive: the rest waits in receive_pending.
  check_train(collect(*b, 41, 8), sizes);
  BOOST_TEST(b->stats().gro_coalesced >= 1u);
  BOOST_TEST(b->stats().received == 41u);
}

BOOST_AUTO_TEST_CASE(runs_break_at_each_destination) {
  auto a = open_bind(true);
  auto b = open_bind(true);
  auto c = open_bind(true);
  for (std::uint32_t i = 0; i < 12; ++i)  // b b b c c c b b b c c c
    queue(*a, loopback4((i / 3) % 2 == 0 ? b->local_port() : c->local_port()), i, 300);
  a->flush();
  BOOST_TEST(a->stats().sent == 12u);
  if (a->gso()) BOOST_TEST(a->stats().gso_sends == 4u);
  const auto to_b = collect(*b, 6, 64), to_c = collect(*c, 6, 64);
  BOOST_REQUIRE_EQUAL(to_b.size(), 6u);
  BOOST_REQUIRE_EQUAL(to_c.size(), 6u);
  const std::uint32_t want_b[] = {0, 1, 2, 6, 7, 8}, want_c[] = {3, 4, 5, 9, 10, 11};
  for (std::size_t i = 0; i < 6; ++i) {
    BOOST_TEST(keymesh::load_le32(to_b[i].data()) == want_b[i]);
    BOOST_TEST(keymesh::load_le32(to_c[i].data()) == want_c[i]);
  }
}

BOOST_AUTO_TEST_CASE(gso_sender_to_a_receiver_without_gro) {
  auto a = open_bind(true);
  auto b = open_bind(false);  // the kernel cuts the GSO packet for it
  BOOST_TEST(!b->gro());
  const auto sizes = send_train(*a, *b);
  check_train(collect(*b, 41, 64), sizes);
  BOOST_TEST(b->stats().gro_coalesced == 0u);
}

BOOST_AUTO_TEST_CASE(offload_off_sends_one_datagram_per_message) {
  auto a = open_bind(false);
  auto b = open_bind(false);
  BOOST_TEST(!a->gso());
  const auto sizes = send_train(*a, *b);
  BOOST_TEST(a->stats().sent == 41u);
  BOOST_TEST(a->stats().gso_sends == 0u);
  check_train(collect(*b, 41, 8), sizes);
}

BOOST_AUTO_TEST_CASE(run_is_cut_at_one_ip_packet) {
  // Three of 30000 bytes: the first two fit one IP packet and leave as one GSO send, the
  // third alone.
  auto a = open_bind(true);
  auto b = open_bind(true);
  if (!a->gso()) return;
  for (std::uint32_t i = 0; i < 3; ++i) queue(*a, loopback4(b->local_port()), i, 30000);
  a->flush();
  BOOST_TEST(a->send_errors() == 0u);
  BOOST_TEST(a->stats().sent == 3u);
  BOOST_TEST(a->stats().gso_sends == 1u);
}
