// parse_settings on text: every key lands in Settings, defaults stay where
// the file says nothing, and each kind of problem is reported with its
// file:line:column and key, all of them in one pass.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>

#include <string>

#include "config_file.hpp"

namespace shmreg::broker {
namespace {

Settings parse_ok(const std::string& text) {
  auto s = parse_settings(text, "test.toml");
  if (!s) {
    std::string all;
    for (const auto& p : s.error()) all += p.text() + "\n";
    ADD_FAILURE() << all;
    return {};
  }
  return *s;
}

std::vector<ConfigProblem> parse_bad(const std::string& text) {
  auto s = parse_settings(text, "test.toml");
  EXPECT_FALSE(s.has_value()) << "the text parsed:\n" << text;
  return s ? std::vector<ConfigProblem>{} : s.error();
}

TEST(ConfigFile, AnEmptyFileGivesTheDefaults) {
  const Settings s = parse_ok("");
  EXPECT_EQ(s.path, "test.toml");
  EXPECT_EQ(s.broker.segment_size, Settings{}.broker.segment_size);
  EXPECT_EQ(s.limits, Settings{}.limits);
  EXPECT_EQ(s.access.create, anyone());
  EXPECT_EQ(s.access.reload, root_only());
  EXPECT_TRUE(s.registries.empty());
}

TEST(ConfigFile, EveryBrokerKeyIsRead) {
  const Settings s = parse_ok(R"(
[broker]
segment_size = "8M"
segment_group = "nogroup"
owner_capacity = 100
grace = "2s"
default_max_key = 64
default_max_value = 512
default_capacity = 100
queued_reply_bytes = "8M"
frame_deadline = 5000
idle_timeout = "1m"
fds_per_request = 4
mailbox_bytes_per_uid = "1M"
mailbox_bytes_per_receiver_uid = 1024
pattern_bytes = "1K"
)");
  const BrokerSection& b = s.broker;
  EXPECT_EQ(b.segment_size, 8u << 20);
  ASSERT_TRUE(b.segment_group.has_value());
  EXPECT_EQ(b.segment_group_name, "nogroup");
  EXPECT_EQ(b.owner_capacity, 100u);
  EXPECT_EQ(b.grace, std::chrono::milliseconds(2000));
  EXPECT_EQ(b.default_max_key, 64u);
  EXPECT_EQ(b.default_max_value, 512u);
  EXPECT_EQ(b.default_capacity, 100u);
  EXPECT_EQ(b.connection.queued_reply_bytes, 8u << 20);
  EXPECT_EQ(b.connection.frame_deadline, std::chrono::milliseconds(5000));
  EXPECT_EQ(b.connection.idle_timeout, std::chrono::milliseconds(60'000));
  EXPECT_EQ(b.connection.fds_per_connection, 4u);
  EXPECT_EQ(b.connection.mailbox_bytes_per_uid, 1u << 20);
  EXPECT_EQ(b.connection.mailbox_bytes_per_receiver_uid, 1024u);
  EXPECT_EQ(b.connection.pattern_bytes, 1024u);
}

TEST(ConfigFile, TheSegmentGroupMayBeWrittenAsInAccessLists) {
  for (const char* group : {"\"nogroup\"", "\"@nogroup\"", "65534", "\"65534\""}) {
    const Settings s = parse_ok(std::string("[broker]\nsegment_group = ") + group + "\n");
    EXPECT_EQ(s.broker.segment_group, std::optional<gid_t>(65534)) << group;
  }
}

TEST(ConfigFile, TheReceiverShareIsAQuarterOfTheMailboxBudgetUnlessGiven) {
  const Settings s = parse_ok("[broker]\nmailbox_bytes_per_uid = \"4M\"\n");
  EXPECT_EQ(s.broker.connection.mailbox_bytes_per_receiver_uid, 1u << 20);
}

TEST(ConfigFile, UserLimitsTakeWhatTheyLeaveOutFromLimits) {
  const Settings s = parse_ok(R"(
[limits]
entries = 100
registries = 3
value_bytes = "1M"
[limits.user.nobody]
entries = 10
[limits.user.root]
connections = 8
)");
  EXPECT_EQ(s.limits.all.entries, 100u);
  EXPECT_EQ(s.limits.all.registries, 3u);
  EXPECT_EQ(s.limits.all.value_bytes, 1u << 20);
  const auto nobody = s.limits.for_uid(65534);
  ASSERT_TRUE(nobody.has_value());
  EXPECT_EQ(nobody->entries, 10u);
  EXPECT_EQ(nobody->registries, 3u);
  const auto root = s.limits.for_uid(0);
  ASSERT_TRUE(root.has_value()) << "[limits.user.root] gives root a quota";
  EXPECT_EQ(root->connections, 8u);
  EXPECT_EQ(root->entries, 100u);
}

TEST(ConfigFile, AccessListsResolveUsersGroupsAndIds) {
  const Settings s = parse_ok(R"(
[access]
create = ["root", "1234", "@nogroup", "@4321"]
register = ["*"]
reload = ["nobody"]
)");
  ASSERT_EQ(s.access.create.who.size(), 4u);
  EXPECT_EQ(s.access.create.who[0], (Principal{Principal::Kind::user, 0, "root"}));
  EXPECT_EQ(s.access.create.who[1], (Principal{Principal::Kind::user, 1234, "1234"}));
  EXPECT_EQ(s.access.create.who[2].kind, Principal::Kind::group);
  EXPECT_EQ(s.access.create.who[3], (Principal{Principal::Kind::group, 4321, "@4321"}));
  EXPECT_EQ(s.access.register_access, anyone());
  EXPECT_TRUE(s.access.reload.allows(65534, {}));
  EXPECT_FALSE(s.access.reload.allows(1000, {}));
  EXPECT_EQ(s.access.create.text(), R"(["root", "1234", "@nogroup", "@4321"])");
}

TEST(ConfigFile, ARegistryWithAllItsTablesIsRead) {
  const Settings s = parse_ok(R"(
[[registry]]
name = "services"
keys = "unique"
partitions = 2
max_key = 32
max_value = 1024
capacity = 100
meta = { tier = "1", owner = "ops" }
register = ["*"]
admin = ["root", "@nogroup"]

[[registry.reserve]]
prefix = "db."
owners = ["nobody"]

[[registry.static]]
key = "gateway"
value = "10.0.0.1:8080"

[[registry]]
name = "events"
keys = "duplicate"
)");
  ASSERT_EQ(s.registries.size(), 2u);
  const DeclaredRegistry& r = s.registries[0];
  EXPECT_EQ(r.name, "services");
  EXPECT_EQ(r.kind, shm::RegistryKind::unique);
  EXPECT_EQ(r.partitions, 2u);
  EXPECT_EQ(r.max_key, 32u);
  EXPECT_EQ(r.max_value, 1024u);
  EXPECT_EQ(r.capacity, 100u);
  EXPECT_EQ(r.meta.size(), 2u);
  EXPECT_EQ(r.admin.who.size(), 2u);
  ASSERT_EQ(r.reserve.size(), 1u);
  EXPECT_EQ(r.reserve[0].prefix, "db.");
  EXPECT_TRUE(r.reserve[0].owners.allows(65534, {}));
  ASSERT_EQ(r.statics.size(), 1u);
  EXPECT_EQ(r.statics[0].key, "gateway");
  EXPECT_EQ(r.statics[0].value, "10.0.0.1:8080");
  EXPECT_EQ(r.statics[0].where.line, 17u);
  EXPECT_EQ(s.declared("events")->kind, shm::RegistryKind::duplicate);
  EXPECT_EQ(s.declared("events")->register_access, anyone());
  EXPECT_EQ(s.declared("events")->admin, root_only());
}

TEST(ConfigFile, ARegistryTakesTheLimitsItLeavesOutFromTheBrokerDefaults) {
  const Settings s = parse_ok("[broker]\ndefault_max_key = 16\ndefault_capacity = 7\n[[registry]]\nname = \"r\"\n");
  ASSERT_EQ(s.registries.size(), 1u);
  EXPECT_EQ(s.registries[0].max_key, 16u);
  EXPECT_EQ(s.registries[0].capacity, 7u);
  EXPECT_EQ(s.registries[0].max_value, BrokerSection{}.default_max_value);
}

TEST(ConfigFile, SizesAndDurationsTakeEveryDocumentedSpelling) {
  const Settings s = parse_ok("[broker]\nsegment_size = 2097152\ngrace = 25\nframe_deadline = \"3s\"\n"
                              "[limits]\nvalue_bytes = \"2k\"\nregistry_bytes = \"1G\"\n");
  EXPECT_EQ(s.broker.segment_size, 2u << 20);
  EXPECT_EQ(s.broker.grace, std::chrono::milliseconds(25));
  EXPECT_EQ(s.broker.connection.frame_deadline, std::chrono::milliseconds(3000));
  EXPECT_EQ(s.limits.all.value_bytes, 2048u);
  EXPECT_EQ(s.limits.all.registry_bytes, 1u << 30);
}

// One problem expected: its position, key and a piece of its reason.
void expect_one(const std::string& text, std::uint32_t line, std::uint32_t column, const std::string& key,
                const std::string& reason_part) {
  const auto problems = parse_bad(text);
  ASSERT_EQ(problems.size(), 1u) << text;
  const ConfigProblem& p = problems[0];
  EXPECT_EQ(p.file, "test.toml");
  EXPECT_EQ(p.line, line) << p.text();
  EXPECT_EQ(p.column, column) << p.text();
  EXPECT_EQ(p.key, key) << p.text();
  EXPECT_NE(p.reason.find(reason_part), std::string::npos) << p.text();
}

TEST(ConfigFile, AnUnknownKeyIsNamedWithItsPosition) {
  expect_one("[broker]\n  segment_sise = \"64M\"\n", 2, 3, "broker.segment_sise", "unknown key");
  expect_one("[brokers]\n", 1, 2, "brokers", "unknown key");
  expect_one("[[registry]]\nname = \"a\"\ncolour = \"red\"\n", 3, 1, "registry[0].colour", "unknown key");
}

TEST(ConfigFile, AWrongTypeSaysWhatWasExpected) {
  expect_one("[limits]\nentries = \"many\"\n", 2, 11, "limits.entries", "expected an integer, not a string");
  expect_one("[access]\ncreate = \"root\"\n", 2, 10, "access.create", "expected an array");
  expect_one("broker = 3\n", 1, 10, "broker", "expected a table");
}

TEST(ConfigFile, AValueOutOfRangeNamesTheRange) {
  expect_one("[[registry]]\nname = \"a\"\ncapacity = 0\n", 3, 12, "registry[0].capacity", "0 is out of range 1..");
  expect_one("[[registry]]\nname = \"a\"\npartitions = 65\n", 3, 14, "registry[0].partitions",
             "65 is out of range 1..64");
  expect_one("[broker]\nsegment_size = \"512K\"\n", 2, 16, "broker.segment_size", "512K is out of range 1M..1024G");
  expect_one("[limits]\nentries = -1\n", 2, 11, "limits.entries", "-1 is below the minimum 0");
  expect_one("[broker]\ngrace = \"10 ms\"\n", 2, 9, "broker.grace", "not a duration");
  expect_one("[broker]\nsegment_size = \"64MB\"\n", 2, 16, "broker.segment_size", "not a size");
}

TEST(ConfigFile, AnUnknownUserOrGroupIsNamed) {
  expect_one("[access]\ncreate = [\"root\", \"no-such-user-x\"]\n", 2, 19, "access.create[1]",
             "unknown user 'no-such-user-x'");
  expect_one("[access]\nreload = [\"@no-such-group-x\"]\n", 2, 11, "access.reload[0]",
             "unknown group 'no-such-group-x'");
  expect_one("[limits.user.no-such-user-x]\nentries = 1\n", 1, 14, "limits.user.no-such-user-x", "unknown user");
  expect_one("[broker]\nsegment_group = \"no-such-group-x\"\n", 2, 17, "broker.segment_group", "unknown group");
}

TEST(ConfigFile, ADuplicateRegistryNameIsRefused) {
  expect_one("[[registry]]\nname = \"a\"\n[[registry]]\nname = \"a\"\n", 4, 8, "registry[1].name",
             "duplicate registry name 'a'");
}

TEST(ConfigFile, ADuplicateStaticKeyIsRefused) {
  expect_one("[[registry]]\nname = \"a\"\n[[registry.static]]\nkey = \"k\"\nvalue = \"1\"\n"
             "[[registry.static]]\nkey = \"k\"\nvalue = \"2\"\n",
             7, 7, "registry[0].static[1].key", "duplicate static key 'k'");
}

TEST(ConfigFile, StaticEntriesMustFitTheirRegistry) {
  expect_one("[[registry]]\nname = \"a\"\nmax_value = 2\n[[registry.static]]\nkey = \"k\"\nvalue = \"123\"\n", 6, 9,
             "registry[0].static[0].value", "3 bytes exceed the registry's max_value 2");
  expect_one("[[registry]]\nname = \"a\"\nkeys = \"duplicate\"\n[[registry.static]]\nkey = \"k\"\nvalue = \"1\"\n",
             4, 1, "registry[0].static", "keys = \"unique\"");
}

TEST(ConfigFile, RegistryNamesFollowTheSegmentsRule) {
  expect_one("[[registry]]\nname = \"two words\"\n", 2, 8, "registry[0].name", "not a registry name");
  expect_one("[[registry]]\nkeys = \"unique\"\n", 1, 1, "registry[0].name", "missing");
  expect_one("[[registry]]\nname = \"a\"\nkeys = \"many\"\n", 3, 8, "registry[0].keys", "neither");
}

TEST(ConfigFile, OneUserGivenLimitsTwiceByNameAndUidIsRefused) {
  expect_one("[limits.user.root]\nentries = 1\n[limits.user.0]\nentries = 2\n", 3, 14, "limits.user.0",
             "uid 0 already has limits (limits.user.root)");
}

TEST(ConfigFile, AReservationNeedsAPrefixAndOwners) {
  const auto problems = parse_bad("[[registry]]\nname = \"a\"\n[[registry.reserve]]\nprefix = \"\"\n");
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_EQ(problems[0].key, "registry[0].reserve[0].owners");
  EXPECT_EQ(problems[0].line, 3u) << "a missing key is reported at its table";
  EXPECT_EQ(problems[1].key, "registry[0].reserve[0].prefix");
  EXPECT_EQ(problems[1].line, 4u);
}

TEST(ConfigFile, MetaValuesMustBeStrings) {
  expect_one("[[registry]]\nname = \"a\"\nmeta = { tier = 1 }\n", 3, 17, "registry[0].meta.tier", "expected a string");
}

TEST(ConfigFile, ARegistryWrittenAsOneTableIsAWrongType) {
  expect_one("[registry]\nname = \"a\"\n", 1, 1, "registry", "expected an array of tables");
}

TEST(ConfigFile, AnEmptyAccessListAllowsOnlyRoot) {
  const Settings s = parse_ok("[access]\ncreate = []\n");
  EXPECT_TRUE(s.access.create.who.empty());
  EXPECT_FALSE(s.access.create.allows(65534, {}));
}

TEST(ConfigFile, AGroupInAnAccessListAllowsItsMembers) {
  const Settings s = parse_ok("[access]\nregister = [\"@4321\"]\n");
  const gid_t groups[] = {100, 4321};
  EXPECT_TRUE(s.access.register_access.allows(1000, groups));
  EXPECT_FALSE(s.access.register_access.allows(1000, std::span<const gid_t>(groups, 1)));
}

TEST(ConfigFile, ASyntaxErrorGivesTheParsersPosition) {
  const auto problems = parse_bad("[broker]\nsegment_size = \"64M\n");
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].line, 2u);
  EXPECT_NE(problems[0].reason.find("TOML syntax"), std::string::npos) << problems[0].text();
}

TEST(ConfigFile, EveryProblemOfAFileIsReportedInOrder) {
  const auto problems = parse_bad(R"([broker]
segment_size = "1K"
colour = 1
[limits]
entries = "x"
[[registry]]
name = "a"
[[registry]]
name = "a"
capacity = 0
)");
  ASSERT_EQ(problems.size(), 5u);
  std::vector<std::string> keys;
  for (const auto& p : problems) keys.push_back(p.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"broker.segment_size", "broker.colour", "limits.entries",
                                            "registry[1].name", "registry[1].capacity"}));
}

TEST(ConfigFile, AProblemReadsAsFileLineColumnKeyReason) {
  EXPECT_EQ((ConfigProblem{"a.toml", 3, 7, "limits.entries", "bad"}).text(), "a.toml:3:7: limits.entries: bad");
  EXPECT_EQ((ConfigProblem{"a.toml", 0, 0, "", "cannot read"}).text(), "a.toml: cannot read");
}

TEST(ConfigFile, AMissingFileIsAProblemNotACrash) {
  const auto s = load_settings("/nonexistent/shmreg-test.toml");
  ASSERT_FALSE(s.has_value());
  ASSERT_EQ(s.error().size(), 1u);
  EXPECT_NE(s.error()[0].text().find("cannot read the file"), std::string::npos);
}

// A directory opens and reads as nothing; taken for a file it would mean
// "the defaults" and drop every rule at the next reload.
TEST(ConfigFile, ADirectoryIsNotAConfigurationFile) {
  char tmpl[] = "/tmp/shmreg-cfgdir-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const auto loaded = load_settings(tmpl);
  ::rmdir(tmpl);
  ASSERT_FALSE(loaded.has_value());
  EXPECT_NE(loaded.error().front().text().find("not a regular file"), std::string::npos) << loaded.error().front().text();
}

// The TOML parser recurses once per part of a dotted key: a key of tens of
// thousands of parts would overflow the broker's stack at a reload.
TEST(ConfigFile, AKeyNestedThousandsDeepIsRefusedBeforeParsing) {
  std::string deep = "a";
  for (int i = 0; i < 60'000; ++i) deep += ".a";
  const auto parsed = parse_settings(deep + " = 1\n", "deep.toml");
  ASSERT_FALSE(parsed.has_value());
  EXPECT_NE(parsed.error().front().text().find("keys nested that deep are refused"), std::string::npos)
      << parsed.error().front().text();
  const auto header = parse_settings("[" + deep + "]\n", "deep.toml");
  EXPECT_FALSE(header.has_value());
}


// toml++ 3.3.0 reaches __builtin_unreachable() when it asks whether such a
// character is whitespace (found by the config fuzz target); the file is
// refused before the parser sees it, at the place the parser would stop.
TEST(ConfigFile, ANonAsciiCharacterOutsideStringsAndCommentsIsRefusedWithItsPlace) {
  for (const std::string& text : {std::string("\xef\xbb\xbb"), std::string("[broker]\xc3\xa9\n"),
                                  std::string("[broker]\nsegment_size = 1\xe3\x80\x81\n")}) {
    const auto problems = parse_bad(text);
    ASSERT_EQ(problems.size(), 1u) << text;
    EXPECT_NE(problems[0].reason.find("non-ASCII character outside a string or comment"), std::string::npos)
        << problems[0].text();
    EXPECT_EQ(problems[0].line, text.starts_with("[broker]\ns") ? 2u : 1u);
  }
  EXPECT_EQ(parse_bad("[broker]\xc3\xa9\n").at(0).column, 9u);
}

TEST(ConfigFile, ANonAsciiCharacterAfterABackslashInAStringIsRefused) {
  const auto problems = parse_bad("[[registry]]\nname = \"s\"\n[[registry.static]]\nkey = \"k\"\n"
                                  "value = \"\"\"a \\\n  \xc3\xa9\"\"\"\n");
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].line, 6u);
  EXPECT_EQ(problems[0].column, 3u);
  EXPECT_NE(problems[0].reason.find("\\uXXXX"), std::string::npos) << problems[0].text();
}

TEST(ConfigFile, NonAsciiTextInStringsAndCommentsIsRead) {
  const Settings s = parse_ok("# caf\xc3\xa9 \xef\xbb\xbb\n[[registry]] # \xc3\xa9\nname = \"s\"\n"
                              "[[registry.static]]\nkey = 'k\xc3\xa9'\nvalue = \"\"\"\xef\xbb\xbb \\\"\xc3\xa9\"\"\"\n"
                              "[[registry.static]]\nkey = \"k2\"\nvalue = \'\'\'it's \xc3\xa9\'\'\'\n");
  ASSERT_EQ(s.registries.size(), 1u);
  ASSERT_EQ(s.registries[0].statics.size(), 2u);
  EXPECT_EQ(s.registries[0].statics[0].key, "k\xc3\xa9");
  EXPECT_EQ(s.registries[0].statics[0].value, "\xef\xbb\xbb \"\xc3\xa9");
  EXPECT_EQ(s.registries[0].statics[1].value, "it's \xc3\xa9");
}

}  // namespace
}  // namespace shmreg::broker
