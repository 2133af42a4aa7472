// libshmreg, op family "lookups": lookup, lookup_value, keys, values, count,
// list, match, count_match, select, count_select and dispatch, read from the
// mapped segment; and lookup_consistent, through the broker. docs/queries.md
// is the reference of the query languages; this file explains only choices.
#include <system_error>
#include <thread>

#include "client_state.hpp"
#include "errors.hpp"
#include "public_views.hpp"
#include "select.hpp"
#include "shmreg/proto/pattern.hpp"

namespace shmreg {

using client_detail::error_from_shm;
using client_detail::guarded;
using client_detail::lift;
using client_detail::public_view;

namespace {

Entry copy_entry(const shm::EntryView& v) {
  return Entry{std::string(v.key), std::string(v.value), v.pid, v.version, std::string(v.host)};
}

// Calls fn over every entry that spec may select: the entries under its keys
// when it names them all literally, else every entry of the registry.
// fn(key, pid, value) sees bytes that stay valid during the call. A torn
// lookup offers the entries of its key again, after restart() has dropped
// what fn gathered since the last restart.commit().
template <class Fn, class Restart>
shm::Result<std::size_t> for_candidates(const shm::SegmentReader& reader, const shm::RegistryView& view,
                                        const client_detail::SelectSpec& spec, Fn&& fn, Restart&& restart) {
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

using ViewFn = void (*)(void*, std::span<const EntryView>);

// Runs fn over each group, on threads of their own when parallel: one thread
// per group but the last, which runs here. If a thread cannot start, its
// group runs here too, after the others started.
void run_groups(ViewFn fn, void* ctx, const std::vector<const std::vector<EntryView>*>& groups, bool parallel) {
  if (!parallel || groups.size() < 2) {
    for (const auto* g : groups) fn(ctx, std::span<const EntryView>(*g));
    return;
  }
  std::vector<std::jthread> threads;
  std::vector<const std::vector<EntryView>*> here;
  threads.reserve(groups.size() - 1);
  for (std::size_t i = 0; i + 1 < groups.size(); ++i) {
    try {
      threads.emplace_back([fn, ctx, g = groups[i]] { fn(ctx, std::span<const EntryView>(*g)); });
    } catch (const std::system_error&) {
      here.push_back(groups[i]);
    }
  }
  here.push_back(groups.back());
  for (const auto* g : here) fn(ctx, std::span<const EntryView>(*g));
  threads.clear();  // joins
}

}  // namespace

Result<std::size_t> Registry::lookup_views(std::string_view key, ViewFn fn, void* ctx) const noexcept {
  auto n = state_->client->reader.lookup(state_->view, key, [&](std::span<const shm::EntryView> views) {
    client_detail::with_public_views(views, [&](std::span<const EntryView> out) { fn(ctx, out); });
  });
  if (!n) return std::unexpected(error_from_shm(n.error()));
  return *n;
}

Result<std::vector<Entry>> Registry::lookup(std::string_view key) const noexcept {
  return guarded([&]() -> Result<std::vector<Entry>> {
    auto r = state_->client->reader.lookup_copy(state_->view, key);
    if (!r) return std::unexpected(error_from_shm(r.error()));
    std::vector<Entry> out;
    for (auto& e : *r) out.push_back(client_detail::to_entry(std::move(e)));
    return out;
  });
}

Result<std::optional<std::string>> Registry::lookup_value(std::string_view key) const noexcept {
  return guarded([&]() -> Result<std::optional<std::string>> {
    std::string value;
    auto r = state_->client->reader.lookup_value(state_->view, key, value);
    if (!r) return std::unexpected(error_from_shm(r.error()));
    if (!*r) return std::optional<std::string>();
    return std::optional<std::string>(std::move(value));
  });
}

Result<bool> Registry::lookup_value(std::string_view key, std::string& out) const noexcept {
  return guarded([&]() -> Result<bool> {
    auto r = state_->client->reader.lookup_value(state_->view, key, out);
    // A read torn and retried may have left a copy behind before the answer
    // turned out to be "none".
    if (!r || !*r) out.clear();
    if (!r) return std::unexpected(error_from_shm(r.error()));
    return *r;
  });
}

Result<std::vector<std::string>> Registry::keys(std::uint32_t pid) const noexcept {
  return guarded([&] { return lift(state_->client->reader.keys(state_->view, pid)); });
}

Result<std::vector<Entry>> Registry::values(std::string_view key, std::uint32_t pid) const noexcept {
  return guarded([&]() -> Result<std::vector<Entry>> {
    auto r = state_->client->reader.values(state_->view, key, pid);
    if (!r) return std::unexpected(error_from_shm(r.error()));
    std::vector<Entry> out;
    for (auto& e : *r) out.push_back(client_detail::to_entry(std::move(e)));
    return out;
  });
}

Result<std::uint64_t> Registry::count() const noexcept {
  return guarded([&] { return lift(state_->client->reader.count(state_->view)); });
}

Result<std::vector<Entry>> Registry::list() const noexcept {
  return guarded([&]() -> Result<std::vector<Entry>> {
    std::vector<Entry> out;
    auto n = state_->client->reader.for_each(state_->view, [&](const shm::Entry& e) {
      out.push_back(Entry{e.key, e.value, e.pid, e.version, e.host});
    });
    if (!n) return std::unexpected(error_from_shm(n.error()));
    return out;
  });
}

Result<std::vector<Entry>> Registry::match(std::string_view key, std::string_view pattern,
                                           std::string_view guards) const noexcept {
  return guarded([&]() -> Result<std::vector<Entry>> {
    auto matcher = proto::Matcher::compile(pattern, guards);
    if (!matcher) return std::unexpected(Error{Errc::invalid_argument, matcher.error()});
    std::vector<Entry> out;
    // Values are parsed in place; only the matches are copied out. A torn read
    // costs a wasted parse, then the validated re-run replaces the answer.
    auto n = state_->client->reader.lookup(state_->view, key, [&](std::span<const shm::EntryView> views) {
      out.clear();
      for (const auto& v : views)
        if (matcher->matches(v.value)) out.push_back(copy_entry(v));
    });
    if (!n) return std::unexpected(error_from_shm(n.error()));
    return out;
  });
}

Result<std::uint64_t> Registry::count_match(std::string_view key, std::string_view pattern,
                                            std::string_view guards) const noexcept {
  return guarded([&]() -> Result<std::uint64_t> {
    auto matcher = proto::Matcher::compile(pattern, guards);
    if (!matcher) return std::unexpected(Error{Errc::invalid_argument, matcher.error()});
    std::uint64_t count = 0;
    auto n = state_->client->reader.lookup(state_->view, key, [&](std::span<const shm::EntryView> views) {
      if (matcher->matches_everything()) {
        count = views.size();
        return;
      }
      count = 0;
      for (const auto& v : views) count += matcher->matches(v.value) ? 1 : 0;
    });
    if (!n) return std::unexpected(error_from_shm(n.error()));
    return count;
  });
}

Result<std::vector<std::string>> Registry::select(std::string_view spec_json) const noexcept {
  return guarded([&]() -> Result<std::vector<std::string>> {
    auto spec = client_detail::SelectSpec::compile(spec_json);
    if (!spec) return std::unexpected(Error{Errc::invalid_argument, spec.error()});
    std::vector<std::string> out;
    Collector<std::vector<std::string>> collector{out};
    auto n = for_candidates(
        state_->client->reader, state_->view, *spec,
        [&](std::string_view key, std::uint32_t pid, std::string_view value) {
          if (auto r = spec->select(key, pid, value)) out.push_back(std::move(*r));
        },
        collector);
    if (!n) return std::unexpected(error_from_shm(n.error()));
    return out;
  });
}

Result<std::uint64_t> Registry::count_select(std::string_view spec_json) const noexcept {
  return guarded([&]() -> Result<std::uint64_t> {
    auto spec = client_detail::SelectSpec::compile(spec_json);
    if (!spec) return std::unexpected(Error{Errc::invalid_argument, spec.error()});
    std::uint64_t total = 0;
    Counter counter{total};
    auto n = for_candidates(
        state_->client->reader, state_->view, *spec,
        [&](std::string_view key, std::uint32_t pid, std::string_view value) {
          if (spec->matches(key, pid, value)) ++counter.pending;
        },
        counter);
    if (!n) return std::unexpected(error_from_shm(n.error()));
    return total;
  });
}

// Elixir partitions a duplicate registry by owner pid and calls the dispatch
// callback once per partition, optionally on parallel tasks. shmreg keeps all
// entries of a key in one partition (docs/architecture.md, "Decisions"), so
// dispatch regroups them by pid % partitions: the callback sees the same
// batches as in Elixir, and parallel has something to split.
Result<std::size_t> Registry::dispatch_views(std::string_view key, ViewFn fn, void* ctx,
                                             DispatchOptions options) const noexcept {
  return guarded([&]() -> Result<std::size_t> {
    const shm::RegistryView& view = state_->view;
    const std::uint32_t groups_n = view.kind() == shm::RegistryKind::unique ? 1 : view.partitions();
    // The callback gets views in vectors of our own, not the reader's
    // thread-local buffer, so that fn may itself run lookups.
    std::vector<std::vector<EntryView>> groups(groups_n);
    std::size_t seen = 0;
    auto n = state_->client->reader.lookup(view, key, [&](std::span<const shm::EntryView> views) {
      seen = views.size();
      if (views.empty()) return;  // the key went away after a torn read
      for (auto& g : groups) g.clear();
      for (const auto& v : views) groups[groups_n == 1 ? 0 : v.pid % groups_n].push_back(public_view(v));
      std::vector<const std::vector<EntryView>*> busy;
      for (const auto& g : groups)
        if (!g.empty()) busy.push_back(&g);
      run_groups(fn, ctx, busy, options.parallel);
    });
    if (!n) return std::unexpected(error_from_shm(n.error()));
    return seen;
  });
}

Result<std::vector<Entry>> Client::lookup_consistent(std::string_view registry, std::string_view key) const noexcept {
  return guarded([&]() -> Result<std::vector<Entry>> {
    auto r = state_->call(client_detail::Deadline::after(timeout_),
                          proto::LookupConsistent{std::string(registry), std::string(key)});
    if (!r) return std::unexpected(std::move(r.error()));
    auto entries = proto::decode_entries(r->data);
    if (!entries)
      return std::unexpected(Error{Errc::protocol_error, "malformed entries from the broker: " +
                                                             std::string(proto::to_string(entries.error()))});
    std::vector<Entry> out;
    out.reserve(entries->size());
    for (auto& e : *entries) out.push_back(Entry{std::move(e.key), std::move(e.value), e.pid, e.version});
    return out;
  });
}

}  // namespace shmreg
