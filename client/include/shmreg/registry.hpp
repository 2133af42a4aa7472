// libshmreg: a Registry, the read side of one named registry of the segment.
//
// Every call here reads the shared memory that the Client mapped: no syscall,
// no round trip to the broker, and it keeps working while the broker is down.
// Reads validate optimistically and retry when a concurrent write tore them,
// so a caller never sees a half-written entry. A lookup may for a moment
// still show the entries of an owner that has just died;
// Client::lookup_consistent asks the broker instead.
//
// If the segment's file is removed while the broker runs, the broker serves
// a new file and marks the old one: every call here (and every wait, and
// every write of the Client) then fails with segment_replaced, and a new
// Client::open reaches the new file.
//
// Queries follow Elixir's Registry: match, count_match, select, count_select
// and dispatch take patterns, guards and specs as JSON text (docs/queries.md);
// a malformed one fails with invalid_argument and the reason, never as a
// silent no-match.
//
// Usage:
//   auto services = client->registry("services");
//   auto entries = services->lookup("db");            // copies
//   services->lookup("db", [](std::span<const shmreg::EntryView> views) {
//     for (const auto& v : views) use(v.value);        // zero-copy, in place
//   });
//
// Thread-safety: a Registry is immutable after creation; any number of
// threads may use the same one at once. It keeps its Client's mapping alive.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "shmreg/error.hpp"
#include "shmreg/events.hpp"

namespace shmreg {

namespace client_detail {
struct RegistryState;
}

// pid 0 is a static entry: owned by the namespace, not by a process
// (Client::set_static); it is never reaped. host is empty for an owner on
// this host; on a cluster registry it names the host of a remote owner
// (pid is then that process's pid on its host; docs/cluster.md).
struct Entry {
  std::string key;
  std::string value;
  std::uint32_t pid = 0;
  std::uint64_t version = 0;
  std::string host{};
  friend bool operator==(const Entry&, const Entry&) = default;
};

// A zero-copy view into the segment; valid only inside the callback.
struct EntryView {
  std::string_view key;
  std::string_view value;
  std::uint32_t pid = 0;  // 0: a static entry, as Entry
  std::uint64_t version = 0;
  std::string_view host{};  // as Entry::host
};

// Registry::dispatch: with parallel, the calls for different partitions run on
// threads of their own at once (fn must allow that); else one after another.
struct DispatchOptions {
  bool parallel = false;
};

class Registry {
 public:
  Registry(const Registry&);
  Registry& operator=(const Registry&);
  Registry(Registry&&) noexcept;
  Registry& operator=(Registry&&) noexcept;
  ~Registry();

  [[nodiscard]] std::string_view name() const noexcept;
  [[nodiscard]] bool unique() const noexcept;
  [[nodiscard]] std::uint32_t partitions() const noexcept;

  // -- Lookups --
  // All entries under key (none, or one on a unique registry), copied out.
  [[nodiscard]] Result<std::vector<Entry>> lookup(std::string_view key) const noexcept;
  // Zero-copy: fn(std::span<const EntryView>) sees the entries in place. If a
  // concurrent write tore the views, fn runs again with fresh ones. Returns the
  // number of entries fn last saw.
  template <class F>
  [[nodiscard]] Result<std::size_t> lookup(std::string_view key, F&& fn) const noexcept {
    return lookup_views(key, &invoke<std::remove_reference_t<F>>, &fn);
  }
  // The value under a unique key, or std::nullopt.
  [[nodiscard]] Result<std::optional<std::string>> lookup_value(std::string_view key) const noexcept;
  // The same into the caller's string, whose room is reused: a loop of
  // lookups allocates only when a value outgrows it. true: out holds the
  // value; false (no such key): out is empty; on an error, out is unspecified.
  [[nodiscard]] Result<bool> lookup_value(std::string_view key, std::string& out) const noexcept;
  // Many keys in one call, pipelined in the segment so that the memory
  // misses of many lookups overlap (docs/queries.md, "Batches"):
  // fn(std::size_t i, std::span<const EntryView>) runs for each keys[i] in
  // order with what lookup(keys[i], fn) shows, an empty span when there is no
  // entry; it may run again for the same i if a write tore its views.
  // Returns how many keys had entries; an error stops at the key that failed.
  template <class F>
  [[nodiscard]] Result<std::size_t> lookup_batch(std::span<const std::string_view> keys, F&& fn) const noexcept {
    return lookup_batch_views(keys, &invoke_batch<std::remove_reference_t<F>>, &fn);
  }
  // The values of many unique keys, pipelined as lookup_batch: out[i] is the
  // value under keys[i] or std::nullopt; out is resized to keys.size(), and
  // the room of the strings it holds is reused. Returns how many were found.
  [[nodiscard]] Result<std::size_t> lookup_values(std::span<const std::string_view> keys,
                                                  std::vector<std::optional<std::string>>& out) const noexcept;
  [[nodiscard]] Result<std::vector<std::string>> keys(std::uint32_t pid) const noexcept;
  [[nodiscard]] Result<std::vector<Entry>> values(std::string_view key, std::uint32_t pid) const noexcept;
  [[nodiscard]] Result<std::uint64_t> count() const noexcept;
  // Every entry, read without the broker. Not a snapshot, but exact for what
  // stays: an entry present throughout the call is listed exactly once, even
  // while its value is updated; one added or removed meanwhile may or may not be.
  [[nodiscard]] Result<std::vector<Entry>> list() const noexcept;
  // The entries under key whose value matches pattern and guards ("_": all).
  [[nodiscard]] Result<std::vector<Entry>> match(std::string_view key, std::string_view pattern,
                                                 std::string_view guards = {}) const noexcept;
  [[nodiscard]] Result<std::uint64_t> count_match(std::string_view key, std::string_view pattern,
                                                  std::string_view guards = {}) const noexcept;
  // Every entry run through a select spec: one JSON text per matching entry,
  // in no particular order.
  [[nodiscard]] Result<std::vector<std::string>> select(std::string_view spec) const noexcept;
  // The number of results select(spec) would give.
  [[nodiscard]] Result<std::uint64_t> count_select(std::string_view spec) const noexcept;
  // Runs fn(std::span<const EntryView>) in the caller over the entries under
  // key, zero-copy: once per partition holding some, where a duplicate entry's
  // partition is its owner's pid % partitions() (a unique key: one call).
  // Never called when key has no entries. If a concurrent write tore the
  // views, fn runs again over fresh ones. Returns how many entries fn last saw.
  template <class F>
  [[nodiscard]] Result<std::size_t> dispatch(std::string_view key, F&& fn,
                                             DispatchOptions options = {}) const noexcept {
    return dispatch_views(key, &invoke<std::remove_reference_t<F>>, &fn, options);
  }

  // -- Owner queues (unique registries) --
  // The primary owner of key first, then the processes waiting for it, in order.
  [[nodiscard]] Result<std::vector<Entry>> owner_queue(std::string_view key) const noexcept;

  // -- Meta --
  // The registry's meta pairs.
  [[nodiscard]] Result<std::vector<std::pair<std::string, std::string>>> meta() const noexcept;
  // One meta value, or std::nullopt.
  [[nodiscard]] Result<std::optional<std::string>> meta(std::string_view key) const noexcept;

  // -- Events (shmreg/events.hpp) --
  // The sequence of the newest event (0: none yet). Watch from head() + 1 to
  // see only what happens from now on.
  [[nodiscard]] Result<std::uint64_t> event_head() const noexcept;
  // Events from sequence `from` on, at most `max`, without waiting. If `from`
  // is older than the ring keeps, the first event is EventType::lagged with
  // the sequence to resync from. `next` receives where to continue.
  [[nodiscard]] Result<std::vector<Event>> events(std::uint64_t from, std::size_t max,
                                                  std::uint64_t& next) const noexcept;
  // Waits until key is registered: true as soon as it is (at once if it
  // already is), false on timeout. Never misses a registration that lands
  // while it is deciding to sleep. Woken to fail with segment_replaced when
  // the broker abandons the mapped file.
  [[nodiscard]] Result<bool> await(std::string_view key, std::chrono::nanoseconds timeout) const noexcept;
  // A cursor over this registry's events, optionally only those of one key,
  // from sequence `from` (default: the next event to come).
  [[nodiscard]] Watcher watch(std::optional<std::string> key = std::nullopt,
                              std::optional<std::uint64_t> from = std::nullopt) const noexcept;

 private:
  friend class Client;
  explicit Registry(std::unique_ptr<client_detail::RegistryState> state) noexcept;
  using ViewFn = void (*)(void*, std::span<const EntryView>);
  template <class F>
  static void invoke(void* f, std::span<const EntryView> views) {
    (*static_cast<F*>(f))(views);
  }
  [[nodiscard]] Result<std::size_t> lookup_views(std::string_view key, ViewFn fn, void* ctx) const noexcept;
  using BatchFn = void (*)(void*, std::size_t, std::span<const EntryView>);
  template <class F>
  static void invoke_batch(void* f, std::size_t i, std::span<const EntryView> views) {
    (*static_cast<F*>(f))(i, views);
  }
  [[nodiscard]] Result<std::size_t> lookup_batch_views(std::span<const std::string_view> keys, BatchFn fn,
                                                       void* ctx) const noexcept;
  [[nodiscard]] Result<std::size_t> dispatch_views(std::string_view key, ViewFn fn, void* ctx,
                                                   DispatchOptions options) const noexcept;
  std::unique_ptr<client_detail::RegistryState> state_;
};

}  // namespace shmreg
