// The live corruption harness (see live_damage.hpp).
#include "live_damage.hpp"

#include <sys/mman.h>
#include <sys/wait.h>

#include <atomic>
#include <cstring>
#include <new>
#include <stdexcept>

#include "broker_process.hpp"
#include "child_process.hpp"

namespace shmreg::shm::test {

namespace {

constexpr int kChildOk = 0;
constexpr int kChildFailed = 20;

// What the test and its reader child share: a word each, in an anonymous
// shared mapping made before the fork.
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

// Opens through the caller's API, says so, then repeats the pass until told
// to stop, counting whole passes.
shmreg::test::ForkedChild start_reader(const ReaderChild& reader, Progress& progress, std::uint64_t salt) {
  return shmreg::test::ForkedChild::start([&reader, &progress, salt](shmreg::test::ChildChannel& ch) {
    auto opened = reader();
    if (auto* why = std::get_if<std::string>(&opened)) return shmreg::test::child_report(ch, "open: " + *why);
    const ReaderPass& pass = std::get<ReaderPass>(opened);
    ch.send("open");
    for (std::uint64_t n = 0; progress.stop.load() == 0; ++n) {
      if (std::string wrong = pass(salt + n); !wrong.empty())
        return shmreg::test::child_report(ch, "pass " + std::to_string(n) + ": " + wrong, kChildFailed);
      progress.passes.fetch_add(1);
    }
    return kChildOk;
  });
}

// Runs the CLI on the damaged segment; empty when it ended as it should: by
// the deadline, with exit code 0, 1 (fsck found problems) or 2 with a reason.
std::string check_cli(const LiveSegment& s, const std::vector<std::string>& args) {
  std::vector<std::string> argv{shmreg::test::cli_binary(), "--namespace", s.ns(), "--socket", s.socket()};
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

}  // namespace

LiveSegment::LiveSegment()
    : original_(build_original(ns_.path())),
      seg_(ok(MappedSegment::open(ns_.path(), MappedSegment::Access::read_write))) {}

void LiveSegment::restore() const { std::memcpy(seg_.data(), original_.bytes.data(), original_.bytes.size()); }

std::string run_live_round(const LiveSegment& s, std::uint64_t round, const ReaderChild& reader) {
  s.restore();
  SharedProgress progress;
  auto child = start_reader(reader, *progress, round * 1000);
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
    if (failure.empty()) failure = check_cli(s, kCli[static_cast<std::size_t>(i) % kCli.size()]);
  }
  progress->stop.store(1);
  const auto status = child.wait();
  if (!status) {
    child.kill_and_wait();
    return "round " + std::to_string(round) + ": reader still running at the deadline (a hang) after " + applied;
  }
  if (!WIFEXITED(*status) || WEXITSTATUS(*status) != kChildOk) {
    const auto said = child.receive(std::chrono::milliseconds(0));
    failure = "reader " + shmreg::test::describe_wait_status(*status) + (said ? " (" + *said + ")" : "") +
              (failure.empty() ? "" : "; " + failure);
  }
  return failure.empty() ? failure : "round " + std::to_string(round) + ": " + failure + " after " + applied;
}

}  // namespace shmreg::shm::test
