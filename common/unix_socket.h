// Unix stream sockets the daemon serves (control socket, Docker plugin socket).
#pragma once

#include <sys/un.h>

#include <string>

#include "common/result.h"

namespace keymesh {

// Makes room for a listener at `path`: a socket file left by a process that died is removed;
// one somebody still answers on is not (the error is `in_use`); anything that is not a
// socket is never touched.
Result<void> remove_stale_socket(const std::string& path, const sockaddr_un& addr,
                                 const std::string& in_use);

}  // namespace keymesh
