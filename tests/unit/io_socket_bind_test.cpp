// SocketBind over the loopback interface of the current namespace (127.0.0.1 and ::1 only).
#define BOOST_TEST_MODULE io_socket_bind
#include <poll.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <array>
#include <chrono>
#include <cstring>
#include <set>
#include <vector>

#include "common/bytes.h"
#include "tests/unit/io_test_util.h"
#include "udp/socket_bind.h"

using namespace keymesh::udp;
using keymesh::Bytes;

namespace {

std::unique_ptr<SocketBind> open_bind(std::uint16_t port = 0, const SocketBindOptions& o = {}) {
  auto b = SocketBind::open(port, 1 << 20, o);
  BOOST_REQUIRE_MESSAGE(b.has_value(), (b ? "" : b.error().message));
  return std::move(*b);
}

Endpoint loopback4(std::uint16_t port) {
  auto e = *Endpoint::parse("127.0.0.1:0");
  e.port = port;
  return e;
}

struct Receiver {
  std::vector<std::array<std::uint8_t, 2048>> storage;
  std::vector<Datagram> batch;

  explicit Receiver(std::size_t slots, std::size_t slot_size = 2048) : storage(slots), batch(slots) {
    for (std::size_t i = 0; i < slots; ++i)
      batch[i].buffer = std::span(storage[i]).first(slot_size);
  }
  // Receives until `want` datagrams arrived or two seconds passed; returns them in order.
  std::vector<Datagram> collect(SocketBind& b, std::size_t want, std::vector<Bytes>* payloads) {
    std::vector<Datagram> got;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (got.size() < want && std::chrono::steady_clock::now() < deadline) {
      pollfd p{b.fd(), POLLIN, 0};
      ::poll(&p, 1, 100);
      const std::size_t n = b.receive_batch(batch);
      for (std::size_t i = 0; i < n; ++i) {
        got.push_back(batch[i]);
        payloads->emplace_back(batch[i].buffer.begin(), batch[i].buffer.begin() + batch[i].size);
      }
    }
    return got;
  }
};


}  // namespace

BOOST_AUTO_TEST_CASE(ephemeral_port_is_reported) {
  auto a = open_bind();
  auto b = open_bind();
  BOOST_TEST(a->local_port() != 0);
  BOOST_TEST(b->local_port() != 0);
  BOOST_TEST(a->local_port() != b->local_port());
  BOOST_TEST(a->fd() >= 0);
}

BOOST_AUTO_TEST_CASE(batch_of_100_over_loopback) {
  auto a = open_bind();
  auto b = open_bind();
  const Endpoint to = loopback4(b->local_port());
  for (std::uint32_t i = 0; i < 100; ++i) {
    const std::size_t size = 20 + i * 7;  // 20..713 bytes
    auto buf = a->prepare_send(size);
    BOOST_REQUIRE(buf.size() >= size);
    std::memset(buf.data(), std::uint8_t(i), size);
    keymesh::store_le32(buf.data(), i);
    a->commit_send(to, size);
  }
  a->flush();
  BOOST_TEST(a->send_errors() == 0u);
  BOOST_TEST(a->stats().sent == 100u);

  // A 128-slot batch is larger than one recvmmsg chunk: receive_batch must fill past it.
  Receiver r(128);
  std::vector<Bytes> payloads;
  auto got = r.collect(*b, 100, &payloads);
  BOOST_REQUIRE(got.size() == 100u);
  std::set<std::uint32_t> seen;
  for (std::size_t k = 0; k < got.size(); ++k) {
    const std::uint32_t i = keymesh::load_le32(payloads[k].data());
    seen.insert(i);
    BOOST_TEST(payloads[k].size() == 20 + i * 7);
    BOOST_TEST(payloads[k].back() == std::uint8_t(i));
    BOOST_TEST(got[k].from == loopback4(a->local_port()));  // v4-mapped comes back as v4
  }
  BOOST_TEST(seen.size() == 100u);
  BOOST_TEST(b->stats().received == 100u);
}

BOOST_AUTO_TEST_CASE(full_batch_flushes_itself) {
  auto a = open_bind(0, {.send_batch = 8});
  auto b = open_bind();
  for (std::uint32_t i = 0; i < 8; ++i) {
    const std::uint8_t payload[4] = {std::uint8_t(i), 0, 0, 0};
    a->send(loopback4(b->local_port()), payload);
  }
  // No flush(): the eighth commit filled the batch.
  Receiver r(16);
  std::vector<Bytes> payloads;
  BOOST_TEST(r.collect(*b, 8, &payloads).size() == 8u);
}

BOOST_AUTO_TEST_CASE(oversized_datagram_is_dropped_and_the_rest_kept) {
  auto a = open_bind();
  auto b = open_bind();
  const Endpoint to = loopback4(b->local_port());
  a->send(to, std::vector<std::uint8_t>(1000, 1));
  a->send(to, std::vector<std::uint8_t>(60, 2));
  a->send(to, std::vector<std::uint8_t>(70, 3));
  a->flush();
  Receiver r(3, 100);  // buffers of 100 bytes
  std::vector<Bytes> payloads;
  auto got = r.collect(*b, 2, &payloads);
  BOOST_REQUIRE(got.size() == 2u);
  BOOST_TEST(payloads[0].size() == 60u);
  BOOST_TEST(payloads[0][0] == 2);
  BOOST_TEST(payloads[1].size() == 70u);
  BOOST_TEST(payloads[1][0] == 3);
  BOOST_TEST(b->stats().truncated == 1u);
}

BOOST_AUTO_TEST_CASE(ipv6_loopback_when_available) {
  auto a = open_bind();
  auto b = open_bind();
  if (a->family() != AF_INET6) {
    BOOST_TEST_MESSAGE("no IPv6 in this namespace; skipped");
    return;
  }
  auto to = *Endpoint::parse("[::1]:0");
  to.port = b->local_port();
  a->send(to, std::vector<std::uint8_t>(33, 6));
  a->flush();
  if (a->send_errors() != 0) {
    BOOST_TEST_MESSAGE("::1 unreachable (IPv6 disabled on lo); skipped");
    return;
  }
  Receiver r(4);
  std::vector<Bytes> payloads;
  auto got = r.collect(*b, 1, &payloads);
  BOOST_REQUIRE(got.size() == 1u);
  BOOST_TEST(got[0].from.to_string() == "[::1]:" + std::to_string(a->local_port()));
}

BOOST_AUTO_TEST_CASE(ipv4_only_socket_refuses_ipv6_peers) {
  auto a = open_bind(0, {.allow_ipv6 = false});
  BOOST_TEST(a->family() == AF_INET);
  a->send(*Endpoint::parse("[::1]:9"), std::vector<std::uint8_t>(10));
  a->flush();
  BOOST_TEST(a->send_errors() == 1u);
  BOOST_TEST(a->prepare_send(70000).empty());
}

BOOST_AUTO_TEST_CASE(reuse_port_shares_a_port) {
  auto a = open_bind(0, {.reuse_port = true});
  auto b = SocketBind::open(a->local_port(), 0, {.reuse_port = true});
  BOOST_REQUIRE_MESSAGE(b.has_value(), (b ? "" : b.error().message));
  BOOST_TEST((*b)->local_port() == a->local_port());
  auto c = SocketBind::open(a->local_port(), 0);  // without SO_REUSEPORT: in use
  BOOST_REQUIRE(!c.has_value());
  BOOST_TEST(c.error().message.find("Address already in use") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(buffers_are_enlarged) {
  auto b = SocketBind::open(0, 4 << 20);
  BOOST_REQUIRE(b.has_value());
  if (::geteuid() == 0) {
    // SO_RCVBUFFORCE ignores rmem_max; the kernel reports double what it was asked.
    BOOST_TEST((*b)->receive_buffer_bytes() >= (4 << 20));
    BOOST_TEST((*b)->send_buffer_bytes() >= (4 << 20));
  } else {
    BOOST_TEST((*b)->receive_buffer_bytes() > 0);
  }
}
