// Crash safety of the workload store: a child process adds and removes workloads in a loop
// and is killed with SIGKILL at a random moment, 30 times over one state directory. After each
// kill the parent reopens the store and checks what a user would rely on:
//   - every change the child saw succeed is there (durability), and the one in flight is
//     either wholly there or wholly absent;
//   - no address is held by two workloads; every row is complete, its chain validates with
//     the root and its key matches its certificate;
// and at the end, that no address leaked: the pool still fills to exactly its capacity.
//
// The child reports each step on a pipe: "a ID" / "r ID" before an add / remove, "A ID" /
// "R ID" once it returned. The parent waits for a random number of completed steps, then
// sleeps a random fraction of a step and kills.
#define BOOST_TEST_MODULE node_crash
#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>
#include <set>

#include "tests/unit/node_test_util.h"

using namespace keymesh;
using namespace keymesh::node;
using namespace keymesh::node::test;

namespace {

constexpr int kRounds = 30;
constexpr std::size_t kMaxLive = 40;  // the child keeps at most this many (pool: /26, 61)

void say(int fd, char op, const std::string& id) {
  const std::string line = std::string(1, op) + " " + id + "\n";  // < PIPE_BUF: atomic
  if (::write(fd, line.data(), line.size()) != ssize_t(line.size())) ::_exit(4);
}

// The child: never returns into the test framework.
[[noreturn]] void churn(const NodeFixture& f, int round, int fd) {
  try {
    auto store = WorkloadStore::open(f.state, f.node_ca());
    if (!store) ::_exit(2);
    std::mt19937 rng{unsigned(round)};
    for (int i = 0;; ++i) {
      const auto live = store->list();
      if (live.size() >= kMaxLive || (!live.empty() && rng() % 3 == 0)) {
        const Workload* victim = live[rng() % live.size()];
        const std::string id = victim->container_id;
        say(fd, 'r', id);
        if (!store->remove(id, "eth0")) ::_exit(3);
        say(fd, 'R', id);
      } else {
        const std::string id = "r" + std::to_string(round) + "-" + std::to_string(i);
        say(fd, 'a', id);
        if (!store->add(NodeFixture::spec(id), at(kT0))) ::_exit(3);
        say(fd, 'A', id);
      }
    }
  } catch (...) {
    ::_exit(5);
  }
}

struct Step {
  char op;
  std::string id;
};

// Reads "X ID" lines until `completed` steps are done or the pipe closes.
void read_steps(int fd, std::string& buffer, std::vector<Step>& steps, int completed) {
  const auto done = [&] {
    int n = 0;
    for (const auto& s : steps) n += (s.op == 'A' || s.op == 'R');
    return n;
  };
  char chunk[4096];
  while (completed < 0 || done() < completed) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n <= 0) return;
    buffer.append(chunk, std::size_t(n));
    std::size_t eol;
    while ((eol = buffer.find('\n')) != std::string::npos) {
      steps.push_back({buffer[0], buffer.substr(2, eol - 2)});
      buffer.erase(0, eol + 1);
    }
  }
}

std::set<std::string> ids(const WorkloadStore& store) {
  std::set<std::string> out;
  for (const Workload* w : store.list()) out.insert(w->container_id);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(sigkill_at_random_moments_never_breaks_the_store) {
  NodeFixture f("100.64.1.0/26");
  std::mt19937 rng(2024);
  std::set<std::string> expected;  // what the store must hold after the last round
  int interrupted = 0;             // rounds killed with a step in flight
  int landed = 0;                  // ... whose step had committed all the same

  for (int round = 0; round < kRounds; ++round) {
    int fds[2];
    BOOST_REQUIRE(::pipe(fds) == 0);
    const pid_t pid = ::fork();
    BOOST_REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(fds[0]);
      churn(f, round, fds[1]);
    }
    ::close(fds[1]);
    std::vector<Step> steps;
    std::string buffer;
    read_steps(fds[0], buffer, steps, 1 + int(rng() % 6));
    ::usleep(useconds_t(rng() % 4000));
    ::kill(pid, SIGKILL);
    int status = 0;
    BOOST_REQUIRE(::waitpid(pid, &status, 0) == pid);
    BOOST_REQUIRE_MESSAGE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                          "round " << round << ": the child stopped by itself, status " << status);
    read_steps(fds[0], buffer, steps, -1);  // what it said before dying
    ::close(fds[0]);

    // Apply the completed steps; remember the one in flight, if any.
    std::optional<Step> in_flight;
    for (const Step& s : steps) {
      if (s.op == 'a' || s.op == 'r') in_flight = s;
      if (s.op == 'A') expected.insert(s.id), in_flight.reset();
      if (s.op == 'R') expected.erase(s.id), in_flight.reset();
    }
    auto store = WorkloadStore::open(f.state, f.node_ca());
    BOOST_REQUIRE_MESSAGE(store, "round " << round << ": " << store.error().message);
    const std::set<std::string> actual = ids(*store);
    std::set<std::string> with_in_flight = expected;
    if (in_flight) {
      ++interrupted;
      if (in_flight->op == 'a') with_in_flight.insert(in_flight->id);
      else with_in_flight.erase(in_flight->id);
    }
    BOOST_TEST_REQUIRE((actual == expected || actual == with_in_flight),
                       "round " << round << ": the store lost or invented a committed change");
    landed += in_flight && actual != expected;
    BOOST_TEST_REQUIRE(check_invariants(*store, f.trust, at(kT0)) == "", "round " << round);
    expected = actual;
  }
  BOOST_TEST_MESSAGE(interrupted << " of " << kRounds << " kills landed inside a step; "
                                 << landed << " of those steps had committed");
  BOOST_TEST(interrupted > 0);

  // No address leaked: the pool still fills to exactly its capacity, all distinct.
  WorkloadStore store = f.open();
  const std::size_t capacity = store.ipam().capacity();
  BOOST_TEST(capacity == 61u);
  for (int i = 0; store.list().size() < capacity; ++i) {
    auto r = store.add(NodeFixture::spec("fill-" + std::to_string(i)), at(kT0));
    BOOST_REQUIRE_MESSAGE(r, r.error().message);
  }
  BOOST_TEST(store.add(NodeFixture::spec("one-too-many"), at(kT0)).has_value() == false);
  BOOST_TEST(check_invariants(store, f.trust, at(kT0)) == "");
}
