// libshmreg: the events of a registry, read from the segment without the
// broker.
//
// Every write the broker applies to a registry appends an Event to that
// registry's ring in the segment: a registration, an unregistration, a value
// update, an owner's death, an owner queue's hand-over. Registry::events reads
// the ring from a sequence number on; a Watcher is a cursor over it that
// sleeps on a futex word of the segment until something new lands, so that it
// never misses an event that arrives while it decides to sleep. A reader that
// falls behind the ring is told (EventType::lagged) and resumes after the gap.
//
// Usage:
//   shmreg::Watcher w = registry->watch("db");     // from the next event on
//   while (auto batch = w.next(std::chrono::seconds(1)))
//     for (const shmreg::Event& e : *batch) handle(e);
//
// Thread-safety: a Watcher is not thread-safe; use one per thread. Events are
// plain values.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "shmreg/error.hpp"

namespace shmreg {

namespace client_detail {
struct WatcherState;
}

enum class EventType : std::uint32_t {
  registered = 1,
  unregistered = 2,
  updated = 3,
  owner_died = 4,
  owner_changed = 5,  // an owner queue handed the key over: pid is the new owner, old_pid the previous
  resync = 6,         // the broker repaired the segment after a crash: re-read what you track
  lagged = 1000,      // the watcher fell behind the ring: seq is where it resumes
};

[[nodiscard]] std::string_view to_string(EventType t) noexcept;

struct Event {
  std::uint64_t seq = 0;
  EventType type = EventType::registered;
  std::string key;
  std::uint32_t pid = 0;
  std::uint32_t old_pid = 0;
  std::uint64_t version = 0;
  std::uint64_t time_ns = 0;  // wall clock of the write
};

// Follows one registry's event stream, optionally only one key's events
// (lagged and resync events always pass). Made by Registry::watch.
class Watcher {
 public:
  Watcher(const Watcher&);
  Watcher& operator=(const Watcher&);
  Watcher(Watcher&&) noexcept;
  Watcher& operator=(Watcher&&) noexcept;
  ~Watcher();

  // Waits up to timeout for events and returns those available (possibly none
  // on timeout). A lagged event reports a gap and resumes after it. Fails
  // with segment_replaced, at once even while waiting, when the broker
  // abandons the mapped file: watch from a new Client then.
  [[nodiscard]] Result<std::vector<Event>> next(std::chrono::nanoseconds timeout);
  // The sequence number the next call starts from.
  [[nodiscard]] std::uint64_t position() const noexcept;

 private:
  friend class Registry;
  explicit Watcher(std::unique_ptr<client_detail::WatcherState> state) noexcept;
  std::unique_ptr<client_detail::WatcherState> state_;
};

}  // namespace shmreg
