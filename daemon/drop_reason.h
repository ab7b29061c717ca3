// Every packet the daemon drops goes through one of these reasons and bumps its counter
// (docs/style.md habit 6). Names are stable: they appear in `keymesh status` and metrics.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace keymesh::daemon {

#define KEYMESH_DROP_REASONS(X)                                                            \
  /* outside (UDP) */                                                                      \
  X(MalformedMessage, "malformed_message")       /* wrong type, size or reserved bytes */  \
  X(NatPunch, "nat_punch")                       /* a hole punch: opens a NAT, carries nothing */\
  X(Mac1Invalid, "mac1_invalid")                 /* not addressed to our key */            \
  X(UnsupportedHandshake, "unsupported_handshake") /* keymesh variant, no certificate/roots */\
  X(CookieRequired, "cookie_required")           /* under load without valid mac2 */       \
  X(HandshakeRepeated, "handshake_repeated")     /* same message seen within a minute */   \
  X(HandshakeRateLimited, "handshake_rate_limited") /* source over its initiations/s */   \
  X(HandshakeDecryptFailed, "handshake_decrypt_failed")                                    \
  X(HandshakeDhFailed, "handshake_dh_failed")                                              \
  X(UnknownPeer, "unknown_peer")                 /* initiator key not configured */        \
  X(CertificateRejected, "certificate_rejected") /* handshake chain failed validation */   \
  X(CertificateKeyMismatch, "certificate_key_mismatch") /* chain names another key */      \
  X(PathNotGranted, "path_not_granted")          /* policy grants nothing between the two */\
  X(AddressNotOwned, "address_not_owned")        /* older certificate for a held address */\
  X(HandshakeReplayed, "handshake_replayed")     /* timestamp not newer */                 \
  X(HandshakeFlood, "handshake_flood")           /* initiations too close together */      \
  X(HandshakeCrossed, "handshake_crossed")       /* both initiated; the other key answers */\
  X(UnknownIndex, "unknown_index")               /* receiver index names no session */     \
  X(UnexpectedResponse, "unexpected_response")   /* no initiation outstanding */           \
  X(CookieReplyInvalid, "cookie_reply_invalid")                                            \
  X(DataReplayed, "data_replayed")               /* counter seen or too old */             \
  X(DataAuthFailed, "data_auth_failed")          /* forged or corrupted */                 \
  X(KeyExpired, "key_expired")                   /* keypair past reject limits */          \
  X(InnerMalformed, "inner_malformed")           /* decrypted bytes are no IP packet */    \
  X(SourceNotAllowed, "source_not_allowed")      /* cryptokey routing: inner src check */  \
  X(DestinationNotAllowed, "destination_not_allowed") /* inner dst not the path's identity */\
  X(PolicyDenied, "policy_denied")               /* no grant and no tracked flow */        \
  X(TunWriteFailed, "tun_write_failed")         /* the kernel refused the inside packet */\
  /* inside (TUN) */                                                                       \
  X(InsideMalformed, "inside_malformed")         /* not IPv4/IPv6 */                       \
  X(NoRoute, "no_route")                         /* destination in no peer's allowed IPs */\
  X(NoLocalIdentity, "no_local_identity")        /* source address is no local identity's */\
  X(PathClosed, "path_closed")                   /* staged packets of a path that closed */ \
  X(NoEndpoint, "no_endpoint")                   /* peer has no known endpoint yet */      \
  X(StagedQueueFull, "staged_queue_full")        /* too many packets await a handshake */  \
  X(HandshakeTimeout, "handshake_timeout")       /* staged packets given up after 90 s */  \
  X(PacketTooBig, "packet_too_big")              /* larger than the MTU allows */          \
  X(SendBufferUnavailable, "send_buffer_unavailable")                                      \
  X(UdpSendFailed, "udp_send_failed")            /* socket refused it (counted by the bind) */\
  X(PathMtuExceeded, "path_mtu_exceeded")        /* EMSGSIZE: datagram over the path MTU */\
  X(TooBigForPath, "too_big_for_path")           /* over the learned path MTU: ICMP sent */ \
  /* relaying (daemon/relay.h) */                                                          \
  X(RelayMalformed, "relay_malformed")           /* envelope too short, reserved, nested */ \
  X(RelayDisabled, "relay_disabled")             /* envelope for others; not `relay: true` */\
  X(RelayUnknownSender, "relay_unknown_sender")  /* no live path from that host there */    \
  X(RelayUnknownTarget, "relay_unknown_target")  /* no live path to the target (or itself) */

enum class DropReason : std::uint8_t {
#define X(id, name) id,
  KEYMESH_DROP_REASONS(X)
#undef X
      Count
};

inline constexpr std::size_t kDropReasonCount = std::size_t(DropReason::Count);

constexpr std::string_view to_string(DropReason r) noexcept {
  constexpr std::array<std::string_view, kDropReasonCount> names = {
#define X(id, name) name,
      KEYMESH_DROP_REASONS(X)
#undef X
  };
  return names[std::size_t(r)];
}

class DropCounters {
 public:
  void count(DropReason r) noexcept { ++counts_[std::size_t(r)]; }
  std::uint64_t get(DropReason r) const noexcept { return counts_[std::size_t(r)]; }
  std::uint64_t total() const noexcept {
    std::uint64_t t = 0;
    for (auto c : counts_) t += c;
    return t;
  }

 private:
  std::array<std::uint64_t, kDropReasonCount> counts_{};
};

}  // namespace keymesh::daemon
