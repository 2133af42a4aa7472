// The etcd client's reads and conditional writes against a real
// three-member cluster: the register primitive (create if absent, else the
// holder), compare-and-delete, prefix reads with their revision, and
// linearizable reads across members.
#include <gtest/gtest.h>

#include "etcd_cluster_test.hpp"
#include "shmreg/cluster/etcd_client.hpp"

namespace shmreg::test {
namespace {

using namespace cluster;
using KvTest = SharedEtcdClusterTest;

TEST_F(KvTest, CreateIfAbsentOnAHeldKeyReturnsTheHolder) {
  auto c = client();
  const std::string key = prefix() + "db";
  auto lease = c.lease_grant(30, deadline_in(kTimeout));
  ASSERT_TRUE(lease) << lease.error().message;

  auto first = c.create_if_absent(key, "node-a:412", lease->id, deadline_in(kTimeout));
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_TRUE(first->created);

  auto second = c.create_if_absent(key, "node-b:77", 0, deadline_in(kTimeout));
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_FALSE(second->created);
  EXPECT_EQ(second->holder.key, key);
  EXPECT_EQ(second->holder.value, "node-a:412");
  EXPECT_EQ(second->holder.lease, lease->id);
  EXPECT_EQ(second->holder.create_revision, first->header.revision);

  auto read = c.get(key, ReadMode::linearizable, deadline_in(kTimeout));
  ASSERT_TRUE(read) << read.error().message;
  ASSERT_EQ(read->kvs.size(), 1u);
  EXPECT_EQ(read->kvs[0].value, "node-a:412");
}

TEST_F(KvTest, ValuesAndKeysAreBytesNotText) {
  auto c = client();
  const std::string key = prefix() + std::string("k\0\xff\x01", 4);
  const std::string value("\0\x80\xfe\"}{\\", 7);
  ASSERT_TRUE(c.create_if_absent(key, value, 0, deadline_in(kTimeout)));
  auto read = c.get_prefix(prefix(), ReadMode::serializable, deadline_in(kTimeout));
  ASSERT_TRUE(read) << read.error().message;
  ASSERT_EQ(read->kvs.size(), 1u);
  EXPECT_EQ(read->kvs[0].key, key);
  EXPECT_EQ(read->kvs[0].value, value);
}

TEST_F(KvTest, ALinearizableReadOnAnotherMemberSeesTheWriteJustDone) {
  auto writer = client_of(0);
  auto reader = client_of(2);
  for (int i = 0; i < 20; ++i) {
    const std::string value = "v" + std::to_string(i);
    auto put = writer.put(prefix() + "k", value, 0, deadline_in(kTimeout));
    ASSERT_TRUE(put) << put.error().message;
    auto read = reader.get(prefix() + "k", ReadMode::linearizable, deadline_in(kTimeout));
    ASSERT_TRUE(read) << read.error().message;
    ASSERT_EQ(read->kvs.size(), 1u);
    EXPECT_EQ(read->kvs[0].value, value);
    EXPECT_GE(read->header.revision, put->revision);
  }
}

TEST_F(KvTest, APrefixReadReturnsTheKeysUnderItInOrderWithItsRevision) {
  auto c = client();
  for (const char* k : {"b", "a", "c"}) ASSERT_TRUE(c.put(prefix() + k, k, 0, deadline_in(kTimeout)));
  auto last = c.put(prefix().substr(0, prefix().size() - 1) + "0", "outside", 0, deadline_in(kTimeout));
  ASSERT_TRUE(last);
  auto read = c.get_prefix(prefix(), ReadMode::linearizable, deadline_in(kTimeout));
  ASSERT_TRUE(read) << read.error().message;
  ASSERT_EQ(read->kvs.size(), 3u);
  EXPECT_EQ(read->count, 3);
  EXPECT_EQ(read->kvs[0].key, prefix() + "a");
  EXPECT_EQ(read->kvs[2].key, prefix() + "c");
  EXPECT_GE(read->header.revision, last->revision);
}

TEST_F(KvTest, DeleteIfModRevisionDeletesOnlyTheRevisionItNames) {
  auto c = client();
  const std::string key = prefix() + "k";
  auto v1 = c.put(key, "one", 0, deadline_in(kTimeout));
  auto v2 = c.put(key, "two", 0, deadline_in(kTimeout));
  ASSERT_TRUE(v1 && v2);
  auto stale = c.delete_if_mod_revision(key, v1->revision, deadline_in(kTimeout));
  ASSERT_TRUE(stale) << stale.error().message;
  EXPECT_FALSE(stale->deleted);
  auto current = c.delete_if_mod_revision(key, v2->revision, deadline_in(kTimeout));
  ASSERT_TRUE(current) << current.error().message;
  EXPECT_TRUE(current->deleted);
  auto read = c.get(key, ReadMode::linearizable, deadline_in(kTimeout));
  ASSERT_TRUE(read);
  EXPECT_TRUE(read->kvs.empty());
}

TEST_F(KvTest, DeleteIfValueLeavesAKeyAnotherHolderTook) {
  auto c = client();
  const std::string key = prefix() + "k";
  ASSERT_TRUE(c.put(key, "node-b:9", 0, deadline_in(kTimeout)));
  auto mine = c.delete_if_value(key, "node-a:1", deadline_in(kTimeout));
  ASSERT_TRUE(mine) << mine.error().message;
  EXPECT_FALSE(mine->deleted);
  auto theirs = c.delete_if_value(key, "node-b:9", deadline_in(kTimeout));
  ASSERT_TRUE(theirs) << theirs.error().message;
  EXPECT_TRUE(theirs->deleted);
}

TEST_F(KvTest, AGenericTxnRunsTheFailureBranchWhenACompareFails) {
  auto c = client();
  const std::string key = prefix() + "k";
  ASSERT_TRUE(c.put(key, "v", 0, deadline_in(kTimeout)));
  Txn t;
  t.compare.push_back(Compare{key, Compare::Target::version, Compare::Op::greater, 5, {}});
  t.success.push_back(DeleteOp{key, {}});
  t.failure.push_back(PutOp{prefix() + "other", "x", 0});
  t.failure.push_back(RangeOp{prefix(), prefix() + "\xff"});
  auto r = c.txn(t, deadline_in(kTimeout));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->succeeded);
  ASSERT_EQ(r->responses.size(), 2u);
  EXPECT_EQ(r->responses[1].kvs.size(), 2u);  // k and other, at the txn's revision
}

TEST_F(KvTest, EtcdRefusingARequestIsRejectedWithItsWords) {
  auto c = client();
  // etcd refuses a put attached to a lease it does not have.
  auto r = c.put(prefix() + "k", "v", 0x7ead, deadline_in(kTimeout));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::lease_not_found) << r.error().message;
  EXPECT_NE(r.error().message.find("lease not found"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace shmreg::test
