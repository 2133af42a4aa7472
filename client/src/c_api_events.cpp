// The C ABI, op family "events": a watcher handing out one event at a time,
// and await.
#include "c_api_state.hpp"

using namespace shmreg::c_api;

extern "C" {

int shmreg_watch(const shmreg_registry* registry, const char* key, size_t key_len, shmreg_watcher** out) {
  return c_call([&]() -> int {
    if (registry == nullptr) return null_argument("registry");
    if (out == nullptr) return null_argument("out");
    std::optional<std::string> only;
    if (key) only = std::string(key, key_len);
    else if (key_len != 0) return null_bytes("key");
    *out = new shmreg_watcher{registry->registry.watch(std::move(only)), {}, {}};
    return SHMREG_OK;
  });
}

int shmreg_watch_next(shmreg_watcher* watcher, int64_t timeout_ms, shmreg_event* event) {
  return c_call([&]() -> int {
    if (watcher == nullptr) return null_argument("watcher");
    if (event == nullptr) return null_argument("event");
    auto timeout = timeout_of(timeout_ms);
    if (!timeout) return SHMREG_INVALID_ARGUMENT;
    if (watcher->pending.empty()) {
      auto batch = watcher->watcher.next(*timeout);
      if (!batch) return fail(batch.error());
      if (batch->empty())
        return fail_timeout("no event", timeout_ms);
      watcher->pending.assign(std::make_move_iterator(batch->begin()), std::make_move_iterator(batch->end()));
    }
    watcher->current = std::move(watcher->pending.front());
    watcher->pending.pop_front();
    const shmreg::Event& e = watcher->current;
    *event = shmreg_event{e.seq,    static_cast<int>(e.type), e.key.data(), e.key.size(), e.pid, e.old_pid,
                          e.version, e.time_ns};
    return SHMREG_OK;
  });
}

void shmreg_watch_close(shmreg_watcher* watcher) { delete watcher; }

int shmreg_await(const shmreg_registry* registry, const char* key, size_t key_len, int64_t timeout_ms) {
  return c_call([&]() -> int {
    if (registry == nullptr) return null_argument("registry");
    if (!is_bytes(key, key_len)) return null_bytes("key");
    auto timeout = timeout_of(timeout_ms);
    if (!timeout) return SHMREG_INVALID_ARGUMENT;
    auto registered = registry->registry.await(view(key, key_len), *timeout);
    if (!registered) return fail(registered.error());
    if (!*registered)
      return fail_timeout("the key was not registered", timeout_ms);
    return SHMREG_OK;
  });
}

}  // extern "C"
