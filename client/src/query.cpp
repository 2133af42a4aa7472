// libshmreg: the read-side queries (match, count_match, select, count_select,
// dispatch), over shm::SegmentReader and the pattern languages of proto/.
// docs/queries.md is the reference; this file explains only the choices.
#include <exception>
#include <new>
#include <system_error>
#include <thread>
#include <vector>

#include "registry_access.hpp"
#include "shmreg/proto/pattern.hpp"
#include "shmreg/proto/select.hpp"
#include "shmreg/shm/reader.hpp"
#include "shmreg/shmreg.hpp"

namespace shmreg {

namespace {

using client_detail::error_from_reader;

Error out_of_memory() { return Error{Errc::io_error, "out of memory"}; }

Entry copy_entry(const shm::EntryView& v) { return Entry{std::string(v.key), std::string(v.value), v.pid, v.version}; }

// Calls fn over every entry that spec may select: the entries under its keys
// when it names them all literally, else every entry of the registry.
// fn(key, pid, value) sees bytes that stay valid during the call. A torn
// lookup offers the entries of its key again, after restart() has dropped
// what fn gathered since the last restart.commit().
template <class Fn, class Restart>
shm::Result<std::size_t> for_candidates(const shm::SegmentReader& reader, const shm::RegistryView& view,
                                        const proto::SelectSpec& spec, Fn&& fn, Restart&& restart) {
  if (const auto* keys = spec.literal_keys()) {
    std::size_t seen = 0;
    for (const std::string& key : *keys) {
      auto n = reader.lookup(view, key, [&](std::span<const shm::EntryView> views) {
        restart();
        for (const auto& v : views) fn(v.key, v.pid, v.value);
      });
      if (!n) return std::unexpected(n.error());
      seen += *n;
      restart.commit();
    }
    return seen;
  }
  auto n = reader.for_each(view, [&](const shm::Entry& e) { fn(e.key, e.pid, e.value); });
  restart.commit();
  return n;
}

// Results gathered per key, so that a torn lookup can drop what it added.
template <class T>
struct Collector {
  T& out;
  std::size_t mark = 0;
  void operator()() { out.erase(out.begin() + static_cast<std::ptrdiff_t>(mark), out.end()); }
  void commit() { mark = out.size(); }
};

struct Counter {
  std::uint64_t& total;
  std::uint64_t pending = 0;
  void operator()() { pending = 0; }
  void commit() {
    total += pending;
    pending = 0;
  }
};

}  // namespace

Result<std::vector<Entry>> Registry::match(std::string_view key, std::string_view pattern,
                                           std::string_view guards) const noexcept {
  try {
    auto matcher = proto::Matcher::compile(pattern, guards);
    if (!matcher) return std::unexpected(Error{Errc::invalid_argument, matcher.error()});
    std::vector<Entry> out;
    // Values are parsed in place; only the matches are copied out. A torn read
    // costs a wasted parse, then the validated re-run replaces the answer.
    auto n = client_detail::reader_of(impl_.get())
                 .lookup(client_detail::view_of(impl_.get()), key, [&](std::span<const shm::EntryView> views) {
                   out.clear();
                   for (const auto& v : views)
                     if (matcher->matches(v.value)) out.push_back(copy_entry(v));
                 });
    if (!n) return std::unexpected(error_from_reader(n.error()));
    return out;
  } catch (const std::bad_alloc&) {
    return std::unexpected(out_of_memory());
  }
}

Result<std::uint64_t> Registry::count_match(std::string_view key, std::string_view pattern,
                                            std::string_view guards) const noexcept {
  try {
    auto matcher = proto::Matcher::compile(pattern, guards);
    if (!matcher) return std::unexpected(Error{Errc::invalid_argument, matcher.error()});
    std::uint64_t count = 0;
    auto n = client_detail::reader_of(impl_.get())
                 .lookup(client_detail::view_of(impl_.get()), key, [&](std::span<const shm::EntryView> views) {
                   if (matcher->matches_everything()) {
                     count = views.size();
                     return;
                   }
                   count = 0;
                   for (const auto& v : views) count += matcher->matches(v.value) ? 1 : 0;
                 });
    if (!n) return std::unexpected(error_from_reader(n.error()));
    return count;
  } catch (const std::bad_alloc&) {
    return std::unexpected(out_of_memory());
  }
}

Result<std::vector<std::string>> Registry::select(std::string_view spec_json) const noexcept {
  try {
    auto spec = proto::SelectSpec::compile(spec_json);
    if (!spec) return std::unexpected(Error{Errc::invalid_argument, spec.error()});
    std::vector<std::string> out;
    Collector<std::vector<std::string>> collector{out};
    auto n = for_candidates(
        client_detail::reader_of(impl_.get()), client_detail::view_of(impl_.get()), *spec,
        [&](std::string_view key, std::uint32_t pid, std::string_view value) {
          if (auto r = spec->select(key, pid, value)) out.push_back(std::move(*r));
        },
        collector);
    if (!n) return std::unexpected(error_from_reader(n.error()));
    return out;
  } catch (const std::bad_alloc&) {
    return std::unexpected(out_of_memory());
  }
}

Result<std::uint64_t> Registry::count_select(std::string_view spec_json) const noexcept {
  try {
    auto spec = proto::SelectSpec::compile(spec_json);
    if (!spec) return std::unexpected(Error{Errc::invalid_argument, spec.error()});
    std::uint64_t total = 0;
    Counter counter{total};
    auto n = for_candidates(
        client_detail::reader_of(impl_.get()), client_detail::view_of(impl_.get()), *spec,
        [&](std::string_view key, std::uint32_t pid, std::string_view value) {
          if (spec->matches(key, pid, value)) ++counter.pending;
        },
        counter);
    if (!n) return std::unexpected(error_from_reader(n.error()));
    return total;
  } catch (const std::bad_alloc&) {
    return std::unexpected(out_of_memory());
  }
}

// Elixir partitions a duplicate registry by owner pid and calls the dispatch
// callback once per partition, optionally on parallel tasks. shmreg keeps all
// entries of a key in one partition (docs/architecture.md, "Decisions"), so
// dispatch regroups them by pid % partitions: the callback sees the same
// batches as in Elixir, and parallel has something to split.
Result<std::size_t> Registry::dispatch_views(std::string_view key, ViewFn fn, void* ctx,
                                             DispatchOptions options) const noexcept {
  try {
    const shm::RegistryView& view = client_detail::view_of(impl_.get());
    const std::uint32_t groups_n = view.kind() == shm::RegistryKind::unique ? 1 : view.partitions();
    // The callback gets views in vectors of our own, not the reader's
    // thread-local buffer, so that fn may itself run lookups.
    std::vector<std::vector<EntryView>> groups(groups_n);
    std::size_t seen = 0;
    auto n = client_detail::reader_of(impl_.get()).lookup(view, key, [&](std::span<const shm::EntryView> views) {
      seen = views.size();
      if (views.empty()) return;  // the key went away after a torn read
      for (auto& g : groups) g.clear();
      for (const auto& v : views)
        groups[groups_n == 1 ? 0 : v.pid % groups_n].push_back(EntryView{v.key, v.value, v.pid, v.version});
      std::vector<const std::vector<EntryView>*> busy;
      for (const auto& g : groups)
        if (!g.empty()) busy.push_back(&g);
      if (!options.parallel || busy.size() < 2) {
        for (const auto* g : busy) fn(ctx, std::span<const EntryView>(*g));
        return;
      }
      // One thread per partition but the last, which runs here. If a thread
      // cannot start, its partition runs here too, after the others started.
      std::vector<std::jthread> threads;
      std::vector<const std::vector<EntryView>*> here;
      threads.reserve(busy.size() - 1);
      for (std::size_t i = 0; i + 1 < busy.size(); ++i) {
        try {
          threads.emplace_back([fn, ctx, g = busy[i]] { fn(ctx, std::span<const EntryView>(*g)); });
        } catch (const std::system_error&) {
          here.push_back(busy[i]);
        }
      }
      here.push_back(busy.back());
      for (const auto* g : here) fn(ctx, std::span<const EntryView>(*g));
      threads.clear();  // joins
    });
    if (!n) return std::unexpected(error_from_reader(n.error()));
    return seen;
  } catch (const std::bad_alloc&) {
    return std::unexpected(out_of_memory());
  }
}

}  // namespace shmreg
