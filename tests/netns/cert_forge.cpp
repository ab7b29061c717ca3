// cert_forge: plays a compromised node CA for tests/netns/ca_scope.sh. It signs a workload
// certificate with a CA's key exactly as asked, skipping the issuer's rules that `keymesh cert
// sign` checks (check_issued_by), so a test can hand keymeshd a chain the CA was not allowed
// to issue and watch the remote side refuse it.
//
//   cert_forge CA_CERT CA_KEY NAME CIDR GROUPS OUT_CHAIN OUT_KEY [KIND SUBJECT START LIFETIME]
//
// GROUPS is comma-separated. The optional tail (tests/netns/access_laptop.sh plays a stolen
// access CA key with it): KIND (workload, user...), SUBJECT ("-" for none), START (seconds
// from now, may be negative) and LIFETIME (seconds); defaults: workload, none, -60, 3660. Writes OUT_KEY (WireGuard base64, 0600) and OUT_CHAIN (leaf, then
// the CA). Exit 0 on success, 2 on bad input.
#include <sodium.h>

#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "identity/ca_key.h"
#include "identity/cert_file.h"
#include "identity/files.h"

using namespace keymesh;

int main(int argc, char** argv) {
  if (argc != 8 && argc != 12) {
    std::fprintf(stderr, "usage: cert_forge CA_CERT CA_KEY NAME CIDR GROUPS OUT_CHAIN OUT_KEY "
                         "[KIND SUBJECT START LIFETIME]\n");
    return 2;
  }
  if (sodium_init() < 0) return 2;
  auto ca = identity::read_certificates_file(argv[1]);
  if (!ca) return std::fprintf(stderr, "%s\n", ca.error().message.c_str()), 2;
  auto key = identity::read_ca_key_file(argv[2]);
  if (!key) return std::fprintf(stderr, "%s\n", key.error().message.c_str()), 2;
  auto net = IpPrefix::parse(argv[4]);
  if (!net) return std::fprintf(stderr, "bad CIDR %s\n", argv[4]), 2;

  crypto::SecretKey secret;
  crypto::generate_private_key(secret);
  identity::CertificateFields f;
  f.name = argv[3];
  f.kind = identity::Kind::Workload;
  std::int64_t start = -60, lifetime = 3660;
  if (argc == 12) {
    const auto kind = identity::parse_kind(argv[8]);
    if (!kind) return std::fprintf(stderr, "bad kind %s\n", argv[8]), 2;
    f.kind = *kind;
    if (std::string(argv[9]) != "-") f.subject = argv[9];
    start = std::stoll(argv[10]);
    lifetime = std::stoll(argv[11]);
  }
  f.public_key = crypto::public_key(secret);
  f.networks = {*net};
  std::stringstream groups(argv[5]);
  for (std::string g; std::getline(groups, g, ',');) f.groups.push_back(g);
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  f.not_before = now + start;
  f.not_after = f.not_before + lifetime;
  auto cert = identity::sign_certificate(std::move(f), &ca->front(), *key);
  if (!cert) return std::fprintf(stderr, "%s\n", cert.error().message.c_str()), 2;
  const identity::Certificate chain[] = {*cert, ca->front()};
  if (auto r = identity::write_certificates_file(argv[6], chain, true); !r)
    return std::fprintf(stderr, "%s\n", r.error().message.c_str()), 2;
  std::string text = to_base64(secret.span()) + "\n";
  auto r = identity::write_identity_file(argv[7], text, 0600, true);
  sodium_memzero(text.data(), text.size());
  if (!r) return std::fprintf(stderr, "%s\n", r.error().message.c_str()), 2;
  std::printf("forged %s\n", cert->fingerprint_hex().c_str());
  return 0;
}
