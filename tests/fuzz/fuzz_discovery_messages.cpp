// Fuzzes the lighthouse message decoder and both ends of the protocol: the bytes go to a
// LighthouseServer as a request and to a LighthouseClient as a reply from its lighthouse.
// Neither may crash, throw or grow without bound; every reply the server makes must decode.
// Revocation lists offered to the server are queued (bounded) and served back.
// Every input comes from one host, so its remembered misses (queries by address that found
// nothing, pushed when a Register covers them) stay within the per-asker cap.
#include <cstdint>

#include "discovery/lighthouse_client.h"
#include "discovery/lighthouse_server.h"
#include "identity/revocation.h"

using namespace keymesh;
using namespace keymesh::discovery;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static FakeTimeSource clock;
  static const udp::Endpoint lighthouse = *udp::Endpoint::parse("100.64.0.1:4243");
  static const udp::Endpoint host = *udp::Endpoint::parse("100.64.1.1:5000");
  // Small caps so the limits are reached too; state carries over between inputs.
  static LighthouseServer server(LighthouseServerOptions{.max_records = 64,
                                                         .max_records_per_source = 16,
                                                         .max_subscriptions = 64,
                                                         .max_subscribers_per_record = 4,
                                                         .misses = {.max_entries = 8,
                                                                    .max_per_asker = 4}});
  static LighthouseClient client(
      LighthouseClientOptions{.lighthouses = {lighthouse}, .max_pending = 16,
                              .cache = {.max_records = 64}},
      clock, [](const udp::Endpoint&, ByteSpan) {});

  const ByteSpan bytes(data, size);
  clock.advance(std::chrono::milliseconds(700));
  for (const auto& out : server.handle_datagram(host, bytes, clock.now()))
    if (!decode_message(out.bytes)) __builtin_trap();
  (void)server.tick(clock.now());
  // Offered revocation lists (a Crl sent to the lighthouse) wait for the daemon, bounded; what
  // the daemon would hand back is served, and every push decodes.
  auto offered = server.take_offered_lists();
  if (offered.size() > LighthouseServer::kMaxOfferedLists) __builtin_trap();
  for (const Bytes& list : offered) (void)identity::RevocationList::parse(list);
  if (!offered.empty())
    if (auto pushes = server.set_revocation_lists(std::move(offered)))
      for (const auto& out : *pushes)
        if (!decode_message(out.bytes)) __builtin_trap();
  client.on_datagram(lighthouse, bytes);
  client.tick(clock.wall_now());
  // A lookup after the input: the cache must be consistent.
  IpAddress a;
  a.family = AF_INET;
  a.bytes = {100, 64, 1, 1};
  (void)client.lookup_address(a);
  if (server.record_count() > 64 || client.cache().size() > 64) __builtin_trap();
  // Remembered misses stay within their caps, and each is pushed at most once.
  if (server.miss_count() > 4 || server.stats().miss_pushes > server.stats().misses)
    __builtin_trap();
  return 0;
}
