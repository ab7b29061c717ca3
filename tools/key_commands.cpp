// keymesh key gen | key pub: WireGuard-compatible keys, like `wg genkey` and `wg pubkey`.
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <iostream>
#include <memory>
#include <string_view>
#include <system_error>

#include "common/bytes.h"
#include "crypto/primitives.h"
#include "identity/key_file.h"
#include "tools/commands.h"

namespace keymesh::tools {

namespace {

constexpr std::size_t kMaxKeyInput = 4096;

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

// Wipes a string holding key text when it goes out of scope.
struct Wipe {
  std::string& text;
  ~Wipe() { sodium_memzero(text.data(), text.size()); }
};

Result<void> write_all(int fd, std::string_view bytes, const std::string& what) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(what + ": " + errno_text(errno));
    bytes.remove_prefix(std::size_t(n));
  }
  return {};
}

// As `wg genkey` does: a key sent into a file others can read deserves a warning.
void warn_if_stdout_is_shared_file() {
  struct stat st {};
  if (::fstat(STDOUT_FILENO, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077) != 0)
    std::cerr << "keymesh: warning: writing a private key to a file others can read; "
                 "use --out FILE or umask 077\n";
}

Result<void> write_key_and_close(int fd, std::string_view key_text, const std::string& path) {
  auto r = write_all(fd, key_text, path);
  if (r) r = write_all(fd, "\n", path);
  if (r && ::fsync(fd) != 0) r = fail(path + ": fsync: " + errno_text(errno));
  if (::close(fd) != 0 && r) r = fail(path + ": close: " + errno_text(errno));
  return r;
}

// New files are created 0600 and never replaced unless `force`; a forced write goes through
// a fresh 0600 temporary renamed into place, so an old 0644 file cannot keep its mode.
Result<void> write_key_file(const std::string& path, std::string_view key_text, bool force) {
  if (!force) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 && errno == EEXIST)
      return fail(path + " already exists (use --force to overwrite it)");
    if (fd < 0) return fail("cannot create " + path + ": " + errno_text(errno));
    ::fchmod(fd, 0600);
    auto r = write_key_and_close(fd, key_text, path);
    if (!r) ::unlink(path.c_str());
    return r;
  }
  std::string tmp = path + ".tmp-XXXXXX";
  const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0)
    return fail("cannot create a temporary file beside " + path + ": " + errno_text(errno));
  ::fchmod(fd, 0600);
  auto r = write_key_and_close(fd, key_text, path);
  if (r && ::rename(tmp.c_str(), path.c_str()) != 0)
    r = fail("cannot replace " + path + ": " + errno_text(errno));
  if (!r) ::unlink(tmp.c_str());
  return r;
}

Result<void> key_gen(const std::string& out, bool force) {
  crypto::SecretKey key;
  crypto::generate_private_key(key);
  std::string text = to_base64(key.span());
  Wipe wipe{text};
  if (out.empty()) {
    warn_if_stdout_is_shared_file();
    auto r = write_all(STDOUT_FILENO, text, "stdout");
    return r ? write_all(STDOUT_FILENO, "\n", "stdout") : r;
  }
  return write_key_file(out, text, force);
}

Result<crypto::SecretKey> read_stdin_key() {
  std::array<char, kMaxKeyInput + 1> buf{};
  std::size_t n = 0;
  Result<crypto::SecretKey> key =
      fail("stdin: not a WireGuard private key (expected 44 base64 characters)");
  for (;;) {
    if (n == buf.size()) {
      key = fail("stdin: too long to be a key");
      break;
    }
    const ssize_t got = ::read(STDIN_FILENO, buf.data() + n, buf.size() - n);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      key = fail("stdin: " + errno_text(errno));
      break;
    }
    if (got == 0) {
      if (auto decoded = identity::decode_key(std::string_view(buf.data(), n)))
        key = std::move(decoded);
      break;
    }
    n += std::size_t(got);
  }
  sodium_memzero(buf.data(), buf.size());
  return key;
}

Result<void> key_pub(const std::string& in) {
  auto key = in.empty() ? read_stdin_key() : identity::read_key_file(in, false);
  if (!key) return std::unexpected(key.error());
  const std::string text = to_base64(crypto::public_key(*key)) + "\n";
  return write_all(STDOUT_FILENO, text, "stdout");
}

}  // namespace

void add_key_commands(CLI::App& app, Outcome& outcome) {
  auto* key =
      app.add_subcommand("key", "Generate keys and derive public keys (WireGuard-compatible)");
  key->require_subcommand(1);

  struct GenOptions {
    std::string out;
    bool force = false;
  };
  auto gen_opts = std::make_shared<GenOptions>();
  auto* gen = key->add_subcommand("gen", "Print a new private key (base64), like `wg genkey`");
  gen->add_option("--out", gen_opts->out, "Write the key to FILE (mode 0600) instead of stdout");
  gen->add_flag("--force", gen_opts->force, "Overwrite FILE if it exists");
  gen->callback([gen_opts, &outcome] { outcome = key_gen(gen_opts->out, gen_opts->force); });

  auto in = std::make_shared<std::string>();
  auto* pub = key->add_subcommand(
      "pub", "Read a private key from stdin and print its public key, like `wg pubkey`");
  pub->add_option("--in", *in, "Read the private key from FILE instead of stdin");
  pub->callback([in, &outcome] { outcome = key_pub(*in); });
}

}  // namespace keymesh::tools
