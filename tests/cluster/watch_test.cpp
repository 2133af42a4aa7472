// Watches against a real three-member cluster: from the revision of an
// initial read, a watch sees every later change of the prefix, once, in
// order, also the changes made before it was opened; a compacted start
// revision is reported as such.
#include <gtest/gtest.h>

#include "etcd_cluster_test.hpp"
#include "shmreg/cluster/etcd_client.hpp"
#include "shmreg/cluster/watch.hpp"

namespace shmreg::test {
namespace {

using namespace cluster;
using WatchTest = SharedEtcdClusterTest;

struct Change {
  WatchEvent::Type type;
  std::string key;
  std::int64_t revision;
};

// Collects events until count have come or deadline passes.
std::vector<WatchEvent> collect(Watch& watch, std::size_t count, Deadline deadline) {
  std::vector<WatchEvent> seen;
  while (seen.size() < count && Clock::now() < deadline) {
    auto events = watch.next(deadline);
    if (!events) {
      ADD_FAILURE() << events.error().message;
      break;
    }
    seen.insert(seen.end(), events->begin(), events->end());
  }
  return seen;
}

TEST_F(WatchTest, AWatchFromTheReadsRevisionSeesEveryLaterChangeInOrder) {
  auto c = client();
  ASSERT_TRUE(c.put(prefix() + "before", "x", 0, deadline_in(kTimeout)));
  auto snapshot = c.get_prefix(prefix(), ReadMode::linearizable, deadline_in(kTimeout));
  ASSERT_TRUE(snapshot) << snapshot.error().message;
  ASSERT_EQ(snapshot->kvs.size(), 1u);

  std::vector<Change> changes;
  const auto put = [&](const std::string& k) {
    auto r = c.put(prefix() + k, k, 0, deadline_in(kTimeout));
    ASSERT_TRUE(r) << r.error().message;
    changes.push_back({WatchEvent::Type::put, prefix() + k, r->revision});
  };
  const auto del = [&](const std::string& k) {
    auto r = c.delete_if_value(prefix() + k, k == "before" ? "x" : k, deadline_in(kTimeout));
    ASSERT_TRUE(r && r->deleted);
    changes.push_back({WatchEvent::Type::del, prefix() + k, r->header.revision});
  };
  // Changes between the read and the watch: the watch must still see them.
  put("a");
  del("before");
  put("b");
  auto watch = Watch::open(options(), prefix(), snapshot->header.revision + 1, deadline_in(kTimeout));
  ASSERT_TRUE(watch) << watch.error().message;
  for (int i = 0; i < 20; ++i) put("k" + std::to_string(i));
  del("a");
  ASSERT_TRUE(c.put("/elsewhere" + prefix(), "not ours", 0, deadline_in(kTimeout)));
  put("c");

  const auto seen = collect(*watch, changes.size(), deadline_in(kTimeout));
  ASSERT_EQ(seen.size(), changes.size());
  for (std::size_t i = 0; i < changes.size(); ++i) {
    EXPECT_EQ(seen[i].type, changes[i].type) << "event " << i;
    EXPECT_EQ(seen[i].kv.key, changes[i].key) << "event " << i;
    EXPECT_EQ(seen[i].kv.mod_revision, changes[i].revision) << "event " << i;
  }
  // And nothing more.
  auto extra = watch->next(deadline_in(std::chrono::milliseconds(200)));
  ASSERT_TRUE(extra);
  EXPECT_TRUE(extra->empty());
}

TEST_F(WatchTest, AWatchFromACompactedRevisionSaysCompactedAndWhere) {
  auto c = client();
  auto first = c.put(prefix() + "k", "1", 0, deadline_in(kTimeout));
  auto second = c.put(prefix() + "k", "2", 0, deadline_in(kTimeout));
  ASSERT_TRUE(first && second);
  auto compacted = c.compact(second->revision, deadline_in(kTimeout));
  ASSERT_TRUE(compacted) << compacted.error().message;

  auto watch = Watch::open(options(), prefix(), first->revision, deadline_in(kTimeout));
  ASSERT_TRUE(watch) << watch.error().message;
  auto events = watch->next(deadline_in(kTimeout));
  ASSERT_FALSE(events);
  EXPECT_EQ(events.error().code, Errc::compacted) << events.error().message;
  EXPECT_GE(watch->compact_revision(), second->revision);
  // The watch is over; it says so again.
  auto again = watch->next(deadline_in(kTimeout));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::compacted);
}

TEST_F(WatchTest, AWatchWithNothingToSayReturnsNoEventsAtItsDeadline) {
  auto watch = Watch::open(options(), prefix(), 0, deadline_in(kTimeout));
  ASSERT_TRUE(watch) << watch.error().message;
  auto events = watch->next(deadline_in(std::chrono::milliseconds(100)));
  ASSERT_TRUE(events) << events.error().message;
  EXPECT_TRUE(events->empty());
  // A later change still arrives on the same stream.
  auto c = client();
  ASSERT_TRUE(c.put(prefix() + "late", "x", 0, deadline_in(kTimeout)));
  const auto seen = collect(*watch, 1, deadline_in(kTimeout));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].kv.key, prefix() + "late");
}

}  // namespace
}  // namespace shmreg::test
