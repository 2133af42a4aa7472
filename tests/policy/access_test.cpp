// The access lists of a broker's configuration (issue 10): [access] create,
// register and reload, a registry's register and admin lists, and its
// reservations, each allowed and refused for a process of uid nobody; the
// refusal names the rule, where it comes from and the uid. Without a
// configuration file everyone may create and register, as before.
#include <string>

#include "policy_test.hpp"

namespace shmreg::test {
namespace {

using AccessTest = PolicyTest;

TEST_F(AccessTest, WithoutAConfigFileNobodyCreatesRegistersAndChangesTheMetaOfItsOwnRegistry) {
  Actor nobody = nobody_actor();
  ASSERT_TRUE(nobody.expect_ok({"create", "mine", "unique"}));
  EXPECT_TRUE(nobody.registers("mine", "k", "v"));
  EXPECT_TRUE(nobody.expect_ok({"put_meta", "mine", "tier", "1"}));
  EXPECT_TRUE(nobody.expect_ok({"delete_meta", "mine", "tier"}));
}

TEST_F(AccessTest, AccessCreateRefusesNobodyANewRegistryButNotOneThatExists) {
  ASSERT_TRUE(start_with_config("[access]\ncreate = [\"root\"]\n"));
  cli_ok({"create", "existing"});
  Actor nobody = nobody_actor();
  const auto refused = nobody.ask({"create", "fresh", "unique"});
  EXPECT_EQ(errc_of(refused), "permission_denied") << join_fields(refused);
  EXPECT_TRUE(names(refused, "creating registry 'fresh': [access] create is limited to [\"root\"] (config " +
                                 config_file() + "); uid 65534 (nobody) is not listed"));
  EXPECT_TRUE(nobody.expect_ok({"create", "existing", "unique"})) << "the same options again create nothing";
}

TEST_F(AccessTest, AccessCreateListingNobodyLetsItCreate) {
  ASSERT_TRUE(start_with_config("[access]\ncreate = [\"nobody\"]\n"));
  Actor nobody = nobody_actor();
  EXPECT_TRUE(nobody.expect_ok({"create", "fresh", "unique"}));
}

TEST_F(AccessTest, ARegistrysRegisterListRefusesNobodyAndAnotherAdmitsItThroughItsGroup) {
  ASSERT_TRUE(start_with_config(
      "[[registry]]\nname = \"closed\"\nregister = [\"root\"]\n"
      "[[registry]]\nname = \"grouped\"\nregister = [\"@nogroup\"]\n"));
  cli_ok({"create", "closed"});
  cli_ok({"create", "grouped"});
  Actor nobody = nobody_actor();
  const auto refused = nobody.ask({"register", "closed", "k", "v"});
  EXPECT_EQ(errc_of(refused), "permission_denied") << join_fields(refused);
  EXPECT_TRUE(names(refused, "registry 'closed': register is limited to [\"root\"] (config " + config_file() +
                                 "); uid 65534 (nobody) is not listed"));
  EXPECT_TRUE(nobody.registers("grouped", "k", "v"));
}

TEST_F(AccessTest, AccessRegisterRefusesNobodyInRegistriesTheFileDoesNotDeclare) {
  ASSERT_TRUE(start_with_config("[access]\nregister = [\"root\"]\n"));
  cli_ok({"create", "open"});
  Actor nobody = nobody_actor();
  const auto refused = nobody.ask({"register", "open", "k", "v"});
  EXPECT_EQ(errc_of(refused), "permission_denied") << join_fields(refused);
  EXPECT_TRUE(names(refused, "registry 'open': [access] register is limited to [\"root\"]"));
  const auto queued = as_nobody([](const shmreg::Client& c) {
    auto r = c.request_name("open", "q", "v");
    return r ? std::string("ok") : error_line(r.error());
  });
  EXPECT_EQ(errc_of(queued), "permission_denied") << join_fields(queued);
  Actor root = Actor::start(ns(), socket_path());
  EXPECT_TRUE(root.registers("open", "k", "v"));
}

// Reservations: every key under a prefix belongs to the listed owners only,
// whoever asks; for a register on behalf, the owner is the target process.
class ReservationTest : public PolicyTest {
 protected:
  void SetUp() override {
    PolicyTest::SetUp();
    ASSERT_TRUE(start_with_config(
        "[[registry]]\nname = \"svc\"\n"
        "[[registry.reserve]]\nprefix = \"db.\"\nowners = [\"root\"]\n"
        "[[registry.reserve]]\nprefix = \"nb.\"\nowners = [\"nobody\"]\n"));
    cli_ok({"create", "svc"});
  }
};

TEST_F(ReservationTest, NobodyCannotRegisterAKeyReservedForRootButRegistersOneReservedForIt) {
  Actor nobody = nobody_actor();
  const auto refused = nobody.ask({"register", "svc", "db.main", "v"});
  EXPECT_EQ(errc_of(refused), "permission_denied") << join_fields(refused);
  EXPECT_TRUE(names(refused, "registry 'svc': keys beginning with 'db.' may be owned only by [\"root\"]"));
  EXPECT_TRUE(names(refused, "owner uid 65534 (nobody) is not listed"));
  EXPECT_TRUE(nobody.registers("svc", "nb.main", "v"));
  EXPECT_TRUE(nobody.registers("svc", "free", "v")) << "a key under no prefix is anyone's";
}

TEST_F(ReservationTest, AnOwnerQueueRequestIsCheckedAgainstTheReservationToo) {
  const auto refused = as_nobody([](const shmreg::Client& c) {
    auto r = c.request_name("svc", "db.q", "v");
    return r ? std::string("ok") : error_line(r.error());
  });
  EXPECT_EQ(errc_of(refused), "permission_denied") << join_fields(refused);
  EXPECT_TRUE(names(refused, "keys beginning with 'db.'"));
  const auto allowed = as_nobody([](const shmreg::Client& c) {
    auto r = c.request_name("svc", "nb.q", "v");
    return r ? std::string("ok") : error_line(r.error());
  });
  EXPECT_TRUE(is_ok(allowed));
}

TEST_F(ReservationTest, RootRegisteringOnBehalfOfANobodyProcessIsCheckedAgainstThatOwner) {
  ForkedChild target = start_bystander_as(kNobodyUid, kNobodyUid, kNobodyUid);
  ASSERT_EQ(target.receive(), std::optional<std::string>("ready"));
  Actor root = Actor::start(ns(), socket_path());
  ASSERT_TRUE(root.ready());
  const std::string pid = std::to_string(target.pid());
  const auto refused = root.ask({"register_for", pid, "svc", "db.x", "v"});
  EXPECT_EQ(errc_of(refused), "permission_denied") << join_fields(refused);
  EXPECT_TRUE(names(refused, "owner uid 65534 (nobody) is not listed"));
  EXPECT_TRUE(root.expect_ok({"register_for", pid, "svc", "nb.x", "v"}));
}

// Meta and static entries: a registry's admins. An undeclared registry's are
// root and the uid that created it.
TEST_F(AccessTest, NobodyCannotChangeTheMetaOfARegistryRootCreatedButChangesItsOwn) {
  cli_ok({"create", "roots"});
  Actor nobody = nobody_actor();
  const auto put = nobody.ask({"put_meta", "roots", "tier", "1"});
  EXPECT_EQ(errc_of(put), "permission_denied") << join_fields(put);
  EXPECT_TRUE(names(put, "only root and its creator, uid 0 (root), may change its meta and static entries; "
                         "uid 65534 (nobody) is neither"));
  EXPECT_EQ(errc_of(nobody.ask({"delete_meta", "roots", "tier"})), "permission_denied");
  ASSERT_TRUE(nobody.expect_ok({"create", "nobodys", "unique"}));
  EXPECT_TRUE(nobody.expect_ok({"put_meta", "nobodys", "tier", "1"}));
  EXPECT_TRUE(nobody.expect_ok({"delete_meta", "nobodys", "tier"}));
}

TEST_F(AccessTest, ADeclaredRegistrysAdminListDecidesWhoChangesItsMeta) {
  ASSERT_TRUE(start_with_config("[[registry]]\nname = \"rooted\"\n"
                                "[[registry]]\nname = \"shared\"\nadmin = [\"@nogroup\"]\n"));
  cli_ok({"create", "rooted"});
  cli_ok({"create", "shared"});
  Actor nobody = nobody_actor();
  const auto put = nobody.ask({"put_meta", "rooted", "tier", "1"});
  EXPECT_EQ(errc_of(put), "permission_denied") << join_fields(put);
  EXPECT_TRUE(names(put, "registry 'rooted': admin is limited to [\"root\"]"));
  EXPECT_TRUE(nobody.expect_ok({"put_meta", "shared", "tier", "1"}));
  EXPECT_TRUE(nobody.expect_ok({"delete_meta", "shared", "tier"}));
}

TEST_F(AccessTest, NobodyCannotSetOrUnsetStaticEntriesOfARegistryItDoesNotAdminister) {
  cli_ok({"create", "roots"});
  const std::string denied = std::to_string(static_cast<int>(proto::Status::permission_denied)) + "\t";
  const std::string set = raw_as_nobody(proto::SetStatic{"roots", "gateway", "10.0.0.1"});
  EXPECT_EQ(set.rfind(denied, 0), 0u) << set;
  EXPECT_NE(set.find("may change its meta and static entries"), std::string::npos) << set;
  const std::string unset = raw_as_nobody(proto::UnsetStatic{"roots", "gateway"});
  EXPECT_EQ(unset.rfind(denied, 0), 0u) << unset;
}

TEST_F(AccessTest, NobodyMayNeitherReloadNorForbidNorAllowReloads) {
  ASSERT_TRUE(start_with_config("[access]\nreload = [\"root\"]\n"));
  const std::string denied = std::to_string(static_cast<int>(proto::Status::permission_denied)) + "\t";
  for (auto action : {proto::ReloadAction::reload, proto::ReloadAction::forbid, proto::ReloadAction::allow}) {
    const std::string r = raw_as_nobody(proto::Reload{action});
    EXPECT_EQ(r.rfind(denied, 0), 0u) << r;
    EXPECT_NE(r.find("[access] reload is limited to [\"root\"] (config " + config_file() +
                     "); uid 65534 (nobody) is not listed"),
              std::string::npos)
        << r;
  }
}

// With segment_group the segment is readable by that group only; the
// broker's consistent lookup reads the same entries, so it keeps the same rule.
TEST_F(AccessTest, SegmentGroupKeepsTheConsistentLookupToItsMembers) {
  ASSERT_TRUE(start_with_config("[broker]\nsegment_group = \"root\"\n"));
  cli_ok({"create", "vault"});
  const std::string r = raw_as_nobody(proto::LookupConsistent{"vault", "password"});
  EXPECT_EQ(r.rfind(std::to_string(static_cast<int>(proto::Status::permission_denied)) + "\t", 0), 0u) << r;
  EXPECT_NE(r.find("[broker] segment_group = \"root\""), std::string::npos) << r;
  EXPECT_EQ(cli({"lookup", "--consistent", "vault", "password"}).exit_code(), 1) << "root still reads (not found)";
}


}  // namespace
}  // namespace shmreg::test
