// PairPolicyCache: pairs that compile to the same grants share one copy; pairs that differ,
// or come from another Policy, do not; a shared copy decides as a copy of its own would; and
// copies no table holds any more are forgotten.
#define BOOST_TEST_MODULE policy_pair_cache
#include <boost/test/unit_test.hpp>

#include <vector>

#include "policy/pair_cache.h"
#include "policy_test_util.h"

using namespace keymesh;
using namespace keymesh::policy;
using namespace keymesh::policy::test;

namespace {

const WallTime kNoon = utc("2026-03-27T12:00:00Z");

const char* kPolicy = R"(
rules:
  - name: web-to-db
    from: { groups: [web] }
    to:   { groups: [db] }
    allow: [tcp/5432]
  - name: ops-ssh
    from: { groups: [ops] }
    to:   { groups: [db] }
    allow: [tcp/22]
)";

}  // namespace

BOOST_AUTO_TEST_CASE(equal_pairs_share_one_copy) {
  const Policy p = policy_from(kPolicy);
  PairPolicyCache cache;
  const auto a = cache.share(p.compile_pair(subject("web-1", {"web"}), subject("db-1", {"db"})));
  const auto b = cache.share(p.compile_pair(subject("web-2", {"web"}), subject("db-7", {"db"})));
  BOOST_TEST(a.get() == b.get());
  BOOST_TEST(b->allows(Proto::kTcp, 5432, kNoon));
  BOOST_TEST(!b->allows(Proto::kTcp, 22, kNoon));
  BOOST_TEST(b->granting_rule(Proto::kTcp, 5432, kNoon) == "web-to-db");
}

BOOST_AUTO_TEST_CASE(pairs_that_grant_otherwise_get_their_own) {
  const Policy p = policy_from(kPolicy);
  PairPolicyCache cache;
  const auto web = cache.share(p.compile_pair(subject("web-1", {"web"}), subject("db-1", {"db"})));
  const auto ops = cache.share(p.compile_pair(subject("ops-1", {"ops"}), subject("db-1", {"db"})));
  const auto both =
      cache.share(p.compile_pair(subject("x-1", {"web", "ops"}), subject("db-1", {"db"})));
  const auto none = cache.share(p.compile_pair(subject("db-1", {"db"}), subject("web-1", {"web"})));
  BOOST_TEST(web.get() != ops.get());
  BOOST_TEST(both.get() != web.get());
  BOOST_TEST(both.get() != ops.get());
  BOOST_TEST(none.get() != web.get());
  BOOST_TEST(ops->allows(Proto::kTcp, 22, kNoon));
  BOOST_TEST(!ops->allows(Proto::kTcp, 5432, kNoon));
  BOOST_TEST(both->allows(Proto::kTcp, 22, kNoon));
  BOOST_TEST(both->allows(Proto::kTcp, 5432, kNoon));
  BOOST_TEST(none->empty());
}

BOOST_AUTO_TEST_CASE(another_policy_never_reuses_an_old_copy) {
  // A reload with the same text is still another Policy: its pairs must name its own rules
  // (an old copy keeps the old rules alive and would report them).
  const Policy first = policy_from(kPolicy);
  const Policy second = policy_from(kPolicy);
  PairPolicyCache cache;
  const auto a = cache.share(first.compile_pair(subject("web-1", {"web"}), subject("db-1", {"db"})));
  const auto b =
      cache.share(second.compile_pair(subject("web-1", {"web"}), subject("db-1", {"db"})));
  BOOST_TEST(a.get() != b.get());
}

BOOST_AUTO_TEST_CASE(copies_nobody_holds_are_forgotten) {
  PairPolicyCache cache;
  for (int generation = 0; generation < 500; ++generation) {
    const Policy p = policy_from(kPolicy);  // each its own rules: nothing is shared
    auto held = cache.share(p.compile_pair(subject("web-1", {"web"}), subject("db-1", {"db"})));
  }
  // Swept as the table grows: bounded by the sweep threshold, not by the 500 made.
  BOOST_TEST(cache.size() <= 128u);
}

BOOST_AUTO_TEST_CASE(a_table_holding_a_shared_copy_decides_as_with_its_own) {
  const Policy p = policy_from(kPolicy);
  PairPolicyCache cache;
  const Subject web = subject("web-1", {"web"}), db = subject("db-1", {"db"});
  ConnTrack shared(cache.share(p.compile_pair(web, db)), cache.share(p.compile_pair(db, web)));
  ConnTrack own(p.compile_pair(web, db), p.compile_pair(db, web));
  BOOST_TEST(&shared.outbound_policy() != &own.outbound_policy());
  for (std::uint16_t port : {22, 5432, 5433})
    BOOST_TEST(shared.outbound_policy().allows(Proto::kTcp, port, kNoon) ==
               own.outbound_policy().allows(Proto::kTcp, port, kNoon));
}
