// SegmentFixture: a segment file of the test's own (in a TempDir), with a writer and a read-only
// reader, for the segment-level tests of events and owner queues (no broker).
//
// Thread-safety: for the test's thread (the reader may be shared).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <string>

#include "child_process.hpp"
#include "shmreg/shm/reader.hpp"
#include "shmreg/shm/validate.hpp"
#include "shmreg/shm/writer.hpp"

namespace shmreg::test {

inline std::string unique_ns(const char* what) {
  static std::atomic<int> n{0};
  return std::string("ev") + what + std::to_string(::getpid()) + "-" + std::to_string(n++);
}

inline shm::OwnerIdentity owner(std::uint32_t pid) { return {pid, 1000, shm::kIdentityStartTime, pid * 7ull}; }

class SegmentFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    segment_path_ = dir_.path() + "/" + unique_ns("s") + ".segment";
    auto w = shm::SegmentWriter::create(segment_path_, {.size = 8u << 20});
    ASSERT_TRUE(w) << shm::to_string(w.error());
    writer_.emplace(std::move(*w));
    auto r = shm::SegmentReader::open(segment_path_);
    ASSERT_TRUE(r) << shm::to_string(r.error());
    reader_.emplace(std::move(*r));
  }
  void TearDown() override {
    reader_.reset();
    writer_.reset();
  }
  std::uint32_t make_registry(shm::RegistryKind kind = shm::RegistryKind::unique, std::uint32_t events = 64) {
    shm::RegistrySpec spec;
    spec.name = "r";
    spec.kind = kind;
    spec.capacity = 256;
    spec.event_capacity = events;
    auto id = writer_->create_registry(spec);
    EXPECT_TRUE(id);
    return id ? *id : 0;
  }
  shm::RegistryView view() const { return *reader_->registry("r"); }
  ::testing::AssertionResult consistent() const {
    auto problems = shm::validate(*reader_);
    if (problems.empty()) return ::testing::AssertionSuccess();
    auto r = ::testing::AssertionFailure();
    for (const auto& p : problems) r << p.where << ": " << p.what << "\n";
    return r;
  }

  TempDir dir_;
  std::string segment_path_;  // in dir_, removed with it
  std::optional<shm::SegmentWriter> writer_;
  std::optional<shm::SegmentReader> reader_;
};

}  // namespace shmreg::test
