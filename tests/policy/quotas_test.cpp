// The per-uid quotas of [limits] and [limits.user.NAME] (issue 10), each
// reached by a process of uid nobody: registries, registry_bytes (the attack
// of filling the segment with one create), entries (queued records count),
// value_bytes (on register and when update_value grows a value). The refusal
// is quota_exceeded naming the limit, its value, the uid and its use; the use
// is rebuilt from the segment when the broker restarts.
#include <string>

#include "policy_test.hpp"

namespace shmreg::test {
namespace {

class QuotaTest : public PolicyTest {
 protected:
  // The broker on a file holding toml, a registry "svc" created by root, and
  // an actor of uid nobody.
  Actor nobody_with_svc(const std::string& toml) {
    EXPECT_TRUE(start_with_config(toml));
    cli_ok({"create", "svc"});
    return nobody_actor();
  }
};

TEST_F(QuotaTest, NobodyCreatesNoMoreRegistriesThanItsQuota) {
  ASSERT_TRUE(start_with_config("[limits]\nregistries = 1\n"));
  Actor nobody = nobody_actor();
  ASSERT_TRUE(nobody.expect_ok({"create", "first", "unique"}));
  const auto refused = nobody.ask({"create", "second", "unique"});
  EXPECT_EQ(errc_of(refused), "quota_exceeded") << join_fields(refused);
  EXPECT_TRUE(names(refused, "quota exceeded: registries = 1 for uid 65534 (nobody), 1 in use ([limits], config " +
                                 config_file() + ")"));
  EXPECT_TRUE(nobody.expect_ok({"create", "first", "unique"})) << "an existing registry is not a creation";
  cli_ok({"create", "roots"});  // root has no quota unless [limits.user.root] gives it one
}

TEST_F(QuotaTest, OneCreateCannotTakeMoreSegmentBytesThanTheRegistryBytesQuota) {
  ASSERT_TRUE(start_with_config("[limits]\nregistry_bytes = 2097152\n"));
  Actor nobody = nobody_actor();
  const auto refused = nobody.ask({"create", "hog", "unique", "1048576", "4"});
  EXPECT_EQ(errc_of(refused), "quota_exceeded") << join_fields(refused);
  EXPECT_TRUE(names(refused, "quota exceeded: registry_bytes = 2097152 for uid 65534 (nobody), 0 in use"));
  EXPECT_TRUE(nobody.expect_ok({"create", "small", "unique", "64", "16"}));
  cli_ok({"create", "hog", "--max-value", "1048576", "--capacity", "4"});
}

TEST_F(QuotaTest, NobodyRegistersNoMoreEntriesThanItsQuotaAndAFreedOneMayBeRegisteredAgain) {
  Actor nobody = nobody_with_svc("[limits]\nentries = 2\n");
  ASSERT_TRUE(nobody.registers("svc", "a", "v"));
  ASSERT_TRUE(nobody.registers("svc", "b", "v"));
  const auto refused = nobody.ask({"register", "svc", "c", "v"});
  EXPECT_EQ(errc_of(refused), "quota_exceeded") << join_fields(refused);
  EXPECT_TRUE(names(refused, "quota exceeded: entries = 2 for uid 65534 (nobody), 2 in use ([limits], config"));
  ASSERT_TRUE(nobody.unregisters("svc", "a"));
  EXPECT_TRUE(nobody.registers("svc", "c", "v"));
}

TEST_F(QuotaTest, APerUserQuotaOverridesLimitsAndItsSectionIsNamed) {
  Actor nobody = nobody_with_svc("[limits]\nentries = 100\n[limits.user.nobody]\nentries = 1\n");
  ASSERT_TRUE(nobody.registers("svc", "a", "v"));
  const auto refused = nobody.ask({"register", "svc", "b", "v"});
  EXPECT_EQ(errc_of(refused), "quota_exceeded") << join_fields(refused);
  EXPECT_TRUE(names(refused, "entries = 1 for uid 65534 (nobody), 1 in use ([limits.user.nobody], config"));
}

TEST_F(QuotaTest, AQueuedRecordCountsAsAnEntryOfItsOwner) {
  Actor holder = nobody_with_svc("[limits]\nentries = 2\n");
  ASSERT_TRUE(holder.registers("svc", "name", "v"));
  const auto queued = as_nobody([](const shmreg::Client& c) {
    auto r = c.request_name("svc", "name", "w");
    if (!r) return error_line(r.error());
    auto more = c.register_key("svc", "other", "v");  // the holder's entry and the queued record: 2 in use
    return more ? std::string("ok\tregistered") : error_line(more.error());
  });
  EXPECT_EQ(errc_of(queued), "quota_exceeded") << join_fields(queued);
  EXPECT_TRUE(names(queued, "entries = 2 for uid 65534 (nobody), 2 in use"));
}

TEST_F(QuotaTest, ValueBytesBoundWhatNobodyRegistersAndHowFarAnUpdateGrowsAValue) {
  Actor nobody = nobody_with_svc("[limits]\nvalue_bytes = 100\n");
  ASSERT_TRUE(nobody.expect_ok({"register_filled", "svc", "a", "60"}));
  const auto refused = nobody.ask({"register_filled", "svc", "b", "60"});
  EXPECT_EQ(errc_of(refused), "quota_exceeded") << join_fields(refused);
  EXPECT_TRUE(names(refused, "quota exceeded: value_bytes = 100 for uid 65534 (nobody), 60 in use, 60 more asked"));

  const auto grown = nobody.ask({"set", "svc", "a", std::string(120, 'x'), "-"});
  EXPECT_EQ(errc_of(grown), "quota_exceeded") << join_fields(grown);
  EXPECT_TRUE(names(grown, "value_bytes = 100 for uid 65534 (nobody), 60 in use, 60 more asked"));
  EXPECT_TRUE(nobody.expect_ok({"set", "svc", "a", std::string(90, 'x'), "-"}));
  EXPECT_TRUE(nobody.expect_ok({"set", "svc", "a", "short", "-"})) << "shrinking a value is always allowed";
}

TEST_F(QuotaTest, UseIsRebuiltFromTheSegmentAfterABrokerRestart) {
  Actor nobody = nobody_with_svc("[limits]\nentries = 2\n");
  ASSERT_TRUE(nobody.registers("svc", "a", "v"));
  ASSERT_TRUE(nobody.registers("svc", "b", "v"));
  ASSERT_TRUE(stop_broker());
  ASSERT_TRUE(start_broker({"--segment-size", "16M", "--config", config_file()}));
  const auto refused = nobody.ask({"register", "svc", "c", "v"});
  EXPECT_EQ(errc_of(refused), "quota_exceeded") << join_fields(refused);
  EXPECT_TRUE(names(refused, "entries = 2 for uid 65534 (nobody), 2 in use"));
  ASSERT_TRUE(nobody.unregisters("svc", "a"));
  EXPECT_TRUE(nobody.registers("svc", "c", "v"));
}

}  // namespace
}  // namespace shmreg::test
