// The segment seen directly, beneath the client library:
// - invariant 3: an owner recorded under an identity that is not the live
//   process's (its pid was recycled) is reaped when a broker starts, while
//   owners whose identity checks out keep their entries;
// - invariant 1: a client's mapping is read-only, so a write through it
//   faults, and an unprivileged process cannot open the segment for writing.
// The forged entries are written with shm::SegmentWriter while no broker runs,
// as the segment of a crashed broker could hold them.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "broker_test.hpp"
#include "shmreg/shm/reader.hpp"
#include "shmreg/shm/writer.hpp"
#include "shmreg/sys/pidfd.hpp"

namespace shmreg::test {
namespace {

constexpr long kPidfsMagic = 0x50494446;

// The pidfs inode of a live process, or nullopt where the kernel has no pidfs.
std::optional<std::uint64_t> pidfs_inode(pid_t pid) {
  const sys::UniqueFd fd = sys::open_pidfd(pid);
  if (!fd) return std::nullopt;
  struct statfs sfs{};
  struct stat st{};
  if (::fstatfs(fd.get(), &sfs) != 0 || sfs.f_type != kPidfsMagic || ::fstat(fd.get(), &st) != 0) return std::nullopt;
  return st.st_ino;
}

// Field 22 of /proc/<pid>/stat, counted after the command name's last ')'.
std::uint64_t start_time(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  std::istringstream fields(line.substr(line.rfind(')') + 2));
  std::string f;
  for (int i = 3; i <= 22; ++i) fields >> f;
  return std::stoull(f);
}

class SegmentAccessTest : public BrokerTest {
 protected:
  void SetUp() override {
    BrokerTest::SetUp();
    cli_ok({"create", "svc"});
    cli_ok({"create", "pool", "--keys", "duplicate"});
  }

  // A live process that does nothing until the test ends.
  Subprocess idle_process() { return Subprocess::spawn({"sleep", "600"}); }

  void expect_consistent_segment() {
    RunResult f = cli({"fsck"});
    EXPECT_EQ(f.exit_code(), 0) << f.describe();
  }
};

TEST_F(SegmentAccessTest, ARecycledPidNeverInheritsEntriesOwnersUnderAnotherIdentityAreReapedAtStartup) {
  // A real owner, registered through the broker.
  Subprocess real = Subprocess::spawn(cli_argv({"register", "svc", "real", "r", "--", "sleep", "600"}));
  ASSERT_TRUE(wait_until([&] { return !cli_lookup("svc", "real").empty(); })) << broker().log();
  ASSERT_TRUE(stop_broker());

  // Live processes whose pids the segment will claim for someone else: their
  // recorded identities are those of earlier processes with the same pid.
  Subprocess recycled_by_start = idle_process();
  Subprocess verified_by_start = idle_process();
  // This one will register for itself later: it execs the CLI on request.
  ForkedChild recycled_by_inode = ForkedChild::start([&](ChildChannel& ch) {
    if (ch.receive() != std::optional<std::string>("register")) return 1;
    auto argv = cli_argv({"register", "svc", "fresh", "f", "--", "sleep", "600"});
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    return 127;
  });
  const auto inode = pidfs_inode(recycled_by_inode.pid());
  {
    auto w = shm::SegmentWriter::attach(segment_file());
    ASSERT_TRUE(w) << shm::to_string(w.error());
    const auto svc = w->find_registry("svc"), pool = w->find_registry("pool");
    ASSERT_TRUE(svc && pool);
    const auto uid = static_cast<std::uint32_t>(::getuid());
    auto forge = [&](std::uint32_t reg, const std::string& key, pid_t pid, std::uint32_t kind, std::uint64_t id) {
      auto r = w->insert(reg, key, "x", shm::OwnerIdentity{static_cast<std::uint32_t>(pid), uid, kind, id});
      ASSERT_TRUE(r) << key << ": " << shm::to_string(r.error());
    };
    const pid_t by_start = recycled_by_start.pid(), ok_start = verified_by_start.pid();
    forge(*svc, "recycled-start", by_start, shm::kIdentityStartTime, start_time(by_start) + 1);
    forge(*pool, "member", by_start, shm::kIdentityStartTime, start_time(by_start) + 1);
    forge(*svc, "verified-start", ok_start, shm::kIdentityStartTime, start_time(ok_start));
    forge(*pool, "member", ok_start, shm::kIdentityStartTime, start_time(ok_start));
    if (inode) {
      forge(*svc, "recycled-inode", recycled_by_inode.pid(), shm::kIdentityPidfsInode, *inode + 1);
      forge(*pool, "member", recycled_by_inode.pid(), shm::kIdentityPidfsInode, *inode + 1);
    }
  }
  EXPECT_EQ(cli_count("svc"), inode ? 4 : 3);

  ASSERT_TRUE(start_broker());
  // Reconciled before the broker listens: no polling.
  EXPECT_EQ(cli_lookup("svc", "recycled-start"), Lookup{});
  EXPECT_EQ(cli_lookup("svc", "recycled-inode"), Lookup{});
  EXPECT_EQ(cli_lookup("pool", "member"), (Lookup{{verified_by_start.pid(), "x"}}));
  EXPECT_EQ(cli_lookup("svc", "verified-start"), (Lookup{{verified_by_start.pid(), "x"}}));
  EXPECT_EQ(cli_lookup("svc", "real"), (Lookup{{real.pid(), "r"}}));
  expect_consistent_segment();

  // The process behind the recycled pid registers for itself and holds only
  // what it registered.
  if (inode) {
    ASSERT_TRUE(recycled_by_inode.send("register"));
    const std::string pid = std::to_string(recycled_by_inode.pid());
    ASSERT_TRUE(wait_until([&] { return cli({"keys", "svc", pid}).exit_code() == 0 || !recycled_by_inode.running(); }));
    EXPECT_EQ(cli_ok({"keys", "svc", pid}), "fresh\n");
    EXPECT_EQ(cli({"keys", "pool", pid}).exit_code(), 1);
  } else {
    std::cerr << "no pidfs on this kernel: the pidfs-inode identity was not exercised\n";
  }

  // The verified owners' pidfds were re-armed.
  ASSERT_TRUE(verified_by_start.kill_and_wait());
  EXPECT_TRUE(wait_until([&] { return cli_lookup("pool", "member").empty(); })) << broker().log();
  expect_consistent_segment();
}

TEST_F(SegmentAccessTest, ClientCannotWriteTheSegmentItsMappingIsReadOnlyAndAWriteFaults) {
  cli_ok({"register", "svc", "k", "v", "--", "true"});
  auto write_through_reader = [&](double where) {
    auto r = shm::SegmentReader::open(segment_file());
    if (!r) ::_exit(3);
    auto* p = const_cast<volatile std::byte*>(r->data());
    // The kernel's answer is what is tested: a sanitizer's SIGSEGV handler
    // would turn the signal into a report and an exit code.
    ::signal(SIGSEGV, SIG_DFL);
    p[static_cast<std::size_t>(static_cast<double>(r->size() - 1) * where)] = std::byte{0x5a};
    ::_exit(0);
  };
  EXPECT_EXIT(write_through_reader(0.0), ::testing::KilledBySignal(SIGSEGV), "");
  EXPECT_EXIT(write_through_reader(0.5), ::testing::KilledBySignal(SIGSEGV), "");
  EXPECT_EXIT(write_through_reader(1.0), ::testing::KilledBySignal(SIGSEGV), "");

  auto reader = shm::SegmentReader::open(segment_file());
  ASSERT_TRUE(reader) << shm::to_string(reader.error());
  expect_consistent_segment();
  cli_ok({"ping"});
}

TEST_F(SegmentAccessTest, UnprivilegedProcessCanReadButNotOpenTheSegmentForWriting) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch to an unprivileged uid";
  const std::string path = segment_file();
  ForkedChild nobody = ForkedChild::start([&](ChildChannel& ch) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) return child_report(ch, "setuid failed");
    const int rw = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (rw >= 0) return child_report(ch, "opened for writing");
    const int err = errno;
    auto r = shm::SegmentReader::open(segment_file());
    if (!r) return child_report(ch, std::string("cannot read: ") + std::string(shm::to_string(r.error())));
    return child_report(ch, std::string("ok ") + std::strerror(err), 0);
  });
  EXPECT_EQ(nobody.receive(), "ok " + std::string(std::strerror(EACCES)));
}

// The CLI contract's last exit code: fsck exits 1 when the segment breaks an
// invariant, and says which. The damage is done by hand through a writable
// mapping, as a stray write by some other root process would.
TEST_F(SegmentAccessTest, FsckExitsOneAndNamesTheProblemOnADamagedSegment) {
  Subprocess owner = Subprocess::spawn(cli_argv({"register", "svc", "k", "v", "--", "sleep", "600"}));
  ASSERT_TRUE(wait_until([&] { return cli_count("svc") == 1; })) << broker().log();
  ASSERT_TRUE(stop_broker());
  std::uint32_t id = 0;
  {
    auto r = shm::SegmentReader::open(segment_file());
    ASSERT_TRUE(r);
    auto reg = r->registry("svc");
    ASSERT_TRUE(reg);
    id = reg->id();
  }
  {
    sys::UniqueFd fd(::open(segment_file().c_str(), O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(fd) << std::strerror(errno);
    const std::size_t len = shm::kHeaderSize + (std::size_t{id} + 1) * sizeof(shm::RegistryDesc);
    void* m = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    ASSERT_NE(m, MAP_FAILED) << std::strerror(errno);
    auto* base = static_cast<std::byte*>(m);
    std::uint64_t dir = 0;
    std::memcpy(&dir, base + offsetof(shm::SegmentHeader, registry_dir_offset), sizeof dir);
    ASSERT_EQ(dir, shm::kHeaderSize);
    std::byte* count = base + dir + std::size_t{id} * sizeof(shm::RegistryDesc) + offsetof(shm::RegistryDesc, entry_count);
    std::uint64_t n = 0;
    std::memcpy(&n, count, sizeof n);
    ASSERT_EQ(n, 1u);
    n = 6;
    std::memcpy(count, &n, sizeof n);
    ::munmap(m, len);
  }

  RunResult text = cli({"fsck"});
  EXPECT_EQ(text.exit_code(), 1) << text.describe();
  EXPECT_NE(text.out.find("entry_count"), std::string::npos) << text.describe();
  RunResult j = cli({"--json", "fsck"});
  EXPECT_EQ(j.exit_code(), 1) << j.describe();
  const auto v = nlohmann::json::parse(j.out, nullptr, false);
  ASSERT_FALSE(v.is_discarded()) << j.out;
  EXPECT_EQ(v.value("ok", true), false);
  EXPECT_FALSE(v["problems"].empty());
}

}  // namespace
}  // namespace shmreg::test
