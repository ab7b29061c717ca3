// Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s as WireGuard runs it (paper §5.4.2-§5.4.5). Names
// follow the paper: h is the transcript hash, ck the chaining key, `mix_hash`/`mix_key` are
// h := HASH(h || x) and ck := KDF1(ck, x).
#include "crypto/noise.h"

#include <sodium.h>

#include <cstring>

#include "common/bytes.h"

namespace keymesh::crypto {
namespace {

template <std::size_t N>
Span label(const char (&s)[N]) noexcept {
  return Span(reinterpret_cast<const std::uint8_t*>(s), N - 1);  // without the NUL
}

struct InitialState {
  Hash chaining_key;  // HASH(Construction)
  Hash hash;          // HASH(HASH(Construction) || Identifier)
};

const InitialState& initial_state() noexcept {
  static const InitialState s = [] {
    InitialState v;
    v.chaining_key = hash({label(kConstruction)});
    v.hash = hash({Span(v.chaining_key), label(kIdentifier)});
    return v;
  }();
  return s;
}

void mix_hash(Hash& h, Span data) noexcept { h = hash({Span(h), data}); }

void mix_key(SecretKey& ck, Span data) noexcept {
  kdf(ck.data(), nullptr, nullptr, ck.span(), data);
}

// (ck, key) := KDF2(ck, data)
void mix_key2(SecretKey& ck, SecretKey& key, Span data) noexcept {
  kdf(ck.data(), key.data(), nullptr, ck.span(), data);
}

bool type_is(const std::uint8_t type[4], std::uint32_t expected) noexcept {
  return load_le32(type) == expected;
}

// Transport keys: (T_i->r, T_r->i) := KDF2(ck, empty).
void derive_session(SessionKeys& keys, const SecretKey& ck, bool initiator) noexcept {
  SecretKey first, second;
  kdf(first.data(), second.data(), nullptr, ck.span(), Span());
  if (initiator) {
    keys.send = std::move(first);
    keys.recv = std::move(second);
  } else {
    keys.send = std::move(second);
    keys.recv = std::move(first);
  }
  keys.initiator = initiator;
}

}  // namespace

LocalStatic LocalStatic::from_private(const SecretKey& priv) noexcept {
  LocalStatic ls;
  ls.private_key.assign(priv.span());
  ls.public_key = crypto::public_key(priv);
  ls.mac1_key = hash({label(kLabelMac1), Span(ls.public_key)});
  ls.cookie_key = hash({label(kLabelCookie), Span(ls.public_key)});
  return ls;
}

const char* to_string(HandshakeError e) noexcept {
  switch (e) {
    case HandshakeError::None: return "none";
    case HandshakeError::WrongType: return "wrong message type";
    case HandshakeError::WrongState: return "unexpected in this handshake state";
    case HandshakeError::DecryptFailed: return "decryption failed";
    case HandshakeError::DhFailed: return "low-order public key";
    case HandshakeError::UnknownPeer: return "unknown peer";
    case HandshakeError::ReplayedTimestamp: return "replayed or stale timestamp";
    case HandshakeError::Flood: return "initiation flood";
  }
  return "unknown";
}

HandshakeError consume_initiation(const LocalStatic& local, const MessageInitiation& msg,
                                  ConsumedInitiation& out) noexcept {
  if (!type_is(msg.type, kTypeInitiation)) return HandshakeError::WrongType;
  const InitialState& init = initial_state();
  Hash h = init.hash;
  SecretKey ck(std::span<const std::uint8_t, kHashSize>(init.chaining_key));
  SecretKey ss, key;

  mix_hash(h, Span(local.public_key));
  Key e;
  std::memcpy(e.data(), msg.ephemeral, e.size());
  mix_hash(h, Span(e));
  mix_key(ck, Span(e));

  // es: our static with their ephemeral; unlocks their static key.
  if (!dh(ss, local.private_key, e)) return HandshakeError::DhFailed;
  mix_key2(ck, key, ss.span());
  Key s;
  if (!open(MutSpan(s), key.data(), 0, Span(msg.encrypted_static), Span(h)))
    return HandshakeError::DecryptFailed;
  mix_hash(h, Span(msg.encrypted_static));

  // ss: static with static; unlocks the timestamp and proves the initiator holds its key.
  if (!dh(ss, local.private_key, s)) return HandshakeError::DhFailed;
  mix_key2(ck, key, ss.span());
  Timestamp ts;
  if (!open(MutSpan(ts), key.data(), 0, Span(msg.encrypted_timestamp), Span(h)))
    return HandshakeError::DecryptFailed;
  mix_hash(h, Span(msg.encrypted_timestamp));

  out.remote_static = s;
  out.remote_ephemeral = e;
  out.timestamp = ts;
  out.remote_index = load_le32(msg.sender);
  out.hash = h;
  out.chaining_key = std::move(ck);
  return HandshakeError::None;
}

Handshake::Handshake(const LocalStatic& local, const Key& remote_static,
                     const SecretKey* psk) noexcept
    : local_(local), remote_static_(remote_static) {
  set_preshared_key(psk);
  // A low-order remote static leaves this zero; create_initiation then refuses.
  dh(precomputed_ss_, local_.private_key, remote_static_);
}

void Handshake::set_preshared_key(const SecretKey* psk) noexcept {
  if (psk != nullptr) {
    psk_.assign(psk->span());
  } else {
    psk_.clear();
  }
}

HandshakeError Handshake::create_initiation(MessageInitiation& out, std::uint32_t local_index,
                                            WallTime wall) noexcept {
  clear();
  if (precomputed_ss_.is_zero()) return HandshakeError::DhFailed;
  const InitialState& init = initial_state();
  hash_ = init.hash;
  chaining_key_.assign(std::span<const std::uint8_t, kHashSize>(init.chaining_key));
  mix_hash(hash_, Span(remote_static_));

  generate_private_key(ephemeral_private_);
  const Key e = public_key(ephemeral_private_);
  std::memset(&out, 0, sizeof out);
  store_le32(out.type, kTypeInitiation);
  store_le32(out.sender, local_index);
  std::memcpy(out.ephemeral, e.data(), e.size());
  mix_hash(hash_, Span(e));
  mix_key(chaining_key_, Span(e));

  SecretKey ss, key;
  if (!dh(ss, ephemeral_private_, remote_static_)) {
    clear();
    return HandshakeError::DhFailed;
  }
  mix_key2(chaining_key_, key, ss.span());
  seal(MutSpan(out.encrypted_static), key.data(), 0, Span(local_.public_key), Span(hash_));
  mix_hash(hash_, Span(out.encrypted_static));

  mix_key2(chaining_key_, key, precomputed_ss_.span());
  const Timestamp ts = tai64n(wall);
  seal(MutSpan(out.encrypted_timestamp), key.data(), 0, Span(ts), Span(hash_));
  mix_hash(hash_, Span(out.encrypted_timestamp));

  local_index_ = local_index;
  state_ = State::InitiationCreated;
  return HandshakeError::None;
}

HandshakeError Handshake::consume_response(const MessageResponse& msg,
                                           SessionKeys& keys) noexcept {
  if (!type_is(msg.type, kTypeResponse)) return HandshakeError::WrongType;
  if (state_ != State::InitiationCreated || load_le32(msg.receiver) != local_index_)
    return HandshakeError::WrongState;

  // Work on copies: a forged response must not destroy the initiation still outstanding.
  Hash h = hash_;
  SecretKey ck(chaining_key_.span());
  SecretKey ss, key;
  Key e;
  std::memcpy(e.data(), msg.ephemeral, e.size());
  mix_hash(h, Span(e));
  mix_key(ck, Span(e));
  if (!dh(ss, ephemeral_private_, e)) return HandshakeError::DhFailed;  // ee
  mix_key(ck, ss.span());
  if (!dh(ss, local_.private_key, e)) return HandshakeError::DhFailed;  // se
  mix_key(ck, ss.span());

  Hash tau;
  kdf(ck.data(), tau.data(), key.data(), ck.span(), psk_.span());
  mix_hash(h, Span(tau));
  sodium_memzero(tau.data(), tau.size());
  std::uint8_t nothing[1];
  if (!open(MutSpan(nothing, 0), key.data(), 0, Span(msg.encrypted_nothing), Span(h)))
    return HandshakeError::DecryptFailed;

  derive_session(keys, ck, true);
  keys.local_index = local_index_;
  keys.remote_index = load_le32(msg.sender);
  clear();
  return HandshakeError::None;
}

HandshakeError Handshake::accept_initiation(ConsumedInitiation&& init, TimePoint now) noexcept {
  if (sodium_memcmp(init.remote_static.data(), remote_static_.data(), kKeySize) != 0)
    return HandshakeError::UnknownPeer;
  if (!timestamp_after(init.timestamp, latest_timestamp_))
    return HandshakeError::ReplayedTimestamp;
  if (last_initiation_consumed_ && now - *last_initiation_consumed_ < kInitiationMinInterval)
    return HandshakeError::Flood;

  // The responder state lives apart from an initiation we may have outstanding ourselves:
  // when both sides initiate at once, each answers the other and each still accepts the
  // answer to its own initiation, so crossing handshakes cannot lock each other out.
  latest_timestamp_ = init.timestamp;
  last_initiation_consumed_ = now;
  accepted_ = std::move(init);
  has_accepted_ = true;
  return HandshakeError::None;
}

HandshakeError Handshake::create_response(MessageResponse& out, std::uint32_t local_index,
                                          SessionKeys& keys) noexcept {
  if (!has_accepted_) return HandshakeError::WrongState;
  has_accepted_ = false;
  Hash h = accepted_.hash;
  SecretKey ck = std::move(accepted_.chaining_key);
  sodium_memzero(accepted_.hash.data(), accepted_.hash.size());
  const std::uint32_t remote_index = accepted_.remote_index;

  SecretKey ephemeral;
  generate_private_key(ephemeral);
  const Key e = public_key(ephemeral);
  std::memset(&out, 0, sizeof out);
  store_le32(out.type, kTypeResponse);
  store_le32(out.sender, local_index);
  store_le32(out.receiver, remote_index);
  std::memcpy(out.ephemeral, e.data(), e.size());
  mix_hash(h, Span(e));
  mix_key(ck, Span(e));

  SecretKey ss, key;
  if (!dh(ss, ephemeral, accepted_.remote_ephemeral)) return HandshakeError::DhFailed;  // ee
  mix_key(ck, ss.span());
  if (!dh(ss, ephemeral, remote_static_)) return HandshakeError::DhFailed;  // es
  mix_key(ck, ss.span());

  Hash tau;
  kdf(ck.data(), tau.data(), key.data(), ck.span(), psk_.span());
  mix_hash(h, Span(tau));
  sodium_memzero(tau.data(), tau.size());
  seal(MutSpan(out.encrypted_nothing), key.data(), 0, Span(), Span(h));
  mix_hash(h, Span(out.encrypted_nothing));
  sodium_memzero(h.data(), h.size());

  derive_session(keys, ck, false);
  keys.local_index = local_index;
  keys.remote_index = remote_index;
  return HandshakeError::None;
}

std::optional<std::uint32_t> Handshake::pending_local_index() const noexcept {
  if (state_ != State::InitiationCreated) return std::nullopt;
  return local_index_;
}

void Handshake::clear() noexcept {
  state_ = State::Zeroed;
  has_accepted_ = false;
  accepted_.chaining_key.clear();
  sodium_memzero(accepted_.hash.data(), accepted_.hash.size());
  sodium_memzero(hash_.data(), hash_.size());
  chaining_key_.clear();
  ephemeral_private_.clear();
  local_index_ = 0;
}

}  // namespace keymesh::crypto
