// Protocol constants, split as wireguard-go does: what the WireGuard specification fixes,
// and what this implementation chooses. Each has the reason it exists.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace keymesh::crypto {

using namespace std::chrono_literals;

// ---- From the specification (WireGuard paper §5 and wireguard.com/protocol) ----
inline constexpr char kConstruction[] = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
inline constexpr char kIdentifier[] = "WireGuard v1 zx2c4 Jason@zx2c4.com";
inline constexpr char kLabelMac1[] = "mac1----";
inline constexpr char kLabelCookie[] = "cookie--";

inline constexpr std::size_t kKeySize = 32;        // X25519 and ChaCha20 keys
inline constexpr std::size_t kHashSize = 32;       // BLAKE2s-256
inline constexpr std::size_t kMacSize = 16;        // keyed BLAKE2s-128
inline constexpr std::size_t kTagSize = 16;        // Poly1305
inline constexpr std::size_t kTimestampSize = 12;  // TAI64N
inline constexpr std::size_t kCookieNonceSize = 24;  // XChaCha20

inline constexpr std::uint32_t kTypeInitiation = 1;
inline constexpr std::uint32_t kTypeResponse = 2;
inline constexpr std::uint32_t kTypeCookieReply = 3;
inline constexpr std::uint32_t kTypeData = 4;

inline constexpr std::uint64_t kRekeyAfterMessages = 1ull << 60;  // start a new handshake
inline constexpr std::uint64_t kRejectAfterMessages = ~0ull - (1ull << 13);  // stop using key
inline constexpr auto kRekeyAfterTime = 120s;    // initiator renews a key this old
inline constexpr auto kRejectAfterTime = 180s;   // no key older than this is used
inline constexpr auto kRekeyAttemptTime = 90s;   // give up retrying a handshake after this
inline constexpr auto kRekeyTimeout = 5s;        // retry an unanswered initiation
inline constexpr auto kKeepaliveTimeout = 10s;   // passive keepalive after receiving data
inline constexpr auto kCookieRefreshTime = 120s; // cookie secret and received cookie lifetime
inline constexpr auto kRekeyTimeoutJitterMax = 333ms;  // added to each retry
inline constexpr std::size_t kReplayWindowBits = 8192 - 64;  // counters tracked behind the top
inline constexpr std::size_t kPaddingMultiple = 16;  // plaintext padded to this before sealing

// ---- Our own choices ----
// keymesh handshake variant (docs/protocol.md): same Noise_IKpsk2 pattern, carrying an encrypted
// payload (the certificate chain). Its own identifier keeps the two transcripts apart.
inline constexpr char kKeymeshIdentifier[] = "keymesh v1 handshake";
// Domain label of the receiver hint: hint = first 4 bytes of HASH(kLabelHint || public key).
inline constexpr char kLabelHint[] = "keymesh-hint";
// Keymesh initiation: above the WireGuard range (1..4, which WireGuard may still extend at the
// bottom), so a stock WireGuard peer drops it as an unknown type.
inline constexpr std::uint32_t kTypeKeymeshInitiation = 0x11;
// Keymesh response: the next number, mirroring WireGuard's initiation/response pairing.
inline constexpr std::uint32_t kTypeKeymeshResponse = 0x12;
// Largest handshake payload either side may carry: a certificate chain of up to 5 certificates.
// Fits the 16-bit payload_length field; the datagram then needs IP fragmentation, as any
// handshake larger than the path MTU does.
inline constexpr std::size_t kMaxHandshakePayload = 4096;
// Bytes of the receiver hint in a keymesh initiation: selects the local identity in O(1).
inline constexpr std::size_t kReceiverHintSize = 4;
// A handshake older than this is discarded even before the rekey-attempt limit; also the
// minimum spacing between two initiations we accept from one peer (flood guard, as WireGuard).
inline constexpr auto kInitiationMinInterval = 20ms;
// How long an initiation we sent stands before a new one may replace it. A replacement sooner
// carries the same timestamp (they are rounded to 2^24 ns) or falls in the responder's
// kInitiationMinInterval, so it is refused, while the answer to the first finds its index
// gone: neither completes until the retransmit timer.
inline constexpr auto kInitiationReplaceAfter = 50ms;
// Key material of an idle peer is wiped after 3 * RejectAfterTime (WireGuard does the same).
inline constexpr auto kZeroKeysAfter = kRejectAfterTime * 3;
// Handshake messages per second above which we demand cookies (mac2).
inline constexpr std::uint32_t kDefaultUnderLoadHandshakesPerSecond = 1000;
// Packets queued per peer while waiting for a handshake; more are dropped (counted).
inline constexpr std::size_t kMaxStagedPackets = 128;

}  // namespace keymesh::crypto
