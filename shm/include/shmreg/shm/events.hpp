// Registry event streams: watch and await without asking the broker.
//
// Each registry has a ring of fixed-size event slots in the segment. The
// writer appends one event per change (register, unregister, update,
// owner-died, owner-changed) with a sequence number that starts at 1 and never
// repeats, then bumps the registry's 32-bit futex word and wakes its waiters.
// Readers follow the ring on their own; a reader that falls more than a ring
// behind is told so (lagged, with the oldest sequence still held) instead of
// being silently skipped ahead.
//
// Why await cannot miss a registration: await reads the futex word, THEN
// checks for the key, THEN sleeps only if the word still holds the value read
// first. The writer publishes the entry before it bumps the word, so a
// registration that lands between the check and the sleep changes the word
// and the sleep returns at once.
//
// Thread-safety: the functions here are const reads of the segment; any thread
// of any process may call them concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shmreg/shm/errc.hpp"
#include "shmreg/shm/layout.hpp"

namespace shmreg::shm {

class SegmentReader;
class RegistryView;

enum class EventType : std::uint32_t {
  registered = kEventRegister,
  unregistered = kEventUnregister,
  updated = kEventUpdate,
  owner_died = kEventOwnerDied,
  owner_changed = kEventOwnerChanged,
  resync = kEventResync,  // the broker repaired the segment after a crash: re-read state
  lagged = 1000,          // not in the ring: the reader fell behind (see Event::seq)
};

std::string_view to_string(EventType t) noexcept;

struct Event {
  std::uint64_t seq = 0;  // for `lagged`: the oldest sequence still in the ring
  EventType type = EventType::registered;
  std::string key;
  std::uint32_t pid = 0;      // the owner (owner_changed: the new owner)
  std::uint32_t old_pid = 0;  // owner_changed: the previous owner
  std::uint64_t version = 0;  // the entry's version after the event (0 on removals)
  std::uint64_t time_ns = 0;  // CLOCK_REALTIME at the write
};

// Reads events of `reg` starting at sequence `from` (>= 1), at most `max`.
// If `from` has been overwritten, the first element is a `lagged` event whose
// seq is the sequence to resync from, and reading continues there.
// `next` receives the sequence to pass as `from` next time. Fails with
// superseded once the broker has abandoned the file (its waiters are woken
// then, so a watcher learns it at once).
Result<std::vector<Event>> read_events(const SegmentReader& r, const RegistryView& reg, std::uint64_t from,
                                       std::size_t max, std::uint64_t& next);

// The newest published sequence of `reg` (0: none yet).
std::uint64_t event_head(const SegmentReader& r, const RegistryView& reg) noexcept;

// The registry's futex word. Read it before checking state; pass it to
// wait_for_change to sleep until something changes.
std::uint32_t change_counter(const SegmentReader& r, const RegistryView& reg) noexcept;

// Sleeps until the futex word differs from `seen` or the timeout passes.
// Returns true if it changed (or may have: spurious wakeups are allowed),
// false on timeout.
bool wait_for_change(const SegmentReader& r, const RegistryView& reg, std::uint32_t seen,
                     std::chrono::nanoseconds timeout) noexcept;

// Returns true as soon as `key` is registered in `reg` (at once if it already
// is), false when the timeout passes first, superseded as soon as the broker
// abandons the file.
Result<bool> await_key(const SegmentReader& r, const RegistryView& reg, std::string_view key,
                       std::chrono::nanoseconds timeout);

}  // namespace shmreg::shm
