// [broker] huge_pages with the real shmreg-broker on real mounts: a tmpfs
// mounted by the test with huge=always or huge=advise, where "require"
// starts, the broker's mapping of the segment and a client's are PMD-mapped
// (read from /proc/PID/smaps), and a client registers and looks up; and a
// plain tmpfs, where "require" refuses to start naming the directory, its
// mount and what is missing, and "try" serves and says the segment is not on
// huge pages. Bad values are refused with the allowed ones. Each test mounts
// its own tmpfs (as root) and unmounts it however it ends; without the right
// to mount, the test is skipped and says why.
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "broker_test.hpp"
#include "shmreg/client.hpp"
#include "shmreg/registry.hpp"
#include "shmreg/shm/segment.hpp"

namespace shmreg::test {
namespace {

using nlohmann::json;

constexpr std::uint64_t kSegment = std::uint64_t{16} << 20;

// A tmpfs mounted on a fresh directory with `options`, lazily unmounted at
// destruction (a process that still maps a file keeps it until it unmaps).
class TestMount {
 public:
  TestMount(const std::string& path, const std::string& options) : path_(path) {
    std::filesystem::create_directory(path_);
    if (::mount("tmpfs", path_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, ("mode=0755," + options).c_str()) == 0)
      mounted_ = true;
    else
      error_ = std::strerror(errno);
  }
  ~TestMount() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
  }
  TestMount(const TestMount&) = delete;
  TestMount& operator=(const TestMount&) = delete;
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  bool mounted_ = false;
  std::string error_;
};

// Mounts the test's tmpfs, or skips the test saying why.
#define MOUNT_OR_SKIP(name, options) \
  if (!mount(name, options))         \
  GTEST_SKIP() << "cannot mount a tmpfs (" << (options) << ") for this test: " << mount_error()

// A mapping of a file in /proc/<pid>/smaps: its start and the kB of
// ShmemPmdMapped (0 if none).
struct Mapping {
  std::uintptr_t start = 0;
  std::uint64_t pmd_kb = 0;
};
// Every mapping of `file` by pid, in address order.
std::vector<Mapping> mappings_of(pid_t pid, const std::string& file) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps");
  std::vector<Mapping> found;
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    std::uintptr_t lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%" SCNxPTR "-%" SCNxPTR " ", &lo, &hi) == 2) {
      inside = line.ends_with(" " + file);
      if (inside) found.push_back(Mapping{lo, 0});
      continue;
    }
    std::uint64_t kb = 0;
    if (inside && std::sscanf(line.c_str(), "ShmemPmdMapped: %" SCNu64, &kb) == 1) found.back().pmd_kb = kb;
  }
  return found;
}
// The only mapping of file by pid, or nullopt.
std::optional<Mapping> mapping_of(pid_t pid, const std::string& file) {
  const auto all = mappings_of(pid, file);
  if (all.size() != 1) return std::nullopt;
  return all.front();
}

class HugePagesTest : public BrokerTest {
 protected:
  void SetUp() override {}
  // The test's broker stops before its mount goes.
  void TearDown() override {
    if (huge_broker_ && huge_broker_->running()) {
      const auto stopped = huge_broker_->stop();
      EXPECT_TRUE(stopped.has_value()) << stopped.error();
    }
    if (HasFailure() && huge_broker_)
      std::cerr << "--- log of the broker on the test's mount:\n" << huge_broker_->log();
    huge_broker_.reset();
    mount_.reset();
    BrokerTest::TearDown();
  }

  bool mount(const std::string& name, const std::string& options) {
    mount_.emplace(dir().path() + "/" + name, options);
    return mount_->mounted();
  }
  const std::string& mount_error() const { return mount_->error(); }
  const std::string& mnt() const { return mount_->path(); }
  std::string file() const { return segment_path(mnt(), ns()); }
  std::string socket_in_mount() const { return mnt() + "/broker.sock"; }

  // This test's namespace served by a broker whose socket, hence segment, is
  // in the mount.
  BrokerProcess& huge_broker() {
    if (!huge_broker_) huge_broker_.emplace(ns(), socket_in_mount(), dir().path() + "/huge-broker.log");
    return *huge_broker_;
  }
  ::testing::AssertionResult start_huge_broker(const std::string& mode) {
    return succeeded(huge_broker().start({"--segment-size", "16M", "--huge-pages", mode}));
  }
  RunResult cli_in_mount(const std::vector<std::string>& args) const {
    std::vector<std::string> argv{cli_binary(), "--namespace", ns(), "--socket", socket_in_mount()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  }
  json status_in_mount() const {
    const RunResult r = cli_in_mount({"--json", "status"});
    EXPECT_EQ(r.exit_code(), 0) << r.describe();
    return json::parse(r.out, nullptr, false);
  }

 private:
  std::optional<TestMount> mount_;
  std::optional<BrokerProcess> huge_broker_;
};

// In a child: a client registers and looks up, then the child reads its own
// smaps: the client's mapping (2 MiB aligned, its touched pages PMD-mapped),
// and a plain read-only mapping of the file whose every page it reads.
// Replies "ok <client-aligned> <client-pmd-kb> <full-pmd-kb>" or an error.
std::optional<std::string> reader_report(const std::string& socket, const std::string& ns, const std::string& file) {
  ForkedChild child = ForkedChild::start([&](ChildChannel& ch) {
    auto client = Client::open(ClientOptions{.ns = ns, .socket = socket});
    if (!client) return child_report(ch, "open: " + client.error().message);
    if (auto c = client->create_registry("r"); !c) return child_report(ch, "create: " + c.error().message);
    if (auto r = client->register_key("r", "db", "10.0.0.7:5432"); !r)
      return child_report(ch, "register: " + r.error().message);
    auto reg = client->registry("r");
    if (!reg) return child_report(ch, "registry: " + reg.error().message);
    auto found = reg->lookup("db");
    if (!found || found->size() != 1 || (*found)[0].value != "10.0.0.7:5432")
      return child_report(ch, "lookup did not find db");
    const auto mine = mapping_of(::getpid(), file);
    if (!mine) return child_report(ch, "the client maps " + file + " other than once");
    auto seg = shm::MappedSegment::open(file, shm::MappedSegment::Access::read_only);
    if (!seg) return child_report(ch, "map: " + std::string(shm::to_string(seg.error())));
    std::uint64_t sum = 0;
    for (std::size_t off = 0; off < seg->size(); off += 4096) sum += static_cast<std::uint8_t>(seg->data()[off]);
    std::uint64_t full_kb = 0;
    for (const Mapping& m : mappings_of(::getpid(), file))
      if (m.start == reinterpret_cast<std::uintptr_t>(seg->data())) full_kb = m.pmd_kb;
    ch.send("ok " + std::to_string(mine->start % (2u << 20) == 0) + " " + std::to_string(mine->pmd_kb) + " " +
            std::to_string(full_kb) + " " + std::to_string(sum & 1));
    return 0;
  });
  return child.receive();
}

TEST_F(HugePagesTest, RequireOnAHugeTmpfsPutsTheSegmentOnHugePagesForTheBrokerAndItsReaders) {
  MOUNT_OR_SKIP("huge", "size=64m,huge=always");
  ASSERT_TRUE(start_huge_broker("require"));
  EXPECT_NE(huge_broker().log().find("created segment " + file() + ": 16 MiB of 16 MiB on 2 MiB pages"),
            std::string::npos)
      << huge_broker().log();
  const auto in_broker = mapping_of(huge_broker().pid(), file());
  ASSERT_TRUE(in_broker.has_value());
  EXPECT_EQ(in_broker->pmd_kb, kSegment >> 10) << "the broker's mapping is not wholly PMD-mapped";

  const auto report = reader_report(socket_in_mount(), ns(), file());
  ASSERT_TRUE(report.has_value());
  std::uint64_t aligned = 0, client_kb = 0, full_kb = 0, ignored = 0;
  ASSERT_EQ(std::sscanf(report->c_str(), "ok %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64, &aligned, &client_kb,
                        &full_kb, &ignored),
            4)
      << *report;
  EXPECT_EQ(aligned, 1u) << "the client's mapping is not 2 MiB aligned";
  EXPECT_GT(client_kb, 0u) << "the client's lookup touched no PMD-mapped page";
  EXPECT_EQ(full_kb, kSegment >> 10) << "a reader's mapping, every page read, is not wholly PMD-mapped";

  const json s = status_in_mount();
  EXPECT_EQ(s["segment"]["huge_pages"], "require") << s.dump();
  EXPECT_EQ(s["segment"]["size"], kSegment) << s.dump();
  EXPECT_EQ(s["segment"]["huge_bytes"], kSegment) << s.dump();
  EXPECT_EQ(s["segment"]["huge_page_size"], 2u << 20) << s.dump();
  const RunResult text = cli_in_mount({"status"});
  EXPECT_NE(text.out.find("huge pages: 16 MiB of 16 MiB on 2 MiB pages (huge_pages = require)"), std::string::npos)
      << text.out;
}

TEST_F(HugePagesTest, RequireOnAPlainTmpfsRefusesToStartNamingTheDirectoryItsMountAndWhatIsMissing) {
  MOUNT_OR_SKIP("plain", "size=64m");
  const RunResult r = run({broker_binary(), "--namespace", ns(), "--socket", socket_in_mount(), "--segment-size",
                           "16M", "--huge-pages", "require"});
  EXPECT_EQ(r.exit_code(), 1) << r.describe();
  EXPECT_NE(r.err.find("huge_pages = \"require\": the segment's directory " + mnt() + " is on tmpfs (huge=never) " +
                       "mounted at " + mnt() +
                       ", which gives no huge pages: mount there a tmpfs with huge=within_size, huge=always or "
                       "huge=advise, or a hugetlbfs; refusing to start"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("refusing to start"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(file())) << "a segment was left behind";
}

TEST_F(HugePagesTest, TryOnAPlainTmpfsServesAndSaysTheSegmentIsNotOnHugePages) {
  MOUNT_OR_SKIP("plain", "size=64m");
  ASSERT_TRUE(start_huge_broker("try"));
  EXPECT_NE(huge_broker().log().find("serving on small pages (not on huge pages)"), std::string::npos)
      << huge_broker().log();
  const RunResult create = cli_in_mount({"create", "r"});
  EXPECT_EQ(create.exit_code(), 0) << create.describe();
  const json s = status_in_mount();
  EXPECT_EQ(s["segment"]["huge_pages"], "try") << s.dump();
  EXPECT_EQ(s["segment"]["huge_bytes"], 0u) << s.dump();
  const RunResult text = cli_in_mount({"status"});
  EXPECT_NE(text.out.find("huge pages: none, not on huge pages (huge_pages = try)"), std::string::npos) << text.out;
}

// huge=advise: posix_fallocate reserves small pages, which the broker
// collapses. A segment made with huge_pages off on that mount (small pages,
// the broker neither asks nor looks) is collapsed when a broker with
// "require" attaches it.
TEST_F(HugePagesTest, OnAnAdviseTmpfsABrokerThatRequiresHugePagesCollapsesTheSegmentItAttaches) {
  MOUNT_OR_SKIP("advise", "size=64m,huge=advise");
  ASSERT_TRUE(start_huge_broker("off"));
  EXPECT_EQ(status_in_mount()["segment"]["huge_bytes"], nullptr);
  ASSERT_TRUE(succeeded(huge_broker().stop()));
  ASSERT_TRUE(succeeded(huge_broker().start({"--huge-pages", "require"})));
  const std::string log = huge_broker().log();
  EXPECT_NE(log.find("existing segment " + file() + ": 16 MiB of 16 MiB on 2 MiB pages"), std::string::npos) << log;
  EXPECT_NE(log.find("collapsed into huge pages with MADV_COLLAPSE"), std::string::npos) << log;
  const auto in_broker = mapping_of(huge_broker().pid(), file());
  ASSERT_TRUE(in_broker.has_value());
  EXPECT_EQ(in_broker->pmd_kb, kSegment >> 10);
}

TEST_F(HugePagesTest, ABadValueIsRefusedNamingTheAllowedValues) {
  const RunResult flag = run({broker_binary(), "--namespace", ns(), "--socket", dir().path() + "/x.sock",
                              "--huge-pages", "sometimes"});
  EXPECT_EQ(flag.exit_code(), 2) << flag.describe();
  EXPECT_NE(flag.err.find("invalid --huge-pages 'sometimes' (use \"off\", \"try\" or \"require\")"),
            std::string::npos)
      << flag.err;
  const std::string config = dir().path() + "/huge.toml";
  std::ofstream(config) << "[broker]\nhuge_pages = \"yes\"\n";
  const RunResult file = run({broker_binary(), "--check-config", config});
  EXPECT_EQ(file.exit_code(), 2) << file.describe();
  EXPECT_EQ(file.err, config + ":2:14: broker.huge_pages: 'yes' is not one of \"off\", \"try\" or \"require\"\n");
}

}  // namespace
}  // namespace shmreg::test
