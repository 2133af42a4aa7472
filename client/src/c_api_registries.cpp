// The C ABI, op family "registries": opening and closing a namespace, ping,
// creating and opening registries.
#include <algorithm>

#include "c_api_state.hpp"

namespace shmreg::c_api {

std::optional<std::chrono::milliseconds> timeout_of(std::int64_t timeout_ms) noexcept {
  if (timeout_ms < 0) {
    fail(Errc::invalid_argument, "timeout_ms must not be negative");
    return std::nullopt;
  }
  // A century stands for "no limit": the C++ calls add the timeout to the
  // steady clock in nanoseconds, which a larger one would overflow.
  constexpr std::int64_t kCenturyMs = 100LL * 365 * 24 * 3600 * 1000;
  return std::chrono::milliseconds(std::min(timeout_ms, kCenturyMs));
}

}  // namespace shmreg::c_api

using namespace shmreg::c_api;

extern "C" {

int shmreg_open(const char* ns, const char* socket_path, int64_t timeout_ms, shmreg_client** out) {
  return c_call([&]() -> int {
    if (out == nullptr) return null_argument("out");
    auto timeout = timeout_of(timeout_ms);
    if (!timeout) return SHMREG_INVALID_ARGUMENT;
    shmreg::ClientOptions options{.ns = ns ? ns : "", .socket = socket_path ? socket_path : "", .timeout = *timeout};
    auto client = shmreg::Client::open(options);
    if (!client) return fail(client.error());
    *out = new shmreg_client{std::move(*client)};
    return SHMREG_OK;
  });
}

void shmreg_close(shmreg_client* client) { delete client; }

int shmreg_ping(const shmreg_client* client, uint32_t* broker_pid) {
  return c_call([&]() -> int {
    if (client == nullptr) return null_argument("client");
    auto pid = client->client.ping();
    if (!pid) return fail(pid.error());
    if (broker_pid) *broker_pid = *pid;
    return SHMREG_OK;
  });
}

int shmreg_registry_create(const shmreg_client* client, const char* name, const shmreg_registry_options* options) {
  return c_call([&]() -> int {
    if (client == nullptr) return null_argument("client");
    if (name == nullptr) return null_argument("name");
    shmreg::RegistryOptions o;
    if (options) {
      o.unique = options->duplicate == 0;
      o.partitions = options->partitions == 0 ? 1 : options->partitions;
      o.max_key = options->max_key;
      o.max_value = options->max_value;
      o.capacity = options->capacity;
    }
    auto r = client->client.create_registry(name, o);
    return r ? SHMREG_OK : fail(r.error());
  });
}

int shmreg_registry_open(const shmreg_client* client, const char* name, shmreg_registry** out) {
  return c_call([&]() -> int {
    if (client == nullptr) return null_argument("client");
    if (name == nullptr) return null_argument("name");
    if (out == nullptr) return null_argument("out");
    auto r = client->client.registry(name);
    if (!r) return fail(r.error());
    *out = new shmreg_registry{std::move(*r)};
    return SHMREG_OK;
  });
}

void shmreg_registry_close(shmreg_registry* registry) { delete registry; }

}  // extern "C"
