// ClientTest: BrokerTest (a real broker on a namespace and socket of the
// test's own) plus libshmreg in the test process, which is a process of its
// own, distinct from every actor (actor.hpp): it creates registries, which
// belong to no one, and reads the segment as any other reader on the host.
//
// Thread-safety: for the test's main thread.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "actor.hpp"
#include "broker_test.hpp"
#include "shmreg/shmreg.hpp"

namespace shmreg::test {

class ClientTest : public BrokerTest {
 protected:
  std::optional<shmreg::Client> client() const {
    auto c = shmreg::Client::open({ns(), socket_path()});
    if (!c) {
      ADD_FAILURE() << "cannot open a client: " << c.error().message;
      return std::nullopt;
    }
    return std::move(*c);
  }

  // The (pid, value) pairs under key, read from the segment by this process.
  std::vector<std::pair<std::uint32_t, std::string>> entries(const std::string& reg, const std::string& key) const {
    std::vector<std::pair<std::uint32_t, std::string>> out;
    auto c = client();
    if (!c) return out;
    auto r = c->registry(reg);
    if (!r) return out;
    auto e = r->lookup(key);
    if (!e) {
      ADD_FAILURE() << "lookup failed: " << e.error().message;
      return out;
    }
    for (const auto& x : *e) out.emplace_back(x.pid, x.value);
    return out;
  }

  // Polls until the entries under key are exactly `expected` (in any order).
  bool entries_become(const std::string& reg, const std::string& key,
                      std::vector<std::pair<std::uint32_t, std::string>> expected) const {
    std::sort(expected.begin(), expected.end());
    return wait_until([&] {
      auto now = entries(reg, key);
      std::sort(now.begin(), now.end());
      return now == expected;
    });
  }

  // Creates a registry from this process (registries belong to no one).
  void create(const std::string& reg, bool unique, shmreg::RegistryOptions o = {}) const {
    o.unique = unique;
    auto c = client();
    ASSERT_TRUE(c);
    auto r = c->create_registry(reg, o);
    ASSERT_TRUE(r) << r.error().message;
  }
};

}  // namespace shmreg::test
