// CApiTest: BrokerTest (a real broker on a namespace and socket of the test's
// own) driven through libshmreg's C ABI (shmreg/shmreg.h) in the test
// process, with owning wrappers for its handles and lists so that a failed
// assertion leaks nothing.
//
// Thread-safety: for the test's main thread.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "broker_test.hpp"
#include "shmreg/shmreg.h"

namespace shmreg::test {

template <class T, void (*Free)(T*)>
struct CFree {
  void operator()(T* p) const { Free(p); }
};
using CClient = std::unique_ptr<shmreg_client, CFree<shmreg_client, shmreg_close>>;
using CRegistry = std::unique_ptr<shmreg_registry, CFree<shmreg_registry, shmreg_registry_close>>;
using CWatcher = std::unique_ptr<shmreg_watcher, CFree<shmreg_watcher, shmreg_watch_close>>;
using CMailbox = std::unique_ptr<shmreg_mailbox, CFree<shmreg_mailbox, shmreg_mailbox_close>>;
using CEntries = std::unique_ptr<shmreg_entry_list, CFree<shmreg_entry_list, shmreg_entry_list_free>>;
using CKeys = std::unique_ptr<shmreg_key_list, CFree<shmreg_key_list, shmreg_key_list_free>>;

// A code with the thread's last error, for failure messages.
inline std::string describe(int code) {
  return std::string(shmreg_strerror(code)) + ": " + shmreg_last_error();
}

inline std::string_view as_view(const char* data, std::size_t len) { return {data, len}; }

class CApiTest : public BrokerTest {
 protected:
  // A client of the test's broker (a failed open fails the test).
  CClient open_client() const {
    shmreg_client* c = nullptr;
    const int rc = shmreg_open(ns().c_str(), socket_path().c_str(), 0, &c);
    EXPECT_EQ(rc, SHMREG_OK) << describe(rc);
    return CClient(c);
  }
  CRegistry open_registry(const shmreg_client* c, const char* name) const {
    shmreg_registry* r = nullptr;
    const int rc = shmreg_registry_open(c, name, &r);
    EXPECT_EQ(rc, SHMREG_OK) << describe(rc);
    return CRegistry(r);
  }
  // Creates a registry and opens it.
  CRegistry create(const shmreg_client* c, const char* name, const shmreg_registry_options* options = nullptr) const {
    const int rc = shmreg_registry_create(c, name, options);
    EXPECT_EQ(rc, SHMREG_OK) << describe(rc);
    return open_registry(c, name);
  }
  // A watcher of key's events from the next one on; every key's when key is NULL.
  static CWatcher watch(const shmreg_registry* r, const char* key = nullptr) {
    shmreg_watcher* w = nullptr;
    const int rc = shmreg_watch(r, key, key ? std::strlen(key) : 0, &w);
    EXPECT_EQ(rc, SHMREG_OK) << describe(rc);
    return CWatcher(w);
  }
  // Registers (key, value) for the test process.
  static int reg(const shmreg_client* c, const char* registry, std::string_view key, std::string_view value) {
    return shmreg_register(c, registry, key.data(), key.size(), value.data(), value.size(), nullptr);
  }
  // The value under a unique key through shmreg_lookup_value, or the code's
  // description.
  static std::string value_of(const shmreg_registry* r, std::string_view key) {
    char buf[256];
    std::size_t len = 0;
    const int rc = shmreg_lookup_value(r, key.data(), key.size(), buf, sizeof buf, &len);
    return rc == SHMREG_OK ? std::string(buf, len) : "<" + describe(rc) + ">";
  }
};

}  // namespace shmreg::test
