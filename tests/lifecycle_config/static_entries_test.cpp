// Declared registries and static entries: applied when the broker starts,
// owned by the namespace (pid 0), kept through restarts and reloads, and gone
// only by unset or by a reload whose file no longer declares them.
#include <gtest/gtest.h>

#include "config_broker_test.hpp"

namespace shmreg::test {
namespace {

constexpr const char* kDnsStatic = R"(
[[registry.static]]
key = "dns"
value = "10.0.0.53"
)";

constexpr const char* kHostsRegistry = R"(
[[registry]]
name = "hosts"
keys = "duplicate"
capacity = 32
)";

using StaticEntriesTest = ConfigBrokerTest;

TEST_F(StaticEntriesTest, DeclaredRegistryAndStaticExistAfterStartOwnedByPidZero) {
  EXPECT_TRUE(registry_exists("services"));
  EXPECT_TRUE(static_entry("services", "gateway", "10.0.0.1:8080"));
}

TEST_F(StaticEntriesTest, DeclaredStaticSurvivesSigtermAndSigkillRestarts) {
  ASSERT_TRUE(stop_broker());
  EXPECT_TRUE(static_entry("services", "gateway", "10.0.0.1:8080")) << "while no broker runs";
  ASSERT_TRUE(start_broker(broker_args()));
  EXPECT_TRUE(static_entry("services", "gateway", "10.0.0.1:8080")) << "after SIGTERM and start";
  broker().kill_hard();
  ASSERT_TRUE(start_broker(broker_args()));
  EXPECT_TRUE(static_entry("services", "gateway", "10.0.0.1:8080")) << "after SIGKILL and start";
}

TEST_F(StaticEntriesTest, ReloadAddsDeclaredStaticsAndRegistriesAndDropsStaticsNoLongerDeclared) {
  write_config(config_of({kServicesRegistry, kGatewayStatic, kDnsStatic, kHostsRegistry}));
  ASSERT_EQ(reload().status, proto::Status::ok);
  EXPECT_TRUE(static_entry("services", "dns", "10.0.0.53"));
  EXPECT_TRUE(registry_exists("hosts"));
  write_config(config_of({kServicesRegistry}));
  ASSERT_EQ(reload().status, proto::Status::ok);
  EXPECT_TRUE(entries("services", "gateway").empty());
  EXPECT_TRUE(entries("services", "dns").empty());
  EXPECT_TRUE(registry_exists("hosts")) << "a registry is never removed";
}

TEST_F(StaticEntriesTest, RuntimeStaticSurvivesReloadAndRestart) {
  const auto set = call(proto::SetStatic{"services", "cache", "10.0.0.7"});
  ASSERT_EQ(set.status, proto::Status::ok) << set.message;
  EXPECT_GT(set.value, 0u) << "the result carries the entry's version";
  write_config(config_of({kServicesRegistry}));
  ASSERT_EQ(reload().status, proto::Status::ok);
  EXPECT_TRUE(static_entry("services", "cache", "10.0.0.7")) << "after a reload that drops declared statics";
  broker().kill_hard();
  ASSERT_TRUE(start_broker(broker_args()));
  EXPECT_TRUE(static_entry("services", "cache", "10.0.0.7")) << "after a restart";
}

TEST_F(StaticEntriesTest, UnsetOfADeclaredStaticIsAllowedAndTheNextReloadSetsItAgain) {
  const auto unset = call(proto::UnsetStatic{"services", "gateway"});
  ASSERT_EQ(unset.status, proto::Status::ok) << unset.message;
  EXPECT_EQ(unset.value, 1u);
  EXPECT_TRUE(entries("services", "gateway").empty());
  EXPECT_EQ(call(proto::UnsetStatic{"services", "gateway"}).value, 0u) << "nothing left to unset";
  ASSERT_EQ(reload().status, proto::Status::ok);
  EXPECT_TRUE(static_entry("services", "gateway", "10.0.0.1:8080"));
}

TEST_F(StaticEntriesTest, SetStaticOnAMissingRegistryIsRegistryNotFound) {
  EXPECT_EQ(call(proto::SetStatic{"nowhere", "k", "v"}).status, proto::Status::registry_not_found);
}

TEST_F(StaticEntriesTest, ConsistentLookupReturnsAStaticEntry) {
  const auto res = call(proto::LookupConsistent{"services", "gateway"});
  ASSERT_EQ(res.status, proto::Status::ok) << res.message;
  EXPECT_EQ(res.value, 1u) << "pid 0 is alive: the static entry is returned";
}

// A conflict between the file and the segment, which a local user can cause
// (a name created first, a key taken, a registry filled), must not keep the
// broker down: it starts with the file's policy, does what it can, and
// reports the rest as reload_error until a reload succeeds.
TEST_F(StaticEntriesTest, ABrokerWhoseSegmentContradictsTheFileStartsWithItsPolicyAndReportsReloadError) {
  ASSERT_TRUE(stop_broker());
  write_config(config_of({R"(
[access]
create = ["root"]
[[registry]]
name = "services"
keys = "unique"
capacity = 128
max_value = 64
[[registry]]
name = "added"
[[registry.static]]
key = "dns"
value = "10.0.0.53"
)"}));
  ASSERT_TRUE(start_broker(broker_args())) << broker().log();
  const auto s = status();
  ASSERT_TRUE(s.is_object()) << broker().log();
  EXPECT_EQ(s["state"], "reload_error") << s;
  EXPECT_NE(s["last_reload"]["reasons"].dump().find("capacity is 64 in the live segment, the file asks 128"),
            std::string::npos)
      << s;
  EXPECT_TRUE(static_entry("added", "dns", "10.0.0.53")) << "what the segment allows is applied";
  // The file's policy is in force: nobody may create a registry.
  const std::string socket = socket_path();
  ForkedChild child = ForkedChild::start([&](ChildChannel& ch) {
    if (!become_nobody()) return child_report(ch, "become_nobody failed");
    auto conn = RawConnection::connect(socket);
    auto res = conn ? conn->call({proto::CreateRegistry{.name = "squat"}}) : std::nullopt;
    ch.send(res && res->size() == 1 ? std::string(proto::to_string(res->front().status)) : "no reply");
    return 0;
  });
  EXPECT_EQ(child.receive().value_or("no answer"), "permission denied");
  // Fixed file: a reload succeeds and the state returns to running.
  write_config(config_of({kServicesRegistry}));
  EXPECT_EQ(reload().status, proto::Status::ok);
  EXPECT_EQ(status()["state"], "running");
}

// Statics take places of a registry's capacity: a reload that adds more
// statics than a filled registry has room for is refused before anything
// is applied (no new registry appears either).
TEST_F(StaticEntriesTest, AReloadWhoseStaticsDoNotFitTheRegistryAppliesNothing) {
  auto conn = RawConnection::connect(socket_path());
  ASSERT_TRUE(conn);
  for (int i = 0; i < 63; ++i) {
    const auto res = conn->call({proto::RegisterKey{"services", "k" + std::to_string(i), "v"}});
    ASSERT_TRUE(res && res->front().status == proto::Status::ok) << i;
  }
  write_config(config_of({kServicesRegistry, kGatewayStatic, "[[registry.static]]\nkey = \"dns\"\nvalue = \"x\"",
                          "[[registry]]\nname = \"fresh\""}));
  const auto res = reload();
  EXPECT_EQ(res.status, proto::Status::reload_failed);
  EXPECT_NE(res.message.find("static entries to set need as many free places"), std::string::npos) << res.message;
  EXPECT_FALSE(registry_exists("fresh"));
  EXPECT_TRUE(entries("services", "dns").empty());
}

TEST_F(StaticEntriesTest, DeclaredStaticOnAKeyALiveProcessHoldsIsAReasonNamingThePid) {
  auto conn = RawConnection::connect(socket_path());
  ASSERT_TRUE(conn);
  const auto reg = conn->call({proto::RegisterKey{"services", "db", "mine"}});
  ASSERT_TRUE(reg && reg->front().status == proto::Status::ok);
  write_config(config_of({kServicesRegistry, "[[registry.static]]\nkey = \"db\"\nvalue = \"static\""}));
  const auto res = reload();
  EXPECT_EQ(res.status, proto::Status::reload_failed);
  EXPECT_NE(res.message.find("held by pid " + std::to_string(::getpid())), std::string::npos) << res.message;
}

}  // namespace
}  // namespace shmreg::test
