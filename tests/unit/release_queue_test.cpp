// The CNI deletion queue on disk (node/release_queue.h): what DEL writes while keymeshd is
// down and keymeshd reads back when it returns.
#define BOOST_TEST_MODULE release_queue
#include <sys/stat.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <fstream>

#include "node/release_queue.h"
#include "tests/unit/cli_test_util.h"

using keymesh::node::Release;
using keymesh::node::ReleaseQueue;
using keymesh::test::TempDir;

BOOST_AUTO_TEST_CASE(a_release_survives_the_round_trip_privately) {
  TempDir dir;
  const ReleaseQueue q(dir / "q");
  const Release r{"abc123", "eth0", "cni", 1700000000};
  BOOST_REQUIRE(q.push(r));
  BOOST_REQUIRE(q.push(r));  // the same attachment again: one record
  const auto p = q.pending();
  BOOST_REQUIRE(p.releases.size() == 1u);
  BOOST_TEST((p.releases[0] == r));
  struct stat st {};
  BOOST_REQUIRE(::stat((dir / "q").c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0700u);
  BOOST_REQUIRE(::stat((dir / "q" + "/" + ReleaseQueue::file_name("abc123", "eth0")).c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0600u);
  q.remove(r);
  BOOST_TEST(q.pending().releases.empty());
}

BOOST_AUTO_TEST_CASE(a_missing_directory_is_an_empty_queue) {
  TempDir dir;
  BOOST_TEST(ReleaseQueue(dir / "absent").pending().releases.empty());
}

// A record cut short by a crash, a stranger's file, or a record moved under another
// attachment's name: removed and counted, never applied.
BOOST_AUTO_TEST_CASE(malformed_and_misnamed_records_are_dropped) {
  TempDir dir;
  const ReleaseQueue q(dir / "q");
  BOOST_REQUIRE(q.push({"good", "eth0", "cni", 5}));
  std::ofstream(dir / "q" + "/" + ReleaseQueue::file_name("cut", "eth0")) << "keymesh-release 1\ncontainer_id cut\n";
  std::ofstream(dir / "q" + "/" + ReleaseQueue::file_name("other", "eth0"))
      << ReleaseQueue::encode({"victim", "eth0", "cni", 5});
  const auto p = q.pending();
  BOOST_TEST(p.malformed == 2u);
  BOOST_REQUIRE(p.releases.size() == 1u);
  BOOST_TEST(p.releases[0].container_id == "good");
  BOOST_TEST(q.pending().malformed == 0u);  // they are gone
}

BOOST_AUTO_TEST_CASE(decode_is_strict) {
  const std::string good = ReleaseQueue::encode({"id", "eth0", "cni", 7});
  BOOST_TEST(ReleaseQueue::decode(good).has_value());
  BOOST_TEST(!ReleaseQueue::decode(good + "extra 1\n").has_value());
  BOOST_TEST(!ReleaseQueue::decode(ReleaseQueue::encode({"id", "a/b", "cni", 7})).has_value());
  BOOST_TEST(!ReleaseQueue::decode(ReleaseQueue::encode({"i d", "eth0", "cni", 7})).has_value());
  BOOST_TEST(!ReleaseQueue::decode(ReleaseQueue::encode({"id", "eth0", "cni", -1})).has_value());
  BOOST_TEST(!ReleaseQueue::decode("").has_value());
  // One text per value: a leading zero would decode to what another text encodes.
  std::string zero = good;
  zero.replace(zero.find("queued_at 7"), 11, "queued_at 07");
  BOOST_TEST(!ReleaseQueue::decode(zero).has_value());
}

// The queue never follows a symlink planted where the directory should be.
BOOST_AUTO_TEST_CASE(a_symlinked_directory_is_refused) {
  TempDir dir;
  ::mkdir((dir / "elsewhere").c_str(), 0700);
  BOOST_REQUIRE(::symlink((dir / "elsewhere").c_str(), (dir / "q").c_str()) == 0);
  auto r = ReleaseQueue(dir / "q").push({"id", "eth0", "cni", 1});
  BOOST_TEST(!r.has_value());
}
