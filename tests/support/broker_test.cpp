// The broker fixture of the GoogleTest suites (see broker_test.hpp).
#include "broker_test.hpp"

#include <iostream>
#include <sstream>

namespace shmreg::test {

::testing::AssertionResult succeeded(const std::expected<void, std::string>& result) {
  if (result) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << result.error();
}

BrokerTest::BrokerTest() : ns_(unique_namespace()), socket_(dir_.path() + "/broker.sock") {
  remove_namespaces_of_dead_tests();
  broker_.emplace(ns_, socket_, dir_.path() + "/broker.log");
}

BrokerTest::~BrokerTest() {
  broker_.reset();  // kills a broker that is still there
  remove_namespace_files(dir_.path(), ns_);
}

void BrokerTest::SetUp() { ASSERT_TRUE(start_broker(broker_args())); }

void BrokerTest::TearDown() {
  if (broker().running()) {
    EXPECT_TRUE(stop_broker());
  }
  if (HasFailure()) std::cerr << "--- broker log of namespace " << ns_ << ":\n" << broker().log();
}

std::vector<std::string> BrokerTest::cli_argv(const std::vector<std::string>& args) const {
  std::vector<std::string> a = {cli_binary(), "--namespace", ns_, "--socket", socket_};
  a.insert(a.end(), args.begin(), args.end());
  return a;
}

std::string BrokerTest::cli_ok(const std::vector<std::string>& args) const {
  RunResult r = cli(args);
  EXPECT_EQ(r.exit_code(), 0) << "shmreg " << ::testing::PrintToString(args) << ": " << r.describe();
  return r.out;
}

Lookup BrokerTest::cli_lookup(const std::string& reg, const std::string& key) const {
  RunResult r = cli({"lookup", reg, key});
  Lookup out;
  std::istringstream lines(r.out);
  std::string line;
  while (std::getline(lines, line)) {
    const auto tab = line.find('\t');
    if (tab == std::string::npos) continue;
    out.emplace_back(static_cast<pid_t>(std::stol(line.substr(0, tab))), line.substr(tab + 1));
  }
  return out;
}

long BrokerTest::cli_count(const std::string& reg) const {
  RunResult r = cli({"count", reg});
  if (r.exit_code() != 0) return -1;
  try {
    return std::stol(r.out);
  } catch (...) {
    return -1;
  }
}

}  // namespace shmreg::test
