// Shared by tests that run programs as a user would: a scratch directory, and running a
// shell command line with its exit code, stdout and stderr captured.
#pragma once

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace keymesh::test {

// A fresh directory under /tmp, removed with everything in it at the end. Paths stay short:
// a Unix socket path has to fit in 108 bytes.
class TempDir {
 public:
  TempDir() {
    std::string pattern = "/tmp/kmtest-XXXXXX";
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

  // Writes `text` to name with `mode`; returns the full path.
  std::string write(const std::string& name, const std::string& text, mode_t mode = 0600) const {
    const std::string p = *this / name;
    {
      std::ofstream out(p, std::ios::binary | std::ios::trunc);
      out << text;
    }
    ::chmod(p.c_str(), mode);
    return p;
  }

 private:
  std::string path_;
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Run {
  int code = -1;  // exit status; -1 when killed by a signal
  std::string out, err;
};

// Runs a shell command line with stdout and stderr captured separately.
inline Run run_shell(const std::string& command) {
  TempDir dir;
  const std::string line = "(" + command + ") >" + dir / "out" + " 2>" + dir / "err";
  const int status = std::system(line.c_str());
  Run r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(dir / "out");
  r.err = slurp(dir / "err");
  return r;
}

// A file's permission bits (0 when it does not exist), and whether it exists.
inline mode_t mode_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 0777;
}

inline bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

inline bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace keymesh::test
