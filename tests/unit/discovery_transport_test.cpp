// UdpTransport over loopback (127.0.0.x, as the daemon binds its host overlay address): a
// lighthouse server and two clients on real sockets and a real libuv loop.
#define BOOST_TEST_MODULE discovery_transport
#include <boost/test/unit_test.hpp>

#include <uv.h>

#include <chrono>
#include <memory>

#include "common/uv_handle.h"
#include "discovery/lighthouse_client.h"
#include "discovery/lighthouse_server.h"
#include "discovery/udp_transport.h"
#include "tests/unit/discovery_test_util.h"

using namespace keymesh;
using namespace keymesh::discovery;
using namespace keymesh::discovery::test;
using namespace std::chrono_literals;

namespace {

struct Loop {
  uv_loop_t loop{};
  Loop() { uv_loop_init(&loop); }
  ~Loop() {
    uv_run(&loop, UV_RUN_NOWAIT);  // let closing handles finish
    uv_loop_close(&loop);
  }
  // Runs until `done()` or `limit` passed, calling `every` each 20 ms.
  template <class Done, class Every>
  bool run_until(Done done, Every every, std::chrono::milliseconds limit = 5000ms) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > end) return false;
      every();
      uv_run(&loop, UV_RUN_NOWAIT);
      uv_sleep(20);
      uv_run(&loop, UV_RUN_NOWAIT);
    }
    return true;
  }
};

std::unique_ptr<UdpTransport> open(Loop& l, const char* at, UdpTransport::ReceiveFn fn) {
  auto t = UdpTransport::open(&l.loop, ep(at), std::move(fn));
  BOOST_REQUIRE_MESSAGE(t, (t ? "" : t.error().message));
  return std::move(*t);
}

}  // namespace

BOOST_AUTO_TEST_CASE(datagrams_both_ways_with_the_real_source) {
  Loop l;
  std::vector<std::pair<std::string, std::string>> got;
  auto a = open(l, "127.0.0.2:0", [&](const udp::Endpoint& from, ByteSpan b) {
    got.emplace_back(from.to_string(), std::string(b.begin(), b.end()));
  });
  BOOST_TEST(a->local().port != 0);
  BOOST_TEST(a->local().to_string().starts_with("127.0.0.2:"));
  UdpTransport* bp = nullptr;
  auto b = open(l, "127.0.0.3:0", [&](const udp::Endpoint& from, ByteSpan data) {
    bp->send(from, data);  // echo
  });
  bp = b.get();
  const std::string hello = "hello";
  a->send(b->local(), as_bytes(hello));
  BOOST_REQUIRE(l.run_until([&] { return !got.empty(); }, [] {}));
  BOOST_TEST(got[0].first == b->local().to_string());
  BOOST_TEST(got[0].second == "hello");
  BOOST_TEST(a->stats().sent == 1u);
  BOOST_TEST(b->stats().received == 1u);
}

BOOST_AUTO_TEST_CASE(binding_a_taken_port_fails_with_the_address) {
  Loop l;
  auto a = open(l, "127.0.0.2:0", {});
  auto again = UdpTransport::open(&l.loop, a->local(), {});
  BOOST_REQUIRE(!again);
  BOOST_TEST(again.error().message.find(a->local().to_string()) != std::string::npos);
}

BOOST_AUTO_TEST_CASE(lighthouse_over_loopback) {
  Loop l;
  SystemTimeSource clock;
  Pki pki;
  // As the daemon does, the server reports the underlay endpoint it saw a host at, not the
  // loopback source (records naming loopback are refused): 127.0.0.N:p is seen as 198.18.0.N:p.
  const auto underlay = [](udp::Endpoint e) {
    e.addr[0] = 198;
    e.addr[1] = 18;
    return e;
  };
  LighthouseServer server({}, [&](const udp::Endpoint& from) { return std::optional(underlay(from)); });
  UdpTransport* server_socket = nullptr;
  auto s = open(l, "127.0.0.4:0", [&](const udp::Endpoint& from, ByteSpan b) {
    for (auto& o : server.handle_datagram(from, b, clock.now())) server_socket->send(o.to, o.bytes);
  });
  server_socket = s.get();

  LighthouseClientOptions o;
  o.lighthouses = {s->local()};
  std::unique_ptr<UdpTransport> ta, tb;
  LighthouseClient a(o, clock, [&](const udp::Endpoint& to, ByteSpan b) { ta->send(to, b); });
  LighthouseClient b(o, clock, [&](const udp::Endpoint& to, ByteSpan d) { tb->send(to, d); });
  ta = open(l, "127.0.0.5:0", [&](const udp::Endpoint& from, ByteSpan d) { a.on_datagram(from, d); });
  tb = open(l, "127.0.0.6:0", [&](const udp::Endpoint& from, ByteSpan d) { b.on_datagram(from, d); });

  const Record ra = pki.record("node-a", {"100.64.1.0/24"}, {ep("198.18.0.1:51820")}, WallTime::max());
  BOOST_REQUIRE(a.publish(ra));
  bool added = false;
  b.watch([&](const Change& c) { added = added || c.kind == ChangeKind::Added; });
  const auto tick = [&] {
    a.tick(clock.wall_now());
    b.tick(clock.wall_now());
  };
  BOOST_REQUIRE(l.run_until([&] { return server.record_count() == 1; }, tick));
  BOOST_REQUIRE(l.run_until([&] { return b.lookup_address(ip("100.64.1.9")) != nullptr; }, tick));
  BOOST_TEST(added);
  const Record* r = b.lookup_address(ip("100.64.1.9"));
  BOOST_TEST(r->fingerprint == ra.fingerprint);
  // The lighthouse adds the endpoint it saw a's socket at.
  BOOST_REQUIRE_EQUAL(r->endpoints.size(), 2u);
  BOOST_TEST(r->endpoints[1] == underlay(ta->local()));
  BOOST_TEST((a.lighthouses()[0].observed == underlay(ta->local())));
}
