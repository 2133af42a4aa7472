// The C ABI's namespaces, registries and lookups against a real broker:
// copying and zero-copy lookups (hit, miss, a buffer too small), values,
// keys, count, list and match, and a registration seen by other processes.
#include <unistd.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "actor.hpp"
#include "c_api_fixture.hpp"

namespace shmreg::test {
namespace {

using CApiLookups = CApiTest;

TEST_F(CApiLookups, OpeningANamespaceNobodyServesIsSegmentNotFound) {
  shmreg_client* c = nullptr;
  const std::string other = ns() + "-none";
  EXPECT_EQ(shmreg_open(other.c_str(), socket_path().c_str(), 0, &c), SHMREG_SEGMENT_NOT_FOUND);
  EXPECT_EQ(c, nullptr) << "a failed open leaves its out-parameter alone";
  EXPECT_EQ(shmreg_last_error_code(), SHMREG_SEGMENT_NOT_FOUND);
  EXPECT_STRNE(shmreg_last_error(), "");
}

TEST_F(CApiLookups, PingAnswersWithTheBrokersPid) {
  CClient c = open_client();
  std::uint32_t pid = 0;
  ASSERT_EQ(shmreg_ping(c.get(), &pid), SHMREG_OK) << describe(shmreg_last_error_code());
  EXPECT_EQ(pid, static_cast<std::uint32_t>(broker().pid()));
}

TEST_F(CApiLookups, ARegistrationIsSeenByAnotherProcessAtOnce) {
  CClient c = open_client();
  CRegistry r = create(c.get(), "svc");
  std::uint64_t version = 0;
  const std::string value = "10.0.0.5:5432";
  ASSERT_EQ(shmreg_register(c.get(), "svc", "db", 2, value.data(), value.size(), &version), SHMREG_OK)
      << describe(shmreg_last_error_code());
  EXPECT_GT(version, 0u);
  // The CLI is another process: it reads the segment the moment the call returned.
  EXPECT_EQ(cli_lookup("svc", "db"), (Lookup{{::getpid(), value}}));
  EXPECT_EQ(value_of(r.get(), "db"), value);
}

TEST_F(CApiLookups, LookupsSeeWhatAnotherProcessRegistered) {
  CClient c = open_client();
  CRegistry r = create(c.get(), "svc");
  Actor a = Actor::start(ns(), socket_path());
  ASSERT_TRUE(a.ready());
  ASSERT_TRUE(a.registers("svc", "db", "from-actor"));

  EXPECT_EQ(value_of(r.get(), "db"), "from-actor");
  shmreg_entry_list* raw = nullptr;
  ASSERT_EQ(shmreg_lookup(r.get(), "db", 2, &raw), SHMREG_OK);
  CEntries list(raw);
  ASSERT_EQ(list->count, 1u);
  EXPECT_EQ(as_view(list->entries[0].key, list->entries[0].key_len), "db");
  EXPECT_EQ(as_view(list->entries[0].value, list->entries[0].value_len), "from-actor");
  EXPECT_EQ(list->entries[0].pid, static_cast<std::uint32_t>(a.pid()));
  EXPECT_GT(list->entries[0].version, 0u);
}

TEST_F(CApiLookups, LookupValueReportsTheNeededSizeWhenTheBufferIsTooSmall) {
  CClient c = open_client();
  CRegistry r = create(c.get(), "svc");
  ASSERT_EQ(reg(c.get(), "svc", "k", "0123456789"), SHMREG_OK);

  std::size_t len = 0;
  EXPECT_EQ(shmreg_lookup_value(r.get(), "k", 1, nullptr, 0, &len), SHMREG_BUFFER_TOO_SMALL);
  EXPECT_EQ(len, 10u) << "NULL with size 0 asks the size";
  char small[4] = {'x', 'x', 'x', 'x'};
  EXPECT_EQ(shmreg_lookup_value(r.get(), "k", 1, small, sizeof small, &len), SHMREG_BUFFER_TOO_SMALL);
  EXPECT_EQ(len, 10u);
  EXPECT_EQ(std::string(small, 4), "xxxx") << "nothing is copied into a buffer too small";
  EXPECT_NE(std::string(shmreg_last_error()).find("10 bytes"), std::string::npos) << shmreg_last_error();
  char exact[10];
  ASSERT_EQ(shmreg_lookup_value(r.get(), "k", 1, exact, sizeof exact, &len), SHMREG_OK);
  EXPECT_EQ(std::string(exact, len), "0123456789");
}

TEST_F(CApiLookups, LookupsOfAMissingKeyFindNothing) {
  CClient c = open_client();
  CRegistry r = create(c.get(), "svc");
  std::size_t len = 77;
  char buf[8];
  EXPECT_EQ(shmreg_lookup_value(r.get(), "nope", 4, buf, sizeof buf, &len), SHMREG_NOT_FOUND);
  EXPECT_EQ(len, 77u);
  shmreg_entry_list* raw = nullptr;
  ASSERT_EQ(shmreg_lookup(r.get(), "nope", 4, &raw), SHMREG_OK);
  CEntries list(raw);
  EXPECT_EQ(list->count, 0u);
  std::size_t seen = 99;
  int calls = 0;
  auto fn = [](void* ctx, const shmreg_entry*, std::size_t) { ++*static_cast<int*>(ctx); };
  ASSERT_EQ(shmreg_lookup_views(r.get(), "nope", 4, fn, &calls, &seen), SHMREG_OK);
  EXPECT_EQ(seen, 0u);
  EXPECT_EQ(calls, 0) << "the callback is not called for a miss";
}

TEST_F(CApiLookups, ZeroCopyLookupShowsEveryEntryInPlace) {
  CClient c = open_client();
  shmreg_registry_options dup{};
  dup.duplicate = 1;
  CRegistry r = create(c.get(), "topics", &dup);
  Actor a = Actor::start(ns(), socket_path());
  ASSERT_TRUE(a.ready());
  ASSERT_EQ(reg(c.get(), "topics", "news", "mine"), SHMREG_OK);
  ASSERT_TRUE(a.registers("topics", "news", "theirs"));

  struct Copied {
    std::vector<std::pair<std::uint32_t, std::string>> entries;
  } copied;
  auto fn = [](void* ctx, const shmreg_entry* entries, std::size_t count) {
    auto* out = static_cast<Copied*>(ctx);
    out->entries.clear();  // a retried read calls again: keep only the last call's copy
    for (std::size_t i = 0; i < count; ++i)
      out->entries.emplace_back(entries[i].pid, std::string(entries[i].value, entries[i].value_len));
  };
  std::size_t seen = 0;
  ASSERT_EQ(shmreg_lookup_views(r.get(), "news", 4, fn, &copied, &seen), SHMREG_OK);
  EXPECT_EQ(seen, 2u);
  std::sort(copied.entries.begin(), copied.entries.end());
  auto want = std::vector<std::pair<std::uint32_t, std::string>>{
      {static_cast<std::uint32_t>(::getpid()), "mine"}, {static_cast<std::uint32_t>(a.pid()), "theirs"}};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(copied.entries, want);
}

TEST_F(CApiLookups, ABatchAnswersEveryKeyInOrderAsSingleLookupsDo) {
  CClient c = open_client();
  shmreg_registry_options dup{};
  dup.duplicate = 1;
  CRegistry u = create(c.get(), "svc");
  CRegistry d = create(c.get(), "topics", &dup);
  for (int i = 0; i < 40; ++i) {
    const std::string key = "k" + std::to_string(i), value = "v" + std::to_string(i);
    ASSERT_EQ(reg(c.get(), "svc", key.c_str(), value.c_str()), SHMREG_OK) << describe(shmreg_last_error_code());
  }
  ASSERT_EQ(reg(c.get(), "topics", "news", "mine"), SHMREG_OK);

  const std::vector<std::string> keys{"k3", "absent", "k39", "k3", std::string("k\0", 2)};
  std::vector<const char*> ptrs;
  std::vector<std::size_t> lens;
  for (const auto& k : keys) ptrs.push_back(k.data()), lens.push_back(k.size());
  struct Seen {
    std::vector<std::size_t> order;
    std::vector<std::string> values;
  } seen;
  seen.values.resize(keys.size(), "-");
  auto fn = [](void* ctx, std::size_t i, const shmreg_entry* entries, std::size_t count) {
    auto* s = static_cast<Seen*>(ctx);
    if (s->order.empty() || s->order.back() != i) s->order.push_back(i);
    s->values[i] = count == 0 ? "" : std::string(entries[0].value, entries[0].value_len);
  };
  std::size_t found = 0;
  ASSERT_EQ(shmreg_lookup_batch(u.get(), ptrs.data(), lens.data(), keys.size(), fn, &seen, &found), SHMREG_OK)
      << shmreg_last_error();
  EXPECT_EQ(found, 3u);
  EXPECT_EQ(seen.order, (std::vector<std::size_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(seen.values, (std::vector<std::string>{"v3", "", "v39", "v3", ""}));

  const char* news = "news";
  const std::size_t news_len = 4;
  Seen dup_seen;
  dup_seen.values.resize(1);
  ASSERT_EQ(shmreg_lookup_batch(d.get(), &news, &news_len, 1, fn, &dup_seen, nullptr), SHMREG_OK);
  EXPECT_EQ(dup_seen.values[0], "mine");
  EXPECT_EQ(shmreg_lookup_batch(u.get(), nullptr, nullptr, 0, fn, &seen, &found), SHMREG_OK) << "an empty batch";

  EXPECT_EQ(shmreg_lookup_batch(u.get(), nullptr, lens.data(), 1, fn, &seen, nullptr), SHMREG_INVALID_ARGUMENT);
  EXPECT_NE(std::string(shmreg_last_error()).find("keys"), std::string::npos) << shmreg_last_error();
  EXPECT_EQ(shmreg_lookup_batch(u.get(), ptrs.data(), lens.data(), 1, nullptr, nullptr, nullptr),
            SHMREG_INVALID_ARGUMENT);
  const char* null_key = nullptr;
  const std::size_t one = 1;
  EXPECT_EQ(shmreg_lookup_batch(u.get(), &null_key, &one, 1, fn, &seen, nullptr), SHMREG_INVALID_ARGUMENT);
  EXPECT_NE(std::string(shmreg_last_error()).find("keys[0]"), std::string::npos) << shmreg_last_error();
}

TEST_F(CApiLookups, ValuesMayHoldAnyBytes) {
  CClient c = open_client();
  CRegistry r = create(c.get(), "bin");
  const std::string key("k\0y", 3);
  const std::string value("\0\xff\n\t\x01zero", 9);
  ASSERT_EQ(reg(c.get(), "bin", key, value), SHMREG_OK) << describe(shmreg_last_error_code());
  EXPECT_EQ(value_of(r.get(), key), value);
  std::size_t len = 0;
  EXPECT_EQ(shmreg_lookup_value(r.get(), "k", 1, nullptr, 0, &len), SHMREG_NOT_FOUND)
      << "the key's NUL is part of it";
}

TEST_F(CApiLookups, ValuesKeysCountListAndMatchReadTheRegistry) {
  CClient c = open_client();
  shmreg_registry_options dup{};
  dup.duplicate = 1;
  CRegistry r = create(c.get(), "jobs", &dup);
  ASSERT_EQ(reg(c.get(), "jobs", "a", R"({"prio":1})"), SHMREG_OK);
  ASSERT_EQ(reg(c.get(), "jobs", "a", R"({"prio":5})"), SHMREG_OK);
  ASSERT_EQ(reg(c.get(), "jobs", "b", R"({"prio":9})"), SHMREG_OK);
  const auto me = static_cast<std::uint32_t>(::getpid());

  std::uint64_t count = 0;
  ASSERT_EQ(shmreg_count(r.get(), &count), SHMREG_OK);
  EXPECT_EQ(count, 3u);

  shmreg_entry_list* raw = nullptr;
  ASSERT_EQ(shmreg_list(r.get(), &raw), SHMREG_OK);
  CEntries all(raw);
  EXPECT_EQ(all->count, 3u);

  ASSERT_EQ(shmreg_values(r.get(), "a", 1, me, &raw), SHMREG_OK);
  CEntries mine(raw);
  EXPECT_EQ(mine->count, 2u);
  ASSERT_EQ(shmreg_values(r.get(), "a", 1, me + 1000000, &raw), SHMREG_OK);
  CEntries nobodys(raw);
  EXPECT_EQ(nobodys->count, 0u);

  shmreg_key_list* keys_raw = nullptr;
  ASSERT_EQ(shmreg_keys(r.get(), me, &keys_raw), SHMREG_OK);
  CKeys keys(keys_raw);
  std::vector<std::string> got;
  for (std::size_t i = 0; i < keys->count; ++i) got.emplace_back(keys->keys[i].data, keys->keys[i].len);
  std::sort(got.begin(), got.end());
  got.erase(std::unique(got.begin(), got.end()), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{"a", "b"}));

  ASSERT_EQ(shmreg_match(r.get(), "a", 1, R"({"prio":"$1"})", R"([[">", "$1", 2]])", &raw), SHMREG_OK)
      << shmreg_last_error();
  CEntries matched(raw);
  ASSERT_EQ(matched->count, 1u);
  EXPECT_EQ(as_view(matched->entries[0].value, matched->entries[0].value_len), R"({"prio":5})");

  EXPECT_EQ(shmreg_match(r.get(), "a", 1, "{not json", nullptr, &raw), SHMREG_INVALID_ARGUMENT);
  EXPECT_STRNE(shmreg_last_error(), "");
}

TEST_F(CApiLookups, ARegistryHandleOutlivesItsClient) {
  CClient c = open_client();
  CRegistry r = create(c.get(), "svc");
  ASSERT_EQ(reg(c.get(), "svc", "k", "v"), SHMREG_OK);
  c.reset();
  EXPECT_EQ(value_of(r.get(), "k"), "v");
}

TEST_F(CApiLookups, OpeningARegistryThatDoesNotExistIsRegistryNotFound) {
  CClient c = open_client();
  shmreg_registry* r = nullptr;
  EXPECT_EQ(shmreg_registry_open(c.get(), "absent", &r), SHMREG_REGISTRY_NOT_FOUND);
  EXPECT_EQ(r, nullptr);
  EXPECT_NE(std::string(shmreg_last_error()).find("absent"), std::string::npos) << shmreg_last_error();
}

}  // namespace
}  // namespace shmreg::test
