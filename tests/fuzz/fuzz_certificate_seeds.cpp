// Writes the seed corpus of fuzz_certificate (tests/fuzz/corpus/certificate): valid
// certificates, chains (with and without the root), armored text and a revocation list, all
// from the fixed PKI of fuzz_certificate_pki.h.
//   ninja fuzz_certificate_seeds && ./tests/fuzz_certificate_seeds tests/fuzz/corpus/certificate
#include <cstdio>
#include <fstream>
#include <string>

#include "identity/cert_file.h"
#include "tests/fuzz/fuzz_certificate_pki.h"

namespace {

void write(const std::string& dir, const std::string& name, const std::string& data) {
  std::ofstream(dir + "/" + name, std::ios::binary) << data;
}
void write(const std::string& dir, const std::string& name, const keymesh::Bytes& data) {
  write(dir, name, std::string(data.begin(), data.end()));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  using namespace keymesh;
  const std::string dir = argv[1];
  const fuzz::FuzzPki p;
  write(dir, "leaf.bin", p.leaf.encoded());
  write(dir, "node-ca.bin", p.node.encoded());
  write(dir, "root.bin", p.root.encoded());
  const identity::Certificate two[] = {p.leaf, p.node};
  const identity::Certificate three[] = {p.leaf, p.node, p.root};
  write(dir, "chain-leaf-node.bin", identity::serialize_chain(two));
  write(dir, "chain-leaf-node-root.bin", identity::serialize_chain(three));
  write(dir, "chain.pem", identity::armor_certificates(two));
  write(dir, "crl.bin", p.crl.encoded());
  // A node CA using every scope field (allowed groups, labels, kinds; context), with a leaf.
  identity::CertificateFields f = p.node.fields();
  f.name = "node-s";
  f.constraints->allowed_groups = std::vector<std::string>{"node-s-*", "web"};
  f.constraints->allowed_labels =
      std::vector<identity::LabelPattern>{{"app", {"web", "db-*"}}, {"env", {}}};
  f.constraints->allowed_kinds = {identity::Kind::Workload, identity::Kind::Node};
  f.constraints->name_pattern = "node-a/*";
  f.context = {{"site", "onprem"}, {"zone", "b"}};
  const auto scoped = fuzz::must(identity::sign_certificate(f, &p.root, p.root_key));
  identity::CertificateFields l = p.leaf.fields();
  const auto scoped_leaf = fuzz::must(identity::sign_certificate(l, &scoped, p.node_key));
  const identity::Certificate scoped_chain[] = {scoped_leaf, scoped};
  write(dir, "node-ca-scoped.bin", scoped.encoded());
  write(dir, "chain-scoped.bin", identity::serialize_chain(scoped_chain));
  return 0;
}
