// The fixture of the query suites, shaped like Elixir's registry_test.exs:
// every test runs against a unique and a duplicate registry, each with 1 and
// with 8 partitions (the test parameter). A real broker serves each test
// (BrokerTest); entries belong to forked owner processes that register JSON
// values through libshmreg (actors); the test process itself only creates the
// registry and queries it, as any other reader on the host would.
//
// Thread-safety: for the test's main thread.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "actor.hpp"
#include "broker_test.hpp"
#include "shmreg/shmreg.hpp"

namespace shmreg::queries {

using test::Actor;

inline constexpr const char* kRegistry = "q";

struct Shape {
  bool unique = true;
  std::uint32_t partitions = 1;
};

inline void PrintTo(const Shape& s, std::ostream* os) {
  *os << (s.unique ? "unique" : "duplicate") << " registry, " << s.partitions << " partition(s)";
}

inline std::string shape_name(const ::testing::TestParamInfo<Shape>& info) {
  return std::string(info.param.unique ? "Unique" : "Duplicate") + std::to_string(info.param.partitions) +
         "Partitions";
}

inline const auto kShapes = ::testing::Values(Shape{true, 1}, Shape{true, 8}, Shape{false, 1}, Shape{false, 8});

class QueryTest : public test::BrokerTest, public ::testing::WithParamInterface<Shape> {
 protected:
  void SetUp() override {
    BrokerTest::SetUp();
    if (HasFatalFailure()) return;
    auto c = Client::open({ns(), socket_path()});
    ASSERT_TRUE(c.has_value()) << c.error().message;
    client_.emplace(std::move(*c));
    RegistryOptions options;
    options.unique = GetParam().unique;
    options.partitions = GetParam().partitions;
    auto created = client_->create_registry(kRegistry, options);
    ASSERT_TRUE(created.has_value()) << created.error().message;
    auto r = client_->registry(kRegistry);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    registry_.emplace(std::move(*r));
  }

  bool duplicate() const { return !GetParam().unique; }
  const Registry& reg() const { return *registry_; }

  // A new owner process, ready to take commands (the test fails otherwise).
  Actor& owner() {
    owners_.push_back(std::make_unique<Actor>(Actor::start(ns(), socket_path())));
    EXPECT_TRUE(owners_.back()->ready()) << "owner process did not start";
    return *owners_.back();
  }

  // The (pid, value) pairs of entries, sorted, for order-free comparisons.
  static std::vector<std::pair<std::uint32_t, std::string>> pairs(const std::vector<Entry>& entries) {
    std::vector<std::pair<std::uint32_t, std::string>> out;
    for (const auto& e : entries) out.emplace_back(e.pid, e.value);
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  std::optional<Client> client_;
  std::optional<Registry> registry_;
  std::vector<std::unique_ptr<Actor>> owners_;
};

}  // namespace shmreg::queries
