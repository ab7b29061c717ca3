// Writes the seed corpora for fuzz_discovery_static and fuzz_discovery_messages:
//   fuzz_discovery_seeds <corpus/discovery_static> <corpus/discovery_messages>
// Built on request only; the outputs are committed.
#include <filesystem>
#include <fstream>
#include <iostream>

#include "discovery/lighthouse_messages.h"
#include "discovery/record.h"
#include "identity/ca_key.h"
#include "identity/cert_file.h"
#include "identity/chain.h"

using namespace keymesh;
using namespace keymesh::discovery;

namespace {

void write(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}
void write(const std::filesystem::path& p, const Bytes& bytes) {
  write(p, std::string(bytes.begin(), bytes.end()));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: fuzz_discovery_seeds STATIC_DIR MESSAGES_DIR\n";
    return 2;
  }
  const std::filesystem::path st = argv[1], msg = argv[2];
  std::filesystem::create_directories(st);
  std::filesystem::create_directories(msg);

  identity::CaKey key = identity::CaKey::generate();
  identity::CertificateFields rf;
  rf.name = "root";
  rf.kind = identity::Kind::Ca;
  rf.public_key = key.public_key();
  rf.not_before = 1'700'000'000;
  rf.not_after = 2'700'000'000;
  const auto root = *identity::sign_certificate(rf, nullptr, key);
  identity::CertificateFields lf;
  lf.name = "node-a";
  lf.kind = identity::Kind::Node;
  crypto::SecretKey sk;
  crypto::generate_private_key(sk);
  lf.public_key = crypto::public_key(sk);
  lf.networks = {*IpPrefix::parse("100.64.1.0/24")};
  lf.not_before = 1'700'000'000;
  lf.not_after = 2'600'000'000;
  const auto leaf = *identity::sign_certificate(lf, &root, key);
  const std::vector<identity::Certificate> chain = {leaf, root};
  write(st / "node.crt", identity::armor_certificates(chain));
  const std::string raw_key = to_base64(lf.public_key);
  write(st / "full.yaml",
        "entries:\n"
        "  - certificate: node.crt\n"
        "    endpoints: [\"198.18.0.1:51820\", \"[2001:db8::1]:51820\"]\n"
        "  - public_key: \"" + raw_key + "\"\n"
        "    networks: [100.64.2.0/24, fd00:2::/64]\n"
        "    name: site-b\n"
        "    endpoints: [198.18.0.2:51820]\n"
        "    relay: true\n");
  write(st / "empty.yaml", std::string("entries: []\n"));
  write(st / "bad.yaml", std::string("entries:\n  - public_key: x\n    endpoints: 1\n"));

  const WallTime now{std::chrono::seconds(1'800'000'000)};
  auto record = *record_from_chain(identity::serialize_chain(chain),
                                   {*udp::Endpoint::parse("198.18.0.1:51820")}, now + std::chrono::seconds(60));
  proto::discovery::Record wire;
  to_wire(record, now, wire);

  LighthouseMessage m;
  m.set_request_id(1);
  *m.mutable_register_()->add_records() = wire;
  m.mutable_register_()->set_ttl_seconds(60);
  write(msg / "register.bin", encode_message(m));
  m.Clear();
  m.set_request_id(2);
  m.mutable_query()->set_address(std::string("\x64\x40\x01\x05", 4));
  write(msg / "query_address.bin", encode_message(m));
  m.Clear();
  // Misses the lighthouse remembers: an IPv6 address, and one of a /32 registered next.
  m.set_request_id(6);
  m.mutable_query()->set_address(std::string("\xfd\x00\x00\x02", 4) + std::string(11, '\0') + "\x07");
  write(msg / "query_address_v6.bin", encode_message(m));
  m.Clear();
  m.set_request_id(7);
  m.mutable_query()->set_address(std::string("\x64\x40\x02\x07", 4));
  write(msg / "query_address_miss.bin", encode_message(m));
  m.Clear();
  {
    identity::CertificateFields wf = lf;
    wf.name = "node-a-w7";
    wf.kind = identity::Kind::Workload;
    wf.networks = {*IpPrefix::parse("100.64.2.7/32")};
    const auto workload = *identity::sign_certificate(wf, &root, key);
    const std::vector<identity::Certificate> wchain = {workload, root};
    auto wrec = *record_from_chain(identity::serialize_chain(wchain),
                                   {*udp::Endpoint::parse("198.18.0.2:51820")},
                                   now + std::chrono::seconds(60));
    proto::discovery::Record wwire;
    to_wire(wrec, now, wwire);
    m.set_request_id(8);
    *m.mutable_register_()->add_records() = wwire;
    m.mutable_register_()->set_ttl_seconds(60);
    write(msg / "register_after_miss.bin", encode_message(m));
  }
  m.Clear();
  m.set_request_id(3);
  m.mutable_query()->set_fingerprint(record.fingerprint.data(), record.fingerprint.size());
  m.mutable_query()->set_punch(true);
  m.mutable_query()->set_requester(record.fingerprint.data(), record.fingerprint.size());
  write(msg / "query_punch.bin", encode_message(m));
  m.Clear();
  m.mutable_deregister()->add_fingerprints(record.fingerprint.data(), record.fingerprint.size());
  write(msg / "deregister.bin", encode_message(m));
  m.Clear();
  m.set_request_id(4);
  *m.mutable_query_reply()->add_records() = wire;
  write(msg / "query_reply.bin", encode_message(m));
  m.Clear();
  *m.mutable_notify()->mutable_updated() = wire;
  write(msg / "notify_updated.bin", encode_message(m));
  m.Clear();
  m.mutable_notify()->set_removed(record.fingerprint.data(), record.fingerprint.size());
  write(msg / "notify_removed.bin", encode_message(m));
  m.Clear();
  auto* p = m.mutable_notify()->mutable_punch();
  p->set_from(record.fingerprint.data(), record.fingerprint.size());
  p->set_target(record.fingerprint.data(), record.fingerprint.size());
  endpoint_to_wire(*udp::Endpoint::parse("198.18.0.9:4000"), *p->add_endpoints());
  write(msg / "notify_punch.bin", encode_message(m));
  m.Clear();
  m.set_request_id(5);
  auto* ack = m.mutable_register_ack();
  endpoint_to_wire(*udp::Endpoint::parse("[2001:db8::9]:4000"), *ack->mutable_observed());
  ack->set_accepted(1);
  ack->set_ttl_seconds(60);
  ack->set_crl_digest(std::string(32, 'x'));
  write(msg / "register_ack.bin", encode_message(m));
  m.Clear();
  m.mutable_crl()->set_revocation_list("not really a list");
  write(msg / "crl.bin", encode_message(m));
  m.Clear();
  m.mutable_crl_request();
  write(msg / "crl_request.bin", encode_message(m));
  return 0;
}
