// Writes the seed corpus of fuzz_messages into the directory given as argv[1]: a valid
// initiation, response, cookie reply, data message and keepalive for the fixed identities, and
// a keymesh initiation and response.
// Not a test; rebuild and run it if the fixed identities or message formats change:
//   ninja fuzz_messages_seeds && ./fuzz_messages_seeds tests/fuzz/corpus/messages
#include <cstdio>
#include <fstream>
#include <string>

#include "fuzz_messages_keys.h"

using namespace keymesh;
using namespace keymesh::crypto;

namespace {
void write(const std::string& dir, const char* name, const void* p, std::size_t n) {
  std::ofstream out(dir + "/" + name, std::ios::binary);
  out.write(static_cast<const char*>(p), std::streamsize(n));
}
MutSpan bytes_of(void* p, std::size_t n) { return MutSpan(static_cast<std::uint8_t*>(p), n); }
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s corpus-dir\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const LocalStatic local = fuzz::local_identity();
  const LocalStatic remote = fuzz::remote_identity();
  const WallTime wall = WallTime(std::chrono::seconds(1'700'000'000));

  // The peer initiates to the target.
  Handshake peer(remote, local.public_key, nullptr);
  CookieGenerator peer_macs(local.public_key);
  MessageInitiation init;
  peer.create_initiation(init, 0x01020304, wall);
  peer_macs.add_macs(bytes_of(&init, sizeof init), fuzz::kNow);
  write(dir, "initiation.bin", &init, sizeof init);

  // A genuine response to the target's pending index (its ephemeral is random at fuzz time,
  // so this one exercises the path up to decryption).
  Handshake target_as_init(local, remote.public_key, nullptr);
  MessageInitiation t_init;
  target_as_init.create_initiation(t_init, fuzz::kInitiatorIndex, wall);
  ConsumedInitiation ci;
  consume_initiation(remote, t_init, ci);
  Handshake responder(remote, local.public_key, nullptr);
  responder.accept_initiation(std::move(ci), fuzz::kNow);
  MessageResponse resp;
  SessionKeys keys;
  responder.create_response(resp, 0x0a0b0c0d, keys);
  CookieGenerator to_target(local.public_key);
  to_target.add_macs(bytes_of(&resp, sizeof resp), fuzz::kNow);
  write(dir, "response.bin", &resp, sizeof resp);

  // A cookie reply from the remote answering the target's fixed anchor message.
  auto anchor = fuzz::cookie_anchor_message();
  CookieGenerator target_macs(remote.public_key);
  target_macs.add_macs(bytes_of(&anchor, sizeof anchor), fuzz::kNow);
  CookieChecker remote_checker(remote);
  MessageCookieReply reply;
  remote_checker.create_reply(reply, Span(reinterpret_cast<const std::uint8_t*>(&anchor), sizeof anchor),
                              0x42, fuzz::fixed_source(), fuzz::kNow);
  write(dir, "cookie_reply.bin", &reply, sizeof reply);

  // A keymesh initiation from the peer to the target, with a 100-byte payload.
  std::uint8_t km_payload[100];
  for (std::size_t i = 0; i < sizeof km_payload; ++i) km_payload[i] = std::uint8_t(i);
  Handshake km_peer(remote, local.public_key, nullptr);
  Bytes km_init(keymesh_initiation_size(sizeof km_payload));
  std::size_t km_n = 0;
  km_peer.create_keymesh_initiation(km_init, 0x01020305, wall, Span(km_payload), km_n);
  peer_macs.add_macs(km_init, fuzz::kNow);
  write(dir, "keymesh_initiation.bin", km_init.data(), km_init.size());

  // A keymesh response to a keymesh initiation of the target (as for response.bin, the
  // target's ephemeral differs at fuzz time: this reaches decryption).
  Handshake km_target(local, remote.public_key, nullptr);
  Bytes t_km_init(keymesh_initiation_size(0));
  km_target.create_keymesh_initiation(t_km_init, fuzz::kInitiatorIndex, wall, Span(), km_n);
  ConsumedInitiation km_ci;
  Bytes got;
  consume_keymesh_initiation(remote, t_km_init, km_ci, got);
  Handshake km_responder(remote, local.public_key, nullptr);
  km_responder.accept_initiation(std::move(km_ci), fuzz::kNow);
  Bytes km_resp(keymesh_response_size(sizeof km_payload));
  km_responder.create_keymesh_response(km_resp, 0x0a0b0c0e, Span(km_payload), keys, km_n);
  to_target.add_macs(km_resp, fuzz::kNow);
  write(dir, "keymesh_response.bin", km_resp.data(), km_resp.size());

  // Data under the fixed keypair: one packet and one keepalive.
  auto kp = fuzz::data_keypair(false);
  const char payload[] = "E\0\0\x1c fuzz seed payload";
  std::uint8_t buf[128];
  std::size_t n = 0;
  seal_data(*kp, buf, Span(reinterpret_cast<const std::uint8_t*>(payload), sizeof payload), 1420,
            fuzz::kNow, &n);
  write(dir, "data.bin", buf, n);
  seal_data(*kp, buf, Span(), 1420, fuzz::kNow, &n);
  write(dir, "keepalive.bin", buf, n);
  return 0;
}
