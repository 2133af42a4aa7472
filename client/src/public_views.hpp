// The shm reader's entry views as the public API's EntryView, for the
// zero-copy lookups (Registry::lookup_views, lookup_batch_views). Not
// installed.
#pragma once

#include <new>
#include <span>
#include <vector>

#include "shmreg/registry.hpp"
#include "shmreg/shm/reader.hpp"

namespace shmreg::client_detail {

inline EntryView public_view(const shm::EntryView& v) noexcept { return EntryView{v.key, v.value, v.pid, v.version, v.host}; }

// Calls call(std::span<const EntryView>) once with views converted: none or
// one entry (every unique hit) on the stack, more through a per-thread
// buffer reused from call to call, allocation-free once warm. With no
// memory for that buffer, it hands the entries over one at a time.
template <class Call>
void with_public_views(std::span<const shm::EntryView> views, Call&& call) {
  if (views.size() <= 1) {
    if (views.empty()) return call(std::span<const EntryView>());
    const EntryView one = public_view(views[0]);
    return call(std::span<const EntryView>(&one, 1));
  }
  thread_local std::vector<EntryView> many;
  many.clear();
  try {
    many.reserve(views.size());
  } catch (const std::bad_alloc&) {
    for (const auto& v : views) {
      const EntryView one = public_view(v);
      call(std::span<const EntryView>(&one, 1));
    }
    return;
  }
  for (const auto& v : views) many.push_back(public_view(v));
  call(std::span<const EntryView>(many));
}

}  // namespace shmreg::client_detail
