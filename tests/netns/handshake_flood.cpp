// handshake_flood: floods one keymeshd with keymesh initiations that pass its first check
// (a valid mac1 for the responder's key), for tests/netns/handshake_flood.sh (issue 15,
// section 3).
//
//   handshake_flood CHAIN_FILE RESPONDER_PUBLIC_KEY IP:PORT RATE SECONDS
//
// Half of what it sends is one real initiation (CHAIN_FILE under a fresh key) replayed over
// and over; the other half are fresh messages: that initiation with a new random sender
// index and ephemeral key, stamped with a new mac1 (each costs the responder a
// Diffie-Hellman before it can tell it is garbage, unless it refuses the source first).
// Sends in batches of 64 (sendmmsg), paced to RATE messages per second, for SECONDS.
// Prints "sent N in S s: R/s" and exits 0; 2 on bad input.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "crypto/cookie.h"
#include "crypto/messages.h"
#include "crypto/noise.h"
#include "daemon/config.h"
#include "identity/cert_file.h"
#include "identity/chain.h"
#include "udp/endpoint.h"

using namespace keymesh;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: handshake_flood CHAIN RESPONDER_PUB IP:PORT RATE SECONDS\n");
    return 2;
  }
  auto chain = identity::read_certificates_file(argv[1]);
  if (!chain) return std::fprintf(stderr, "%s\n", chain.error().message.c_str()), 2;
  auto responder = daemon::decode_key(argv[2]);
  auto to = udp::Endpoint::parse(argv[3]);
  const double rate = std::stod(argv[4]);
  const double seconds = std::stod(argv[5]);
  if (!responder || !to || rate <= 0 || seconds <= 0)
    return std::fprintf(stderr, "bad key, endpoint, rate or duration\n"), 2;
  crypto::Key responder_pub{};
  std::memcpy(responder_pub.data(), responder->data(), responder_pub.size());

  crypto::SecretKey key;
  crypto::generate_private_key(key);
  const auto local = crypto::LocalStatic::from_private(key);
  crypto::Handshake hs(local, responder_pub, nullptr);
  std::vector<std::uint8_t> replayed(crypto::keymesh_initiation_size(crypto::kMaxHandshakePayload));
  const Bytes payload = identity::serialize_chain(*chain);
  std::size_t written = 0;
  if (hs.create_keymesh_initiation(replayed, 0x1234, std::chrono::system_clock::now(), payload,
                                   written) != crypto::HandshakeError::None)
    return std::fprintf(stderr, "cannot build the initiation\n"), 2;
  replayed.resize(written);
  crypto::CookieGenerator stamp(responder_pub);
  stamp.add_macs(replayed, Clock::now());

  constexpr unsigned kBatch = 64;
  std::vector<std::vector<std::uint8_t>> fresh(kBatch / 2, replayed);
  std::vector<iovec> iov(kBatch);
  std::vector<mmsghdr> msgs(kBatch);
  sockaddr_storage sa{};
  const socklen_t len = to->to_sockaddr(sa);
  for (unsigned i = 0; i < kBatch; ++i) {
    auto& m = (i % 2 == 0) ? replayed : fresh[i / 2];
    iov[i] = {m.data(), m.size()};
    msgs[i].msg_hdr = {};
    msgs[i].msg_hdr.msg_name = &sa;
    msgs[i].msg_hdr.msg_namelen = len;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  const int fd = ::socket(to->address().family == AF_INET6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) return std::perror("socket"), 2;
  int sndbuf = 4 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);

  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::uint64_t sent = 0;
  while (Clock::now() < end) {
    // Fresh sender index and ephemeral (the receiver hint stays: it picks b's identity),
    // then a new mac1.
    using H = crypto::KeymeshInitiationHeader;
    for (auto& m : fresh) {
      randombytes_buf(m.data() + offsetof(H, sender), sizeof(H::sender));
      randombytes_buf(m.data() + offsetof(H, ephemeral), sizeof(H::ephemeral));
      stamp.add_macs(m, Clock::now());
    }
    int n = ::sendmmsg(fd, msgs.data(), kBatch, 0);
    if (n > 0) sent += unsigned(n);
    // Pace: never ahead of RATE.
    const auto due = start + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(double(sent) / rate));
    if (due > Clock::now()) std::this_thread::sleep_until(due);
  }
  const double took = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("sent %llu in %.1f s: %.0f/s\n", static_cast<unsigned long long>(sent), took,
              double(sent) / took);
  return 0;
}
