// Damage while readers run: the harness of the live corruption suites.
//
// A LiveSegment is the content of build_original(), held read-write by the
// test as the broker holds it. run_live_round() restores it, starts a reader
// child that opens it before any damage, then damages it kDamagesPerRound
// times; after each damage it waits until the child has made two more whole
// passes (so every damaged state is read) and execs one of `shmreg fsck`,
// `shmreg dump`, `shmreg dump --json` on it. A child that stops making passes
// by the deadline is a hang; one that dies by a signal is a crash.
//
// The reader child is the caller's: ReaderChild opens the segment through the
// API under test, and returns the pass to repeat, or an error text. A pass
// returns an empty string, or what it found wrong.
//
// Thread-safety: for the test's main thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <variant>

#include "corruption_damage.hpp"
#include "shmreg/shm/segment.hpp"
#include "test_support.hpp"

namespace shmreg::shm::test {

inline constexpr int kDamagesPerRound = 6;

class LiveSegment {
 public:
  LiveSegment();
  const Original& original() const { return original_; }
  const std::string& ns() const { return ns_.name(); }
  // The segment file, and the socket path that names its directory to the CLI.
  std::string path() const { return ns_.path(); }
  std::string socket() const { return ns_.dir() + "/" + ns_.name() + ".sock"; }
  std::byte* base() const { return seg_.data(); }
  // Puts the undamaged content back.
  void restore() const;

 private:
  ScopedNamespace ns_;
  Original original_;
  MappedSegment seg_;
};

using ReaderPass = std::function<std::string(std::uint64_t pass)>;
// Runs in the child: opens the segment and returns its pass, or why it could not.
using ReaderChild = std::function<std::variant<ReaderPass, std::string>()>;

// One round with the damage seeds round * kDamagesPerRound + 0..5. Returns an
// empty string, or what went wrong with every damage applied so far.
std::string run_live_round(const LiveSegment& s, std::uint64_t round, const ReaderChild& reader);

}  // namespace shmreg::shm::test
