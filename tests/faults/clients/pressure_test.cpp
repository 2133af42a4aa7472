// No false deaths under load: owners that live while the machine is busy
// (a spinning process per core, a process allocating and touching memory)
// keep every entry, readers looking them up all along never miss one, and
// the broker reaps nobody. The memory is bounded (kPressureBytes) so that
// the machine itself is not hurt. The stress build keeps the load on for a
// minute instead of a few seconds.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <iostream>
#include <memory>
#include <thread>

#include "actor.hpp"
#include "broker_test.hpp"

namespace shmreg::test {
namespace {

// The stress build's suite has a name of its own, so that ctest tells the
// two apart.
#ifdef SHMREG_STRESS
#define PRESSURE_SUITE PressureFaultsStress
constexpr auto kLoadFor = std::chrono::seconds(60);
#else
#define PRESSURE_SUITE PressureFaults
constexpr auto kLoadFor = std::chrono::seconds(2);
#endif
constexpr std::size_t kPressureBytes = std::size_t{512} << 20;
constexpr int kLibraryOwners = 8;
constexpr int kCommandOwners = 8;

// Spins on one core until killed.
ForkedChild start_spinner() {
  return ForkedChild::start([](ChildChannel& ch) {
    ch.send("spinning");
    volatile std::uint64_t n = 0;
    for (;;) n = n + 1;
    return 0;
  });
}

// Allocates kPressureBytes in 64 MiB pieces, writes every page, frees them
// and starts again, until killed.
ForkedChild start_memory_hog() {
  return ForkedChild::start([](ChildChannel& ch) {
    constexpr std::size_t kPiece = std::size_t{64} << 20;
    std::vector<std::unique_ptr<char[]>> pieces;
    bool told = false;
    for (std::uint8_t round = 1;; ++round) {
      for (std::size_t held = 0; held < kPressureBytes; held += kPiece) {
        pieces.emplace_back(new char[kPiece]);
        std::memset(pieces.back().get(), round, kPiece);
      }
      if (!told) told = ch.send("allocated");
      pieces.clear();
    }
    return 0;
  });
}

// Looks every key up in a loop through libshmreg for kLoadFor, then answers
// "<lookups>\t<misses>", a miss being a key not found or a failed read.
ForkedChild start_reader(const std::string& ns, const std::string& socket, std::vector<std::string> keys) {
  return ForkedChild::start([ns, socket, keys](ChildChannel& ch) {
    auto client = shmreg::Client::open({.ns = ns, .socket = socket});
    if (!client) return child_report(ch, "cannot open: " + client.error().message);
    auto reg = client->registry("svc");
    if (!reg) return child_report(ch, "no registry: " + reg.error().message);
    ch.send("reading");
    std::uint64_t lookups = 0, misses = 0;
    for (const auto until = Clock::now() + kLoadFor; Clock::now() < until;) {
      for (const std::string& k : keys) {
        auto v = reg->lookup_value(k);
        ++lookups;
        if (!v || !*v) ++misses;
      }
    }
    ch.send(std::to_string(lookups) + "\t" + std::to_string(misses));
    return 0;
  });
}

class PRESSURE_SUITE : public BrokerTest {
 protected:
  void SetUp() override {
    BrokerTest::SetUp();
    cli_ok({"create", "svc"});
  }
};

TEST_F(PRESSURE_SUITE, OwnersOfALoadedMachineKeepEveryEntryAndReadersNeverMissOne) {
  std::vector<std::string> keys;
  std::vector<Actor> library_owners;
  for (int i = 0; i < kLibraryOwners; ++i) {
    keys.push_back("lib-" + std::to_string(i));
    library_owners.push_back(Actor::start(ns(), socket_path()));
    ASSERT_TRUE(library_owners.back().ready());
    ASSERT_TRUE(library_owners.back().registers("svc", keys.back(), "v"));
  }
  std::vector<Subprocess> command_owners;
  for (int i = 0; i < kCommandOwners; ++i) {
    keys.push_back("cmd-" + std::to_string(i));
    command_owners.push_back(Subprocess::spawn(cli_argv({"register", "svc", keys.back(), "v", "--", "sleep", "600"})));
  }
  ASSERT_TRUE(wait_until([&] { return cli_count("svc") == static_cast<long>(keys.size()); })) << broker().log();

  // Load on both cores and on memory, then readers on top of it.
  std::vector<ForkedChild> load;
  for (unsigned i = 0; i < std::max(2u, std::thread::hardware_concurrency()); ++i) {
    load.push_back(start_spinner());
    ASSERT_EQ(load.back().receive(), "spinning");
  }
  load.push_back(start_memory_hog());
  ASSERT_EQ(load.back().receive(), "allocated");
  std::vector<ForkedChild> readers;
  for (int i = 0; i < 2; ++i) {
    readers.push_back(start_reader(ns(), socket_path(), keys));
    ASSERT_EQ(readers.back().receive(), "reading");
  }
  std::uint64_t lookups = 0;
  for (ForkedChild& r : readers) {
    const auto report = r.receive(kLoadFor + kTimeout);
    ASSERT_TRUE(report) << "a reader did not report";
    const auto fields = split_fields(*report);
    ASSERT_EQ(fields.size(), 2u) << *report;
    EXPECT_GT(std::stoull(fields[0]), 0u);
    EXPECT_EQ(fields[1], "0") << "lookups missed a live owner's entry: " << *report;
    lookups += std::stoull(fields[0]);
  }
  std::cout << "under load for " << kLoadFor.count() << " s: " << lookups << " lookups by " << readers.size()
            << " readers\n";
  for (ForkedChild& l : load) ASSERT_TRUE(l.kill_and_wait());

  EXPECT_EQ(cli_count("svc"), static_cast<long>(keys.size()));
  EXPECT_EQ(broker().log().find("reaped"), std::string::npos) << broker().log();
  for (Actor& o : library_owners) EXPECT_TRUE(o.process().running());
  for (Subprocess& o : command_owners) EXPECT_TRUE(o.running());

  // The same check sees real deaths.
  for (Actor& o : library_owners) ASSERT_TRUE(o.process().kill_and_wait());
  for (Subprocess& o : command_owners) ASSERT_TRUE(o.kill_and_wait());
  EXPECT_TRUE(wait_until([&] { return cli_count("svc") == 0; })) << broker().log();
}

}  // namespace
}  // namespace shmreg::test
