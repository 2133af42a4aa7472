// The C ABI's error contract: shmreg_strerror names every code, the last
// error is per thread, and NULL or invalid arguments give
// SHMREG_INVALID_ARGUMENT (naming the argument) instead of a crash.
#include <string>
#include <thread>

#include "c_api_fixture.hpp"
#include "shmreg/error.hpp"

namespace shmreg::test {
namespace {

using CApiErrors = CApiTest;

TEST(CApiStrerror, NamesEveryCodeAsTheCppApiDoes) {
  for (int code = 1; code <= static_cast<int>(shmreg::Errc::cluster_unavailable); ++code)
    EXPECT_EQ(std::string(shmreg_strerror(code)), shmreg::to_string(static_cast<shmreg::Errc>(code))) << code;
  EXPECT_STREQ(shmreg_strerror(SHMREG_OK), "ok");
  EXPECT_STREQ(shmreg_strerror(SHMREG_BUFFER_TOO_SMALL), "buffer_too_small");
  EXPECT_STREQ(shmreg_strerror(-1), "unknown");
  EXPECT_STREQ(shmreg_strerror(999), "unknown");
}

TEST(CApiLastError, IsKeptPerThread) {
  shmreg_client* c = nullptr;
  ASSERT_EQ(shmreg_open("x", nullptr, -1, &c), SHMREG_INVALID_ARGUMENT);
  const std::string here = shmreg_last_error();
  EXPECT_NE(here.find("timeout_ms"), std::string::npos) << here;
  std::string there;
  int there_code = -1;
  std::thread([&] {
    there = shmreg_last_error();
    there_code = shmreg_last_error_code();
  }).join();
  EXPECT_EQ(there, "");
  EXPECT_EQ(there_code, SHMREG_OK);
  EXPECT_EQ(shmreg_last_error(), here);
}

// Every entry point, each with one NULL argument where a handle, a result or
// a string is required, or bytes that are NULL with a length.
TEST_F(CApiErrors, NullOrInvalidArgumentsAreInvalidArgumentNeverACrash) {
  CClient c = open_client();
  CRegistry r = create(c.get(), "svc");
  const shmreg_client* cl = c.get();
  const shmreg_registry* rg = r.get();
  shmreg_entry_list* list = nullptr;
  shmreg_key_list* keys = nullptr;
  std::size_t len = 0;
  std::uint64_t n = 0;
  char buf[4];
  auto fn = [](void*, const shmreg_entry*, std::size_t) {};
  auto up = [](void*, const char*, std::size_t, const char**, std::size_t*) { return 0; };
  shmreg_event ev{};
  shmreg_message msg{};
  shmreg_registry* reg_out = nullptr;
  shmreg_watcher* w_out = nullptr;
  shmreg_mailbox* m_out = nullptr;

  const struct {
    const char* what;
    int rc;
  } cases[] = {
      {"open out", shmreg_open(ns().c_str(), socket_path().c_str(), 0, nullptr)},
      {"open timeout", shmreg_open(ns().c_str(), socket_path().c_str(), -5, nullptr)},
      {"ping client", shmreg_ping(nullptr, nullptr)},
      {"create client", shmreg_registry_create(nullptr, "x", nullptr)},
      {"create name", shmreg_registry_create(cl, nullptr, nullptr)},
      {"registry_open name", shmreg_registry_open(cl, nullptr, &reg_out)},
      {"registry_open out", shmreg_registry_open(cl, "svc", nullptr)},
      {"lookup_views registry", shmreg_lookup_views(nullptr, "k", 1, fn, nullptr, nullptr)},
      {"lookup_views key", shmreg_lookup_views(rg, nullptr, 1, fn, nullptr, nullptr)},
      {"lookup_views fn", shmreg_lookup_views(rg, "k", 1, nullptr, nullptr, nullptr)},
      {"lookup_value value_len", shmreg_lookup_value(rg, "k", 1, buf, sizeof buf, nullptr)},
      {"lookup registry", shmreg_lookup(nullptr, "k", 1, &list)},
      {"lookup out", shmreg_lookup(rg, "k", 1, nullptr)},
      {"values key", shmreg_values(rg, nullptr, 3, 1, &list)},
      {"keys out", shmreg_keys(rg, 1, nullptr)},
      {"keys registry", shmreg_keys(nullptr, 1, &keys)},
      {"count out", shmreg_count(rg, nullptr)},
      {"count registry", shmreg_count(nullptr, &n)},
      {"list out", shmreg_list(rg, nullptr)},
      {"match pattern", shmreg_match(rg, "k", 1, nullptr, nullptr, &list)},
      {"register client", shmreg_register(nullptr, "svc", "k", 1, "v", 1, nullptr)},
      {"register registry", shmreg_register(cl, nullptr, "k", 1, "v", 1, nullptr)},
      {"register key", shmreg_register(cl, "svc", nullptr, 1, "v", 1, nullptr)},
      {"register value", shmreg_register(cl, "svc", "k", 1, nullptr, 1, nullptr)},
      {"unregister key", shmreg_unregister(cl, "svc", nullptr, 2, nullptr)},
      {"set_value value", shmreg_set_value(cl, "svc", "k", 1, nullptr, 4, nullptr, nullptr)},
      {"update_value fn", shmreg_update_value(cl, "svc", "k", 1, nullptr, nullptr, nullptr)},
      {"update_value client", shmreg_update_value(nullptr, "svc", "k", 1, up, nullptr, nullptr)},
      {"meta_get registry", shmreg_meta_get(nullptr, "k", 1, buf, sizeof buf, &len)},
      {"meta_get buf", shmreg_meta_get(rg, "k", 1, nullptr, 8, &len)},
      {"meta_put value", shmreg_meta_put(cl, "svc", "k", 1, nullptr, 1)},
      {"meta_delete registry", shmreg_meta_delete(cl, nullptr, "k", 1, nullptr)},
      {"watch out", shmreg_watch(rg, "k", 1, nullptr)},
      {"watch key", shmreg_watch(rg, nullptr, 3, &w_out)},
      {"watch_next watcher", shmreg_watch_next(nullptr, 0, &ev)},
      {"await registry", shmreg_await(nullptr, "k", 1, 0)},
      {"await timeout", shmreg_await(rg, "k", 1, -1)},
      {"send body", shmreg_send(cl, "svc", "k", 1, nullptr, 9, nullptr)},
      {"mailbox_open out", shmreg_mailbox_open(cl, nullptr)},
      {"mailbox_open client", shmreg_mailbox_open(nullptr, &m_out)},
      {"mailbox_receive mailbox", shmreg_mailbox_receive(nullptr, 0, &msg)},
  };
  for (const auto& k : cases) {
    EXPECT_EQ(k.rc, SHMREG_INVALID_ARGUMENT) << k.what << ": " << shmreg_strerror(k.rc);
  }
  EXPECT_EQ(reg_out, nullptr);
  EXPECT_EQ(w_out, nullptr);
  EXPECT_EQ(m_out, nullptr);
  EXPECT_EQ(shmreg_mailbox_fd(nullptr), -1);
  // The message names what was wrong.
  EXPECT_EQ(shmreg_register(cl, "svc", "k", 1, nullptr, 1, nullptr), SHMREG_INVALID_ARGUMENT);
  EXPECT_NE(std::string(shmreg_last_error()).find("value"), std::string::npos) << shmreg_last_error();
  // Every free and close takes NULL.
  shmreg_close(nullptr);
  shmreg_registry_close(nullptr);
  shmreg_watch_close(nullptr);
  shmreg_mailbox_close(nullptr);
  shmreg_entry_list_free(nullptr);
  shmreg_key_list_free(nullptr);
}

TEST_F(CApiErrors, NegativeTimeoutsAreInvalidArgument) {
  CClient c = open_client();
  CRegistry r = create(c.get(), "svc");
  CWatcher w = watch(r.get());
  ASSERT_TRUE(w);
  shmreg_event e{};
  EXPECT_EQ(shmreg_watch_next(w.get(), -1, &e), SHMREG_INVALID_ARGUMENT);
  EXPECT_NE(std::string(shmreg_last_error()).find("timeout_ms"), std::string::npos) << shmreg_last_error();
}

}  // namespace
}  // namespace shmreg::test
