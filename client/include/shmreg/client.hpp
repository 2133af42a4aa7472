// libshmreg: a Client, one process's handle on one namespace, and every write.
//
// Client::open maps the namespace's registry segment read-only; registry()
// hands out Registry handles that read it (shmreg/registry.hpp). Writes go to
// the broker over its Unix socket, connected on the first write and
// reconnected with backoff after a broker restart. A write returns only once
// every reader on the host can see its effect. Entries belong to the process
// they were registered for: they stay until it unregisters them or exits (or
// is killed), whatever happens to the connection.
//
// Usage:
//   auto client = shmreg::Client::open();            // SHMREG_NAMESPACE or "default"
//   if (!client) { std::cerr << client.error().message; return 2; }
//   client->create_registry("services");
//   client->register_key("services", "db", "10.0.0.5:5432");
//
// Deadlines. Every call that goes to the broker (writes, ping, create_registry,
// lookup_consistent, send, Mailbox::open) must be done within the handle's
// timeout() from its start: connecting, sending and the reply together, else
// Errc::timeout, whose message says what it waited for and how long. Set it
// per client (ClientOptions::timeout) or per call:
//   client->with_timeout(std::chrono::milliseconds(200)).register_key("services", "db", "...");
// A timeout drops the connection, so a late reply is never read by a later
// call. If the request was sent whole, Error::maybe_applied is set: a stopped
// broker that resumes still applies it.
//
// Thread-safety: a Client is immutable after creation; any number of threads
// may use the same one at once. Writes from several threads share one
// connection and go one at a time.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shmreg/broker_status.hpp"
#include "shmreg/error.hpp"
#include "shmreg/registry.hpp"

namespace shmreg {

namespace client_detail {
struct ClientState;
struct WriteBatchState;
}  // namespace client_detail

// The deadline of a broker call when nobody chose another. A write costs the
// broker microseconds, so a broker that has not answered in 10 s is stopped,
// hung or starved; waiting longer only hides it from the caller, and a
// shorter default would fail on a loaded host (D-Bus uses 25 s for calls
// that may run arbitrary code; shmreg's ops never do).
inline constexpr std::chrono::seconds kDefaultTimeout{10};

struct ClientOptions {
  std::string ns;      // empty: $SHMREG_NAMESPACE, else "default"
  std::string socket;  // empty: $SHMREG_SOCKET, else the user's or the system broker's socket
  // The deadline of each broker call; zero: kDefaultTimeout. Negative is
  // invalid_argument.
  std::chrono::nanoseconds timeout{0};
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
  // Events the registry's ring keeps for watch and await, a power of two
  // from 2 to 1048576; 0: 1024. Each slot costs about 64 bytes plus max_key,
  // most of a small registry's size (capacity 4: about 209 KB at 1024).
  std::uint32_t events = 0;
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

// Owner-queue flags for Client::request_name (D-Bus RequestName semantics).
inline constexpr std::uint8_t kAllowReplacement = 1;
inline constexpr std::uint8_t kDoNotQueue = 2;
inline constexpr std::uint8_t kReplaceExisting = 4;

enum class QueueReply : std::uint32_t { primary_owner = 1, in_queue = 2, exists = 3, already_owner = 4 };
[[nodiscard]] std::string_view to_string(QueueReply r) noexcept;

struct QueueResult {
  QueueReply reply = QueueReply::primary_owner;
  std::uint32_t owner_pid = 0;  // the primary owner after the call
};

// The largest message Client::send takes (64 KiB).
inline constexpr std::size_t kMaxMessageSize = 64 * 1024;

// Where Client::send queued a message.
struct SendReport {
  std::vector<std::uint32_t> delivered_to;  // owner pids whose mailbox took it
  std::uint32_t no_mailbox = 0;             // owners without an open mailbox
  std::uint32_t mailbox_full = 0;           // owners whose mailbox was full: dropped for them
};

// Several writes sent to the broker in one message (one round trip). Each op
// applies all or nothing on its own and gets its own result, in order; the
// batch as a whole is not a transaction.
class WriteBatch {
 public:
  WriteBatch() noexcept;
  WriteBatch(const WriteBatch&);
  WriteBatch& operator=(const WriteBatch&);
  WriteBatch(WriteBatch&&) noexcept;
  WriteBatch& operator=(WriteBatch&&) noexcept;
  ~WriteBatch();

  // Both may throw std::bad_alloc, like any container's insert.
  WriteBatch& register_key(std::string_view registry, std::string_view key, std::string_view value);
  WriteBatch& unregister(std::string_view registry, std::string_view key);
  [[nodiscard]] std::size_t size() const noexcept;
  [[nodiscard]] bool empty() const noexcept { return size() == 0; }

 private:
  friend class Client;
  std::unique_ptr<client_detail::WriteBatchState> state_;  // null while empty
};

class Client {
 public:
  [[nodiscard]] static Result<Client> open(const ClientOptions& options = {}) noexcept;

  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  ~Client();

  [[nodiscard]] const std::string& ns() const noexcept;
  [[nodiscard]] const std::string& socket_path() const noexcept;
  [[nodiscard]] Result<Registry> registry(std::string_view name) const noexcept;

  // The deadline of each broker call made through this handle.
  [[nodiscard]] std::chrono::nanoseconds timeout() const noexcept { return timeout_; }
  // Another handle on the same namespace and connection whose broker calls
  // have deadline timeout (at least 1 ms); this one keeps its own. Cheap
  // enough to make for one call.
  [[nodiscard]] Client with_timeout(std::chrono::nanoseconds timeout) const noexcept;

  // -- Registries --
  // The broker's pid.
  [[nodiscard]] Result<std::uint32_t> ping() const noexcept;
  // Idempotent with the same options; registry_exists with different ones.
  [[nodiscard]] Result<void> create_registry(std::string_view name, const RegistryOptions& options = {}) const noexcept;

  // -- Registration --
  // Registers key for the calling process; returns the entry's version.
  [[nodiscard]] Result<std::uint64_t> register_key(std::string_view registry, std::string_view key,
                                                   std::string_view value) const noexcept;
  // Registers key for another process, which then owns the entry: it is
  // removed when that process exits. Returns the entry's version.
  [[nodiscard]] Result<std::uint64_t> register_key_for(const ProcessRef& owner, std::string_view registry,
                                                       std::string_view key, std::string_view value) const noexcept;
  // Registers key on a unique registry with an owner queue, with D-Bus
  // RequestName rules (flags: kAllowReplacement | kDoNotQueue | kReplaceExisting).
  // When the primary owner goes, the first in line takes over in one step.
  [[nodiscard]] Result<QueueResult> request_name(std::string_view registry, std::string_view key,
                                                 std::string_view value, std::uint8_t flags = 0) const noexcept;
  // Removes the caller's entries under key; returns how many (0 is fine).
  [[nodiscard]] Result<std::uint32_t> unregister(std::string_view registry, std::string_view key) const noexcept;
  // Removes every entry of the calling process; returns how many.
  [[nodiscard]] Result<std::uint32_t> unregister_all() const noexcept;
  // Removes owner's entries under key whose value matches pattern and guards
  // (JSON text, as Registry::match); returns how many. A pattern or guard that
  // is not valid is invalid_argument, never a silent no-match. All or
  // nothing, also when only some of owner's entries under key match (a
  // duplicate registry); more than 256 such is invalid_argument.
  [[nodiscard]] Result<std::uint32_t> unregister_match(std::string_view registry, std::string_view key,
                                                       std::string_view pattern, std::string_view guards = {},
                                                       const ProcessRef& owner = {}) const noexcept;
  // Sends a batch in one round trip. The outer Result fails only if the batch
  // could not be exchanged; each inner Result is that op's outcome (a version
  // for register_key, a count for unregister).
  [[nodiscard]] Result<std::vector<Result<std::uint64_t>>> apply(const WriteBatch& batch) const noexcept;

  // -- Values and meta --
  // Elixir's update_value: reads owner's entry under a unique key from the
  // segment, computes fn(old value), and sets the result if the entry is still
  // at the version read; on a conflict it reads again and retries (at most
  // kMaxUpdateAttempts times, then version_conflict). fn may run more than
  // once; if it throws, the call fails with invalid_argument. not_found when
  // owner has no entry under key.
  static constexpr int kMaxUpdateAttempts = 100;
  [[nodiscard]] Result<ValueUpdate> update_value(std::string_view registry, std::string_view key,
                                                 const std::function<std::string(std::string_view)>& fn,
                                                 const ProcessRef& owner = {}) const noexcept;
  // The compare-and-set under update_value: replaces owner's value under key
  // if the entry is at expected_version (at any version when nullopt).
  // Returns the new version; version_conflict or not_found otherwise.
  [[nodiscard]] Result<std::uint64_t> set_value(std::string_view registry, std::string_view key,
                                                std::string_view value,
                                                std::optional<std::uint64_t> expected_version = std::nullopt,
                                                const ProcessRef& owner = {}) const noexcept;
  // Sets (adds or replaces) one meta pair of a registry.
  [[nodiscard]] Result<void> put_meta(std::string_view registry, std::string_view key,
                                      std::string_view value) const noexcept;
  // Removes a meta pair: true if it was there, false if there was none.
  [[nodiscard]] Result<bool> delete_meta(std::string_view registry, std::string_view key) const noexcept;

  // -- Lookups through the broker --
  // Returns only entries whose owners the broker has just verified alive (a
  // dead owner it finds is reaped at once). A round trip, unlike
  // Registry::lookup, which may for a moment still show the entries of an
  // owner that has just died.
  [[nodiscard]] Result<std::vector<Entry>> lookup_consistent(std::string_view registry,
                                                             std::string_view key) const noexcept;

  // -- Send by name (receiving: shmreg/mailbox.hpp) --
  // Has the broker queue message (bytes, at most kMaxMessageSize) on the
  // mailbox of key's owner; on a duplicate registry, of each owner process.
  // Best-effort: success means queued on the owner's connection, not read.
  // Fails with not_found when nobody owns key, no_mailbox when no owner has
  // a mailbox open, mailbox_full when every owner's mailbox was full.
  [[nodiscard]] Result<SendReport> send(std::string_view registry, std::string_view key,
                                        std::string_view message) const noexcept;

  // -- The broker's configuration (shmreg/broker_status.hpp) --
  // A static entry: owned by the namespace, not by a process (readers see pid
  // 0), never reaped; for the registry's admins. Replaces the one under key;
  // returns its version. already_registered when a process holds a unique key.
  [[nodiscard]] Result<std::uint64_t> set_static(std::string_view registry, std::string_view key,
                                                 std::string_view value) const noexcept;
  // true if a static entry was removed, false if there was none.
  [[nodiscard]] Result<bool> unset_static(std::string_view registry, std::string_view key) const noexcept;
  // Rereads the broker's configuration file and applies all of it or none.
  // A refused one is reload_failed, whose message lists every reason, one per
  // line; reload_forbidden while reloads are forbidden.
  [[nodiscard]] Result<ReloadOutcome> reload() const noexcept;
  [[nodiscard]] Result<ReloadOutcome> forbid_reload() const noexcept;
  [[nodiscard]] Result<ReloadOutcome> allow_reload() const noexcept;
  [[nodiscard]] Result<BrokerStatus> status() const noexcept;
  // The broker's etcd cluster (docs/cluster.md, "shmreg cluster"): the JSON
  // object the broker builds, unchanged. invalid_argument from a broker
  // without [cluster].
  [[nodiscard]] Result<std::string> cluster_status() const noexcept;

 private:
  friend class Mailbox;  // a mailbox's connection trusts the client's broker uid
  Client(std::shared_ptr<client_detail::ClientState> state, std::chrono::nanoseconds timeout) noexcept;
  std::shared_ptr<client_detail::ClientState> state_;
  std::chrono::nanoseconds timeout_;
};

}  // namespace shmreg
