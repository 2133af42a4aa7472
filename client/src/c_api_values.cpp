// The C ABI, op family "values": set_value (compare-and-set), update_value
// over a C callback, and a registry's meta.
#include "c_api_state.hpp"

using namespace shmreg::c_api;

namespace {

// Thrown through the C++ update_value (which turns any exception of its
// function into invalid_argument) when the C callback cancels.
struct UpdateCancelled {};

// The arguments every write by key checks first.
int check_write(const shmreg_client* client, const char* registry, const char* key, std::size_t key_len) noexcept {
  if (client == nullptr) return null_argument("client");
  if (registry == nullptr) return null_argument("registry");
  if (!is_bytes(key, key_len)) return null_bytes("key");
  return SHMREG_OK;
}

}  // namespace

extern "C" {

int shmreg_set_value(const shmreg_client* client, const char* registry, const char* key, size_t key_len,
                     const char* value, size_t value_len, const uint64_t* expected_version, uint64_t* version) {
  return c_call([&]() -> int {
    if (int rc = check_write(client, registry, key, key_len)) return rc;
    if (!is_bytes(value, value_len)) return null_bytes("value");
    std::optional<std::uint64_t> expected;
    if (expected_version) expected = *expected_version;
    auto v = client->client.set_value(registry, view(key, key_len), view(value, value_len), expected);
    if (!v) return fail(v.error());
    if (version) *version = *v;
    return SHMREG_OK;
  });
}

int shmreg_update_value(const shmreg_client* client, const char* registry, const char* key, size_t key_len,
                        shmreg_update_fn fn, void* ctx, uint64_t* version) {
  return c_call([&]() -> int {
    if (int rc = check_write(client, registry, key, key_len)) return rc;
    if (fn == nullptr) return null_argument("fn");
    const char* cancelled = nullptr;  // why fn's answer was refused
    auto r = client->client.update_value(registry, view(key, key_len), [&](std::string_view old) {
      const char* next = nullptr;
      std::size_t next_len = 0;
      if (fn(ctx, old.data(), old.size(), &next, &next_len) != 0) {
        cancelled = "the update function returned nonzero; nothing was changed";
        throw UpdateCancelled{};
      }
      if (!is_bytes(next, next_len)) {
        cancelled = "the update function gave a NULL value with a nonzero length; nothing was changed";
        throw UpdateCancelled{};
      }
      return std::string(view(next, next_len));
    });
    if (!r && cancelled) return fail(shmreg::Errc::invalid_argument, cancelled);
    if (!r) return fail(r.error());
    if (version) *version = r->version;
    return SHMREG_OK;
  });
}

int shmreg_meta_get(const shmreg_registry* registry, const char* key, size_t key_len, char* buf, size_t buf_size,
                    size_t* value_len) {
  return c_call([&]() -> int {
    if (registry == nullptr) return null_argument("registry");
    if (!is_bytes(key, key_len)) return null_bytes("key");
    if (int rc = check_out(buf, buf_size, value_len)) return rc;
    auto value = registry->registry.meta(view(key, key_len));
    if (!value) return fail(value.error());
    if (!*value)
      return fail(shmreg::Errc::not_found,
                  "no meta under the key in registry '" + std::string(registry->registry.name()) + "'");
    return copy_out(**value, buf, buf_size, value_len);
  });
}

int shmreg_meta_put(const shmreg_client* client, const char* registry, const char* key, size_t key_len,
                    const char* value, size_t value_len) {
  return c_call([&]() -> int {
    if (int rc = check_write(client, registry, key, key_len)) return rc;
    if (!is_bytes(value, value_len)) return null_bytes("value");
    auto r = client->client.put_meta(registry, view(key, key_len), view(value, value_len));
    return r ? SHMREG_OK : fail(r.error());
  });
}

int shmreg_meta_delete(const shmreg_client* client, const char* registry, const char* key, size_t key_len,
                       int* deleted) {
  return c_call([&]() -> int {
    if (int rc = check_write(client, registry, key, key_len)) return rc;
    auto r = client->client.delete_meta(registry, view(key, key_len));
    if (!r) return fail(r.error());
    if (deleted) *deleted = *r ? 1 : 0;
    return SHMREG_OK;
  });
}

}  // extern "C"
