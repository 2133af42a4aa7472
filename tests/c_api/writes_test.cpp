// The C ABI's writes against a real broker: unregister, set_value and
// update_value (with their version conflicts), meta, and the errors a write
// reports (its code, the owner's pid, the C++ API's message).
#include <unistd.h>

#include <string>

#include "actor.hpp"
#include "c_api_fixture.hpp"
#include "shmreg/shmreg.hpp"

namespace shmreg::test {
namespace {

using CApiWrites = CApiTest;

TEST_F(CApiWrites, UnregisterRemovesTheEntryForEveryReader) {
  CClient c = open_client();
  CRegistry r = create(c.get(), "svc");
  ASSERT_EQ(reg(c.get(), "svc", "db", "v"), SHMREG_OK);
  std::uint32_t removed = 0;
  ASSERT_EQ(shmreg_unregister(c.get(), "svc", "db", 2, &removed), SHMREG_OK);
  EXPECT_EQ(removed, 1u);
  EXPECT_TRUE(cli_lookup("svc", "db").empty());
  std::size_t len = 0;
  EXPECT_EQ(shmreg_lookup_value(r.get(), "db", 2, nullptr, 0, &len), SHMREG_NOT_FOUND);
  ASSERT_EQ(shmreg_unregister(c.get(), "svc", "db", 2, &removed), SHMREG_OK);
  EXPECT_EQ(removed, 0u) << "nothing left to remove is not an error";
}

TEST_F(CApiWrites, SetValueAtAStaleVersionIsAVersionConflict) {
  CClient c = open_client();
  CRegistry r = create(c.get(), "svc");
  std::uint64_t v1 = 0;
  ASSERT_EQ(shmreg_register(c.get(), "svc", "k", 1, "one", 3, &v1), SHMREG_OK);
  std::uint64_t v2 = 0;
  ASSERT_EQ(shmreg_set_value(c.get(), "svc", "k", 1, "two", 3, &v1, &v2), SHMREG_OK) << shmreg_last_error();
  EXPECT_GT(v2, v1);
  std::uint64_t untouched = 12345;
  EXPECT_EQ(shmreg_set_value(c.get(), "svc", "k", 1, "three", 5, &v1, &untouched), SHMREG_VERSION_CONFLICT);
  EXPECT_EQ(shmreg_last_error_code(), SHMREG_VERSION_CONFLICT);
  EXPECT_EQ(untouched, 12345u);
  EXPECT_EQ(value_of(r.get(), "k"), "two");
  ASSERT_EQ(shmreg_set_value(c.get(), "svc", "k", 1, "any", 3, nullptr, nullptr), SHMREG_OK);
  EXPECT_EQ(value_of(r.get(), "k"), "any");
  EXPECT_EQ(shmreg_set_value(c.get(), "svc", "none", 4, "x", 1, nullptr, nullptr), SHMREG_NOT_FOUND);
}

// An update function appending "+" to the value, from a buffer of its own.
struct Appender {
  std::string next;
  int calls = 0;
  static int run(void* ctx, const char* old, std::size_t old_len, const char** value, std::size_t* len) {
    auto* self = static_cast<Appender*>(ctx);
    ++self->calls;
    self->next.assign(old, old_len);
    self->next += '+';
    *value = self->next.data();
    *len = self->next.size();
    return 0;
  }
};

TEST_F(CApiWrites, UpdateValueComputesTheNewValueFromTheOld) {
  CClient c = open_client();
  CRegistry r = create(c.get(), "svc");
  ASSERT_EQ(reg(c.get(), "svc", "n", "1"), SHMREG_OK);
  Appender fn;
  std::uint64_t version = 0;
  ASSERT_EQ(shmreg_update_value(c.get(), "svc", "n", 1, &Appender::run, &fn, &version), SHMREG_OK)
      << shmreg_last_error();
  EXPECT_EQ(value_of(r.get(), "n"), "1+");
  EXPECT_GE(fn.calls, 1);
  EXPECT_GT(version, 0u);
}

TEST_F(CApiWrites, AnUpdateFunctionReturningNonzeroChangesNothing) {
  CClient c = open_client();
  CRegistry r = create(c.get(), "svc");
  ASSERT_EQ(reg(c.get(), "svc", "n", "1"), SHMREG_OK);
  auto refuse = [](void*, const char*, std::size_t, const char**, std::size_t*) { return 7; };
  EXPECT_EQ(shmreg_update_value(c.get(), "svc", "n", 1, refuse, nullptr, nullptr), SHMREG_INVALID_ARGUMENT);
  EXPECT_NE(std::string(shmreg_last_error()).find("returned nonzero"), std::string::npos) << shmreg_last_error();
  EXPECT_EQ(value_of(r.get(), "n"), "1");
}

TEST_F(CApiWrites, MetaIsPutReadAndDeleted) {
  CClient c = open_client();
  CRegistry r = create(c.get(), "svc");
  ASSERT_EQ(shmreg_meta_put(c.get(), "svc", "owner", 5, "team-a", 6), SHMREG_OK) << shmreg_last_error();
  char buf[16];
  std::size_t len = 0;
  ASSERT_EQ(shmreg_meta_get(r.get(), "owner", 5, buf, sizeof buf, &len), SHMREG_OK);
  EXPECT_EQ(std::string(buf, len), "team-a");
  EXPECT_EQ(shmreg_meta_get(r.get(), "owner", 5, buf, 2, &len), SHMREG_BUFFER_TOO_SMALL);
  EXPECT_EQ(len, 6u);
  int deleted = -1;
  ASSERT_EQ(shmreg_meta_delete(c.get(), "svc", "owner", 5, &deleted), SHMREG_OK);
  EXPECT_EQ(deleted, 1);
  ASSERT_EQ(shmreg_meta_delete(c.get(), "svc", "owner", 5, &deleted), SHMREG_OK);
  EXPECT_EQ(deleted, 0);
  EXPECT_EQ(shmreg_meta_get(r.get(), "owner", 5, buf, sizeof buf, &len), SHMREG_NOT_FOUND);
}

TEST_F(CApiWrites, AKeyTakenByAnotherProcessIsAlreadyRegisteredWithItsPid) {
  CClient c = open_client();
  CRegistry r = create(c.get(), "svc");
  Actor a = Actor::start(ns(), socket_path());
  ASSERT_TRUE(a.ready());
  ASSERT_TRUE(a.registers("svc", "db", "theirs"));
  EXPECT_EQ(reg(c.get(), "svc", "db", "mine"), SHMREG_ALREADY_REGISTERED);
  EXPECT_EQ(shmreg_last_error_pid(), static_cast<std::uint32_t>(a.pid()));
  EXPECT_EQ(value_of(r.get(), "db"), "theirs");
}

TEST_F(CApiWrites, AKeyTooLongCarriesTheCodeAndTheMessageOfTheCppApi) {
  CClient c = open_client();
  shmreg_registry_options small{};
  small.max_key = 8;
  CRegistry r = create(c.get(), "small", &small);
  const std::string key(9, 'k');
  ASSERT_EQ(reg(c.get(), "small", key, "v"), SHMREG_KEY_TOO_LONG);
  EXPECT_STREQ(shmreg_strerror(shmreg_last_error_code()), "key_too_long");
  const std::string c_message = shmreg_last_error();

  auto cpp = shmreg::Client::open({ns(), socket_path()});
  ASSERT_TRUE(cpp);
  auto same = cpp->register_key("small", key, "v");
  ASSERT_FALSE(same);
  EXPECT_EQ(same.error().code, shmreg::Errc::key_too_long);
  EXPECT_EQ(c_message, same.error().message) << "the C API passes the C++ message on unchanged";
  EXPECT_FALSE(c_message.empty());
}

TEST_F(CApiWrites, ARegistryWithOtherOptionsIsRegistryExists) {
  CClient c = open_client();
  CRegistry r = create(c.get(), "svc");
  EXPECT_EQ(shmreg_registry_create(c.get(), "svc", nullptr), SHMREG_OK) << "same options: idempotent";
  shmreg_registry_options dup{};
  dup.duplicate = 1;
  EXPECT_EQ(shmreg_registry_create(c.get(), "svc", &dup), SHMREG_REGISTRY_EXISTS);
}

TEST_F(CApiWrites, ASuccessLeavesTheLastErrorAsItWas) {
  CClient c = open_client();
  CRegistry r = create(c.get(), "svc");
  EXPECT_EQ(shmreg_set_value(c.get(), "svc", "none", 4, "x", 1, nullptr, nullptr), SHMREG_NOT_FOUND);
  const std::string message = shmreg_last_error();
  ASSERT_EQ(reg(c.get(), "svc", "k", "v"), SHMREG_OK);
  EXPECT_EQ(shmreg_last_error_code(), SHMREG_NOT_FOUND);
  EXPECT_EQ(shmreg_last_error(), message);
}

}  // namespace
}  // namespace shmreg::test
