// Invariant 1: readers map the segment PROT_READ, so a reader that writes to
// it, by bug or by malice, faults instead of corrupting the registry.
#include <csignal>

#include "test_support.hpp"

namespace shmreg::shm::test {
namespace {

TEST(ReadOnlyMapping, ReaderThatWritesToTheSegmentDiesWithSigsegv) {
  ScopedNamespace ns;
  auto w = ok(SegmentWriter::create(ns.path(), small_segment()));
  const auto id = ok(w.create_registry(spec("svc")));
  ok(w.insert(id, "k", "v", owner(10)));
  const Snapshot before = snapshot(ok(SegmentReader::open(ns.path())));

  for (const std::size_t offset : {std::size_t{0}, std::size_t{kHeaderSize}, w.size() - 8}) {
    SCOPED_TRACE("offset " + std::to_string(offset));
    const int status = fork_and_wait([&] {
      // The default action, even where a sanitizer installed its own handler.
      std::signal(SIGSEGV, SIG_DFL);
      auto r = SegmentReader::open(ns.path());
      if (!r) return 10;
      auto* bytes = const_cast<std::byte*>(r->data());
      *reinterpret_cast<volatile std::uint64_t*>(bytes + offset) = 0x4141414141414141ULL;
      return 0;  // the write went through: the mapping is writable
    });
    ASSERT_TRUE(WIFSIGNALED(status)) << describe_status(status);
    EXPECT_EQ(WTERMSIG(status), SIGSEGV);
  }
  const SegmentReader r = ok(SegmentReader::open(ns.path()));
  EXPECT_EQ(snapshot(r), before);
  EXPECT_TRUE(IsValidSegment(r));
}

TEST(ReadOnlyMapping, WriterMappingInTheSameProcessStaysWritable) {
  // The contrast that makes the test above mean something: the same write
  // through the writer's read-write mapping goes through.
  ScopedNamespace ns;
  auto w = ok(SegmentWriter::create(ns.path(), small_segment()));
  const int status = fork_and_wait([&] {
    auto* bytes = const_cast<std::byte*>(w.data());
    *reinterpret_cast<volatile std::uint64_t*>(bytes + w.size() - 8) = 1;
    return 0;
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << describe_status(status);
}

}  // namespace
}  // namespace shmreg::shm::test
