#include "discovery/static_directory.h"

#include <array>
#include <filesystem>
#include <map>

#include "common/files.h"
#include "common/yaml_fields.h"
#include "identity/cert_file.h"
#include "identity/chain.h"

namespace keymesh::discovery {

namespace {

using namespace keymesh::yaml;  // quote, at, child, check_map, get_string, ... (common/)

constexpr std::size_t kMaxStaticFileBytes = 16u << 20;
constexpr std::size_t kMaxCertificateFileBytes = 1u << 20;
constexpr std::size_t kMaxEntries = 65536;

constexpr std::array<std::string_view, 1> kRootKeys = {"entries"};
constexpr std::array<std::string_view, 6> kEntryKeys = {"certificate", "public_key", "networks",
                                                        "name",        "endpoints",  "relay"};

template <class T>
std::unexpected<Error> error_of(const Result<T>& r) {
  return std::unexpected(r.error());
}

Result<bool> get_bool(const YAML::Node& n, const std::string& path) {
  auto s = get_string(n, path);
  if (!s) return error_of(s);
  if (*s == "true") return true;
  if (*s == "false") return false;
  return fail(at(path, "expected true or false, got " + quote(*s)));
}

Result<std::vector<udp::Endpoint>> get_endpoints(const YAML::Node& n, const std::string& path) {
  std::vector<udp::Endpoint> out;
  if (!n.IsDefined()) return fail(at(path, "is required (where can this identity be reached?)"));
  auto r = for_each_item(n, path, [&](const YAML::Node& e, const std::string& p) -> Result<void> {
    auto text = get_string(e, p);
    if (!text) return error_of(text);
    auto ep = udp::Endpoint::parse(*text);
    if (!ep || ep->port == 0)
      return fail(at(p, quote(*text) +
                            " is not an address:port (\"198.18.0.1:51820\" or "
                            "\"[2001:db8::1]:51820\"; host names are not resolved)"));
    out.push_back(*ep);
    return {};
  });
  if (!r) return error_of(r);
  if (out.empty()) return fail(at(path, "is empty (where can this identity be reached?)"));
  if (out.size() > kMaxEndpoints)
    return fail(at(path, "has " + std::to_string(out.size()) + " endpoints (at most " +
                             std::to_string(kMaxEndpoints) + ")"));
  return out;
}

Result<Record> parse_entry(const YAML::Node& n, const std::string& index_path, std::size_t index,
                           const std::string& base_dir, const CertificateReader& read) {
  if (!n.IsMap())
    return fail(at(index_path, "expected a map with certificate or public_key, got " + describe(n)));
  // Name the entry in every message: by its name, else by its certificate file.
  std::string path = index_path;
  for (const char* key : {"name", "certificate"}) {
    const YAML::Node v = n[key];
    if (v.IsDefined() && v.IsScalar()) {
      path += " (" + v.Scalar().substr(0, 64) + ")";
      break;
    }
  }
  if (auto r = check_map(n, path, kEntryKeys); !r) return error_of(r);
  const YAML::Node cert = field(n, "certificate");
  const YAML::Node key = field(n, "public_key");
  if (cert.IsDefined() == key.IsDefined())
    return fail(at(path, "needs exactly one of certificate and public_key"));

  auto endpoints = get_endpoints(field(n, "endpoints"), child(path, "endpoints"));
  if (!endpoints) return error_of(endpoints);
  bool relay = false;
  if (const YAML::Node v = field(n, "relay"); v.IsDefined()) {
    auto b = get_bool(v, child(path, "relay"));
    if (!b) return error_of(b);
    relay = *b;
  }

  Record record;
  if (cert.IsDefined()) {
    const std::string cpath = child(path, "certificate");
    for (const char* k : {"networks", "name"})
      if (field(n, k).IsDefined())
        return fail(at(child(path, k), "is not allowed with certificate (the certificate says it)"));
    auto file = get_string(cert, cpath);
    if (!file) return error_of(file);
    if (file->empty()) return fail(at(cpath, "is empty"));
    std::filesystem::path p(*file);
    if (p.is_relative() && !base_dir.empty()) p = std::filesystem::path(base_dir) / p;
    auto text = read(p.string());
    if (!text) return fail(at(cpath, text.error().message));
    const ByteSpan bytes(reinterpret_cast<const std::uint8_t*>(text->data()), text->size());
    auto certs = identity::parse_certificates_text(bytes);
    if (!certs) return fail(at(cpath, quote(p.string()) + ": " + certs.error().message));
    const Bytes chain = identity::serialize_chain(*certs);
    auto r = record_from_chain(chain, std::move(*endpoints), WallTime::max());
    if (!r) return fail(at(cpath, quote(p.string()) + ": " + r.error().message));
    record = std::move(*r);
  } else {
    const std::string kpath = child(path, "public_key");
    auto text = get_string(key, kpath);
    if (!text) return error_of(text);
    auto raw = from_base64(*text);
    crypto::Key k{};
    if (!raw || raw->size() != k.size())
      return fail(at(kpath, "is not a base64 X25519 public key (44 characters)"));
    std::copy(raw->begin(), raw->end(), k.begin());
    const std::string npath = child(path, "networks");
    const YAML::Node nets = field(n, "networks");
    if (!nets.IsDefined())
      return fail(at(npath, "is required with public_key (the overlay networks behind this key)"));
    std::vector<IpPrefix> networks;
    auto r = for_each_item(nets, npath, [&](const YAML::Node& e, const std::string& p) -> Result<void> {
      auto s = get_string(e, p);
      if (!s) return error_of(s);
      auto prefix = IpPrefix::parse(*s);
      if (!prefix) return fail(at(p, quote(*s) + " is not a CIDR"));
      networks.push_back(*prefix);
      return {};
    });
    if (!r) return error_of(r);
    if (networks.empty()) return fail(at(npath, "is empty"));
    if (networks.size() > kMaxRecordNetworks)
      return fail(at(npath, "has more than " + std::to_string(kMaxRecordNetworks) + " networks"));
    std::string name = "static-" + std::to_string(index);
    if (const YAML::Node v = field(n, "name"); v.IsDefined()) {
      auto s = get_string(v, child(path, "name"));
      if (!s) return error_of(s);
      if (!identity::valid_name(*s))
        return fail(at(child(path, "name"), quote(*s) + " is not a name (printable, no spaces)"));
      name = *s;
    }
    record = raw_key_record(k, std::move(networks), std::move(name), std::move(*endpoints));
  }
  record.relay = relay;
  if (auto ok = check_record(record); !ok) return fail(at(path, ok.error().message));
  return record;
}

Result<std::vector<Record>> parse_document(std::string_view text, const std::string& base_dir,
                                           const CertificateReader& read) {
  const YAML::Node root = YAML::Load(std::string(text));
  if (count_documents(std::string(text)) > 1) return fail("expected one YAML document, found more");
  if (!root.IsDefined() || root.IsNull()) return fail("file is empty (write entries: [])");
  if (!root.IsMap()) return fail("expected a map with entries at the top level, got " + describe(root));
  if (auto r = check_map(root, "", kRootKeys); !r) return error_of(r);
  const YAML::Node entries = field(root, "entries");
  if (!entries.IsDefined()) return fail("entries: is required (write entries: [] for none)");
  std::vector<Record> out;
  std::map<Fingerprint, std::string> seen;  // fingerprint -> entry path, for duplicates
  auto r = for_each_item(entries, "entries", [&](const YAML::Node& e, const std::string& p) -> Result<void> {
    if (out.size() >= kMaxEntries)
      return fail(at(p, "more than " + std::to_string(kMaxEntries) + " entries"));
    auto rec = parse_entry(e, p, out.size(), base_dir, read);
    if (!rec) return error_of(rec);
    const auto [it, fresh] = seen.emplace(rec->fingerprint, p);
    if (!fresh) return fail(at(p, "is the same identity as " + it->second));
    out.push_back(std::move(*rec));
    return {};
  });
  if (!r) return error_of(r);
  return out;
}

}  // namespace

Result<std::string> read_certificate_file(const std::string& path) {
  return read_small_file(path, kMaxCertificateFileBytes, false);
}

Result<std::vector<Record>> parse_static_entries(std::string_view yaml_text,
                                                 const std::string& base_dir,
                                                 const CertificateReader& read) {
  // yaml-cpp reports syntax errors (and its nesting limit) by throwing; they stop here.
  try {
    return parse_document(yaml_text, base_dir, read);
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) return fail("YAML error: " + e.msg);
    return fail("line " + std::to_string(e.mark.line + 1) + ", column " +
                std::to_string(e.mark.column + 1) + ": YAML syntax error: " + e.msg);
  } catch (const std::bad_alloc&) {
    return fail("static file too large to parse (out of memory)");
  } catch (const std::exception& e) {
    return fail(std::string("cannot parse static file: ") + e.what());
  }
}

StaticDirectory::StaticDirectory(std::string path, CertificateReader read)
    : path_(std::move(path)), read_(std::move(read)) {}

Result<std::unique_ptr<StaticDirectory>> StaticDirectory::open(std::string path,
                                                               CertificateReader read) {
  std::unique_ptr<StaticDirectory> d(new StaticDirectory(std::move(path), std::move(read)));
  if (auto r = d->reload(); !r) return std::unexpected(r.error());
  return d;
}

Result<void> StaticDirectory::reload() {
  auto text = read_small_file(path_, kMaxStaticFileBytes, false);
  if (!text) return std::unexpected(text.error());
  const std::string base = std::filesystem::path(path_).parent_path().string();
  auto records = parse_static_entries(*text, base, read_);
  if (!records) return fail(path_ + ": " + records.error().message);
  return cache_.replace_all(std::move(*records));
}

}  // namespace keymesh::discovery
