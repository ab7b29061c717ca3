// FileAuditSink::open on a temporary directory: keymeshd runs as root, so a symbolic link
// planted where the audit log goes must not redirect its appends to another file.
#define BOOST_TEST_MODULE policy_audit_file
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "policy/audit.h"

using namespace keymesh::policy;
namespace fs = std::filesystem;

namespace {
struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/keymesh-audit-test-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
};
std::string read(const fs::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
}  // namespace

BOOST_AUTO_TEST_CASE(a_symbolic_link_at_the_audit_path_is_refused) {
  TempDir dir;
  const fs::path victim = dir.path / "victim";
  { std::ofstream(victim) << "precious\n"; }
  const fs::path link = dir.path / "audit.jsonl";
  fs::create_symlink(victim, link);
  auto sink = FileAuditSink::open(link.string());
  BOOST_TEST_REQUIRE(!sink.has_value());
  BOOST_TEST(sink.error().message.find("symbolic link") != std::string::npos, sink.error().message);
  BOOST_TEST(read(victim) == "precious\n");  // untouched

  // A dangling link (to a file that does not exist yet) must not create its target either.
  const fs::path dangling = dir.path / "dangling.jsonl";
  fs::create_symlink(dir.path / "created-by-link", dangling);
  BOOST_TEST(!FileAuditSink::open(dangling.string()).has_value());
  BOOST_TEST(!fs::exists(dir.path / "created-by-link"));
}

BOOST_AUTO_TEST_CASE(a_plain_file_is_created_and_appended_to) {
  TempDir dir;
  const fs::path file = dir.path / "audit.jsonl";
  {
    auto sink = FileAuditSink::open(file.string());
    BOOST_TEST_REQUIRE(sink.has_value());
    (*sink)->write("{\"a\":1}\n");
  }
  {
    auto sink = FileAuditSink::open(file.string());
    BOOST_TEST_REQUIRE(sink.has_value());
    (*sink)->write("{\"b\":2}\n");
  }
  BOOST_TEST(read(file) == "{\"a\":1}\n{\"b\":2}\n");
}
