// The relay envelope and the relay's forwarding decision (daemon/relay.h): sans-I/O, so the
// fuzz target and unit tests drive them with bytes and path states alone.
#include "common/bytes.h"
#include "daemon/relay.h"

namespace keymesh::daemon {

KeyId key_id(const crypto::Key& key) noexcept { return load_le64(key.data()); }

std::optional<RelayEnvelope> parse_relay_envelope(std::span<std::uint8_t> datagram) noexcept {
  if (datagram.size() < kRelayEnvelopeSize + kRelayMinInner) return std::nullopt;
  if (datagram[0] != kTypeRelayEnvelope) return std::nullopt;
  if (datagram[1] != 0 || datagram[2] != 0 || datagram[3] != 0) return std::nullopt;
  RelayEnvelope e;
  e.sender = load_le64(datagram.data() + 4);
  e.target = load_le64(datagram.data() + 12);
  e.inner = datagram.subspan(kRelayEnvelopeSize);
  if (e.inner[0] == kTypeRelayEnvelope) return std::nullopt;  // no nesting: no relay chains
  return e;
}

void write_relay_envelope(std::span<std::uint8_t> out, KeyId sender, KeyId target) noexcept {
  out[0] = kTypeRelayEnvelope;
  out[1] = out[2] = out[3] = 0;
  store_le64(out.data() + 4, sender);
  store_le64(out.data() + 12, target);
}

RelayDecision decide_relay(bool enabled, const RelayEnvelope& envelope, const udp::Endpoint& from,
                           const RelayPathState* sender, const RelayPathState* target) noexcept {
  if (!enabled) return {DropReason::RelayDisabled, {}};
  // Only a host that completed a handshake with us, and from where it did: no reflection for
  // spoofed sources, no relaying for strangers.
  if (sender == nullptr || !sender->live || !(sender->endpoint == from))
    return {DropReason::RelayUnknownSender, {}};
  if (target == nullptr || !target->live || envelope.target == envelope.sender ||
      target->endpoint == from)
    return {DropReason::RelayUnknownTarget, {}};
  return {std::nullopt, target->endpoint};
}

}  // namespace keymesh::daemon
