// MemoryNetwork / MemoryBind: the in-process outside edge whole-daemon tests run on.
#define BOOST_TEST_MODULE io_memory_bind
#include <boost/test/unit_test.hpp>
#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "common/bytes.h"
#include "tests/unit/io_test_util.h"
#include "udp/memory_bind.h"

using namespace keymesh::udp;

namespace {

Endpoint ep(const char* text) { return *Endpoint::parse(text); }

std::unique_ptr<MemoryBind> bind(MemoryNetwork& net, const char* text) {
  auto b = net.bind(ep(text));
  BOOST_REQUIRE_MESSAGE(b.has_value(), (b ? "" : b.error().message));
  return std::move(*b);
}

// Sends datagrams carrying their sequence number (4 bytes LE, then `size - 4` filler).
void send_seq(Bind& from, const Endpoint& to, std::uint32_t first, std::uint32_t count,
              std::size_t size = 100) {
  for (std::uint32_t i = first; i < first + count; ++i) {
    auto buf = from.prepare_send(size);
    BOOST_REQUIRE(buf.size() >= size);
    std::memset(buf.data(), 0xab, size);
    keymesh::store_le32(buf.data(), i);
    from.commit_send(to, size);
  }
}

struct Receiver {
  std::vector<std::array<std::uint8_t, 2048>> storage = std::vector<std::array<std::uint8_t, 2048>>(32);
  std::vector<Datagram> batch = std::vector<Datagram>(32);

  Receiver() {
    for (std::size_t i = 0; i < batch.size(); ++i) batch[i].buffer = storage[i];
  }
  // Everything the bind has, as sequence numbers, in arrival order.
  std::vector<std::uint32_t> drain(Bind& b, std::vector<Endpoint>* from = nullptr) {
    std::vector<std::uint32_t> seq;
    for (;;) {
      const std::size_t n = b.receive_batch(batch);
      if (n == 0) return seq;
      for (std::size_t i = 0; i < n; ++i) {
        seq.push_back(keymesh::load_le32(batch[i].buffer.data()));
        if (from) from->push_back(batch[i].from);
      }
    }
  }
};

std::vector<std::uint32_t> run_lossy(std::uint64_t seed, double loss, double reorder) {
  MemoryNetwork net({.loss = loss, .reorder = reorder, .reorder_window = 4, .seed = seed});
  auto a = bind(net, "198.18.0.1:51820");
  auto b = bind(net, "198.18.0.2:51820");
  // Interleave sending and receiving, as two daemons polling would.
  Receiver r;
  std::vector<std::uint32_t> got;
  for (std::uint32_t round = 0; round < 100; ++round) {
    send_seq(*a, b->local(), round * 100, 100);
    a->flush();
    auto part = r.drain(*b);
    got.insert(got.end(), part.begin(), part.end());
  }
  BOOST_TEST(!net.has_pending());
  return got;
}

}  // namespace

BOOST_AUTO_TEST_CASE(delivers_on_flush_with_source) {
  MemoryNetwork net;
  auto a = bind(net, "198.18.0.1:51820");
  auto b = bind(net, "[2001:db8::2]:4000");
  const std::uint8_t hello[] = {'h', 'i'};
  a->send(b->local(), hello);
  BOOST_TEST(!net.has_pending());  // committed, not flushed: still on the sender
  a->flush();
  BOOST_TEST(net.has_pending());
  BOOST_TEST(b->pending() == 1u);

  std::array<std::uint8_t, 64> storage{};
  std::array<Datagram, 4> batch{};
  batch[0].buffer = storage;
  BOOST_TEST(b->receive_batch(std::span(batch).first(1)) == 1u);
  BOOST_TEST(batch[0].size == 2u);
  BOOST_TEST(batch[0].buffer[1] == 'i');
  BOOST_TEST(batch[0].from == a->local());
  BOOST_TEST(!net.has_pending());
  BOOST_TEST(b->receive_batch(std::span(batch).first(1)) == 0u);
  BOOST_TEST(net.counters().sent == 1u);
  BOOST_TEST(net.counters().delivered == 1u);
}

BOOST_AUTO_TEST_CASE(batches_flush_when_full_and_receive_in_order) {
  MemoryNetwork net;
  auto a = bind(net, "198.18.0.1:51820");
  auto b = bind(net, "198.18.0.2:51820");
  send_seq(*a, b->local(), 0, MemoryBind::kSendBatch - 1);
  BOOST_TEST(net.pending() == 0u);
  send_seq(*a, b->local(), MemoryBind::kSendBatch - 1, 1);  // fills the batch
  BOOST_TEST(net.pending() == MemoryBind::kSendBatch);
  send_seq(*a, b->local(), MemoryBind::kSendBatch, 36);
  a->flush();
  BOOST_TEST(net.pending() == 100u);

  // A 32-slot batch pulls 32, 32, 32, 4.
  Receiver r;
  std::vector<std::size_t> sizes;
  std::vector<std::uint32_t> seq;
  while (std::size_t n = b->receive_batch(r.batch)) {
    sizes.push_back(n);
    for (std::size_t i = 0; i < n; ++i) seq.push_back(keymesh::load_le32(r.storage[i].data()));
  }
  BOOST_TEST(sizes == (std::vector<std::size_t>{32, 32, 32, 4}), boost::test_tools::per_element());
  for (std::uint32_t i = 0; i < 100; ++i) BOOST_TEST(seq[i] == i);
}

BOOST_AUTO_TEST_CASE(send_limits) {
  MemoryNetwork net;
  auto a = bind(net, "198.18.0.1:51820");
  BOOST_TEST(a->prepare_send(MemoryBind::kMaxDatagram + 1).empty());
  BOOST_TEST(a->prepare_send(MemoryBind::kMaxDatagram).size() >= MemoryBind::kMaxDatagram);
  a->commit_send(Endpoint{}, 10);  // nowhere to send it
  BOOST_TEST(a->send_errors() == 1u);
  a->commit_send(ep("198.18.0.2:1"), 10);  // commit without prepare
  BOOST_TEST(a->send_errors() == 2u);
  a->send(ep("198.18.0.9:9"), std::vector<std::uint8_t>(10));
  a->flush();
  BOOST_TEST(net.counters().dropped_unreachable == 1u);
}

BOOST_AUTO_TEST_CASE(receive_drops_datagrams_larger_than_buffer) {
  MemoryNetwork net;
  auto a = bind(net, "198.18.0.1:51820");
  auto b = bind(net, "198.18.0.2:51820");
  a->send(b->local(), std::vector<std::uint8_t>(500, 1));
  a->send(b->local(), std::vector<std::uint8_t>(50, 2));
  a->flush();
  std::array<std::uint8_t, 100> storage{};
  Datagram d{storage};
  BOOST_TEST(b->receive_batch(std::span(&d, 1)) == 1u);
  BOOST_TEST(d.size == 50u);
  BOOST_TEST(net.counters().dropped_too_big == 1u);
}

BOOST_AUTO_TEST_CASE(binding_rules) {
  MemoryNetwork net;
  auto a = bind(net, "198.18.0.1:51820");
  auto dup = net.bind(ep("198.18.0.1:51820"));
  BOOST_REQUIRE(!dup.has_value());
  BOOST_TEST(dup.error().message.find("already bound") != std::string::npos);
  BOOST_TEST(!net.bind(Endpoint{}).has_value());
  auto e1 = bind(net, "198.18.0.1:0");
  auto e2 = bind(net, "198.18.0.1:0");
  BOOST_TEST(e1->local_port() == 49152);
  BOOST_TEST(e2->local_port() == 49153);
  a.reset();  // frees the address
  BOOST_TEST(net.bind(ep("198.18.0.1:51820")).has_value());
}

BOOST_AUTO_TEST_CASE(loss_is_statistical_and_deterministic) {
  auto first = run_lossy(42, 0.1, 0.0);
  // 10,000 datagrams at 10% loss: 9,000 expected, sd 30.
  BOOST_TEST(first.size() > 8850u);
  BOOST_TEST(first.size() < 9150u);
  BOOST_TEST(std::is_sorted(first.begin(), first.end()));  // loss alone does not reorder
  BOOST_TEST(run_lossy(42, 0.1, 0.0) == first);  // same seed, same fate
  BOOST_TEST(run_lossy(43, 0.1, 0.0) != first);
}

BOOST_AUTO_TEST_CASE(reorder_is_bounded_and_deterministic) {
  auto got = run_lossy(7, 0.0, 0.1);
  BOOST_REQUIRE(got.size() == 10000u);  // reordering loses nothing
  auto sorted = got;
  std::sort(sorted.begin(), sorted.end());
  for (std::uint32_t i = 0; i < 10000; ++i) BOOST_REQUIRE(sorted[i] == i);
  // About 10% are held back; each arrives after at most a few later ones.
  std::size_t late = 0;
  std::size_t worst = 0;
  for (std::size_t pos = 0; pos < got.size(); ++pos) {
    if (got[pos] < pos) {
      ++late;
      worst = std::max<std::size_t>(worst, pos - got[pos]);
    }
  }
  BOOST_TEST(late > 500u);
  BOOST_TEST(worst <= 12u);
  BOOST_TEST(run_lossy(7, 0.0, 0.1) == got);
  BOOST_TEST(run_lossy(8, 0.0, 0.1) != got);
}

BOOST_AUTO_TEST_CASE(held_back_datagrams_arrive_when_nothing_else_does) {
  MemoryNetwork net({.reorder = 1.0, .reorder_window = 8});
  auto a = bind(net, "198.18.0.1:51820");
  auto b = bind(net, "198.18.0.2:51820");
  send_seq(*a, b->local(), 0, 3);
  a->flush();
  BOOST_TEST(net.pending() == 3u);  // all held, still pending
  Receiver r;
  auto got = r.drain(*b);
  BOOST_TEST(got.size() == 3u);
  BOOST_TEST(net.counters().reordered == 3u);
  send_seq(*a, b->local(), 3, 2);
  a->flush();
  net.release_held();
  BOOST_TEST(b->pending() == 2u);
}

BOOST_AUTO_TEST_CASE(duplication_is_off_by_default) {
  MemoryNetwork net;
  auto a = bind(net, "198.18.0.1:51820");
  auto b = bind(net, "198.18.0.2:51820");
  send_seq(*a, b->local(), 0, 1000);
  a->flush();
  BOOST_TEST(net.counters().duplicated == 0u);
  BOOST_TEST(net.pending() == 1000u);

  MemoryNetwork dup_net({.duplicate = 0.5, .seed = 3});
  auto c = bind(dup_net, "198.18.0.1:51820");
  auto d = bind(dup_net, "198.18.0.2:51820");
  send_seq(*c, d->local(), 0, 1000);
  c->flush();
  const auto counters = dup_net.counters();
  BOOST_TEST(counters.duplicated > 400u);
  BOOST_TEST(counters.duplicated < 600u);
  BOOST_TEST(dup_net.pending() == 1000u + counters.duplicated);
}

BOOST_AUTO_TEST_CASE(inbox_overflow_drops) {
  MemoryNetwork net({.inbox_capacity = 8});
  auto a = bind(net, "198.18.0.1:51820");
  auto b = bind(net, "198.18.0.2:51820");
  send_seq(*a, b->local(), 0, 20);
  a->flush();
  BOOST_TEST(b->pending() == 8u);
  BOOST_TEST(net.counters().dropped_overflow == 12u);
  BOOST_TEST(net.counters().dropped() == 12u);
}

BOOST_AUTO_TEST_CASE(static_nat_rewrites_source_and_routes_replies) {
  // a (inside 100.64.0.2:51820) appears to b as 198.18.0.100:40000.
  MemoryNetwork net;
  auto a = bind(net, "100.64.0.2:51820");
  auto b = bind(net, "198.18.0.2:51820");
  const Endpoint outside = ep("198.18.0.100:40000");
  net.add_nat(a->local(), outside);
  send_seq(*a, b->local(), 1, 1);
  a->flush();
  Receiver r;
  std::vector<Endpoint> from;
  BOOST_TEST(r.drain(*b, &from).size() == 1u);
  BOOST_TEST(from.at(0) == outside);

  send_seq(*b, from[0], 2, 1);  // reply to what b saw
  b->flush();
  from.clear();
  BOOST_TEST(r.drain(*a, &from) == std::vector<std::uint32_t>{2});
  BOOST_TEST(from.at(0) == b->local());

  // The NAT gives a a new public port (roaming as b sees it).
  const Endpoint moved = ep("198.18.0.100:40001");
  net.add_nat(a->local(), moved);
  send_seq(*a, b->local(), 3, 1);
  a->flush();
  from.clear();
  r.drain(*b, &from);
  BOOST_TEST(from.at(0) == moved);
  send_seq(*b, outside, 4, 1);  // the old mapping is gone
  b->flush();
  BOOST_TEST(net.counters().dropped_unreachable == 1u);
}

BOOST_AUTO_TEST_CASE(nat_hook_rewrites_learns_and_drops) {
  MemoryNetwork net;
  auto a = bind(net, "100.64.0.2:51820");
  auto b = bind(net, "198.18.0.2:51820");
  auto c = bind(net, "198.18.0.3:51820");
  // Port-restricted: a's traffic leaves as 198.18.0.100:(port+1000); c may not reach a.
  net.set_nat_hook([](const Endpoint& from, const Endpoint& to) {
    if (from.to_string() == "100.64.0.2:51820") {
      Endpoint out = *Endpoint::parse("198.18.0.100:0");
      out.port = std::uint16_t(from.port + 1000);
      return out;
    }
    if (to.to_string() == "198.18.0.100:52820" && from.to_string() == "198.18.0.3:51820")
      return Endpoint{};
    return from;
  });
  send_seq(*a, b->local(), 1, 1);
  a->flush();
  Receiver r;
  std::vector<Endpoint> from;
  r.drain(*b, &from);
  BOOST_TEST(from.at(0).to_string() == "198.18.0.100:52820");
  send_seq(*b, from[0], 2, 1);
  send_seq(*c, from[0], 3, 1);
  b->flush();
  c->flush();
  BOOST_TEST(r.drain(*a) == std::vector<std::uint32_t>{2});
  BOOST_TEST(net.counters().dropped_nat == 1u);
}

BOOST_AUTO_TEST_CASE(rebind_moves_the_bind) {
  MemoryNetwork net;
  auto a = bind(net, "198.18.0.1:51820");
  auto b = bind(net, "198.18.0.2:51820");
  const Endpoint old = a->local();
  BOOST_TEST(a->rebind(ep("198.18.1.1:51820")).has_value());
  BOOST_TEST(a->local().to_string() == "198.18.1.1:51820");
  BOOST_TEST(!a->rebind(b->local()).has_value());  // taken: stays where it was
  BOOST_TEST(a->local().to_string() == "198.18.1.1:51820");

  send_seq(*b, old, 1, 1);
  send_seq(*b, a->local(), 2, 1);
  b->flush();
  BOOST_TEST(net.counters().dropped_unreachable == 1u);
  Receiver r;
  BOOST_TEST(r.drain(*a) == std::vector<std::uint32_t>{2});
  send_seq(*a, b->local(), 3, 1);
  a->flush();
  std::vector<Endpoint> from;
  r.drain(*b, &from);
  BOOST_TEST(from.at(0) == a->local());
  BOOST_TEST(bind(net, "198.18.0.1:51820") != nullptr);  // the old address is free again
}

BOOST_AUTO_TEST_CASE(network_may_die_before_its_binds) {
  auto net = std::make_unique<MemoryNetwork>();
  auto a = bind(*net, "198.18.0.1:51820");
  auto b = bind(*net, "198.18.0.2:51820");
  send_seq(*a, b->local(), 0, 3);
  net.reset();
  a->flush();  // the shared state is still there
  Receiver r;
  BOOST_TEST(r.drain(*b).size() == 3u);
}
