// Fuzzes the relay envelope parser (daemon/relay.h) and the relay's decision with what any
// host on the underlay controls: the datagram. data[0] picks the relay's view (enabled, which
// paths are live, whether the source matches); the rest is the datagram. An accepted envelope
// must satisfy the parser's promises; the decision must forward only between two live paths.
// The datagram is an exact-size heap copy so that a sanitizer sees any overrun.
#include <cstdint>
#include <cstring>
#include <vector>

#include "daemon/relay.h"

using namespace keymesh::daemon;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t mode = data[0];
  std::vector<std::uint8_t> datagram(data + 1, data + size);
  const auto e = parse_relay_envelope(datagram);
  if (!e) return 0;
  if (datagram.size() < kRelayEnvelopeSize + kRelayMinInner) __builtin_trap();
  if (e->inner.data() != datagram.data() + kRelayEnvelopeSize) __builtin_trap();
  if (e->inner.size() != datagram.size() - kRelayEnvelopeSize) __builtin_trap();
  if (e->inner[0] == kTypeRelayEnvelope || datagram[1] | datagram[2] | datagram[3]) __builtin_trap();

  keymesh::udp::Endpoint from, other;
  from.family = other.family = 2;  // AF_INET
  from.port = 1000;
  other.port = 2000;
  const RelayPathState sender{(mode & 8) ? other : from, (mode & 2) != 0};
  const RelayPathState target{(mode & 16) ? from : other, (mode & 4) != 0};
  const auto d = decide_relay((mode & 1) != 0, *e, from, (mode & 32) ? nullptr : &sender,
                              (mode & 64) ? nullptr : &target);
  if (!d.refused) {
    const bool allowed = (mode & 1) && (mode & 2) && (mode & 4) && !(mode & 8) && !(mode & 16) &&
                         !(mode & 32) && !(mode & 64) && e->sender != e->target;
    if (!allowed || !(d.to == other)) __builtin_trap();
  }
  // Rewriting the header in place round-trips.
  write_relay_envelope(datagram, e->target, e->sender);
  const auto back = parse_relay_envelope(datagram);
  if (!back || back->sender != e->target || back->target != e->sender) __builtin_trap();
  return 0;
}
