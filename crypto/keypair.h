// Transport keypairs and their rotation (previous / current / next), data-message seal and
// open. Sans-I/O; no allocation. One Keypairs per path; the owning worker serializes access.
#pragma once

#include <cstdint>
#include <array>
#include <memory>
#include <optional>
#include <span>

#include "common/clock.h"
#include "crypto/noise.h"
#include "crypto/replay.h"

namespace keymesh::crypto {

struct Keypair {
  SecretKey send_key;
  SecretKey recv_key;
  std::uint64_t send_counter = 0;  // next counter to use
  ReplayWindow replay;
  TimePoint created{};
  std::uint32_t local_index = 0;
  std::uint32_t remote_index = 0;
  bool initiator = false;

  static std::unique_ptr<Keypair> from_session(SessionKeys&& keys, TimePoint now);
  // The keys wipe themselves; this also clears this thread's AEAD contexts (crypto/aead.h).
  ~Keypair();
};

// NoKey: the keypair's send key has been wiped. KeyExpired: older than reject_after_time.
// CounterExhausted: send_counter reached reject_after_messages. TooBig: `out` is too small.
enum class SealResult : std::uint8_t { Ok, NoKey, KeyExpired, CounterExhausted, TooBig };
// Replayed also covers counters at or beyond reject_after_messages. BadPadding: the message
// is malformed (shorter than kMinDataSize or not type 4); nothing was decrypted.
enum class OpenResult : std::uint8_t { Ok, KeyExpired, Replayed, AuthFailed, BadPadding };

// Key lifetime limits. The defaults are the specification's; tests and the daemon's test mode
// pass shortened ones so expiry can be exercised without waiting minutes.
struct KeyLimits {
  Duration reject_after_time = kRejectAfterTime;
  std::uint64_t reject_after_messages = kRejectAfterMessages;
};

// Seals `plaintext` (an inside IP packet, or empty for a keepalive) into a data message in
// `out`: header, payload zero-padded to a multiple of 16 (not beyond `mtu`), tag. Returns the
// message size in *written. `out` needs plaintext.size() + 15 + kDataOverhead bytes.
SealResult seal_data(Keypair& kp, std::span<std::uint8_t> out, std::span<const std::uint8_t> plaintext,
                     std::size_t mtu, TimePoint now, std::size_t* written) noexcept;
// Opens a data message in place. On Ok, *plain points into `msg` at the padded plaintext
// (possibly empty: a keepalive). The counter is committed to the replay window only on Ok.
OpenResult open_data(Keypair& kp, std::span<std::uint8_t> msg, TimePoint now,
                     std::span<std::uint8_t>* plain) noexcept;
// The same two with explicit limits (the overloads above use KeyLimits{}).
SealResult seal_data(Keypair& kp, std::span<std::uint8_t> out, std::span<const std::uint8_t> plaintext,
                     std::size_t mtu, TimePoint now, std::size_t* written,
                     const KeyLimits& limits) noexcept;
OpenResult open_data(Keypair& kp, std::span<std::uint8_t> msg, TimePoint now,
                     std::span<std::uint8_t>* plain, const KeyLimits& limits) noexcept;

// The three slots WireGuard keeps. A responder's fresh keypair waits in `next` until the
// initiator proves it has it (first data message under it); an initiator's goes straight to
// `current`. Replaced keypairs are destroyed, which wipes them.
class Keypairs {
 public:
  // Both return the local indices of keypairs they destroyed (at most two; unused slots are
  // nullopt) so the caller can release them from its index table.
  using Evicted = std::array<std::optional<std::uint32_t>, 2>;
  Evicted install_initiator(std::unique_ptr<Keypair> kp) noexcept;
  Evicted install_responder(std::unique_ptr<Keypair> kp) noexcept;
  // Call after a data message under `kp` authenticated; promotes `next` when kp is it.
  // Returns true when that promotion happened (the handshake is then complete for us).
  // A promotion moves current to previous and destroys the old previous: its index is returned
  // in *evicted when evicted is non-null.
  bool received_with(const Keypair* kp, std::optional<std::uint32_t>* evicted = nullptr) noexcept;
  Keypair* current() noexcept { return current_.get(); }
  Keypair* previous() noexcept { return previous_.get(); }
  Keypair* next() noexcept { return next_.get(); }
  // Finds the slot whose local_index matches (for the receive path).
  Keypair* by_local_index(std::uint32_t index) noexcept;
  void clear() noexcept;

 private:
  std::unique_ptr<Keypair> previous_, current_, next_;
};

}  // namespace keymesh::crypto
