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

InitialState make_initial_state(Span identifier) noexcept {
  InitialState v;
  v.chaining_key = hash({label(kConstruction)});
  v.hash = hash({Span(v.chaining_key), identifier});
  return v;
}

const InitialState& initial_state() noexcept {
  static const InitialState s = make_initial_state(label(kIdentifier));
  return s;
}

// The keymesh variant: same construction, its own identifier, so no keymesh transcript can
// ever equal a WireGuard one.
const InitialState& keymesh_initial_state() noexcept {
  static const InitialState s = make_initial_state(label(kKeymeshIdentifier));
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

void store_le16(std::uint8_t* p, std::size_t v) noexcept {
  p[0] = std::uint8_t(v);
  p[1] = std::uint8_t(v >> 8);
}

// Responder side of an initiation up to the field after the encrypted static: e, es, s, ss.
// On success `key` opens that field under AD `h`, and `e`/`s` are the initiator's keys.
HandshakeError consume_static(const LocalStatic& local, const InitialState& init,
                              const std::uint8_t* ephemeral, const std::uint8_t* encrypted_static,
                              Hash& h, SecretKey& ck, SecretKey& key, Key& e, Key& s) noexcept {
  h = init.hash;
  ck.assign(std::span<const std::uint8_t, kHashSize>(init.chaining_key));
  SecretKey ss;

  mix_hash(h, Span(local.public_key));
  std::memcpy(e.data(), ephemeral, e.size());
  mix_hash(h, Span(e));
  mix_key(ck, Span(e));

  // es: our static with their ephemeral; unlocks their static key.
  if (!dh(ss, local.private_key, e)) return HandshakeError::DhFailed;
  mix_key2(ck, key, ss.span());
  const Span enc_static(encrypted_static, kKeySize + kTagSize);
  if (!open(MutSpan(s), key.data(), 0, enc_static, Span(h))) return HandshakeError::DecryptFailed;
  mix_hash(h, enc_static);

  // ss: static with static; unlocks the next field and proves the initiator holds its key.
  if (!dh(ss, local.private_key, s)) return HandshakeError::DhFailed;
  mix_key2(ck, key, ss.span());
  return HandshakeError::None;
}

}  // namespace

LocalStatic LocalStatic::from_private(const SecretKey& priv) noexcept {
  LocalStatic ls;
  ls.private_key.assign(priv.span());
  ls.public_key = crypto::public_key(priv);
  ls.mac1_key = hash({label(kLabelMac1), Span(ls.public_key)});
  ls.cookie_key = hash({label(kLabelCookie), Span(ls.public_key)});
  ls.receiver_hint = crypto::receiver_hint(ls.public_key);
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
    case HandshakeError::BadLength: return "bad message or payload length";
    case HandshakeError::WrongReceiver: return "receiver hint names another identity";
  }
  return "unknown";
}

HandshakeError consume_initiation(const LocalStatic& local, const MessageInitiation& msg,
                                  ConsumedInitiation& out) noexcept {
  if (!type_is(msg.type, kTypeInitiation)) return HandshakeError::WrongType;
  Hash h;
  SecretKey ck, key;
  Key e, s;
  if (auto err = consume_static(local, initial_state(), msg.ephemeral, msg.encrypted_static, h,
                                ck, key, e, s);
      err != HandshakeError::None)
    return err;
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
  out.keymesh = false;
  return HandshakeError::None;
}

HandshakeError consume_keymesh_initiation(const LocalStatic& local, Span msg,
                                          ConsumedInitiation& out, Bytes& payload_out) {
  payload_out.clear();
  if (msg.size() < 4 || load_le32(msg.data()) != kTypeKeymeshInitiation)
    return HandshakeError::WrongType;
  const auto n = keymesh_initiation_payload_length(msg);
  if (!n) return HandshakeError::BadLength;
  const KeymeshInitiationHeader& hdr = keymesh_initiation_header(msg);
  if (std::memcmp(hdr.receiver_hint, local.receiver_hint.data(), kReceiverHintSize) != 0)
    return HandshakeError::WrongReceiver;

  Hash h;
  SecretKey ck, key;
  Key e, s;
  if (auto err = consume_static(local, keymesh_initial_state(), hdr.ephemeral,
                                hdr.encrypted_static, h, ck, key, e, s);
      err != HandshakeError::None)
    return err;
  // TAI64N || payload, one AEAD: the payload is bound to the same proof as the timestamp.
  const Span enc = keymesh_encrypted_payload(msg);
  payload_out.resize(kTimestampSize + *n);
  if (!open(MutSpan(payload_out), key.data(), 0, enc, Span(h))) {
    payload_out.clear();
    return HandshakeError::DecryptFailed;
  }
  mix_hash(h, enc);
  Timestamp ts;
  std::memcpy(ts.data(), payload_out.data(), ts.size());
  payload_out.erase(payload_out.begin(), payload_out.begin() + kTimestampSize);

  out.remote_static = s;
  out.remote_ephemeral = e;
  out.timestamp = ts;
  out.remote_index = load_le32(hdr.sender);
  out.hash = h;
  out.chaining_key = std::move(ck);
  out.keymesh = true;
  return HandshakeError::None;
}

Handshake::Handshake(const LocalStatic& local, const Key& remote_static,
                     const SecretKey* psk) noexcept
    : local_(local), remote_static_(remote_static), remote_hint_(receiver_hint(remote_static)) {
  set_preshared_key(psk);
}

void Handshake::set_preshared_key(const SecretKey* psk) noexcept {
  if (psk != nullptr) {
    psk_.assign(psk->span());
  } else {
    psk_.clear();
  }
}

// Initiator steps shared by both variants: fresh transcript, e, es, s, then ss. Leaves `key`
// ready to seal the timestamp field under AD hash_.
HandshakeError Handshake::start_initiation(bool keymesh, std::uint32_t local_index,
                                           std::uint8_t* ephemeral_out,
                                           std::uint8_t* encrypted_static_out,
                                           SecretKey& key) noexcept {
  clear();
  if (!ss_computed_) {  // a low-order remote static leaves it zero: refused below, every time
    dh(precomputed_ss_, local_.private_key, remote_static_);
    ss_computed_ = true;
  }
  if (precomputed_ss_.is_zero()) return HandshakeError::DhFailed;
  const InitialState& init = keymesh ? keymesh_initial_state() : initial_state();
  hash_ = init.hash;
  chaining_key_.assign(std::span<const std::uint8_t, kHashSize>(init.chaining_key));
  mix_hash(hash_, Span(remote_static_));

  generate_private_key(ephemeral_private_);
  const Key e = public_key(ephemeral_private_);
  std::memcpy(ephemeral_out, e.data(), e.size());
  mix_hash(hash_, Span(e));
  mix_key(chaining_key_, Span(e));

  SecretKey ss;
  if (!dh(ss, ephemeral_private_, remote_static_)) {
    clear();
    return HandshakeError::DhFailed;
  }
  mix_key2(chaining_key_, key, ss.span());
  const MutSpan enc_static(encrypted_static_out, kKeySize + kTagSize);
  seal(enc_static, key.data(), 0, Span(local_.public_key), Span(hash_));
  mix_hash(hash_, Span(enc_static));

  mix_key2(chaining_key_, key, precomputed_ss_.span());
  local_index_ = local_index;
  return HandshakeError::None;
}

HandshakeError Handshake::create_initiation(MessageInitiation& out, std::uint32_t local_index,
                                            WallTime wall) noexcept {
  std::memset(&out, 0, sizeof out);
  store_le32(out.type, kTypeInitiation);
  store_le32(out.sender, local_index);
  SecretKey key;
  if (auto err = start_initiation(false, local_index, out.ephemeral, out.encrypted_static, key);
      err != HandshakeError::None)
    return err;
  const Timestamp ts = tai64n(wall);
  seal(MutSpan(out.encrypted_timestamp), key.data(), 0, Span(ts), Span(hash_));
  mix_hash(hash_, Span(out.encrypted_timestamp));
  state_ = State::InitiationCreated;
  return HandshakeError::None;
}

HandshakeError Handshake::create_keymesh_initiation(MutSpan out, std::uint32_t local_index,
                                                    WallTime wall, Span payload,
                                                    std::size_t& written) noexcept {
  written = 0;
  const std::size_t n = payload.size();
  if (n > kMaxHandshakePayload || out.size() < keymesh_initiation_size(n)) {
    clear();  // as start_initiation does: no earlier initiation stays armed behind a failure
    return HandshakeError::BadLength;
  }
  const MutSpan msg = out.first(keymesh_initiation_size(n));
  std::memset(msg.data(), 0, msg.size());
  auto* hdr = reinterpret_cast<KeymeshInitiationHeader*>(msg.data());
  store_le32(hdr->type, kTypeKeymeshInitiation);
  store_le32(hdr->sender, local_index);
  std::memcpy(hdr->receiver_hint, remote_hint_.data(), kReceiverHintSize);
  store_le16(hdr->payload_length, n);
  SecretKey key;
  if (auto err = start_initiation(true, local_index, hdr->ephemeral, hdr->encrypted_static, key);
      err != HandshakeError::None)
    return err;

  const MutSpan enc = msg.subspan(sizeof(KeymeshInitiationHeader), kTimestampSize + n + kTagSize);
  const Timestamp ts = tai64n(wall);
  std::memcpy(enc.data(), ts.data(), ts.size());
  if (n > 0) std::memcpy(enc.data() + kTimestampSize, payload.data(), n);
  seal(enc, key.data(), 0, Span(enc.data(), kTimestampSize + n), Span(hash_));  // in place
  mix_hash(hash_, Span(enc));
  state_ = State::KeymeshInitiationCreated;
  written = msg.size();
  return HandshakeError::None;
}

// Initiator side of the response, shared by both variants: e, ee, se, psk. Works on copies
// (`h`, `ck`) so a forged response cannot destroy the initiation still outstanding. Leaves
// `key` ready to open the response's encrypted field under AD `h`.
HandshakeError Handshake::response_keys(const std::uint8_t* ephemeral, Hash& h, SecretKey& ck,
                                        SecretKey& key) const noexcept {
  h = hash_;
  ck.assign(chaining_key_.span());
  SecretKey ss;
  Key e;
  std::memcpy(e.data(), ephemeral, e.size());
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
  return HandshakeError::None;
}

HandshakeError Handshake::consume_response(const MessageResponse& msg,
                                           SessionKeys& keys) noexcept {
  if (!type_is(msg.type, kTypeResponse)) return HandshakeError::WrongType;
  if (state_ != State::InitiationCreated || load_le32(msg.receiver) != local_index_)
    return HandshakeError::WrongState;

  Hash h;
  SecretKey ck, key;
  if (auto err = response_keys(msg.ephemeral, h, ck, key); err != HandshakeError::None)
    return err;
  std::uint8_t nothing[1];
  if (!open(MutSpan(nothing, 0), key.data(), 0, Span(msg.encrypted_nothing), Span(h)))
    return HandshakeError::DecryptFailed;

  derive_session(keys, ck, true);
  keys.local_index = local_index_;
  keys.remote_index = load_le32(msg.sender);
  clear();
  return HandshakeError::None;
}

HandshakeError Handshake::consume_keymesh_response(Span msg, SessionKeys& keys,
                                                   Bytes& payload_out) {
  payload_out.clear();
  if (msg.size() < 4 || load_le32(msg.data()) != kTypeKeymeshResponse)
    return HandshakeError::WrongType;
  const auto n = keymesh_response_payload_length(msg);
  if (!n) return HandshakeError::BadLength;
  const KeymeshResponseHeader& hdr = keymesh_response_header(msg);
  if (state_ != State::KeymeshInitiationCreated || load_le32(hdr.receiver) != local_index_)
    return HandshakeError::WrongState;

  Hash h;
  SecretKey ck, key;
  if (auto err = response_keys(hdr.ephemeral, h, ck, key); err != HandshakeError::None)
    return err;
  payload_out.resize(*n);
  if (!open(MutSpan(payload_out), key.data(), 0, keymesh_encrypted_payload(msg), Span(h))) {
    payload_out.clear();
    return HandshakeError::DecryptFailed;
  }

  derive_session(keys, ck, true);
  keys.local_index = local_index_;
  keys.remote_index = load_le32(hdr.sender);
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

// Responder steps shared by both variants: takes the accepted initiation, then e, ee, se, psk.
// Leaves `key` ready to seal the response's encrypted field under AD `h`.
HandshakeError Handshake::start_response(std::uint8_t* ephemeral_out, Hash& h, SecretKey& ck,
                                         SecretKey& key, std::uint32_t& remote_index) noexcept {
  has_accepted_ = false;
  h = accepted_.hash;
  ck = std::move(accepted_.chaining_key);
  sodium_memzero(accepted_.hash.data(), accepted_.hash.size());
  remote_index = accepted_.remote_index;

  SecretKey ephemeral;
  generate_private_key(ephemeral);
  const Key e = public_key(ephemeral);
  std::memcpy(ephemeral_out, e.data(), e.size());
  mix_hash(h, Span(e));
  mix_key(ck, Span(e));

  SecretKey ss;
  if (!dh(ss, ephemeral, accepted_.remote_ephemeral)) return HandshakeError::DhFailed;  // ee
  mix_key(ck, ss.span());
  if (!dh(ss, ephemeral, remote_static_)) return HandshakeError::DhFailed;  // es
  mix_key(ck, ss.span());

  Hash tau;
  kdf(ck.data(), tau.data(), key.data(), ck.span(), psk_.span());
  mix_hash(h, Span(tau));
  sodium_memzero(tau.data(), tau.size());
  return HandshakeError::None;
}

HandshakeError Handshake::create_response(MessageResponse& out, std::uint32_t local_index,
                                          SessionKeys& keys) noexcept {
  if (!has_accepted_ || accepted_.keymesh) return HandshakeError::WrongState;
  std::memset(&out, 0, sizeof out);
  store_le32(out.type, kTypeResponse);
  store_le32(out.sender, local_index);
  Hash h;
  SecretKey ck, key;
  std::uint32_t remote_index = 0;
  if (auto err = start_response(out.ephemeral, h, ck, key, remote_index);
      err != HandshakeError::None)
    return err;
  store_le32(out.receiver, remote_index);
  seal(MutSpan(out.encrypted_nothing), key.data(), 0, Span(), Span(h));
  mix_hash(h, Span(out.encrypted_nothing));
  sodium_memzero(h.data(), h.size());

  derive_session(keys, ck, false);
  keys.local_index = local_index;
  keys.remote_index = remote_index;
  return HandshakeError::None;
}

HandshakeError Handshake::create_keymesh_response(MutSpan out, std::uint32_t local_index,
                                                  Span payload, SessionKeys& keys,
                                                  std::size_t& written) noexcept {
  written = 0;
  if (!has_accepted_ || !accepted_.keymesh) return HandshakeError::WrongState;
  const std::size_t n = payload.size();
  if (n > kMaxHandshakePayload || out.size() < keymesh_response_size(n))
    return HandshakeError::BadLength;
  const MutSpan msg = out.first(keymesh_response_size(n));
  std::memset(msg.data(), 0, msg.size());
  auto* hdr = reinterpret_cast<KeymeshResponseHeader*>(msg.data());
  store_le32(hdr->type, kTypeKeymeshResponse);
  store_le32(hdr->sender, local_index);
  store_le16(hdr->payload_length, n);
  Hash h;
  SecretKey ck, key;
  std::uint32_t remote_index = 0;
  if (auto err = start_response(hdr->ephemeral, h, ck, key, remote_index);
      err != HandshakeError::None)
    return err;
  store_le32(hdr->receiver, remote_index);

  // The payload takes the place of WireGuard's "encrypted nothing": empty still yields a tag.
  const MutSpan enc = msg.subspan(sizeof(KeymeshResponseHeader), n + kTagSize);
  if (n > 0) std::memcpy(enc.data(), payload.data(), n);
  seal(enc, key.data(), 0, Span(enc.data(), n), Span(h));  // in place
  mix_hash(h, Span(enc));
  sodium_memzero(h.data(), h.size());

  derive_session(keys, ck, false);
  keys.local_index = local_index;
  keys.remote_index = remote_index;
  written = msg.size();
  return HandshakeError::None;
}

std::optional<std::uint32_t> Handshake::pending_local_index() const noexcept {
  if (state_ == State::Zeroed) return std::nullopt;
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
