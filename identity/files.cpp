#include "identity/files.h"

#include "common/files.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace keymesh::identity {

namespace {

std::string begin_line(std::string_view label) {
  return "-----BEGIN " + std::string(label) + "-----";
}
std::string end_line(std::string_view label) { return "-----END " + std::string(label) + "-----"; }

Result<void> write_all(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(path + ": " + errno_text(errno));
    data.remove_prefix(std::size_t(n));
  }
  return {};
}

std::string dir_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

std::string armor(std::string_view label, ByteSpan bytes) {
  std::string b64(sodium_base64_encoded_len(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(b64.data(), b64.size(), bytes.data(), bytes.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  b64.pop_back();
  std::string out = begin_line(label) + "\n";
  for (std::size_t i = 0; i < b64.size(); i += 64) out += b64.substr(i, 64) + "\n";
  out += end_line(label) + "\n";
  sodium_memzero(b64.data(), b64.size());
  return out;
}

bool has_armor(std::string_view text, std::string_view label) noexcept {
  return text.find(begin_line(label)) != std::string_view::npos;
}

Result<std::vector<std::string_view>> armored_blocks(std::string_view text,
                                                     std::string_view label) {
  const std::string begin = begin_line(label), end = end_line(label);
  std::vector<std::string_view> blocks;
  std::size_t pos = 0;
  while ((pos = text.find(begin, pos)) != std::string_view::npos) {
    const std::size_t start = pos + begin.size();
    const std::size_t stop = text.find(end, start);
    if (stop == std::string_view::npos) return fail("\"" + begin + "\" without \"" + end + "\"");
    blocks.push_back(text.substr(start, stop - start));
    pos = stop + end.size();
  }
  return blocks;
}

long decode_armored(std::string_view block, MutableByteSpan out) noexcept {
  std::size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(out.data(), out.size(), block.data(), block.size(), " \t\r\n", &len,
                        &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != block.data() + block.size())
    return -1;
  return long(len);
}

Result<std::string> read_identity_file(const std::string& path, bool require_private) {
  return read_small_file(path, kMaxIdentityFileSize, require_private);
}

Result<void> write_identity_file(const std::string& path, std::string_view data, mode_t mode,
                                 bool force) {
  if (!force && ::access(path.c_str(), F_OK) == 0)
    return fail(path + " already exists (use --force to overwrite it)");
  std::string tmp = path + ".tmp-XXXXXX";
  const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0)
    return fail("cannot create a temporary file beside " + path + ": " + errno_text(errno));
  ::fchmod(fd, mode);  // mkostemp made it 0600; a public file is widened only now
  auto r = write_all(fd, data, path);
  if (r && ::fsync(fd) != 0) r = fail(path + ": fsync: " + errno_text(errno));
  if (::close(fd) != 0 && r) r = fail(path + ": close: " + errno_text(errno));
  if (r) {
    if (force) {
      if (::rename(tmp.c_str(), path.c_str()) != 0)
        r = fail("cannot replace " + path + ": " + errno_text(errno));
    } else if (::link(tmp.c_str(), path.c_str()) != 0) {
      // link() never replaces: it settles a race with another writer atomically.
      r = errno == EEXIST ? fail(path + " already exists (use --force to overwrite it)")
                          : fail("cannot create " + path + ": " + errno_text(errno));
    }
  }
  ::unlink(tmp.c_str());  // after rename this name is gone already; ignore ENOENT
  if (r) {
    const int dir = ::open(dir_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
      ::fsync(dir);
      ::close(dir);
    }
  }
  return r;
}

}  // namespace keymesh::identity
