// Registry meta: initial meta at creation, put_meta and delete_meta through
// the broker, reads from the segment, and the CLI commands.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "actor.hpp"
#include "client_test.hpp"

namespace shmreg::test {
namespace {

using Meta = ClientTest;
using Pairs = std::vector<std::pair<std::string, std::string>>;

Pairs meta_of(const shmreg::Client& c, const std::string& reg) {
  auto r = c.registry(reg);
  if (!r) return {{"<error>", r.error().message}};
  auto m = r->meta();
  if (!m) return {{"<error>", m.error().message}};
  return *m;
}

TEST_F(Meta, CreateWithMetaMakesTheMetaVisibleToOtherProcessesWithTheRegistry) {
  shmreg::RegistryOptions o;
  o.meta = {{"owner", "team-a"}, {"tier", "1"}};
  create("svc", true, o);
  // Another process, reading the segment alone.
  auto r = cli({"--json", "meta", "svc"});
  ASSERT_EQ(r.exit_code(), 0) << r.describe();
  EXPECT_EQ(nlohmann::json::parse(r.out), (nlohmann::json{{"owner", "team-a"}, {"tier", "1"}}));
}

TEST_F(Meta, CreateWithMetaThatDoesNotFitCreatesNoRegistry) {
  auto c = client();
  ASSERT_TRUE(c);
  shmreg::RegistryOptions o;
  o.meta = {{"small", "1"}, {"big", std::string(5000, 'x')}};
  auto r = c->create_registry("svc", o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, shmreg::Errc::meta_too_large) << r.error().message;
  EXPECT_EQ(c->registry("svc").error().code, shmreg::Errc::registry_not_found);
}

TEST_F(Meta, CreateWithADuplicateOrAnEmptyMetaKeyCreatesNoRegistry) {
  auto c = client();
  ASSERT_TRUE(c);
  shmreg::RegistryOptions twice;
  twice.meta = {{"k", "1"}, {"k", "2"}};
  auto r = c->create_registry("svc", twice);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, shmreg::Errc::invalid_argument);
  shmreg::RegistryOptions empty;
  empty.meta = {{"", "1"}};
  EXPECT_EQ(c->create_registry("svc", empty).error().code, shmreg::Errc::invalid_argument);
  EXPECT_EQ(c->registry("svc").error().code, shmreg::Errc::registry_not_found);
}

TEST_F(Meta, CreatingAnExistingRegistryAgainKeepsItsMeta) {
  shmreg::RegistryOptions o;
  o.meta = {{"owner", "team-a"}};
  create("svc", true, o);
  auto c = client();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->put_meta("svc", "owner", "team-b"));
  o.meta = {{"owner", "team-c"}, {"extra", "1"}};
  ASSERT_TRUE(c->create_registry("svc", o));  // idempotent with the same options
  EXPECT_EQ(meta_of(*c, "svc"), (Pairs{{"owner", "team-b"}}));
}

TEST_F(Meta, PutMetaAddsAndReplacesAndDeleteMetaRemovesAsOtherProcessesSee) {
  create("svc", true);
  Actor a = Actor::start(ns(), socket_path());
  ASSERT_TRUE(a.ready());
  ASSERT_TRUE(is_ok(a.ask({"put_meta", "svc", "region", "eu"})));
  ASSERT_TRUE(is_ok(a.ask({"put_meta", "svc", "tier", "1"})));
  ASSERT_TRUE(is_ok(a.ask({"put_meta", "svc", "region", "us"})));
  auto c = client();
  ASSERT_TRUE(c);
  EXPECT_EQ(meta_of(*c, "svc"), (Pairs{{"region", "us"}, {"tier", "1"}}));
  EXPECT_EQ(c->registry("svc")->meta("tier").value(), std::optional<std::string>("1"));

  auto deleted = a.ask({"delete_meta", "svc", "region"});
  ASSERT_TRUE(is_ok(deleted));
  EXPECT_EQ(deleted[1], "1");
  EXPECT_EQ(meta_of(*c, "svc"), (Pairs{{"tier", "1"}}));
  EXPECT_EQ(c->registry("svc")->meta("region").value(), std::nullopt);
}

TEST_F(Meta, DeleteMetaOfAnAbsentKeyReportsThatNothingWasRemoved) {
  create("svc", true);
  auto c = client();
  ASSERT_TRUE(c);
  auto r = c->delete_meta("svc", "never");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(*r);
}

TEST_F(Meta, PutMetaThatWouldOverflowTheBlockIsMetaTooLargeAndKeepsTheOldMeta) {
  create("svc", true);
  auto c = client();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->put_meta("svc", "a", std::string(3000, 'a')));
  auto r = c->put_meta("svc", "b", std::string(2000, 'b'));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, shmreg::Errc::meta_too_large) << r.error().message;
  EXPECT_EQ(meta_of(*c, "svc"), (Pairs{{"a", std::string(3000, 'a')}}));
}

TEST_F(Meta, MetaWritesToAMissingRegistryAreRegistryNotFound) {
  auto c = client();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->put_meta("nope", "k", "v").error().code, shmreg::Errc::registry_not_found);
  EXPECT_EQ(c->delete_meta("nope", "k").error().code, shmreg::Errc::registry_not_found);
}

TEST_F(Meta, CliMetaCommandsFollowTheExitCodeContract) {
  ASSERT_EQ(cli({"create", "svc", "--meta", "owner=team-a", "--meta", "url=http://x/?a=b"}).exit_code(), 0);
  EXPECT_EQ(cli_ok({"meta", "svc", "url"}), "http://x/?a=b\n");
  EXPECT_EQ(cli_ok({"meta", "svc"}), "owner\tteam-a\nurl\thttp://x/?a=b\n");
  EXPECT_EQ(cli({"meta", "svc", "absent"}).exit_code(), 1);

  ASSERT_EQ(cli({"put-meta", "svc", "tier", "2"}).exit_code(), 0);
  EXPECT_EQ(nlohmann::json::parse(cli_ok({"--json", "meta", "svc", "tier"})),
            (nlohmann::json{{"key", "tier"}, {"value", "2"}}));
  auto del = nlohmann::json::parse(cli_ok({"--json", "delete-meta", "svc", "tier"}));
  EXPECT_EQ(del["deleted"], true);
  del = nlohmann::json::parse(cli_ok({"--json", "delete-meta", "svc", "tier"}));
  EXPECT_EQ(del["deleted"], false);

  ASSERT_EQ(cli({"create", "bare"}).exit_code(), 0);
  EXPECT_EQ(cli({"meta", "bare"}).exit_code(), 1);  // no pairs
  EXPECT_EQ(cli({"create", "bad", "--meta", "novalue"}).exit_code(), 2);
  EXPECT_EQ(cli({"create", "bad", "--meta", "=x"}).exit_code(), 2);
  EXPECT_EQ(cli({"meta", "nope"}).exit_code(), 2);
}

}  // namespace
}  // namespace shmreg::test
