// StaticDirectory: discovery from a YAML file (tests, small site links). Reloadable.
//
//   entries:
//     - certificate: lighthouse-1.crt      # armored chain, leaf first; relative paths are
//       endpoints: ["198.18.0.1:51820"]    #   relative to this file's folder
//     - public_key: "<base64 X25519 key>"  # a raw-key (plain WireGuard) peer
//       networks: [100.64.2.0/24]
//       name: site-b                       # optional for raw keys; default "static-<index>"
//       endpoints: ["198.18.0.2:51820", "[2001:db8::2]:51820"]
//       relay: false                       # optional
//
// Every entry has exactly one of `certificate` and `public_key`, and at least one endpoint.
// Endpoints are address:port literals: host names are not resolved (a blocking DNS lookup
// would stall the daemon's loop). Certificates are parsed, not validated (record.h).
// Errors name the entry and key: `entries[1] (site-b).endpoints[0]: "x" is not an
// address:port`. Records live until reload drops them (or their leaf certificate expires).
// Thread safety: the loop thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "discovery/memory_directory.h"

namespace keymesh::discovery {

// Reads a certificate file named in the static file (the path already resolved). Tests and
// the fuzz target pass their own; the default reads the file (at most 1 MiB).
using CertificateReader = std::function<Result<std::string>(const std::string& path)>;
Result<std::string> read_certificate_file(const std::string& path);

// Parses the YAML text of a static file. `base_dir` resolves relative certificate paths.
Result<std::vector<Record>> parse_static_entries(std::string_view yaml_text,
                                                 const std::string& base_dir,
                                                 const CertificateReader& read = read_certificate_file);

class StaticDirectory final : public Directory {
 public:
  // Loads `path` once; fails when the file is missing or invalid.
  static Result<std::unique_ptr<StaticDirectory>> open(std::string path,
                                                       CertificateReader read = read_certificate_file);

  // Reads the file again. On success the directory holds exactly the new entries (watchers see
  // what changed); on error the previous entries stay and the error is returned.
  Result<void> reload();
  const std::string& path() const noexcept { return path_; }
  std::size_t size() const noexcept { return cache_.size(); }

  // A static file announces nothing: publish and withdraw are accepted and ignored.
  Result<void> publish(Record) override { return {}; }
  void withdraw(const Fingerprint&) override {}
  const Record* lookup_address(const IpAddress& address) noexcept override {
    return cache_.lookup_address(address);
  }
  const Record* lookup_fingerprint(const Fingerprint& fp) noexcept override {
    return cache_.lookup_fingerprint(fp);
  }
  WatchId watch(WatchFn fn) override { return cache_.watch(std::move(fn)); }
  void unwatch(WatchId id) override { cache_.unwatch(id); }
  void tick(WallTime now) override { cache_.tick(now); }  // leaf certificates' not_after

 private:
  StaticDirectory(std::string path, CertificateReader read);

  std::string path_;
  CertificateReader read_;
  MemoryDirectory cache_;
};

}  // namespace keymesh::discovery
