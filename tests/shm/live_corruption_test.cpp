// Bit flips while readers run (issue 9, item 5): a reader that opened a
// segment survives any change of its bytes afterwards. It never dies by a
// signal and never hangs; an answer is either plausible or a clear corrupt or
// retry_exhausted (busy) error.
//
// The test holds the segment read-write (as the broker would) and damages it
// with apply_damage() (deterministic seeds, printed on failure) across the
// header, the registry descriptors, the tables and the arena, while a forked
// child that opened the segment before any damage runs every reader API and
// validate() pass after pass. After each damage the test waits for the child
// to finish a whole pass over the damaged bytes, so every state is read; a
// child that stops making passes by the deadline is a hang. Between damages
// the test execs `shmreg fsck`, `shmreg dump` and `shmreg dump --json` on the
// same segment: they must end by the deadline, by exit code, not by a signal.
//
// The quick build runs a few rounds in seconds; the *_stress build (label
// `stress`) runs many more. Named tests pin the damage that once crashed a
// reader.
#include <sys/mman.h>
#include <sys/wait.h>

#include <atomic>
#include <cstring>
#include <new>

#include "broker_process.hpp"
#include "child_process.hpp"
#include "corruption_damage.hpp"
#include "test_support.hpp"

#ifdef SHMREG_STRESS
#define SHMREG_LIVE_CORRUPTION_SUITE LiveCorruptionStress
#else
#define SHMREG_LIVE_CORRUPTION_SUITE LiveCorruption
#endif

namespace shmreg::shm::test {
namespace {

#ifdef SHMREG_STRESS
constexpr std::uint64_t kRounds = 300;
#else
constexpr std::uint64_t kRounds = 16;
#endif
constexpr int kDamagesPerRound = 6;
constexpr int kChildOk = 0;
constexpr int kChildUnexpected = 20;

// What parent and reader child share: a word each, in an anonymous shared
// mapping made before the fork.
struct Progress {
  std::atomic<std::uint64_t> passes{0};
  std::atomic<int> stop{0};
};

class SharedProgress {
 public:
  SharedProgress() {
    void* p = ::mmap(nullptr, sizeof(Progress), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::runtime_error("mmap of the progress words failed");
    progress_ = new (p) Progress;
  }
  ~SharedProgress() { ::munmap(progress_, sizeof(Progress)); }
  SharedProgress(const SharedProgress&) = delete;
  SharedProgress& operator=(const SharedProgress&) = delete;
  Progress& operator*() const { return *progress_; }
  Progress* operator->() const { return progress_; }

 private:
  Progress* progress_;
};

// The errors a reader may give for damaged bytes: corrupt, a torn read that
// kept failing (busy), or a registry that no longer reads as one.
bool expected_error(Errc e) {
  return e == Errc::corrupt || e == Errc::retry_exhausted || e == Errc::registry_not_found;
}

// The segment with content, held read-write by the test as the broker holds it.
class LiveSegment {
 public:
  LiveSegment()
      : original_(build_original(ns_.name())),
        seg_(ok(MappedSegment::open(ns_.object(), MappedSegment::Access::read_write))) {}

  const Original& original() const { return original_; }
  const std::string& ns() const { return ns_.name(); }
  std::byte* base() const { return seg_.data(); }
  void restore() const { std::memcpy(seg_.data(), original_.bytes.data(), original_.bytes.size()); }

 private:
  ScopedNamespace ns_;
  Original original_;
  MappedSegment seg_;
};

// The reader child: opens the segment (before any damage), says so, then runs
// every reader API until told to stop, counting whole passes.
shmreg::test::ForkedChild start_reader(const LiveSegment& s, Progress& progress, std::uint64_t salt) {
  return shmreg::test::ForkedChild::start([&s, &progress, salt](shmreg::test::ChildChannel& ch) {
    auto r = SegmentReader::open(s.ns());
    if (!r) return shmreg::test::child_report(ch, "open: " + std::string(to_string(r.error())));
    ch.send("open");
    for (std::uint64_t pass = 0; progress.stop.load() == 0; ++pass) {
      std::vector<Errc> errors;
      exercise(*r, s.original(), salt + pass, &errors);
      for (Errc e : errors)
        if (!expected_error(e))
          return shmreg::test::child_report(ch, "unexpected error: " + std::string(to_string(e)), kChildUnexpected);
      progress.passes.fetch_add(1);
    }
    return kChildOk;
  });
}

// Runs the CLI on the damaged segment; empty when it ended as it should.
std::string check_cli(const std::string& ns, std::vector<std::string> args) {
  std::vector<std::string> argv{shmreg::test::cli_binary(), "--namespace", ns};
  argv.insert(argv.end(), args.begin(), args.end());
  const shmreg::test::RunResult run = shmreg::test::run(argv);
  std::string what = "shmreg";
  for (const auto& a : args) what += " " + a;
  if (run.timed_out) return what + " hung: " + run.describe();
  if (!WIFEXITED(run.status)) return what + " died: " + run.describe();
  const int code = run.exit_code();
  if (code > 2) return what + " exited with " + std::to_string(code) + ": " + run.describe();
  if (code == 2 && run.err.empty()) return what + " failed without saying why";
  return {};
}

// One round: a fresh copy of the content, a reader child that opens it, then
// kDamagesPerRound damages, each followed by a whole pass of the child and one
// CLI run. Returns an empty string, or what went wrong with the seeds applied.
std::string run_round(const LiveSegment& s, std::uint64_t round) {
  s.restore();
  SharedProgress progress;
  auto child = start_reader(s, *progress, round * 1000);
  const auto opened = child.receive();
  if (opened != "open") return "reader did not open: " + opened.value_or("(nothing)");
  static const std::vector<std::vector<std::string>> kCli = {{"fsck"}, {"dump"}, {"--json", "dump"}};
  std::string applied;
  std::string failure;
  for (int i = 0; i < kDamagesPerRound && failure.empty(); ++i) {
    const std::uint64_t seed = round * kDamagesPerRound + static_cast<std::uint64_t>(i);
    applied += "seed " + std::to_string(seed) + ": " + apply_damage(s.base(), s.original(), seed) + "; ";
    // Two more passes: the one under way may have started before the damage.
    const std::uint64_t want = progress->passes.load() + 2;
    shmreg::test::wait_until([&] { return progress->passes.load() >= want || !child.running(); });
    if (!child.running()) break;
    if (progress->passes.load() < want) failure = "the reader made no progress by the deadline (a hang)";
    if (failure.empty()) failure = check_cli(s.ns(), kCli[static_cast<std::size_t>(i) % kCli.size()]);
  }
  progress->stop.store(1);
  const auto status = child.wait();
  if (!status) {
    child.kill_and_wait();
    return "reader still running at the deadline (a hang) after " + applied;
  }
  if (!WIFEXITED(*status) || WEXITSTATUS(*status) != kChildOk) {
    const auto said = child.receive(std::chrono::milliseconds(0));
    failure = "reader " + shmreg::test::describe_wait_status(*status) + (said ? " (" + *said + ")" : "") +
              (failure.empty() ? "" : "; " + failure);
  }
  return failure.empty() ? failure : "round " + std::to_string(round) + ": " + failure + " after " + applied;
}

TEST(SHMREG_LIVE_CORRUPTION_SUITE, DamageWhileReadersRunNeverCrashesOrHangsThemOrTheCli) {
  LiveSegment s;
  for (std::uint64_t round = 0; round < kRounds; ++round) {
    const std::string failure = run_round(s, round);
    ASSERT_TRUE(failure.empty()) << failure;
  }
}

// -- damage that once crashed a reader, pinned ---------------------------------------------

SegmentHeader& header_of(std::byte* base) { return *reinterpret_cast<SegmentHeader*>(base); }

// Issue 9: keys() and owners() re-read owner_capacity from the live header;
// 8192 -> 0 after open divided by zero (SIGFPE).
TEST(SHMREG_LIVE_CORRUPTION_SUITE, OwnerCapacityZeroAfterOpenLeavesKeysAndOwnersAnswering) {
  ScopedNamespace ns;
  auto w = ok(SegmentWriter::create(ns.name(), small_segment(std::size_t{8} << 20, 8192)));
  const auto reg = ok(w.create_registry(spec("services")));
  ok(w.insert(reg, "db", "10.0.0.1", owner(4100)));
  ok(w.insert(reg, "cache", "10.0.0.2", owner(4100)));
  ok(w.insert(reg, "web", "10.0.0.3", owner(4200)));
  const SegmentReader r = ok(SegmentReader::open(ns.name()));
  ASSERT_EQ(r.geometry().owner_capacity, 8192u);
  const MappedSegment rw = ok(MappedSegment::open(ns.object(), MappedSegment::Access::read_write));
  header_of(rw.data()).owner_capacity = 0;
  header_of(rw.data()).owner_table_offset = ~std::uint64_t{0} - 63;
  const int status = fork_and_wait([&] {
    ::alarm(60);  // a hang ends the child by SIGALRM, which the test reports
    auto v = r.registry("services");
    if (!v) return 10;
    auto keys = r.keys(*v, 4100);
    if (!keys || keys->size() != 2) return 11;
    auto owners = r.owners();
    if (!owners || owners->size() != 2) return 12;
    for (const Problem& p : validate(r))
      if (p.where == "header") return 0;
    return 13;
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << describe_status(status)
      << " (10: no registry, 11: keys() wrong, 12: owners() wrong, 13: validate missed the change)";
  // A reader that opens now refuses the header, with a clear error.
  EXPECT_EQ(error_of(SegmentReader::open(ns.name())), Errc::corrupt);
  const auto fsck = shmreg::test::run({shmreg::test::cli_binary(), "--namespace", ns.name(), "fsck"});
  EXPECT_EQ(fsck.exit_code(), 2) << fsck.describe();
  EXPECT_NE(fsck.err.find(std::string(to_string(Errc::corrupt))), std::string::npos) << fsck.describe();
}

// Every constant header field (and arena_used) changed after open, one at a
// time, to values that would move or shrink a table: the open reader keeps
// answering from its copy, and validate() reports the change.
TEST(SHMREG_LIVE_CORRUPTION_SUITE, HeaderGeometryChangedAfterOpenIsNeverFollowed) {
  LiveSegment s;
  const std::size_t fields[] = {offsetof(SegmentHeader, segment_size), offsetof(SegmentHeader, owner_table_offset),
                                offsetof(SegmentHeader, arena_offset), offsetof(SegmentHeader, arena_size),
                                offsetof(SegmentHeader, arena_used)};
  for (const std::size_t field : fields) {
    for (const std::uint64_t value : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{4096}, ~std::uint64_t{0}}) {
      SCOPED_TRACE("header field @" + std::to_string(field) + " = " + std::to_string(value));
      s.restore();
      const SegmentReader r = ok(SegmentReader::open(s.ns()));
      std::memcpy(s.base() + field, &value, sizeof value);
      const int status = fork_and_wait([&] {
        ::alarm(60);
        std::vector<Errc> errors;
        exercise(r, s.original(), field + value, &errors);
        for (Errc e : errors)
          if (!expected_error(e)) return 10;
        return validate(r).empty() ? 11 : 0;
      });
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
          << describe_status(status)
          << " (10: an error other than corrupt, busy or not found, 11: validate did not report the change)";
    }
  }
}

}  // namespace
}  // namespace shmreg::shm::test
