// handshake_probe: plays an impostor for tests/netns/identities.sh. It sends one keymesh
// initiation to a keymeshd identity, carrying a certificate chain it chose, under a static
// key it chose, and reports whether anything at all comes back.
//
//   handshake_probe CHAIN_FILE KEY_FILE|- RESPONDER_PUBLIC_KEY IP:PORT WAIT_SECONDS
//
// KEY_FILE "-" uses a fresh random key: "a thief holding someone's certificate but not its
// key". Prints "answered (N bytes)" and exits 0, or "silent" and exits 1; 2 on bad input.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "crypto/cookie.h"
#include "crypto/noise.h"
#include "daemon/config.h"
#include "identity/cert_file.h"
#include "identity/chain.h"
#include "udp/endpoint.h"

using namespace keymesh;

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: handshake_probe CHAIN KEY|- RESPONDER_PUB IP:PORT WAIT\n");
    return 2;
  }
  auto chain = identity::read_certificates_file(argv[1]);
  if (!chain) return std::fprintf(stderr, "%s\n", chain.error().message.c_str()), 2;
  crypto::SecretKey key;
  if (std::string(argv[2]) == "-") {
    crypto::generate_private_key(key);
  } else {
    auto k = daemon::read_key_file(argv[2], true);
    if (!k) return std::fprintf(stderr, "%s\n", k.error().message.c_str()), 2;
    key = std::move(*k);
  }
  auto responder = daemon::decode_key(argv[3]);
  auto to = udp::Endpoint::parse(argv[4]);
  if (!responder || !to) return std::fprintf(stderr, "bad key or endpoint\n"), 2;
  crypto::Key responder_pub{};
  std::memcpy(responder_pub.data(), responder->data(), responder_pub.size());

  const auto local = crypto::LocalStatic::from_private(key);
  crypto::Handshake hs(local, responder_pub, nullptr);
  std::vector<std::uint8_t> msg(crypto::keymesh_initiation_size(crypto::kMaxHandshakePayload));
  const Bytes payload = identity::serialize_chain(*chain);
  std::size_t written = 0;
  if (hs.create_keymesh_initiation(msg, 0x1234, std::chrono::system_clock::now(), payload,
                                   written) != crypto::HandshakeError::None)
    return std::fprintf(stderr, "cannot build the initiation\n"), 2;
  msg.resize(written);
  crypto::CookieGenerator(responder_pub).add_macs(msg, std::chrono::steady_clock::now());

  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_storage sa{};
  const socklen_t len = to->to_sockaddr(sa);
  if (::sendto(fd, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&sa), len) < 0)
    return std::perror("sendto"), 2;
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, std::stoi(argv[5]) * 1000) > 0) {
    std::uint8_t buf[2048];
    const long n = ::recv(fd, buf, sizeof buf, 0);
    std::printf("answered (%ld bytes)\n", n);
    return 0;
  }
  std::printf("silent\n");
  return 1;
}
