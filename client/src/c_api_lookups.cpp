// The C ABI, op family "lookups": zero-copy and copying lookups, values,
// keys, count, list and match, all read from the segment.
#include <vector>

#include "c_api_state.hpp"

using namespace shmreg::c_api;

namespace {

// The arguments every lookup by key checks first.
int check_lookup(const shmreg_registry* registry, const char* key, std::size_t key_len) noexcept {
  if (registry == nullptr) return null_argument("registry");
  if (!is_bytes(key, key_len)) return null_bytes("key");
  return SHMREG_OK;
}

// Hands a list of entries to the caller.
int give(shmreg::Result<std::vector<shmreg::Entry>>&& r, shmreg_entry_list** out) {
  if (!r) return fail(r.error());
  *out = make_entry_list(*r);
  return SHMREG_OK;
}

// Calls call(const shmreg_entry*, size_t) with entries as C views: one
// entry (every unique hit) or none on the stack, more through buf. Running
// out of memory for buf sets *out_of_memory and skips the call: the C++
// lookups are noexcept, so the caller reports it after they return.
template <class Call>
void with_c_entries(std::span<const shmreg::EntryView> entries, std::vector<shmreg_entry>& buf, bool& out_of_memory,
                    Call&& call) {
  auto c_view = [](const shmreg::EntryView& e) {
    return shmreg_entry{e.key.data(), e.key.size(), e.value.data(), e.value.size(), e.pid, e.version};
  };
  if (entries.size() <= 1) {
    if (entries.empty()) return call(nullptr, 0);
    const shmreg_entry one = c_view(entries[0]);
    return call(&one, 1);
  }
  try {
    buf.clear();
    for (const auto& e : entries) buf.push_back(c_view(e));
  } catch (const std::bad_alloc&) {
    out_of_memory = true;
    return;
  }
  call(buf.data(), buf.size());
}

}  // namespace

extern "C" {

int shmreg_lookup_views(const shmreg_registry* registry, const char* key, size_t key_len, shmreg_lookup_fn fn,
                        void* ctx, size_t* count) {
  return c_call([&]() -> int {
    if (int rc = check_lookup(registry, key, key_len)) return rc;
    if (fn == nullptr) return null_argument("fn");
    // The C views are rebuilt for each call of fn, so that a retried read
    // never shows fn a view of the torn one.
    std::vector<shmreg_entry> views;
    bool out_of_memory = false;
    auto seen = registry->registry.lookup(view(key, key_len), [&](std::span<const shmreg::EntryView> entries) {
      with_c_entries(entries, views, out_of_memory,
                     [&](const shmreg_entry* es, std::size_t n) { fn(ctx, es, n); });
    });
    if (!seen) return fail(seen.error());
    if (out_of_memory) return fail(shmreg::Errc::out_of_memory, "out of memory");
    if (count) *count = *seen;
    return SHMREG_OK;
  });
}

int shmreg_lookup_batch(const shmreg_registry* registry, const char* const* keys, const size_t* key_lens, size_t n,
                        shmreg_batch_fn fn, void* ctx, size_t* found) {
  return c_call([&]() -> int {
    if (registry == nullptr) return null_argument("registry");
    if (fn == nullptr) return null_argument("fn");
    if (n > 0 && keys == nullptr) return null_argument("keys");
    if (n > 0 && key_lens == nullptr) return null_argument("key_lens");
    std::vector<std::string_view> views(n);
    for (size_t i = 0; i < n; ++i) {
      if (!is_bytes(keys[i], key_lens[i])) return null_bytes("keys[" + std::to_string(i) + "]");
      views[i] = view(keys[i], key_lens[i]);
    }
    std::vector<shmreg_entry> many;
    bool out_of_memory = false;
    auto seen = registry->registry.lookup_batch(views, [&](std::size_t i, std::span<const shmreg::EntryView> es) {
      with_c_entries(es, many, out_of_memory,
                     [&](const shmreg_entry* entries, std::size_t count) { fn(ctx, i, entries, count); });
    });
    if (!seen) return fail(seen.error());
    if (out_of_memory) return fail(shmreg::Errc::out_of_memory, "out of memory");
    if (found) *found = *seen;
    return SHMREG_OK;
  });
}

int shmreg_lookup_value(const shmreg_registry* registry, const char* key, size_t key_len, char* buf,
                        size_t buf_size, size_t* value_len) {
  return c_call([&]() -> int {
    if (int rc = check_lookup(registry, key, key_len)) return rc;
    if (int rc = check_out(buf, buf_size, value_len)) return rc;
    auto value = registry->registry.lookup_value(view(key, key_len));
    if (!value) return fail(value.error());
    if (!*value)
      return fail(shmreg::Errc::not_found, "no entry under the key in registry '" +
                                               std::string(registry->registry.name()) + "'");
    return copy_out(**value, buf, buf_size, value_len);
  });
}

int shmreg_lookup(const shmreg_registry* registry, const char* key, size_t key_len, shmreg_entry_list** out) {
  return c_call([&]() -> int {
    if (int rc = check_lookup(registry, key, key_len)) return rc;
    if (out == nullptr) return null_argument("out");
    return give(registry->registry.lookup(view(key, key_len)), out);
  });
}

int shmreg_values(const shmreg_registry* registry, const char* key, size_t key_len, uint32_t pid,
                  shmreg_entry_list** out) {
  return c_call([&]() -> int {
    if (int rc = check_lookup(registry, key, key_len)) return rc;
    if (out == nullptr) return null_argument("out");
    return give(registry->registry.values(view(key, key_len), pid), out);
  });
}

int shmreg_keys(const shmreg_registry* registry, uint32_t pid, shmreg_key_list** out) {
  return c_call([&]() -> int {
    if (registry == nullptr) return null_argument("registry");
    if (out == nullptr) return null_argument("out");
    auto keys = registry->registry.keys(pid);
    if (!keys) return fail(keys.error());
    *out = make_key_list(*keys);
    return SHMREG_OK;
  });
}

int shmreg_count(const shmreg_registry* registry, uint64_t* count) {
  return c_call([&]() -> int {
    if (registry == nullptr) return null_argument("registry");
    if (count == nullptr) return null_argument("count");
    auto n = registry->registry.count();
    if (!n) return fail(n.error());
    *count = *n;
    return SHMREG_OK;
  });
}

int shmreg_list(const shmreg_registry* registry, shmreg_entry_list** out) {
  return c_call([&]() -> int {
    if (registry == nullptr) return null_argument("registry");
    if (out == nullptr) return null_argument("out");
    return give(registry->registry.list(), out);
  });
}

int shmreg_match(const shmreg_registry* registry, const char* key, size_t key_len, const char* pattern,
                 const char* guards, shmreg_entry_list** out) {
  return c_call([&]() -> int {
    if (int rc = check_lookup(registry, key, key_len)) return rc;
    if (pattern == nullptr) return null_argument("pattern");
    if (out == nullptr) return null_argument("out");
    return give(registry->registry.match(view(key, key_len), pattern, guards ? guards : ""), out);
  });
}

}  // extern "C"
