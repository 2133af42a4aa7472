// The C ABI, op family "registration": register and unregister for the
// calling process.
#include "c_api_state.hpp"

using namespace shmreg::c_api;

extern "C" {

int shmreg_register(const shmreg_client* client, const char* registry, const char* key, size_t key_len,
                    const char* value, size_t value_len, uint64_t* version) {
  return c_call([&]() -> int {
    if (client == nullptr) return null_argument("client");
    if (registry == nullptr) return null_argument("registry");
    if (!is_bytes(key, key_len)) return null_bytes("key");
    if (!is_bytes(value, value_len)) return null_bytes("value");
    auto v = client->client.register_key(registry, view(key, key_len), view(value, value_len));
    if (!v) return fail(v.error());
    if (version) *version = *v;
    return SHMREG_OK;
  });
}

int shmreg_unregister(const shmreg_client* client, const char* registry, const char* key, size_t key_len,
                      uint32_t* removed) {
  return c_call([&]() -> int {
    if (client == nullptr) return null_argument("client");
    if (registry == nullptr) return null_argument("registry");
    if (!is_bytes(key, key_len)) return null_bytes("key");
    auto n = client->client.unregister(registry, view(key, key_len));
    if (!n) return fail(n.error());
    if (removed) *removed = *n;
    return SHMREG_OK;
  });
}

}  // extern "C"
