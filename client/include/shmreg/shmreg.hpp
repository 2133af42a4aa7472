// libshmreg: the public C++ API of shmreg.
//
// A Client maps one namespace's registry segment read-only. Lookups read that
// shared memory directly: no syscall, no round trip to the broker, and they
// keep working while the broker is down. A Registry is a cheap handle to one
// named registry of the segment.
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
};

std::string_view to_string(Errc e) noexcept;

struct Error {
  Errc code{};
  std::string message;
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
  std::string ns;  // empty: $SHMREG_NAMESPACE, else "default"
};

class Registry;

class Client {
 public:
  static Result<Client> open(const ClientOptions& options = {}) noexcept;

  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  ~Client();

  const std::string& ns() const noexcept;
  Result<Registry> registry(std::string_view name) const noexcept;
  Result<std::vector<std::string>> registry_names() const noexcept;

  struct Impl;

 private:
  explicit Client(std::shared_ptr<const Impl> impl) noexcept;
  std::shared_ptr<const Impl> impl_;
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
