// The fixture of the query suites, shaped like Elixir's registry_test.exs:
// every test runs against a unique and a duplicate registry, each with 1 and
// with 8 partitions (the test parameter). A real broker serves each test
// (BrokerTest); entries belong to forked owner processes that register JSON
// values through libshmreg; the test process itself only creates the
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

#include "broker_test.hpp"
#include "shmreg/shmreg.hpp"

namespace shmreg::queries {

using test::ChildChannel;
using test::ForkedChild;

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

// A forked process that owns entries of kRegistry. Protocol, one line each way:
//   "register KEY VALUE..." -> "ok" | "error <errc> <pid> <message>"
//     (KEY has no spaces; VALUE is the rest of the line, spaces included)
//   "unregister KEY"        -> "ok <removed>" | "error ..."
class Owner {
 public:
  static std::unique_ptr<Owner> start(const std::string& ns, const std::string& socket) {
    auto o = std::unique_ptr<Owner>(new Owner());
    o->child_ = ForkedChild::start([ns, socket](ChildChannel& ch) { return serve(ch, ns, socket); });
    o->ready_ = o->child_.receive() == std::optional<std::string>("ready");
    return o;
  }

  bool ready() const { return ready_; }
  std::uint32_t pid() const { return static_cast<std::uint32_t>(child_.pid()); }
  ForkedChild& process() { return child_; }

  std::optional<std::string> request(const std::string& line) { return child_.request(line); }
  ::testing::AssertionResult registers(const std::string& key, const std::string& value) {
    return expect_ok("register " + key + " " + value);
  }
  ::testing::AssertionResult unregisters(const std::string& key) { return expect_ok("unregister " + key); }

 private:
  Owner() = default;

  ::testing::AssertionResult expect_ok(const std::string& line) {
    auto answer = request(line);
    if (!answer) return ::testing::AssertionFailure() << "pid " << pid() << " did not answer '" << line << "'";
    if (answer->rfind("ok", 0) != 0)
      return ::testing::AssertionFailure() << "pid " << pid() << " answered '" << *answer << "' to '" << line << "'";
    return ::testing::AssertionSuccess();
  }

  static std::string describe(const Error& e) {
    return "error " + std::string(to_string(e.code)) + " " + std::to_string(e.pid) + " " + e.message;
  }

  static int serve(ChildChannel& ch, const std::string& ns, const std::string& socket) {
    auto client = Client::open({ns, socket});
    if (!client) return test::child_report(ch, describe(client.error()));
    ch.send("ready");
    while (auto line = ch.receive()) {
      const auto space = line->find(' ');
      const std::string cmd = line->substr(0, space);
      const std::string rest = space == std::string::npos ? std::string() : line->substr(space + 1);
      if (cmd == "register") {
        const auto split = rest.find(' ');
        if (split == std::string::npos) {
          ch.send("error bad_command 0 " + *line);
          continue;
        }
        auto r = client->register_key(kRegistry, rest.substr(0, split), rest.substr(split + 1));
        ch.send(r ? std::string("ok") : describe(r.error()));
      } else if (cmd == "unregister") {
        auto r = client->unregister(kRegistry, rest);
        ch.send(r ? "ok " + std::to_string(*r) : describe(r.error()));
      } else {
        ch.send("error bad_command 0 " + *line);
      }
    }
    return 0;
  }

  ForkedChild child_;
  bool ready_ = false;
};

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
  Owner& owner() {
    owners_.push_back(Owner::start(ns(), socket_path()));
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
  std::vector<std::unique_ptr<Owner>> owners_;
};

}  // namespace shmreg::queries
