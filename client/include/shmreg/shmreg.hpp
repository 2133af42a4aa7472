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

#include <cstddef>
#include <cstdint>
#include <expected>
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
};

class Registry;

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
  // Sends a batch in one round trip. The outer Result fails only if the batch
  // could not be exchanged; each inner Result is that op's outcome (a version
  // for register_key, a count for unregister).
  Result<std::vector<Result<std::uint64_t>>> apply(const WriteBatch& batch) const noexcept;

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

  struct Impl;

 private:
  friend class Client;
  explicit Registry(std::unique_ptr<Impl> impl) noexcept;
  using ViewFn = void (*)(void*, std::span<const EntryView>);
  template <class F>
  static void invoke(void* f, std::span<const EntryView> views) {
    (*static_cast<F*>(f))(views);
  }
  Result<std::size_t> lookup_views(std::string_view key, ViewFn fn, void* ctx) const noexcept;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shmreg
