#include "crypto/keypair.h"

#include <cstring>

#include "common/bytes.h"
#include "crypto/aead.h"

namespace keymesh::crypto {

std::unique_ptr<Keypair> Keypair::from_session(SessionKeys&& keys, TimePoint now) {
  auto kp = std::make_unique<Keypair>();
  kp->send_key = std::move(keys.send);
  kp->recv_key = std::move(keys.recv);
  kp->created = now;
  kp->local_index = keys.local_index;
  kp->remote_index = keys.remote_index;
  kp->initiator = keys.initiator;
  return kp;
}

Keypair::~Keypair() { forget_aead_keys(); }

// ---- Data messages ----

SealResult seal_data(Keypair& kp, std::span<std::uint8_t> out,
                     std::span<const std::uint8_t> plaintext, std::size_t mtu, TimePoint now,
                     std::size_t* written, const KeyLimits& limits) noexcept {
  if (written != nullptr) *written = 0;
  if (kp.send_key.is_zero()) return SealResult::NoKey;  // wiped: never seal under zeros
  if (now - kp.created >= limits.reject_after_time) return SealResult::KeyExpired;
  if (kp.send_counter >= limits.reject_after_messages) return SealResult::CounterExhausted;

  const std::size_t len = plaintext.size();
  std::size_t padded = (len + kPaddingMultiple - 1) / kPaddingMultiple * kPaddingMultiple;
  // Padding must not push a full-size packet past the tunnel MTU (WireGuard does the same).
  if (mtu != 0 && padded > mtu) padded = len > mtu ? len : mtu;
  const std::size_t total = sizeof(MessageDataHeader) + padded + kTagSize;
  if (out.size() < total) return SealResult::TooBig;

  const std::uint64_t counter = kp.send_counter++;
  std::uint8_t* body = out.data() + sizeof(MessageDataHeader);
  // memmove first: the caller may have placed plaintext inside `out` (even at its start).
  if (len != 0) std::memmove(body, plaintext.data(), len);
  std::memset(body + len, 0, padded - len);
  std::memset(out.data(), 0, 4);
  out[0] = std::uint8_t(kTypeData);
  store_le32(out.data() + 4, kp.remote_index);
  store_le64(out.data() + 8, counter);
  seal(MutSpan(body, padded + kTagSize), kp.send_key.data(), counter, Span(body, padded), Span());
  if (written != nullptr) *written = total;
  return SealResult::Ok;
}

SealResult seal_data(Keypair& kp, std::span<std::uint8_t> out,
                     std::span<const std::uint8_t> plaintext, std::size_t mtu, TimePoint now,
                     std::size_t* written) noexcept {
  return seal_data(kp, out, plaintext, mtu, now, written, KeyLimits{});
}

OpenResult open_data(Keypair& kp, std::span<std::uint8_t> msg, TimePoint now,
                     std::span<std::uint8_t>* plain, const KeyLimits& limits) noexcept {
  if (msg.size() < kMinDataSize || load_le32(msg.data()) != kTypeData)
    return OpenResult::BadPadding;
  // A wiped key is all zeros, which anyone could seal under: treat it as expired.
  if (kp.recv_key.is_zero()) return OpenResult::KeyExpired;
  if (now - kp.created >= limits.reject_after_time) return OpenResult::KeyExpired;
  const std::uint64_t counter = load_le64(msg.data() + 8);
  if (counter >= limits.reject_after_messages || !kp.replay.check(counter))
    return OpenResult::Replayed;

  const auto body = msg.subspan(sizeof(MessageDataHeader));
  const auto out = body.first(body.size() - kTagSize);
  if (!open(out, kp.recv_key.data(), counter, Span(body.data(), body.size()), Span()))
    return OpenResult::AuthFailed;
  // Only an authenticated counter may move the window.
  if (!kp.replay.commit(counter)) return OpenResult::Replayed;
  if (plain != nullptr) *plain = out;
  return OpenResult::Ok;
}

OpenResult open_data(Keypair& kp, std::span<std::uint8_t> msg, TimePoint now,
                     std::span<std::uint8_t>* plain) noexcept {
  return open_data(kp, msg, now, plain, KeyLimits{});
}

// ---- Rotation ----

namespace {
std::optional<std::uint32_t> index_of(const std::unique_ptr<Keypair>& kp) noexcept {
  if (!kp) return std::nullopt;
  return kp->local_index;
}
}  // namespace

Keypairs::Evicted Keypairs::install_initiator(std::unique_ptr<Keypair> kp) noexcept {
  Evicted evicted{};
  if (next_) {
    // An unconfirmed responder keypair is newer than current: keep it as previous so
    // in-flight data under it still opens; current goes.
    evicted[0] = index_of(previous_);
    evicted[1] = index_of(current_);
    previous_ = std::move(next_);
    current_.reset();
  } else {
    evicted[0] = index_of(previous_);
    previous_ = std::move(current_);
  }
  current_ = std::move(kp);
  return evicted;
}

Keypairs::Evicted Keypairs::install_responder(std::unique_ptr<Keypair> kp) noexcept {
  Evicted evicted{index_of(next_), index_of(previous_)};
  next_ = std::move(kp);
  previous_.reset();
  return evicted;
}

bool Keypairs::received_with(const Keypair* kp, std::optional<std::uint32_t>* evicted) noexcept {
  if (evicted != nullptr) *evicted = std::nullopt;
  if (kp == nullptr || kp != next_.get()) return false;
  if (evicted != nullptr) *evicted = index_of(previous_);
  previous_ = std::move(current_);
  current_ = std::move(next_);
  return true;
}

Keypair* Keypairs::by_local_index(std::uint32_t index) noexcept {
  for (auto* slot : {&current_, &next_, &previous_})
    if (*slot && (*slot)->local_index == index) return slot->get();
  return nullptr;
}

void Keypairs::clear() noexcept {
  previous_.reset();
  current_.reset();
  next_.reset();
}

}  // namespace keymesh::crypto
