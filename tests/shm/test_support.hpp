// Helpers shared by the shm test suites.
//
// - ScopedNamespace: a namespace of the test's own ("t<pid>-<n>") whose segment
//   is removed when the test ends, however it ends.
// - ok(): unwraps a Result or fails the test with the error's text (it throws,
//   which GoogleTest reports as a failure and which still runs destructors).
// - error_of(): the Errc of a Result, or nullopt, printable by GoogleTest.
// - IsValidSegment(): validate() as an assertion that lists every problem.
// - Snapshot: every registry's entries and the owner table, as plain values,
//   for comparing a segment with a model or with another segment.
// - fork_and_wait(): runs a function in a child process and returns its status.
//
// Thread-safety: the helpers are for the test's main thread, except
// unique_namespace(), which any thread may call.
#pragma once

#include <gtest/gtest.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <ostream>
#include <source_location>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "shmreg/shm/reader.hpp"
#include "shmreg/shm/segment.hpp"
#include "shmreg/shm/validate.hpp"
#include "shmreg/shm/writer.hpp"

namespace shmreg::shm {

// Found by GoogleTest through ADL, so that failures print "segment already
// exists (2)" instead of a byte dump.
inline void PrintTo(Errc e, std::ostream* os) { *os << to_string(e) << " (" << static_cast<int>(e) << ")"; }

}  // namespace shmreg::shm

namespace shmreg::shm::test {

inline std::string unique_namespace() {
  static std::atomic<unsigned> counter{0};
  return "t" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1));
}

// A segment file of the test's own: "<name>.segment" in a fresh mkdtemp
// directory, removed with everything in it at the end.
class ScopedNamespace {
 public:
  explicit ScopedNamespace(const std::string& base = std::filesystem::temp_directory_path().string())
      : name_(unique_namespace()) {
    std::string tmpl = base + "/shmreg-shm-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
  }
  ~ScopedNamespace() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  ScopedNamespace(const ScopedNamespace&) = delete;
  ScopedNamespace& operator=(const ScopedNamespace&) = delete;

  const std::string& name() const { return name_; }
  const std::string& dir() const { return dir_; }
  std::string path() const { return dir_ + "/" + name_ + ".segment"; }

 private:
  std::string name_;
  std::string dir_;
};

// A writable tmpfs directory (where segments live in production), or "".
inline std::string tmpfs_base() {
  for (const char* candidate : {static_cast<const char*>(std::getenv("XDG_RUNTIME_DIR")), "/dev/shm"}) {
    struct statfs fs {};
    if (candidate != nullptr && ::statfs(candidate, &fs) == 0 && fs.f_type == TMPFS_MAGIC &&
        ::access(candidate, W_OK) == 0)
      return candidate;
  }
  return {};
}

template <class T>
std::optional<Errc> error_of(const std::expected<T, Errc>& r) {
  if (r) return std::nullopt;
  return r.error();
}

template <class T>
T ok(std::expected<T, Errc> r, std::source_location loc = std::source_location::current()) {
  if (!r) {
    ADD_FAILURE_AT(loc.file_name(), static_cast<int>(loc.line())) << "unexpected error: " << to_string(r.error());
    throw std::runtime_error("unexpected shm error: " + std::string(to_string(r.error())));
  }
  if constexpr (!std::is_void_v<T>) return std::move(*r);
}

inline ::testing::AssertionResult IsValidSegment(const SegmentReader& reader) {
  const std::vector<Problem> problems = validate(reader);
  if (problems.empty()) return ::testing::AssertionSuccess();
  auto failure = ::testing::AssertionFailure();
  failure << problems.size() << " problem(s):";
  for (const Problem& p : problems) failure << "\n  " << p.where << ": " << p.what;
  return failure;
}

// An owner as the broker would describe it; the identity is derived from the
// pid unless given, so that the same pid means the same process by default.
inline OwnerIdentity owner(std::uint32_t pid, std::uint64_t identity = 0) {
  return OwnerIdentity{pid, 1000, kIdentityStartTime, identity != 0 ? identity : std::uint64_t{pid} * 7919 + 1};
}

// A segment small enough to create fast, big enough for the unit tests.
inline CreateOptions small_segment(std::size_t size = std::size_t{8} << 20, std::uint32_t owner_capacity = 256) {
  CreateOptions o;
  o.size = size;
  o.owner_capacity = owner_capacity;
  o.mode = 0600;
  return o;
}

inline RegistrySpec spec(std::string name, RegistryKind kind = RegistryKind::unique, std::uint32_t partitions = 1,
                         std::uint32_t capacity = 64, std::uint32_t max_key = 64, std::uint32_t max_value = 128) {
  RegistrySpec s;
  s.name = std::move(name);
  s.kind = kind;
  s.partitions = partitions;
  s.capacity = capacity;
  s.max_key = max_key;
  s.max_value = max_value;
  return s;
}

// One entry as a comparable value, without its version (versions come from a
// segment-wide counter, so two segments given the same operations differ).
struct Row {
  std::string registry;
  std::string key;
  std::string value;
  std::uint32_t pid = 0;
  friend auto operator<=>(const Row&, const Row&) = default;
  friend std::ostream& operator<<(std::ostream& os, const Row& r) {
    return os << r.registry << "/" << r.key << "=" << r.value << " (pid " << r.pid << ")";
  }
};

struct OwnerRow {
  std::uint32_t pid = 0;
  std::uint32_t entry_count = 0;
  friend auto operator<=>(const OwnerRow&, const OwnerRow&) = default;
  friend std::ostream& operator<<(std::ostream& os, const OwnerRow& o) {
    return os << "pid " << o.pid << " x" << o.entry_count;
  }
};

struct Snapshot {
  std::vector<Row> rows;  // sorted
  std::vector<OwnerRow> owners;  // sorted
  // Each registry with its meta pairs (as stored), sorted by name.
  std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> registries;
  friend bool operator==(const Snapshot&, const Snapshot&) = default;
  friend std::ostream& operator<<(std::ostream& os, const Snapshot& s) {
    os << "{";
    for (const auto& [name, meta] : s.registries) {
      os << " " << name << "[";
      for (const auto& [k, v] : meta) os << k << "=" << v << ";";
      os << "]";
    }
    os << " |";
    for (const Row& r : s.rows) os << " " << r;
    os << " | owners:";
    for (const OwnerRow& o : s.owners) os << " " << o;
    return os << " }";
  }
};

// Every registry with its meta, every entry through for_each, and the owner table.
inline Snapshot snapshot(const SegmentReader& reader) {
  Snapshot s;
  for (const RegistryView& reg : ok(reader.registries())) {
    s.registries.emplace_back(std::string(reg.name()), ok(reader.meta(reg)));
    ok(reader.for_each(reg, [&](const Entry& e) {
      s.rows.push_back({std::string(reg.name()), e.key, e.value, e.pid});
    }));
  }
  for (const OwnerInfo& o : ok(reader.owners())) s.owners.push_back({o.pid, o.entry_count});
  std::sort(s.rows.begin(), s.rows.end());
  std::sort(s.owners.begin(), s.owners.end());
  std::sort(s.registries.begin(), s.registries.end());
  return s;
}

// Runs child() in a forked child, which ends with _exit(child()); returns the
// wait status. The child must not return into GoogleTest.
inline int fork_and_wait(const std::function<int()>& child) {
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int code = 1;
    try {
      code = child();
    } catch (...) {
      code = 3;
    }
    ::_exit(code);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw std::runtime_error("waitpid failed");
  }
  return status;
}

inline std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

// The base of most unit tests: one fresh segment, its writer and a reader
// with its own read-only mapping.
class SegmentFixture : public ::testing::Test {
 protected:
  void SetUp() override { create(small_segment()); }

  void create(const CreateOptions& options) {
    reader_.reset();
    writer_.reset();
    (void)MappedSegment::remove(ns_.path());
    writer_.emplace(ok(SegmentWriter::create(ns_.path(), options)));
    reader_.emplace(ok(SegmentReader::open(ns_.path())));
  }

  // A new writer on the same segment (as after a broker restart) whose freed
  // records wait `grace` before reuse; the reader's mapping stays.
  void attach_with_grace(std::chrono::nanoseconds grace) {
    WriterOptions o;
    o.grace = grace;
    writer_.reset();
    writer_.emplace(ok(SegmentWriter::attach(ns_.path(), o)));
  }

  SegmentWriter& w() { return *writer_; }
  const SegmentReader& r() { return *reader_; }
  RegistryView view(std::string_view name) { return ok(reader_->registry(name)); }

  // The value under a unique key, or nullopt.
  std::optional<std::string> value_of(const RegistryView& reg, std::string_view key, std::uint32_t* pid = nullptr) {
    std::string value;
    if (ok(reader_->lookup_value(reg, key, value, pid))) return value;
    return std::nullopt;
  }

  ScopedNamespace ns_;
  std::optional<SegmentWriter> writer_;
  std::optional<SegmentReader> reader_;
};

}  // namespace shmreg::shm::test
