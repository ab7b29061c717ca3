// Fuzz target for everything that parses an outside datagram: classify(), then the matching
// consume/open path against a fixed local identity. It must never crash, read out of bounds
// or trip a sanitizer, whatever the bytes.
#include <cstdint>
#include <cstring>
#include <vector>

#include "crypto/cookie.h"
#include "crypto/keypair.h"
#include "crypto/messages.h"
#include "crypto/noise.h"
#include "fuzz_messages_keys.h"

using namespace keymesh;
using namespace keymesh::crypto;

namespace {

struct Target {
  LocalStatic local = fuzz::local_identity();
  LocalStatic remote = fuzz::remote_identity();
  CookieChecker checker{local};
  Handshake initiator{local, remote.public_key, nullptr};  // for responses
  Handshake km_initiator{local, remote.public_key, nullptr};  // for keymesh responses
  CookieGenerator generator{remote.public_key};            // for cookie replies
  std::unique_ptr<Keypair> data = fuzz::data_keypair(true);

  void ensure_pending_initiation() {
    if (initiator.pending_local_index()) return;
    MessageInitiation out;
    initiator.create_initiation(out, fuzz::kInitiatorIndex, WallTime(std::chrono::seconds(1)));
  }
  void ensure_pending_keymesh_initiation() {
    if (km_initiator.pending_local_index()) return;
    Bytes out(keymesh_initiation_size(0));
    std::size_t n = 0;
    km_initiator.create_keymesh_initiation(out, fuzz::kInitiatorIndex,
                                           WallTime(std::chrono::seconds(1)), Span(), n);
  }
};

Target& target() {
  static Target t;
  return t;
}

template <class M>
M as(const std::uint8_t* data) {
  M m;
  std::memcpy(&m, data, sizeof m);
  return m;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Target& t = target();
  const Span in(data, size);
  const TimePoint now = fuzz::kNow;

  switch (classify(in)) {
    case MessageKind::Initiation: {
      t.checker.check_mac1(in);
      t.checker.check_mac2(in, fuzz::fixed_source(), now);
      const auto msg = as<MessageInitiation>(data);
      ConsumedInitiation ci;
      if (consume_initiation(t.local, msg, ci) == HandshakeError::None) {
        // Go all the way to a response, with a fresh per-peer handshake so that the
        // timestamp memory does not depend on the order inputs arrive in.
        Handshake responder(t.local, ci.remote_static, nullptr);
        if (responder.accept_initiation(std::move(ci), now) == HandshakeError::None) {
          MessageResponse resp;
          SessionKeys keys;
          responder.create_response(resp, 7, keys);
        }
      }
      break;
    }
    case MessageKind::Response: {
      t.checker.check_mac1(in);
      t.ensure_pending_initiation();
      SessionKeys keys;
      t.initiator.consume_response(as<MessageResponse>(data), keys);
      break;
    }
    case MessageKind::CookieReply: {
      auto anchor = fuzz::cookie_anchor_message();
      t.generator.add_macs(MutSpan(reinterpret_cast<std::uint8_t*>(&anchor), sizeof anchor), now);
      t.generator.consume_reply(as<MessageCookieReply>(data), now);
      break;
    }
    case MessageKind::Data: {
      std::vector<std::uint8_t> buf(data, data + size);
      t.data->replay.reset();  // so a valid seed reaches the AEAD every time
      std::span<std::uint8_t> plain;
      if (open_data(*t.data, buf, now, &plain) == OpenResult::Ok) {
        // The plaintext must lie inside the message.
        if (plain.data() < buf.data() || plain.data() + plain.size() > buf.data() + buf.size())
          __builtin_trap();
      }
      break;
    }
    case MessageKind::KeymeshInitiation: {
      t.checker.check_mac1(in);
      t.checker.check_mac2(in, fuzz::fixed_source(), now);
      if (keymesh_encrypted_payload(in).size() !=
          kTimestampSize + *keymesh_initiation_payload_length(in) + kTagSize)
        __builtin_trap();
      ConsumedInitiation ci;
      Bytes payload;
      if (consume_keymesh_initiation(t.local, in, ci, payload) == HandshakeError::None) {
        if (payload.size() != *keymesh_initiation_payload_length(in)) __builtin_trap();
        // Answer with the same payload, through a fresh per-peer handshake (see above).
        Handshake responder(t.local, ci.remote_static, nullptr);
        if (responder.accept_initiation(std::move(ci), now) == HandshakeError::None) {
          Bytes resp(keymesh_response_size(payload.size()));
          SessionKeys keys;
          std::size_t n = 0;
          if (responder.create_keymesh_response(resp, 7, payload, keys, n) ==
                  HandshakeError::None &&
              classify(resp) != MessageKind::KeymeshResponse)
            __builtin_trap();
        }
      } else if (!payload.empty()) {
        __builtin_trap();  // nothing may leak out of a failed decryption
      }
      break;
    }
    case MessageKind::KeymeshResponse: {
      t.checker.check_mac1(in);
      t.ensure_pending_keymesh_initiation();
      SessionKeys keys;
      Bytes payload;
      t.km_initiator.consume_keymesh_response(in, keys, payload);
      break;
    }
    case MessageKind::Invalid:
      break;
  }
  return 0;
}
