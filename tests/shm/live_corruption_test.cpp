// Bit flips while readers run (issue 9, item 5): a reader that opened a
// segment survives any change of its bytes afterwards. It never dies by a
// signal and never hangs; an answer is either plausible or a clear corrupt or
// retry_exhausted (busy) error.
//
// The test holds the segment read-write (as the broker would) and damages it
// with apply_damage() (deterministic seeds, printed on failure) across the
// header, the registry descriptors, the tables and the arena, while a forked
// child that opened the segment before any damage runs every SegmentReader
// API and validate() pass after pass (run_live_round(), live_damage.hpp: it
// waits for whole passes over each damaged state, and execs `shmreg fsck`,
// `shmreg dump` and `shmreg dump --json` between damages). The client
// library's read APIs get the same treatment in tests/lookups.
//
// The quick build runs a few rounds in seconds; the *_stress build (label
// `stress`) runs many more. Named tests pin the damage that once crashed a
// reader.
#include <cstring>

#include "broker_process.hpp"
#include "child_process.hpp"
#include "live_damage.hpp"
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

// The errors a reader may give for damaged bytes: corrupt, a torn read that
// kept failing (busy), a registry that no longer reads as one, or superseded
// (damage that sets bit 31 of a partition's `active` reads as the broker's
// mark on an abandoned file, which is what those bytes then say).
bool expected_error(Errc e) {
  return e == Errc::corrupt || e == Errc::retry_exhausted || e == Errc::registry_not_found ||
         e == Errc::superseded;
}

// Every SegmentReader API and validate(), through exercise().
ReaderChild segment_reader(const LiveSegment& s) {
  return [&s]() -> std::variant<ReaderPass, std::string> {
    auto r = SegmentReader::open(s.path());
    if (!r) return std::string(to_string(r.error()));
    return ReaderPass([&s, reader = std::make_shared<SegmentReader>(std::move(*r))](std::uint64_t salt) {
      std::vector<Errc> errors;
      exercise(*reader, s.original(), salt, &errors);
      for (Errc e : errors)
        if (!expected_error(e)) return "unexpected error: " + std::string(to_string(e));
      return std::string();
    });
  };
}

TEST(SHMREG_LIVE_CORRUPTION_SUITE, DamageWhileReadersRunNeverCrashesOrHangsThemOrTheCli) {
  LiveSegment s;
  for (std::uint64_t round = 0; round < kRounds; ++round) {
    const std::string failure = run_live_round(s, round, segment_reader(s));
    ASSERT_TRUE(failure.empty()) << failure;
  }
}

// -- damage that once crashed a reader, pinned ---------------------------------------------

SegmentHeader& header_of(std::byte* base) { return *reinterpret_cast<SegmentHeader*>(base); }

// Issue 9: keys() and owners() re-read owner_capacity from the live header;
// 8192 -> 0 after open divided by zero (SIGFPE).
TEST(SHMREG_LIVE_CORRUPTION_SUITE, OwnerCapacityZeroAfterOpenLeavesKeysAndOwnersAnswering) {
  ScopedNamespace ns;
  auto w = ok(SegmentWriter::create(ns.path(), small_segment(std::size_t{8} << 20, 8192)));
  const auto reg = ok(w.create_registry(spec("services")));
  ok(w.insert(reg, "db", "10.0.0.1", owner(4100)));
  ok(w.insert(reg, "cache", "10.0.0.2", owner(4100)));
  ok(w.insert(reg, "web", "10.0.0.3", owner(4200)));
  const SegmentReader r = ok(SegmentReader::open(ns.path()));
  ASSERT_EQ(r.geometry().owner_capacity, 8192u);
  const MappedSegment rw = ok(MappedSegment::open(ns.path(), MappedSegment::Access::read_write));
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
  EXPECT_EQ(error_of(SegmentReader::open(ns.path())), Errc::corrupt);
  const auto fsck = shmreg::test::run({shmreg::test::cli_binary(), "--namespace", ns.name(), "--socket", ns.dir() + "/" + ns.name() + ".sock", "fsck"});
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
      const SegmentReader r = ok(SegmentReader::open(s.path()));
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
