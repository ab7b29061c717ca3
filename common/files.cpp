#include "common/files.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <system_error>

namespace keymesh {

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

Result<std::string> read_small_file(const std::string& path, std::size_t max_bytes,
                                    bool require_private) {
  // stat first so a FIFO or device is never opened; O_NONBLOCK and the fstat below cover a
  // file swapped in between.
  struct stat before {};
  if (::stat(path.c_str(), &before) == 0 && !S_ISREG(before.st_mode))
    return fail(path + ": not a regular file");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return fail(path + ": " + errno_text(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};

  struct stat st {};
  if (::fstat(fd, &st) != 0) return fail(path + ": " + errno_text(errno));
  if (!S_ISREG(st.st_mode)) return fail(path + ": not a regular file");
  if (require_private && (st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", unsigned(st.st_mode & 07777));
    return fail(path + " has mode " + mode + "; a key file must be 0600 or stricter (chmod 600 " +
                path + ")");
  }
  if (std::size_t(st.st_size) > max_bytes) return fail(path + ": file too large");

  // One byte more than allowed, to notice a file that grew since fstat.
  std::string text(max_bytes + 1, '\0');
  std::size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      sodium_memzero(text.data(), text.size());
      return fail(path + ": " + errno_text(err));
    }
    if (n == 0) break;
    got += std::size_t(n);
  }
  if (got > max_bytes) {
    sodium_memzero(text.data(), text.size());
    return fail(path + ": file too large");
  }
  text.resize(got);
  return text;
}

}  // namespace keymesh
