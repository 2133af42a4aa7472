// Removal of a run's files, also on a fatal signal (see cleanup.hpp).
#include "cleanup.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>

namespace shmreg::bench {

namespace {

struct CleanupItem {
  CleanupKind kind;
  char name[512];
};

// A fixed array, not a container: the signal handler must not allocate.
constexpr std::size_t kMaxCleanup = 64;
CleanupItem g_items[kMaxCleanup];
std::atomic<std::size_t> g_count{0};
std::mutex g_register_mutex;

extern "C" void on_fatal_signal(int sig) {
  cleanup_all();
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

}  // namespace

void cleanup_register(CleanupKind kind, const std::string& name) {
  std::lock_guard lock(g_register_mutex);
  const std::size_t i = g_count.load(std::memory_order_relaxed);
  if (i >= kMaxCleanup || name.size() + 2 > sizeof g_items[i].name) return;
  g_items[i].kind = kind;
  std::memcpy(g_items[i].name, name.data(), name.size());
  g_items[i].name[name.size()] = '\0';
  g_count.store(i + 1, std::memory_order_release);
}

void cleanup_all() noexcept {
  // Files before the directories that hold them: items were registered in
  // creation order, so walk them backwards.
  for (std::size_t i = g_count.load(std::memory_order_acquire); i-- > 0;) {
    const CleanupItem& it = g_items[i];
    switch (it.kind) {
      case CleanupKind::file: ::unlink(it.name); break;
      case CleanupKind::dir: ::rmdir(it.name); break;
    }
  }
}

void install_cleanup_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_fatal_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
}

}  // namespace shmreg::bench
