// ConfigBrokerTest: a BrokerTest whose broker runs with --config on a file
// the test writes (and rewrites) in its own directory, with the wire ops of
// the config family (set_static, unset_static, reload, get_status) sent raw
// and the segment read directly, as any reader reads it.
//
// Thread-safety: for the test's main thread.
#pragma once

#include <signal.h>

#include <fstream>
#include <initializer_list>
#include <string_view>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "broker_test.hpp"
#include "shmreg/proto/wire.hpp"
#include "shmreg/shm/reader.hpp"

namespace shmreg::test {

// The pieces the tests' files are made of, joined in order.
inline constexpr const char* kServicesRegistry = R"(
[[registry]]
name = "services"
keys = "unique"
capacity = 64
max_value = 64
meta = { tier = "1" }
)";
inline constexpr const char* kGatewayStatic = R"(
[[registry.static]]
key = "gateway"
value = "10.0.0.1:8080"
)";
inline std::string config_of(std::initializer_list<std::string_view> pieces) {
  std::string text;
  for (std::string_view p : pieces) (text += p) += "\n";
  return text;
}

class ConfigBrokerTest : public BrokerTest {
 protected:
  // The file the broker starts with; a test that needs another overrides it.
  virtual std::string initial_config() const { return config_of({kServicesRegistry, kGatewayStatic}); }

  void SetUp() override {
    write_config(initial_config());
    BrokerTest::SetUp();
  }

  std::vector<std::string> broker_args() const override {
    return {"--segment-size", "16M", "--config", config_path()};
  }

  std::string config_path() const { return dir().path() + "/broker.toml"; }

  void write_config(const std::string& text) const {
    const std::string tmp = config_path() + ".new";
    std::ofstream(tmp) << text;
    ASSERT_EQ(::rename(tmp.c_str(), config_path().c_str()), 0);
  }

  // One op on a fresh connection; a reply with status internal_error and the
  // message "no reply" when the broker did not answer.
  proto::OpResult call(const proto::Op& op) const {
    auto conn = RawConnection::connect(socket_path());
    if (!conn) return proto::OpResult{proto::Status::internal_error, 0, "cannot connect", {}};
    auto res = conn->call({op});
    if (!res || res->size() != 1) return proto::OpResult{proto::Status::internal_error, 0, "no reply", {}};
    return std::move(res->front());
  }

  nlohmann::json status() const {
    const proto::OpResult res = call(proto::GetStatus{});
    if (res.status != proto::Status::ok) return nullptr;
    return nlohmann::json::parse(res.data, nullptr, false);
  }

  std::uint64_t generation() const {
    const auto s = status();
    return s.is_object() ? s["config"]["generation"].get<std::uint64_t>() : 0;
  }

  // The entries under key as a reader of the segment sees them; empty when
  // the registry does not exist.
  std::vector<shm::Entry> entries(const std::string& reg, const std::string& key) const {
    auto r = shm::SegmentReader::open(segment_file());
    if (!r) return {};
    auto view = r->registry(reg);
    if (!view) return {};
    auto e = r->lookup_copy(*view, key);
    return e ? *e : std::vector<shm::Entry>{};
  }

  bool registry_exists(const std::string& reg) const {
    auto r = shm::SegmentReader::open(segment_file());
    return r && r->registry(reg).has_value();
  }

  // The one entry under key is a static (pid 0) with this value.
  ::testing::AssertionResult static_entry(const std::string& reg, const std::string& key,
                                          const std::string& value) const {
    const auto e = entries(reg, key);
    if (e.size() != 1) return ::testing::AssertionFailure() << e.size() << " entries under '" << key << "'";
    if (e[0].pid != 0) return ::testing::AssertionFailure() << "owned by pid " << e[0].pid << ", not static";
    if (e[0].value != value) return ::testing::AssertionFailure() << "value '" << e[0].value << "'";
    return ::testing::AssertionSuccess();
  }

  proto::OpResult reload() const { return call(proto::Reload{proto::ReloadAction::reload}); }
  void hangup() { ::kill(broker().pid(), SIGHUP); }
};

}  // namespace shmreg::test
