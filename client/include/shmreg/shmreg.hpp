// libshmreg: the public C++ API of shmreg.
//
// A Client maps one namespace's registry segment read-only. Lookups read that
// shared memory directly: no syscall, no round trip to the broker, and they
// keep working while the broker is down. A Registry is a cheap handle to one
// named registry of the segment. Writes (create_registry, register_key,
// unregister...) go to the broker over its Unix socket, connected on the first
// write and reconnected with backoff after a broker restart. A write returns
// only once every reader on the host can see its effect. Entries belong to the
// calling process: they stay until it unregisters them or exits (or is
// killed), whatever happens to the connection.
//
// Errors: nothing here throws. Every call returns shmreg::Result<T>, a
// std::expected carrying an shmreg::Error on failure.
//
// Thread-safety: Client and Registry are immutable after creation; any number
// of threads may use the same objects at once. A Registry keeps its Client's
// mapping alive.
//
// Usage:
//   auto client = shmreg::Client::open();            // SHMREG_NAMESPACE or "default"
//   if (!client) { std::cerr << client.error().message; return 2; }
//   auto services = client->registry("services");
//   auto entries = services->lookup("db");           // std::vector<shmreg::Entry>
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace shmreg {

enum class Errc : int {
  segment_not_found = 1,  // no registry segment: the broker never ran for this namespace
  permission_denied,
  incompatible_segment,   // written by another version or build of shmreg
  corrupt_segment,        // a bounds check failed; run `shmreg fsck`
  registry_not_found,
  invalid_argument,
  busy,                   // reads kept racing with writes; try again
  io_error,
  // Writes.
  broker_unavailable,     // cannot reach the broker (Error::maybe_applied tells if it may have applied)
  already_registered,     // unique key taken; Error::pid is the owner
  registry_exists,        // same name, different options
  key_too_long,
  value_too_long,
  registry_full,
  capacity_exhausted,     // owner table or segment full
  protocol_error,
  not_found,              // no such entry of the process the write acts for
  version_conflict,       // set_value: the entry is at another version; update_value: it kept changing
  reply_too_large,        // lookup_consistent: the entries would not fit in one reply
  // Send by name (shmreg/mailbox.hpp).
  no_mailbox,             // send: the key's owners have no open mailbox
  mailbox_full,           // send: every owner's mailbox is full; the message was dropped
  message_too_large,      // send: larger than kMaxMessageSize
  mailbox_exists,         // Mailbox::open: this process already has one open
};

std::string_view to_string(Errc e) noexcept;

struct Error {
  Errc code{};
  std::string message;
  std::uint32_t pid = 0;       // already_registered: the pid that owns the key
  bool maybe_applied = false;  // broker_unavailable after sending: the write may have applied
};

template <class T>
using Result = std::expected<T, Error>;

struct Entry {
  std::string key;
  std::string value;
  std::uint32_t pid = 0;
  std::uint64_t version = 0;
  friend bool operator==(const Entry&, const Entry&) = default;
};

// A zero-copy view into the segment; valid only inside the callback.
struct EntryView {
  std::string_view key;
  std::string_view value;
  std::uint32_t pid = 0;
  std::uint64_t version = 0;
};

struct ClientOptions {
  std::string ns;      // empty: $SHMREG_NAMESPACE, else "default"
  std::string socket;  // empty: $SHMREG_SOCKET, else the user's or the system broker's socket
};

struct RegistryOptions {
  bool unique = true;           // false: duplicate keys (many entries per key)
  std::uint32_t partitions = 1;
  std::uint32_t max_key = 0;    // 0: the broker's default
  std::uint32_t max_value = 0;  // 0: the broker's default
  std::uint32_t capacity = 0;   // 0: the broker's default
  // Initial meta, applied together with the creation. A registry that already
  // exists (same options) keeps the meta it has: change it with put_meta.
  std::vector<std::pair<std::string, std::string>> meta;
};

// The process a write acts for. By default the caller itself. Naming another
// process takes a pidfd (race-free) or a pid (the client opens a pidfd for it,
// so a pid recycled just before the call would name the new process). The
// broker allows it when the caller is root, or when the process runs with the
// caller's uid as its real, effective and saved uid; else permission_denied.
class ProcessRef {
 public:
  ProcessRef() noexcept = default;  // the calling process
  static ProcessRef pid(std::uint32_t pid) noexcept { return ProcessRef(pid, -1); }
  // Borrowed: it stays open, and the caller's to close, after the call.
  static ProcessRef pidfd(int fd) noexcept { return ProcessRef(0, fd); }
  bool is_self() const noexcept { return pid_ == 0 && pidfd_ < 0; }
  std::uint32_t pid_value() const noexcept { return pid_; }
  int pidfd_value() const noexcept { return pidfd_; }

 private:
  ProcessRef(std::uint32_t pid, int fd) noexcept : pid_(pid), pidfd_(fd) {}
  std::uint32_t pid_ = 0;
  int pidfd_ = -1;
};

// What update_value did.
struct ValueUpdate {
  std::string new_value;
  std::string old_value;
  std::uint64_t version = 0;  // the entry's new version
};

// Registry::dispatch: with parallel, the calls for different partitions run on
// threads of their own at once (fn must allow that); else one after another.
struct DispatchOptions {
  bool parallel = false;
};

class Registry;

// The largest message Client::send takes (64 KiB).
inline constexpr std::size_t kMaxMessageSize = 64 * 1024;

// Where Client::send queued a message.
struct SendReport {
  std::vector<std::uint32_t> delivered_to;  // owner pids whose mailbox took it
  std::uint32_t no_mailbox = 0;             // owners without an open mailbox
  std::uint32_t mailbox_full = 0;           // owners whose mailbox was full: dropped for them
};

enum class EventType : std::uint32_t {
  registered = 1,
  unregistered = 2,
  updated = 3,
  owner_died = 4,
  owner_changed = 5,  // an owner queue handed the key over: pid is the new owner, old_pid the previous
  resync = 6,         // the broker repaired the segment after a crash: re-read what you track
  lagged = 1000,      // the watcher fell behind the ring: seq is where it resumes
};

std::string_view to_string(EventType t) noexcept;

struct Event {
  std::uint64_t seq = 0;
  EventType type = EventType::registered;
  std::string key;
  std::uint32_t pid = 0;
  std::uint32_t old_pid = 0;
  std::uint64_t version = 0;
  std::uint64_t time_ns = 0;  // wall clock of the write
};

// Owner-queue flags for Client::request_name (D-Bus RequestName semantics).
inline constexpr std::uint8_t kAllowReplacement = 1;
inline constexpr std::uint8_t kDoNotQueue = 2;
inline constexpr std::uint8_t kReplaceExisting = 4;

enum class QueueReply : std::uint32_t { primary_owner = 1, in_queue = 2, exists = 3, already_owner = 4 };
std::string_view to_string(QueueReply r) noexcept;

struct QueueResult {
  QueueReply reply = QueueReply::primary_owner;
  std::uint32_t owner_pid = 0;  // the primary owner after the call
};

// Follows one registry's event stream. Not thread-safe; one per thread.
class Watcher {
 public:
  // Waits up to timeout for events and returns those available (possibly none
  // on timeout). A lagged event reports a gap and resumes after it.
  Result<std::vector<Event>> next(std::chrono::nanoseconds timeout);
  std::uint64_t position() const noexcept { return next_; }

 private:
  friend class Registry;
  std::shared_ptr<const Registry> registry_;
  std::optional<std::string> key_;
  std::uint64_t next_ = 1;
};

// Several writes sent to the broker in one message (one round trip). Each op
// applies all or nothing on its own and gets its own result, in order; the
// batch as a whole is not a transaction.
class WriteBatch {
 public:
  WriteBatch& register_key(std::string_view registry, std::string_view key, std::string_view value);
  WriteBatch& unregister(std::string_view registry, std::string_view key);
  std::size_t size() const noexcept { return ops_.size(); }
  bool empty() const noexcept { return ops_.empty(); }

 private:
  friend class Client;
  struct Op {
    bool is_register;
    std::string registry, key, value;
  };
  std::vector<Op> ops_;
};

class Client {
 public:
  static Result<Client> open(const ClientOptions& options = {}) noexcept;

  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  ~Client();

  const std::string& ns() const noexcept;
  const std::string& socket_path() const noexcept;
  Result<Registry> registry(std::string_view name) const noexcept;
  Result<std::vector<std::string>> registry_names() const noexcept;

  // Writes, through the broker. Each returns once readers can see the result.
  // The broker's pid.
  Result<std::uint32_t> ping() const noexcept;
  // Idempotent with the same options; registry_exists with different ones.
  Result<void> create_registry(std::string_view name, const RegistryOptions& options = {}) const noexcept;
  // Registers key for the calling process; returns the entry's version.
  Result<std::uint64_t> register_key(std::string_view registry, std::string_view key,
                                     std::string_view value) const noexcept;
  // Removes the caller's entries under key; returns how many (0 is fine).
  Result<std::uint32_t> unregister(std::string_view registry, std::string_view key) const noexcept;
  // Removes every entry of the calling process; returns how many.
  Result<std::uint32_t> unregister_all() const noexcept;
  // Registers key on a unique registry with an owner queue, with D-Bus
  // RequestName rules (flags: kAllowReplacement | kDoNotQueue | kReplaceExisting).
  // When the primary owner goes, the first in line takes over in one step.
  Result<QueueResult> request_name(std::string_view registry, std::string_view key, std::string_view value,
                                   std::uint8_t flags = 0) const noexcept;
  // Sends a batch in one round trip. The outer Result fails only if the batch
  // could not be exchanged; each inner Result is that op's outcome (a version
  // for register_key, a count for unregister).
  Result<std::vector<Result<std::uint64_t>>> apply(const WriteBatch& batch) const noexcept;

  // -- registry semantics (client/src/semantics.cpp) --
  // Registers key for another process, which then owns the entry: it is
  // removed when that process exits. Returns the entry's version.
  Result<std::uint64_t> register_key_for(const ProcessRef& owner, std::string_view registry, std::string_view key,
                                         std::string_view value) const noexcept;
  // Elixir's update_value: reads owner's entry under a unique key from the
  // segment, computes fn(old value), and sets the result if the entry is still
  // at the version read; on a conflict it reads again and retries (at most
  // kMaxUpdateAttempts times, then version_conflict). fn may run more than
  // once; if it throws, the call fails with invalid_argument. not_found when
  // owner has no entry under key.
  static constexpr int kMaxUpdateAttempts = 100;
  Result<ValueUpdate> update_value(std::string_view registry, std::string_view key,
                                   const std::function<std::string(std::string_view)>& fn,
                                   const ProcessRef& owner = {}) const noexcept;
  // The compare-and-set under update_value: replaces owner's value under key
  // if the entry is at expected_version (at any version when nullopt).
  // Returns the new version; version_conflict or not_found otherwise.
  Result<std::uint64_t> set_value(std::string_view registry, std::string_view key, std::string_view value,
                                  std::optional<std::uint64_t> expected_version = std::nullopt,
                                  const ProcessRef& owner = {}) const noexcept;
  // Removes owner's entries under key whose value matches pattern and guards
  // (JSON text, as Registry::match); returns how many. A pattern or guard that
  // is not valid is invalid_argument, never a silent no-match. All or
  // nothing, also when only some of owner's entries under key match (a
  // duplicate registry); more than 256 such is invalid_argument.
  Result<std::uint32_t> unregister_match(std::string_view registry, std::string_view key, std::string_view pattern,
                                         std::string_view guards = {}, const ProcessRef& owner = {}) const noexcept;
  // Sets (adds or replaces) one meta pair of a registry.
  Result<void> put_meta(std::string_view registry, std::string_view key, std::string_view value) const noexcept;
  // Removes a meta pair: true if it was there, false if there was none.
  Result<bool> delete_meta(std::string_view registry, std::string_view key) const noexcept;
  // A lookup through the broker that returns only entries whose owners it has
  // just verified alive (a dead owner it finds is reaped at once). A round
  // trip, unlike Registry::lookup, which may for a moment still show the
  // entries of an owner that has just died.
  Result<std::vector<Entry>> lookup_consistent(std::string_view registry, std::string_view key) const noexcept;

  // -- send by name (client/src/mailbox.cpp; receiving: shmreg/mailbox.hpp) --
  // Has the broker queue message (bytes, at most kMaxMessageSize) on the
  // mailbox of key's owner; on a duplicate registry, of each owner process.
  // Best-effort: success means queued on the owner's connection, not read.
  // Fails with not_found when nobody owns key, no_mailbox when no owner has
  // a mailbox open, mailbox_full when every owner's mailbox was full.
  Result<SendReport> send(std::string_view registry, std::string_view key, std::string_view message) const noexcept;

  struct Impl;

 private:
  explicit Client(std::shared_ptr<Impl> impl) noexcept;
  std::shared_ptr<Impl> impl_;
};

class Registry {
 public:
  Registry(const Registry&);
  Registry& operator=(const Registry&);
  Registry(Registry&&) noexcept;
  Registry& operator=(Registry&&) noexcept;
  ~Registry();

  std::string_view name() const noexcept;
  bool unique() const noexcept;
  std::uint32_t partitions() const noexcept;

  // All entries under key (none, or one on a unique registry), copied out.
  Result<std::vector<Entry>> lookup(std::string_view key) const noexcept;
  // Zero-copy: fn(std::span<const EntryView>) sees the entries in place. If a
  // concurrent write tore the views, fn runs again with fresh ones. Returns the
  // number of entries fn last saw.
  template <class F>
  Result<std::size_t> lookup(std::string_view key, F&& fn) const noexcept {
    return lookup_views(key, &invoke<std::remove_reference_t<F>>, &fn);
  }
  // The value under a unique key, or std::nullopt.
  Result<std::optional<std::string>> lookup_value(std::string_view key) const noexcept;
  Result<std::vector<std::string>> keys(std::uint32_t pid) const noexcept;
  Result<std::vector<Entry>> values(std::string_view key, std::uint32_t pid) const noexcept;
  Result<std::uint64_t> count() const noexcept;
  Result<std::vector<Entry>> list() const noexcept;

  // -- Owner queues (unique registries) --
  // The primary owner of key first, then the processes waiting for it, in order.
  Result<std::vector<Entry>> owner_queue(std::string_view key) const noexcept;

  // -- Events: watch and await, read from the segment without the broker --
  // The sequence of the newest event (0: none yet). Watch from head() + 1 to
  // see only what happens from now on.
  Result<std::uint64_t> event_head() const noexcept;
  // Events from sequence `from` on, at most `max`, without waiting. If `from`
  // is older than the ring keeps, the first event is EventType::lagged with
  // the sequence to resync from. `next` receives where to continue.
  Result<std::vector<Event>> events(std::uint64_t from, std::size_t max, std::uint64_t& next) const noexcept;
  // Waits until key is registered: true as soon as it is (at once if it
  // already is), false on timeout. Never misses a registration that lands
  // while it is deciding to sleep.
  Result<bool> await(std::string_view key, std::chrono::nanoseconds timeout) const noexcept;
  // A cursor over this registry's events, optionally only those of one key.
  Watcher watch(std::optional<std::string> key = std::nullopt,
                std::optional<std::uint64_t> from = std::nullopt) const noexcept;
  // The registry's meta pairs, read from the segment (client/src/semantics.cpp).
  Result<std::vector<std::pair<std::string, std::string>>> meta() const noexcept;
  // One meta value, or std::nullopt.
  Result<std::optional<std::string>> meta(std::string_view key) const noexcept;

  // Queries with Elixir Registry semantics; docs/queries.md has the languages.
  // Patterns, guards and specs are JSON text; a malformed one fails with
  // invalid_argument and the reason, never as a silent no-match.
  // The entries under key whose value matches pattern and guards ("_": all).
  Result<std::vector<Entry>> match(std::string_view key, std::string_view pattern,
                                   std::string_view guards = {}) const noexcept;
  Result<std::uint64_t> count_match(std::string_view key, std::string_view pattern,
                                    std::string_view guards = {}) const noexcept;
  // Every entry run through a select spec: one JSON text per matching entry,
  // in no particular order.
  Result<std::vector<std::string>> select(std::string_view spec) const noexcept;
  // The number of results select(spec) would give.
  Result<std::uint64_t> count_select(std::string_view spec) const noexcept;
  // Runs fn(std::span<const EntryView>) in the caller over the entries under
  // key, zero-copy: once per partition holding some, where a duplicate entry's
  // partition is its owner's pid % partitions() (a unique key: one call).
  // Never called when key has no entries. If a concurrent write tore the
  // views, fn runs again over fresh ones. Returns how many entries fn last saw.
  template <class F>
  Result<std::size_t> dispatch(std::string_view key, F&& fn, DispatchOptions options = {}) const noexcept {
    return dispatch_views(key, &invoke<std::remove_reference_t<F>>, &fn, options);
  }

  struct Impl;

 private:
  friend class Client;
  friend class Watcher;
  explicit Registry(std::unique_ptr<Impl> impl) noexcept;
  using ViewFn = void (*)(void*, std::span<const EntryView>);
  template <class F>
  static void invoke(void* f, std::span<const EntryView> views) {
    (*static_cast<F*>(f))(views);
  }
  Result<std::size_t> lookup_views(std::string_view key, ViewFn fn, void* ctx) const noexcept;
  Result<std::size_t> dispatch_views(std::string_view key, ViewFn fn, void* ctx,
                                     DispatchOptions options) const noexcept;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shmreg
