// Reload, after Cartridge's roles: a new file is validated against the one in
// force and the live segment before anything is applied; success bumps the
// generation, failure keeps the old configuration whole (state reload_error,
// every reason in status) and a fixed file reloads. SIGHUP reloads too;
// reloads can be forbidden and allowed; status reports all of it.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_broker_test.hpp"

namespace shmreg::test {
namespace {

const std::string kGood = config_of({kServicesRegistry, kGatewayStatic});

// Changes the live registry's partitions and capacity, and would add a
// registry, change a static and give root a quota: none may take effect.
constexpr const char* kLiveCapacityChanged = R"(
[limits.user.root]
entries = 5

[[registry]]
name = "services"
keys = "unique"
partitions = 2
capacity = 128
max_value = 64

[[registry.static]]
key = "gateway"
value = "changed"

[[registry]]
name = "extra"
)";

using ReloadTest = ConfigBrokerTest;

// The status row of root: the test's own connection makes one.
nlohmann::json root_row(const nlohmann::json& status) {
  for (const auto& row : status["uids"])
    if (row["uid"] == 0) return row;
  return nullptr;
}

TEST_F(ReloadTest, SuccessfulReloadBumpsTheGenerationAndReportsIt) {
  ASSERT_EQ(generation(), 1u);
  write_config(kGood + "\n[[registry]]\nname = \"more\"\n");
  const auto res = reload();
  ASSERT_EQ(res.status, proto::Status::ok) << res.message;
  EXPECT_EQ(res.value, 2u);
  const auto data = nlohmann::json::parse(res.data);
  EXPECT_EQ(data["state"], "running");
  EXPECT_EQ(data["generation"], 2);
  EXPECT_TRUE(data["reasons"].empty());
  const auto s = status();
  EXPECT_EQ(s["config"]["generation"], 2);
  EXPECT_EQ(s["last_reload"]["outcome"], "ok");
  EXPECT_TRUE(registry_exists("more"));
}

TEST_F(ReloadTest, RefusedReloadKeepsTheOldConfigurationWholeThenAFixedFileReloads) {
  write_config(kLiveCapacityChanged);
  const auto res = reload();
  ASSERT_EQ(res.status, proto::Status::reload_failed);
  EXPECT_EQ(res.message.rfind("reload failed: ", 0), 0u) << res.message;
  EXPECT_NE(res.message.find("(and 1 more)"), std::string::npos) << "partitions and capacity: " << res.message;
  EXPECT_EQ(res.value, 1u) << "the generation in force";

  const auto s = status();
  EXPECT_EQ(s["state"], "reload_error");
  EXPECT_EQ(s["config"]["generation"], 1);
  EXPECT_EQ(s["last_reload"]["outcome"], "failed");
  ASSERT_EQ(s["last_reload"]["reasons"].size(), 2u) << s.dump();
  EXPECT_NE(s["last_reload"]["reasons"][1].get<std::string>().find("capacity is 64 in the live segment, the file asks 128"),
            std::string::npos);
  EXPECT_FALSE(registry_exists("extra")) << "nothing is applied";
  EXPECT_TRUE(static_entry("services", "gateway", "10.0.0.1:8080"));
  EXPECT_TRUE(root_row(s)["limits"].is_null()) << "root's quota is the old one: none";

  write_config(kGood + "\n[limits.user.root]\nentries = 5\n");
  ASSERT_EQ(reload().status, proto::Status::ok);
  const auto fixed = status();
  EXPECT_EQ(fixed["state"], "running");
  EXPECT_EQ(fixed["config"]["generation"], 2);
  EXPECT_EQ(root_row(fixed)["limits"]["entries"], 5);
}

TEST_F(ReloadTest, InvalidFileFailsTheReloadWithItsProblemsInStatus) {
  write_config("[broker]\nno_such_key = 1\n[[registry]]\nname = 5\n");
  const auto res = reload();
  ASSERT_EQ(res.status, proto::Status::reload_failed);
  const auto s = status();
  EXPECT_EQ(s["state"], "reload_error");
  EXPECT_GE(s["last_reload"]["reasons"].size(), 2u) << s.dump();
  EXPECT_NE(s["last_reload"]["reasons"][0].get<std::string>().find(config_path()), std::string::npos);
  EXPECT_TRUE(static_entry("services", "gateway", "10.0.0.1:8080"));
  write_config(kGood);
  EXPECT_EQ(reload().status, proto::Status::ok);
  EXPECT_EQ(status()["state"], "running");
}

TEST_F(ReloadTest, SighupReloads) {
  write_config(kGood + "\n[[registry]]\nname = \"hup\"\n");
  hangup();
  ASSERT_TRUE(wait_until([&] { return generation() == 2; })) << broker().log();
  EXPECT_TRUE(registry_exists("hup"));
  EXPECT_TRUE(broker().running());
  EXPECT_NE(broker().log().find("reload (SIGHUP) ok"), std::string::npos) << broker().log();
}

TEST_F(ReloadTest, ForbiddenReloadIsRefusedAlsoOnSighupUntilAllowed) {
  const auto forbid = call(proto::Reload{proto::ReloadAction::forbid});
  ASSERT_EQ(forbid.status, proto::Status::ok) << forbid.message;
  EXPECT_EQ(status()["reload_allowed"], false);
  write_config(kGood + "\n[[registry]]\nname = \"later\"\n");
  EXPECT_EQ(reload().status, proto::Status::reload_forbidden);
  hangup();
  ASSERT_TRUE(wait_until([&] { return broker().log().find("reload (SIGHUP) refused") != std::string::npos; }))
      << broker().log();
  EXPECT_EQ(generation(), 1u);
  EXPECT_FALSE(registry_exists("later"));

  ASSERT_EQ(call(proto::Reload{proto::ReloadAction::allow}).status, proto::Status::ok);
  EXPECT_EQ(status()["reload_allowed"], true);
  ASSERT_EQ(reload().status, proto::Status::ok);
  EXPECT_EQ(generation(), 2u);
  EXPECT_TRUE(registry_exists("later"));
}

TEST_F(ReloadTest, RestartOnlyChangeIsANoteNotAReason) {
  write_config("[broker]\nowner_capacity = 4096\n" + kGood);
  const auto res = reload();
  ASSERT_EQ(res.status, proto::Status::ok) << res.message;
  const auto data = nlohmann::json::parse(res.data);
  ASSERT_EQ(data["notes"].size(), 1u) << res.data;
  EXPECT_NE(data["notes"][0].get<std::string>().find("owner_capacity"), std::string::npos);
  EXPECT_EQ(status()["last_reload"]["notes"].size(), 1u);
}

TEST_F(ReloadTest, AChangedHugePagesIsANoteAndTheRunningBrokerKeepsItsValue) {
  write_config("[broker]\nhuge_pages = \"require\"\n" + kGood);
  const auto res = reload();
  ASSERT_EQ(res.status, proto::Status::ok) << res.message;
  const auto data = nlohmann::json::parse(res.data);
  ASSERT_EQ(data["notes"].size(), 1u) << res.data;
  EXPECT_EQ(data["notes"][0], "[broker] huge_pages = require takes effect at the next start (now off)") << res.data;
  EXPECT_EQ(status()["segment"]["huge_pages"], "off");
}

TEST_F(ReloadTest, AConfigurationFileThatDisappearsIsAReasonNotTheDefaults) {
  ASSERT_EQ(::unlink(config_path().c_str()), 0);
  const auto res = reload();
  EXPECT_EQ(res.status, proto::Status::reload_failed);
  EXPECT_NE(res.message.find("is gone"), std::string::npos) << res.message;
  EXPECT_EQ(status()["config"]["path"], config_path());
}

TEST_F(ReloadTest, SegmentGroupGivesTheSegmentToThatGroupAndUnsettingItGivesItBack) {
  constexpr gid_t kGroup = 65534;
  write_config("[broker]\nsegment_group = 65534\n" + kGood);
  ASSERT_EQ(reload().status, proto::Status::ok);
  struct stat st{};
  ASSERT_EQ(::stat(segment_file().c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, kGroup);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  write_config(kGood);
  ASSERT_EQ(reload().status, proto::Status::ok);
  ASSERT_EQ(::stat(segment_file().c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, ::getegid());
  EXPECT_EQ(st.st_mode & 07777, 0644u);
}

// The broker checks the segment's name every 500 ms; removed right after the
// reload, before that check, the file is recreated from the settings in
// force, not from what the old file was at the last check (0644, readable by
// every user).
TEST_F(ReloadTest, ASegmentRemovedJustAfterAReloadComesBackWithTheReloadedGroupAndMode) {
  constexpr gid_t kGroup = 65534;
  write_config("[broker]\nsegment_group = 65534\n" + kGood);
  ASSERT_EQ(reload().status, proto::Status::ok);
  ASSERT_EQ(::unlink(segment_file().c_str()), 0);
  struct stat st{};
  ASSERT_TRUE(wait_until([&] { return ::stat(segment_file().c_str(), &st) == 0; })) << broker().log();
  EXPECT_EQ(st.st_gid, kGroup);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
}

TEST_F(ReloadTest, StatusReportsEveryField) {
  const auto s = status();
  ASSERT_TRUE(s.is_object());
  EXPECT_EQ(s["namespace"], ns());
  EXPECT_EQ(s["broker_pid"], broker().pid());
  EXPECT_EQ(s["state"], "running");
  EXPECT_GE(s["uptime_s"].get<double>(), 0.0);
  EXPECT_EQ(s["config"]["path"], config_path());
  EXPECT_GT(s["config"]["loaded_unix_s"].get<std::int64_t>(), 0);
  EXPECT_TRUE(s["last_reload"].is_null());
  EXPECT_EQ(s["reload_allowed"], true);
  EXPECT_GE(s["connections"].get<int>(), 1);
  EXPECT_EQ(s["owners"], 0) << "the namespace, owner of the static entry, is not a process";
  EXPECT_EQ(s["entries"], 1) << "the static entry";
  EXPECT_EQ(s["registries"], 1);
  EXPECT_GT(s["arena"]["used"].get<std::uint64_t>(), 0u);
  EXPECT_GT(s["arena"]["size"].get<std::uint64_t>(), s["arena"]["used"].get<std::uint64_t>());
  const auto root = root_row(s);
  ASSERT_TRUE(root.is_object()) << s.dump();
  EXPECT_EQ(root["user"], "root");
  EXPECT_GE(root["connections"].get<int>(), 1);
  for (const char* k : {"entries", "value_bytes", "registries", "registry_bytes"}) EXPECT_TRUE(root.contains(k)) << k;
}

}  // namespace
}  // namespace shmreg::test
