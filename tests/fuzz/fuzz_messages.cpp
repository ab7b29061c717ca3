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
  CookieGenerator generator{remote.public_key};            // for cookie replies
  std::unique_ptr<Keypair> data = fuzz::data_keypair(true);

  void ensure_pending_initiation() {
    if (initiator.pending_local_index()) return;
    MessageInitiation out;
    initiator.create_initiation(out, fuzz::kInitiatorIndex, WallTime(std::chrono::seconds(1)));
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
    case MessageKind::Invalid:
      break;
  }
  return 0;
}
