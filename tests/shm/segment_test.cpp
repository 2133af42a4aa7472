// Segment objects: naming, exclusive creation, opening read-only, the header
// checks of invariant 10 (magic, layout version, ABI signature), and the
// failures of creation (too small, no space in /dev/shm).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/statvfs.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "test_support.hpp"

namespace shmreg::shm::test {
namespace {

// Creates the file `copy` as a byte-for-byte copy of the segment `source`.
void copy_segment(const std::string& source, const std::string& copy) {
  const SegmentReader src = ok(SegmentReader::open(source));
  MappedSegment dst = ok(MappedSegment::create(AT_FDCWD, copy, src.size(), 0600));
  std::memcpy(dst.data(), src.data(), src.size());
}

// Opens the segment file `path` read-write, raw, and lets `edit` change its header.
void edit_header(const std::string& path, const std::function<void(SegmentHeader&)>& edit) {
  MappedSegment seg = ok(MappedSegment::open(path, MappedSegment::Access::read_write));
  edit(*reinterpret_cast<SegmentHeader*>(seg.data()));
}

class HeaderCheck : public ::testing::Test {
 protected:
  void SetUp() override {
    auto w = ok(SegmentWriter::create(source_.path(), small_segment(std::size_t{2} << 20, 64)));
    const auto reg = ok(w.create_registry(spec("svc")));
    ok(w.insert(reg, "k", "v", owner(10)));
    copy_segment(source_.path(), copy_.path());
  }
  // Both the reader and the writer refuse the copy with the same error.
  static void expect_refused(const std::string& path, Errc want) {
    EXPECT_EQ(error_of(SegmentReader::open(path)), want);
    EXPECT_EQ(error_of(SegmentWriter::attach(path)), want);
  }
  void expect_refused(Errc want) { expect_refused(copy_.path(), want); }
  ScopedNamespace source_, copy_;
};

TEST(SegmentCreate, CreatedSegmentOpensReadOnlyWithFormattedHeader) {
  ScopedNamespace ns;
  auto w = ok(SegmentWriter::create(ns.path(), small_segment(std::size_t{4} << 20, 128)));
  const SegmentReader r = ok(SegmentReader::open(ns.path()));
  const HeaderInfo h = r.header();
  EXPECT_EQ(h.layout_version, kLayoutVersion);
  EXPECT_EQ(h.abi_signature, abi_signature());
  EXPECT_EQ(h.segment_size, std::uint64_t{4} << 20);
  EXPECT_EQ(r.size(), std::size_t{4} << 20);
  EXPECT_EQ(h.generation, 1u);
  EXPECT_EQ(h.commit_seq, 0u);
  EXPECT_EQ(h.writer_pid, static_cast<std::uint32_t>(::getpid()));
  EXPECT_EQ(h.txn_state, kTxnIdle);
  EXPECT_EQ(h.registry_count, 0u);
  EXPECT_EQ(h.owner_capacity, 128u);
  EXPECT_EQ(h.owner_count, 0u);
  EXPECT_EQ(h.arena_used, 0u);
  EXPECT_GT(h.arena_size, 0u);
  EXPECT_LT(h.arena_size, h.segment_size);
  EXPECT_GT(h.created_unix_ns, 0u);
  EXPECT_TRUE(ok(r.registries()).empty());
  EXPECT_TRUE(ok(r.owners()).empty());
  EXPECT_TRUE(IsValidSegment(r));
}

TEST(SegmentCreate, ReaderMappingIsReadOnlyAndShared) {
  ScopedNamespace ns;
  auto w = ok(SegmentWriter::create(ns.path(), small_segment()));
  const SegmentReader r = ok(SegmentReader::open(ns.path()));
  const auto addr = reinterpret_cast<std::uintptr_t>(r.data());
  std::ifstream maps("/proc/self/maps");
  std::string line, perms;
  while (std::getline(maps, line)) {
    std::istringstream in(line);
    std::string range;
    in >> range >> perms;
    const auto dash = range.find('-');
    const auto lo = std::stoull(range.substr(0, dash), nullptr, 16);
    const auto hi = std::stoull(range.substr(dash + 1), nullptr, 16);
    if (addr >= lo && addr < hi) break;
    perms.clear();
  }
  EXPECT_EQ(perms, "r--s") << "the reader's mapping must be PROT_READ and MAP_SHARED";
}

TEST(SegmentCreate, ExclusiveCreateFailsWithSegmentExistsAndKeepsTheFirst) {
  ScopedNamespace ns;
  auto w = ok(SegmentWriter::create(ns.path(), small_segment()));
  const auto reg = ok(w.create_registry(spec("svc")));
  ok(w.insert(reg, "k", "v", owner(10)));
  EXPECT_EQ(error_of(SegmentWriter::create(ns.path(), small_segment())), Errc::segment_exists);
  EXPECT_EQ(error_of(MappedSegment::create(AT_FDCWD, ns.path(), kMinSegmentSize, 0600)), Errc::segment_exists);
  const SegmentReader r = ok(SegmentReader::open(ns.path()));
  std::string value;
  EXPECT_TRUE(ok(r.lookup_value(ok(r.registry("svc")), "k", value)));
  EXPECT_EQ(value, "v");
  EXPECT_TRUE(IsValidSegment(r));
}

TEST(SegmentCreate, BadNamespaceNameIsRefusedWithInvalidArgument) {
  const std::string too_long(65, 'a');
  for (const std::string& bad : {std::string(), std::string(".hidden"), std::string("a/b"), std::string("sp ace"),
                                std::string("t\xc3\xbc"), std::string("nul\0x", 5), too_long}) {
    SCOPED_TRACE("namespace '" + bad + "'");
    EXPECT_EQ(error_of(validate_namespace(bad)), Errc::invalid_argument);
  }
  for (const std::string& good : {std::string(64, 'z'), std::string("a.b-c_D9"), std::string("x")})
    EXPECT_TRUE(validate_namespace(good).has_value()) << good;
}

TEST(SegmentCreate, OpenOfMissingSegmentFailsWithSegmentNotFound) {
  ScopedNamespace ns;
  EXPECT_EQ(error_of(SegmentReader::open(ns.path())), Errc::segment_not_found);
  EXPECT_EQ(error_of(SegmentWriter::attach(ns.path())), Errc::segment_not_found);
  EXPECT_EQ(error_of(MappedSegment::remove(ns.path())), Errc::segment_not_found);
}

TEST(SegmentCreate, TooSmallSizeOrTooManyOwnersIsInvalidArgumentAndCreatesNothing) {
  ScopedNamespace ns;
  EXPECT_EQ(error_of(SegmentWriter::create(ns.path(), small_segment(kMinSegmentSize - 1))), Errc::invalid_argument);
  EXPECT_EQ(error_of(SegmentWriter::create(ns.path(), small_segment(0))), Errc::invalid_argument);
  EXPECT_EQ(error_of(MappedSegment::create(AT_FDCWD, ns.path(), 4096, 0600)), Errc::invalid_argument);
  // The owner table alone would fill the segment.
  EXPECT_EQ(error_of(SegmentWriter::create(ns.path(), small_segment(kMinSegmentSize, 1u << 14))),
            Errc::invalid_argument);
  EXPECT_EQ(error_of(SegmentWriter::create(ns.path(), small_segment(kMinSegmentSize, 0))), Errc::invalid_argument);
  EXPECT_EQ(error_of(SegmentWriter::create(ns.path(), small_segment(std::size_t{64} << 20, (1u << 22) + 1))),
            Errc::invalid_argument);
  EXPECT_EQ(error_of(SegmentReader::open(ns.path())), Errc::segment_not_found);
  // The smallest valid segment works.
  auto w = ok(SegmentWriter::create(ns.path(), small_segment(kMinSegmentSize, 1)));
  EXPECT_TRUE(IsValidSegment(ok(SegmentReader::open(ns.path()))));
}

TEST(SegmentCreate, SizeBeyondItsTmpfsFailsWithNoSpaceAndLeavesNoFile) {
  // Only tmpfs refuses a size beyond itself at once; a disk file system
  // would fill up first, for everyone.
  const std::string base = tmpfs_base();
  if (base.empty()) GTEST_SKIP() << "no tmpfs to create the segment in";
  struct statvfs fs {};
  ASSERT_EQ(::statvfs(base.c_str(), &fs), 0);
  if (fs.f_blocks == 0) GTEST_SKIP() << base << " has no size limit: no size is sure to fail without filling memory";
  const std::uint64_t free_bytes = std::uint64_t{fs.f_bavail} * fs.f_frsize;
  const std::uint64_t total_bytes = std::uint64_t{fs.f_blocks} * fs.f_frsize;
  // Past the size of the whole file system, not just its free space: tmpfs
  // then refuses at once instead of filling memory for other processes.
  const std::uint64_t size = std::max(free_bytes, total_bytes) + (std::uint64_t{64} << 20);
  ScopedNamespace ns(base);
  EXPECT_EQ(error_of(SegmentWriter::create(ns.path(), small_segment(size))), Errc::no_space);
  EXPECT_EQ(error_of(MappedSegment::create(AT_FDCWD, ns.path(), size, 0600)), Errc::no_space);
  EXPECT_EQ(error_of(MappedSegment::open(ns.path(), MappedSegment::Access::read_only)), Errc::segment_not_found);
  EXPECT_EQ(error_of(SegmentReader::open(ns.path())), Errc::segment_not_found);
}

TEST(SegmentCreate, RemoveMakesTheNameFreeWhileMappingsStayValid) {
  ScopedNamespace ns;
  auto w = ok(SegmentWriter::create(ns.path(), small_segment()));
  const auto reg = ok(w.create_registry(spec("svc")));
  const SegmentReader r = ok(SegmentReader::open(ns.path()));
  ok(MappedSegment::remove(ns.path()));
  EXPECT_EQ(error_of(SegmentReader::open(ns.path())), Errc::segment_not_found);
  ok(w.insert(reg, "k", "after-remove", owner(10)));
  std::string value;
  EXPECT_TRUE(ok(r.lookup_value(ok(r.registry("svc")), "k", value)));
  EXPECT_EQ(value, "after-remove");
  auto again = ok(SegmentWriter::create(ns.path(), small_segment()));
  EXPECT_EQ(error_of(ok(SegmentReader::open(ns.path())).registry("svc")), Errc::registry_not_found);
}

TEST(SegmentCreate, ObjectSmallerThanHeaderIsRefusedAsTruncated) {
  ScopedNamespace ns;
  const int fd = ::open(ns.path().c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 100), 0);
  ::close(fd);
  EXPECT_EQ(error_of(SegmentReader::open(ns.path())), Errc::segment_truncated);
  EXPECT_EQ(error_of(SegmentWriter::attach(ns.path())), Errc::segment_truncated);
}

TEST(SegmentCreate, ObjectOfZeroesIsRefusedWithBadMagic) {
  ScopedNamespace ns;
  { auto raw = ok(MappedSegment::create(AT_FDCWD, ns.path(), kMinSegmentSize, 0600)); }
  EXPECT_EQ(error_of(SegmentReader::open(ns.path())), Errc::bad_magic);
  EXPECT_EQ(error_of(SegmentWriter::attach(ns.path())), Errc::bad_magic);
}

TEST_F(HeaderCheck, UnmodifiedCopyOpens) {
  const SegmentReader r = ok(SegmentReader::open(copy_.path()));
  EXPECT_TRUE(IsValidSegment(r));
  std::string value;
  EXPECT_TRUE(ok(r.lookup_value(ok(r.registry("svc")), "k", value)));
  EXPECT_EQ(value, "v");
}

TEST_F(HeaderCheck, CorruptMagicIsRefusedWithBadMagic) {
  edit_header(copy_.path(), [](SegmentHeader& h) { h.magic ^= 1; });
  expect_refused(Errc::bad_magic);
}

TEST_F(HeaderCheck, OtherLayoutVersionIsRefusedWithVersionMismatch) {
  edit_header(copy_.path(), [](SegmentHeader& h) { h.layout_version = kLayoutVersion + 1; });
  expect_refused(Errc::version_mismatch);
}

TEST_F(HeaderCheck, OtherAbiSignatureIsRefusedWithAbiMismatch) {
  edit_header(copy_.path(), [](SegmentHeader& h) { h.abi_signature ^= std::uint64_t{1} << 40; });
  expect_refused(Errc::abi_mismatch);
}

TEST_F(HeaderCheck, OtherHeaderSizeIsRefusedWithAbiMismatch) {
  edit_header(copy_.path(), [](SegmentHeader& h) { h.header_size = 2048; });
  expect_refused(Errc::abi_mismatch);
}

TEST_F(HeaderCheck, SegmentSizeThatDiffersFromTheObjectIsRefusedAsTruncated) {
  edit_header(copy_.path(), [](SegmentHeader& h) { h.segment_size += 4096; });
  expect_refused(Errc::segment_truncated);
}

TEST_F(HeaderCheck, TableOffsetsOutsideTheSegmentAreRefusedAsCorrupt) {
  const std::vector<std::function<void(SegmentHeader&)>> edits = {
      [](SegmentHeader& h) { h.registry_dir_offset = 0; },
      [](SegmentHeader& h) { h.registry_capacity = kMaxRegistries + 1; },
      [](SegmentHeader& h) { h.owner_table_offset = 64; },
      [](SegmentHeader& h) { h.owner_table_offset += 8; },
      [](SegmentHeader& h) { h.owner_table_offset = ~std::uint64_t{63}; },
      [](SegmentHeader& h) { h.owner_table_offset = h.segment_size; },
      [](SegmentHeader& h) { h.owner_capacity = 0; },
      [](SegmentHeader& h) { h.owner_capacity = 0xffffffffu; },
      [](SegmentHeader& h) { h.arena_offset = h.segment_size + 4096; },
      [](SegmentHeader& h) { h.arena_offset = h.owner_table_offset; },
      [](SegmentHeader& h) { h.arena_size = h.segment_size; },
      [](SegmentHeader& h) { h.arena_size = ~std::uint64_t{0}; },
  };
  for (std::size_t i = 0; i < edits.size(); ++i) {
    SCOPED_TRACE("edit #" + std::to_string(i));
    ScopedNamespace copy;
    copy_segment(source_.path(), copy.path());
    edit_header(copy.path(), edits[i]);
    expect_refused(copy.path(), Errc::corrupt);
  }
}

TEST(SegmentAttach, AttachOfACleanSegmentBumpsGenerationWithoutRepair) {
  ScopedNamespace ns;
  {
    auto w = ok(SegmentWriter::create(ns.path(), small_segment()));
    EXPECT_EQ(w.generation(), 1u);
    EXPECT_FALSE(w.repaired_at_attach());
  }
  auto w = ok(SegmentWriter::attach(ns.path()));
  EXPECT_EQ(w.generation(), 2u);
  EXPECT_FALSE(w.repaired_at_attach());
  EXPECT_EQ(ok(SegmentReader::open(ns.path())).header().generation, 2u);
}

TEST(Errors, EveryErrcHasItsOwnText) {
  std::vector<std::string_view> seen;
  for (int e = static_cast<int>(Errc::segment_not_found); e <= static_cast<int>(Errc::retry_exhausted); ++e) {
    const std::string_view text = to_string(static_cast<Errc>(e));
    EXPECT_NE(text, "unknown error") << "Errc " << e;
    EXPECT_EQ(std::count(seen.begin(), seen.end(), text), 0) << text;
    seen.push_back(text);
  }
  EXPECT_EQ(to_string(static_cast<Errc>(200)), "unknown error");
}

}  // namespace
}  // namespace shmreg::shm::test
