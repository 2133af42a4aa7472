// Crash repair (invariants 8 and 9): a broker that dies in the middle of a
// write leaves a segment that the next broker repairs at attach.
//
// For each kind of write, a child process attaches with a fault point N and
// runs the write; at its N-th step it _exit()s, leaving the write half done.
// The parent then attaches: the repair must have run, validate() must find
// nothing, and the write must be either fully applied or fully absent
// (removals always complete). N goes over every step until the child no
// longer dies. The repaired writer must then work as usual.
#include "test_support.hpp"

namespace shmreg::shm::test {
namespace {

constexpr int kChildDone = 0;
constexpr int kChildWriteFailed = 5;
constexpr int kChildAttachFailed = 6;

// The segment every scenario starts from.
void populate(SegmentWriter& w) {
  const auto uniq = ok(w.create_registry(spec("uniq", RegistryKind::unique, 2, 16)));
  const auto dup = ok(w.create_registry(spec("dup", RegistryKind::duplicate, 2, 32)));
  const auto other = ok(w.create_registry(spec("other", RegistryKind::unique, 1, 8)));
  ok(w.insert(uniq, "a", "a10", owner(10)));
  ok(w.insert(uniq, "b", "b10", owner(10)));
  ok(w.insert(uniq, "c", "c20", owner(20)));
  ok(w.insert(uniq, "solo", "s40", owner(40)));
  ok(w.insert(dup, "t", "t10-1", owner(10)));
  ok(w.insert(dup, "t", "t20", owner(20)));
  ok(w.insert(dup, "t", "t10-2", owner(10)));
  ok(w.insert(dup, "u", "u10", owner(10)));
  ok(w.insert(other, "x", "x10", owner(10)));
  ok(w.put_meta(uniq, "m", "1"));
  ok(w.set_static(uniq, "st", "st-cfg", true));
  ok(w.set_static(dup, "t", "t-cfg", false));
}

struct Scenario {
  const char* name;
  bool removal;  // must always complete
  std::function<Status(SegmentWriter&)> write;
};

Status as_status(auto result) {
  if (!result) return fail(result.error());
  return {};
}

const std::vector<Scenario>& scenarios() {
  static const std::vector<Scenario> all = {
      {"insert unique, new owner", false,
       [](SegmentWriter& w) { return as_status(w.insert(0, "n", "n30", owner(30))); }},
      {"insert unique, known owner", false,
       [](SegmentWriter& w) { return as_status(w.insert(0, "n", "n10", owner(10))); }},
      {"insert duplicate, new key", false,
       [](SegmentWriter& w) { return as_status(w.insert(1, "n", "n20", owner(20))); }},
      {"insert duplicate, known key", false,
       [](SegmentWriter& w) { return as_status(w.insert(1, "t", "t30", owner(30))); }},
      {"create registry with meta", false,
       [](SegmentWriter& w) {
         RegistrySpec s = spec("made", RegistryKind::unique, 1, 8);
         s.meta = {{"owner", "team-a"}, {"tier", "1"}};
         return as_status(w.create_registry(s));
       }},
      {"update value", false,
       [](SegmentWriter& w) { return as_status(w.update_value(0, "a", 10, "a10-new", std::nullopt)); }},
      {"remove unique", true, [](SegmentWriter& w) { return as_status(w.remove(0, "c", 20)); }},
      {"remove unique, owner's last entry", true,
       [](SegmentWriter& w) { return as_status(w.remove(0, "solo", 40)); }},
      {"remove duplicate, two of three entries", true,
       [](SegmentWriter& w) { return as_status(w.remove(1, "t", 10)); }},
      {"remove duplicate, key's last entry", true,
       [](SegmentWriter& w) { return as_status(w.remove(1, "u", 10)); }},
      {"remove owner across registries", true, [](SegmentWriter& w) { return as_status(w.remove_owner(10)); }},
      {"remove_if duplicate, one of the pid's two entries", true,
       [](SegmentWriter& w) {
         return as_status(w.remove_if(1, "t", 10, [](std::string_view v) { return v == "t10-1"; }));
       }},
      {"set static, free unique key", false,
       [](SegmentWriter& w) { return as_status(w.set_static(0, "n", "n-cfg", true)); }},
      {"set static, replace unique", false,
       [](SegmentWriter& w) { return as_status(w.set_static(0, "st", "st-new", false)); }},
      {"set static, replace duplicate", false,
       [](SegmentWriter& w) { return as_status(w.set_static(1, "t", "t-new", true)); }},
      {"unset static, unique", true,
       [](SegmentWriter& w) { return as_status(w.unset_static(0, "st")); }},
      {"unset static, duplicate", true, [](SegmentWriter& w) { return as_status(w.unset_static(1, "t")); }},
      {"remove_if unique, the pid's entry", true,
       [](SegmentWriter& w) { return as_status(w.remove_if(0, "a", 10, [](std::string_view) { return true; })); }},
  };
  return all;
}

// The segment after the write ran without a crash.
Snapshot completed_state(const Scenario& s) {
  ScopedNamespace ns;
  auto w = ok(SegmentWriter::create(ns.path(), small_segment(std::size_t{2} << 20, 64)));
  populate(w);
  ok(s.write(w));
  return snapshot(ok(SegmentReader::open(ns.path())));
}

// After repair the writer must still do ordinary work, reusing what repair freed.
void expect_writer_works(SegmentWriter& w, const SegmentReader& r) {
  for (int i = 0; i < 10; ++i) {
    const std::string key = "probe" + std::to_string(i);
    ok(w.insert(0, key, "p", owner(50)));
    ok(w.insert(1, key, "p", owner(50)));
  }
  EXPECT_TRUE(IsValidSegment(r)) << "after new inserts";
  EXPECT_EQ(ok(w.remove_owner(50)), 20u);
  EXPECT_TRUE(IsValidSegment(r)) << "after removing them again";
}

class CrashRepairTest : public ::testing::TestWithParam<std::size_t> {};

TEST_P(CrashRepairTest, WriteInterruptedAtEveryStepIsAppliedWholeOrNotAtAll) {
  const Scenario& s = scenarios()[GetParam()];
  SCOPED_TRACE(s.name);
  const Snapshot after = completed_state(s);
  int crashes = 0, applied = 0, absent = 0;
  bool completed = false;
  for (int fault = 1; fault <= 64 && !completed; ++fault) {
    SCOPED_TRACE("fault point " + std::to_string(fault));
    ScopedNamespace ns;
    Snapshot before;
    std::uint64_t arena_before = 0;
    {
      auto w = ok(SegmentWriter::create(ns.path(), small_segment(std::size_t{2} << 20, 64)));
      populate(w);
      const SegmentReader r0 = ok(SegmentReader::open(ns.path()));
      before = snapshot(r0);
      arena_before = r0.header().arena_used;
    }
    ASSERT_NE(before, after) << "the write must change something";
    const int status = fork_and_wait([&] {
      WriterOptions options;
      options.fault_point = fault;
      auto w = SegmentWriter::attach(ns.path(), options);
      if (!w) return kChildAttachFailed;
      return s.write(*w) ? kChildDone : kChildWriteFailed;
    });
    ASSERT_TRUE(WIFEXITED(status)) << describe_status(status);
    const int code = WEXITSTATUS(status);
    ASSERT_TRUE(code == kFaultExitCode || code == kChildDone) << describe_status(status);
    const bool crashed = code == kFaultExitCode;
    completed = !crashed;

    const SegmentReader r = ok(SegmentReader::open(ns.path()));
    EXPECT_EQ(r.header().txn_state != kTxnIdle, crashed) << "a crash leaves the write marked in progress";
    // Lookups keep working before any broker repairs the segment, and a key of
    // a unique registry is never listed twice for its owner.
    for (const char* name : {"uniq", "other"})
      for (std::uint32_t pid : {10u, 20u, 30u, 40u}) {
        auto keys = ok(r.keys(ok(r.registry(name)), pid));
        std::sort(keys.begin(), keys.end());
        EXPECT_TRUE(std::adjacent_find(keys.begin(), keys.end()) == keys.end())
            << name << ": pid " << pid << " has a key listed twice";
      }
    auto w = ok(SegmentWriter::attach(ns.path()));
    EXPECT_EQ(w.repaired_at_attach(), crashed);
    EXPECT_EQ(r.header().txn_state, kTxnIdle);
    ASSERT_TRUE(IsValidSegment(r));
    const Snapshot got = snapshot(r);
    if (s.removal || !crashed) {
      EXPECT_EQ(got, after) << "the write must be complete";
    } else {
      EXPECT_TRUE(got == before || got == after) << "half-applied write: " << got << "\nbefore: " << before
                                                 << "\nafter: " << after;
    }
    // A write rolled back leaves no carved space behind (a creation cut short).
    if (crashed && got == before) {
      const std::uint64_t carved = r.header().arena_used;
      EXPECT_LE(carved, arena_before) << "arena space leaked";
    }
    crashes += crashed;
    applied += crashed && got == after;
    absent += crashed && got == before;
    EXPECT_EQ(ok(r.meta(ok(r.registry("uniq")))).size(), 1u);
    ASSERT_NO_FATAL_FAILURE(expect_writer_works(w, r));
  }
  EXPECT_TRUE(completed) << "the write never ran to its end within 64 steps";
  EXPECT_GT(crashes, 0) << "no fault point was reached: the test would test nothing";
  std::cout << "[          ] " << s.name << ": " << crashes << " crash points, " << applied << " applied, "
            << absent << " rolled back\n";
}

INSTANTIATE_TEST_SUITE_P(EveryWrite, CrashRepairTest, ::testing::Range<std::size_t>(0, scenarios().size()),
                         [](const ::testing::TestParamInfo<std::size_t>& param) {
                           std::string name = scenarios()[param.param].name;
                           for (char& c : name)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return name;
                         });

const Scenario& scenario_named(std::string_view name) {
  for (const Scenario& s : scenarios())
    if (s.name == name) return s;
  throw std::logic_error("no scenario " + std::string(name));
}

class CrashDuringRedoTest : public ::testing::TestWithParam<const char*> {};

TEST_P(CrashDuringRedoTest, RepairedSegmentSurvivesASecondCrashDuringRedo) {
  // A removal interrupted once is redone at attach; the broker doing the redo
  // may die as well, and the third attach must still finish the removal.
  const Scenario& s = scenario_named(GetParam());
  const Snapshot after = completed_state(s);
  ScopedNamespace ns;
  {
    auto w = ok(SegmentWriter::create(ns.path(), small_segment(std::size_t{2} << 20, 64)));
    populate(w);
  }
  const int first = fork_and_wait([&] {
    WriterOptions options;
    options.fault_point = 2;
    auto w = SegmentWriter::attach(ns.path(), options);
    if (!w) return kChildAttachFailed;
    return s.write(*w) ? kChildDone : kChildWriteFailed;
  });
  ASSERT_TRUE(WIFEXITED(first) && WEXITSTATUS(first) == kFaultExitCode) << describe_status(first);
  const int second = fork_and_wait([&] {
    WriterOptions options;
    options.fault_point = 1;
    auto w = SegmentWriter::attach(ns.path(), options);
    return w ? kChildDone : kChildAttachFailed;
  });
  ASSERT_TRUE(WIFEXITED(second)) << describe_status(second);
  auto w = ok(SegmentWriter::attach(ns.path()));
  const SegmentReader r = ok(SegmentReader::open(ns.path()));
  ASSERT_TRUE(IsValidSegment(r));
  EXPECT_EQ(snapshot(r), after);
}

INSTANTIATE_TEST_SUITE_P(Removals, CrashDuringRedoTest,
                         ::testing::Values("remove owner across registries",
                                           "remove_if duplicate, one of the pid's two entries"));

}  // namespace
}  // namespace shmreg::shm::test
