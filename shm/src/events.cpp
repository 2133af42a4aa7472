// Reader side of the registry event streams (see events.hpp).
#include "shmreg/shm/events.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

#include "shmreg/shm/reader.hpp"

namespace shmreg::shm {

namespace {

const EventHeader* slot_of(const RegistryView& reg, std::uint64_t seq) noexcept {
  const std::uint64_t i = seq & (ReaderAccess::event_capacity(reg) - 1);
  return reinterpret_cast<const EventHeader*>(ReaderAccess::events(reg) + i * ReaderAccess::event_size(reg));
}

std::uint64_t now_ns(clockid_t clock) noexcept {
  timespec ts{};
  ::clock_gettime(clock, &ts);
  return std::uint64_t(ts.tv_sec) * 1'000'000'000ULL + std::uint64_t(ts.tv_nsec);
}

enum class SlotRead { ok, not_yet, overwritten, corrupt };

SlotRead read_slot(const RegistryView& reg, std::uint64_t seq, Event& out) {
  const EventHeader* e = slot_of(reg, seq);
  const std::uint64_t s1 = load_acquire(e->seq);
  if (s1 == kEventWriting || s1 > seq) return SlotRead::overwritten;
  if (s1 < seq) return SlotRead::not_yet;
  const std::uint32_t type = load_relaxed(e->type);
  const std::uint32_t kl = load_relaxed(e->key_len);
  if (kl > reg.max_key()) {
    fence_acquire();
    return load_relaxed(e->seq) == seq ? SlotRead::corrupt : SlotRead::overwritten;
  }
  std::uint64_t words[kMaxKeyLen / 8 + 1];
  racy_copy_words(words, reinterpret_cast<const std::uint64_t*>(e + 1), pad8(kl) / 8);
  out.seq = seq;
  out.type = static_cast<EventType>(type);
  out.pid = load_relaxed(e->pid);
  out.old_pid = load_relaxed(e->old_pid);
  out.version = load_relaxed(e->version);
  out.time_ns = load_relaxed(e->time_ns);
  fence_acquire();
  if (load_relaxed(e->seq) != seq) return SlotRead::overwritten;
  if (type < kEventRegister || type > kEventResync) return SlotRead::corrupt;
  out.key.assign(reinterpret_cast<const char*>(words), kl);
  return SlotRead::ok;
}

}  // namespace

std::string_view to_string(EventType t) noexcept {
  switch (t) {
    case EventType::registered: return "register";
    case EventType::unregistered: return "unregister";
    case EventType::updated: return "update";
    case EventType::owner_died: return "owner_died";
    case EventType::owner_changed: return "owner_changed";
    case EventType::resync: return "resync";
    case EventType::lagged: return "lagged";
  }
  return "unknown";
}

std::uint64_t event_head(const SegmentReader&, const RegistryView& reg) noexcept {
  return load_acquire(ReaderAccess::desc(reg)->event_seq);
}

std::uint32_t change_counter(const SegmentReader&, const RegistryView& reg) noexcept {
  return load_acquire(ReaderAccess::desc(reg)->event_futex);
}

Result<std::vector<Event>> read_events(const SegmentReader& r, const RegistryView& reg, std::uint64_t from,
                                       std::size_t max, std::uint64_t& next) {
  // An abandoned file's ring never grows again: its readers must move on.
  if (r.superseded()) return fail(Errc::superseded);
  std::vector<Event> out;
  if (from == 0) from = 1;
  next = from;
  const std::uint64_t cap = ReaderAccess::event_capacity(reg);
  for (int attempt = 0; attempt < SegmentReader::kMaxAttempts && out.size() < max; ++attempt) {
    const std::uint64_t head = event_head(r, reg);
    if (next > head) break;
    // Older than the ring holds: say so, and resume at the oldest kept event.
    if (head >= cap && next <= head - cap) {
      Event lag;
      lag.type = EventType::lagged;
      lag.seq = head - cap + 1;
      out.push_back(lag);
      next = lag.seq;
      continue;
    }
    while (next <= head && out.size() < max) {
      Event e;
      const SlotRead s = read_slot(reg, next, e);
      if (s == SlotRead::corrupt) return fail(Errc::corrupt);
      if (s == SlotRead::not_yet) break;  // head moved under us; reload it
      if (s == SlotRead::overwritten) break;  // lapped while reading: the outer loop reports lag
      out.push_back(std::move(e));
      ++next;
    }
  }
  return out;
}

bool wait_for_change(const SegmentReader&, const RegistryView& reg, std::uint32_t seen,
                     std::chrono::nanoseconds timeout) noexcept {
  if (timeout.count() <= 0) return load_acquire(ReaderAccess::desc(reg)->event_futex) != seen;
  const std::uint64_t deadline = now_ns(CLOCK_MONOTONIC) + static_cast<std::uint64_t>(timeout.count());
  const auto* word = &ReaderAccess::desc(reg)->event_futex;
  for (;;) {
    if (load_acquire(*word) != seen) return true;
    const std::uint64_t now = now_ns(CLOCK_MONOTONIC);
    if (now >= deadline) return false;
    const std::uint64_t left = deadline - now;
    timespec ts{static_cast<time_t>(left / 1'000'000'000ULL), static_cast<long>(left % 1'000'000'000ULL)};
    // A shared (not private) futex: the writer wakes it from another process.
    const long rc = ::syscall(SYS_futex, word, FUTEX_WAIT, seen, &ts, nullptr, 0);
    if (rc == 0) return true;
    if (errno == EAGAIN) return true;  // the word already differs
    if (errno != EINTR && errno != ETIMEDOUT) return true;
  }
}

Result<bool> await_key(const SegmentReader& r, const RegistryView& reg, std::string_view key,
                       std::chrono::nanoseconds timeout) {
  const std::uint64_t deadline = now_ns(CLOCK_MONOTONIC) + static_cast<std::uint64_t>(std::max<std::int64_t>(0, timeout.count()));
  for (;;) {
    // Counter first, check second: see the file comment in events.hpp.
    const std::uint32_t seen = change_counter(r, reg);
    auto n = r.lookup(reg, key, [](std::span<const EntryView>) {});
    if (!n) return fail(n.error());
    if (*n > 0) return true;
    const std::uint64_t now = now_ns(CLOCK_MONOTONIC);
    if (now >= deadline) return false;
    wait_for_change(r, reg, seen, std::chrono::nanoseconds(deadline - now));
  }
}

}  // namespace shmreg::shm
