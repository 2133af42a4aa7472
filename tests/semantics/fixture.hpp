// The fixture of the registry-semantics suites: the integration harness's
// BrokerTest (a real broker on a namespace and socket of the test's own) plus
// ways to start actors (actor.hpp) and to read the segment from the test
// process, which is a process of its own, distinct from every actor.
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

namespace shmreg::semantics_test {

class SemanticsTest : public BrokerTest {
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

// gtest's view of an actor's answer: "ok ..." or the whole answer.
inline ::testing::AssertionResult is_ok(const std::vector<std::string>& answer) {
  if (!answer.empty() && answer[0] == "ok") return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "answer: " << join_fields(answer);
}

// The errc of an error answer, or "" for any other answer.
inline std::string errc_of(const std::vector<std::string>& answer) {
  return answer.size() >= 2 && answer[0] == "error" ? answer[1] : std::string();
}

inline std::string message_of(const std::vector<std::string>& answer) {
  return answer.size() >= 4 && answer[0] == "error" ? answer[3] : std::string();
}

}  // namespace shmreg::semantics_test
