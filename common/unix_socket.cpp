#include "common/unix_socket.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "common/files.h"

namespace keymesh {

Result<void> remove_stale_socket(const std::string& path, const sockaddr_un& addr,
                                 const std::string& in_use) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return fail(path + ": " + errno_text(errno));
  }
  if (!S_ISSOCK(st.st_mode)) return fail(path + " exists and is not a socket; not replacing it");
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail("socket: " + errno_text(errno));
  const int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  const int err = errno;
  ::close(fd);
  if (rc == 0) return fail(in_use);
  if (err != ECONNREFUSED && err != ENOENT) return fail(path + ": " + errno_text(err));
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return fail("cannot remove stale socket " + path + ": " + errno_text(errno));
  return {};
}

}  // namespace keymesh
