// The owner watches (see owner_watches.hpp).
#include "owner_watches.hpp"

#include <fcntl.h>
#include <systemd/sd-daemon.h>

#include <cerrno>
#include <cstring>

#include "shmreg/shm/errc.hpp"
#include "shmreg/sys/pidfd.hpp"

namespace asio = boost::asio;

namespace shmreg::broker {

// Invariants 3 and 8: an owner recorded in the segment keeps its entries only
// if a process with that pid AND that identity is alive right now.
bool OwnerWatches::reconcile() {
  std::size_t kept = 0, reaped = 0;
  for (const shm::OwnerRecord& o : writer_.owners())
    if (!reconcile_one(o, kept, reaped)) return false;
  if (kept + reaped > 0)
    log_("reconciled owners: " + std::to_string(kept) + " alive and re-armed, " + std::to_string(reaped) + " reaped");
  return !shutdown_.halting();
}

bool OwnerWatches::reconcile_one(const shm::OwnerRecord& o, std::size_t& kept, std::size_t& reaped) {
  const auto pid = static_cast<pid_t>(o.identity.pid);
  sys::UniqueFd fd = sys::open_pidfd(pid);
  if (!fd) {
    // Only "no such process" proves the owner gone. Anything else (out of
    // descriptors, say) proves nothing: stop before reaping the living.
    if (errno != ESRCH) {
      log_("cannot check owner pid " + std::to_string(pid) + ": " + std::strerror(errno) +
           "; refusing to start rather than reap owners that may be alive");
      return false;
    }
    reap(pid, "died while no broker ran");
    ++reaped;
    return true;
  }
  auto now = identity_of(fd.get(), pid, o.identity.kind);
  if (!now) {
    if (sys::pidfd_exited(fd.get())) {
      reap(pid, "died while no broker ran");
      ++reaped;
      return true;
    }
    // The recorded kind cannot be checked on this kernel: keep the entries
    // (they leave only for a reason) and watch the process we see.
    log_("pid " + std::to_string(pid) + ": cannot verify identity (" + now.error() + "); keeping its entries");
    auto best = identity_of(fd.get(), pid);
    watch(pid, std::move(fd), best ? *best : ProcessIdentity{o.identity.kind, o.identity.value});
    ++kept;
    return true;
  }
  if (now->value != o.identity.value) {
    reap(pid, "pid was recycled by another process");
    ++reaped;
    return true;
  }
  watch(pid, std::move(fd), *now);
  ++kept;
  return true;
}

std::expected<sys::UniqueFd, std::string> OwnerWatches::watch_fd_for(const Owner& owner) {
  auto it = watches_.find(owner.pid);
  if (it != watches_.end() && it->second.identity.value == owner.identity.value) return sys::UniqueFd();
  sys::UniqueFd dup(::fcntl(owner.pidfd, F_DUPFD_CLOEXEC, 0));
  if (!dup) {
    const bool out_of_fds = errno == EMFILE || errno == ENFILE;
    const std::string why = "broker cannot watch pid " + std::to_string(owner.pid) + ": " + std::strerror(errno) +
                            (out_of_fds ? " (the broker is out of file descriptors; nothing was registered)" : "");
    log_(why);
    return std::unexpected(why);
  }
  return dup;
}

void OwnerWatches::ensure_watched(const Owner& owner, sys::UniqueFd fd) {
  auto it = watches_.find(owner.pid);
  if (it != watches_.end() && it->second.identity.value == owner.identity.value) return;
  if (!fd) fd.reset(::fcntl(owner.pidfd, F_DUPFD_CLOEXEC, 0));
  if (fd)
    watch(owner.pid, std::move(fd), owner.identity);
  else
    log_("cannot watch pid " + std::to_string(owner.pid) + ": " + std::strerror(errno));
  publish_status();
}

void OwnerWatches::watch(pid_t pid, sys::UniqueFd pidfd, ProcessIdentity identity) {
  Watch w;
  w.identity = identity;
  w.token = next_token_++;
  w.pidfd = std::make_unique<asio::posix::stream_descriptor>(io_, pidfd.release());
  const std::uint64_t token = w.token;
  watches_[pid] = std::move(w);
  arm(pid, token);
}

void OwnerWatches::arm(pid_t pid, std::uint64_t token) {
  auto& desc = *watches_.at(pid).pidfd;
  desc.async_wait(asio::posix::stream_descriptor::wait_read, [this, pid, token](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled: the watch was replaced or removed
    auto it = watches_.find(pid);
    if (it == watches_.end() || it->second.token != token) return;
    // Readiness is only a hint: a descriptor number reused after a session
    // closed can deliver a stale event. Only a pidfd that polls readable
    // right now proves the owner dead; otherwise wait again.
    if (!sys::pidfd_exited(it->second.pidfd->native_handle())) return arm(pid, token);
    reap(pid, "exited");
  });
}

bool OwnerWatches::reap(pid_t pid, const char* why) {
  // pid 0 owns the static entries: the namespace's, never a process's.
  if (shutdown_.halting()) return false;
  if (pid == kStaticOwnerPid) return true;
  if (before_reap_) before_reap_(pid);
  auto n = writer_.remove_owner(static_cast<std::uint32_t>(pid), shm::RemoveReason::owner_died);
  watches_.erase(pid);
  ++reaped_owners_;
  if (!n) {
    shutdown_.broken_invariant("reaping pid " + std::to_string(pid) + " (" + why +
                               ") failed: " + std::string(shm::to_string(n.error())));
    return false;
  }
  if (*n > 0) log_("reaped pid " + std::to_string(pid) + " (" + why + "): " + std::to_string(*n) + " entries removed");
  return true;
}

void OwnerWatches::settle(const Owner& owner) {
  auto it = watches_.find(owner.pid);
  if (it != watches_.end()) {
    const ProcessIdentity& watched = it->second.identity;
    if (watched.kind == owner.identity.kind && watched.value != owner.identity.value) {
      reap(owner.pid, "pid recycled by a live process");
      publish_status();
    }
    return;
  }
  // Not watched: the segment may still record the pid (an owner the broker
  // could not watch), under an identity the live process does not have.
  for (const shm::OwnerRecord& o : writer_.owners()) {
    if (o.identity.pid != static_cast<std::uint32_t>(owner.pid)) continue;
    auto now = identity_of(owner.pidfd, owner.pid, o.identity.kind);
    if (now && now->value != o.identity.value) reap(owner.pid, "pid recycled by a live process");
    return;
  }
}

OwnerWatches::Liveness OwnerWatches::liveness(pid_t pid) {
  if (pid == kStaticOwnerPid) return Liveness::alive;
  if (auto it = watches_.find(pid); it != watches_.end())
    return sys::pidfd_exited(it->second.pidfd->native_handle()) ? Liveness::dead : Liveness::alive;
  // Not watched (the broker could not duplicate its pidfd when it registered):
  // check the process itself against the identity the segment records.
  sys::UniqueFd fd = sys::open_pidfd(pid);
  if (!fd) return errno == ESRCH ? Liveness::dead : Liveness::unknown;  // e.g. EMFILE proves nothing
  for (const shm::OwnerRecord& o : writer_.owners()) {
    if (o.identity.pid != static_cast<std::uint32_t>(pid)) continue;
    auto now = identity_of(fd.get(), pid, o.identity.kind);
    if (!now) return sys::pidfd_exited(fd.get()) ? Liveness::dead : Liveness::unknown;
    return now->value == o.identity.value ? Liveness::alive : Liveness::dead;
  }
  return Liveness::unknown;
}

std::optional<ProcessIdentity> OwnerWatches::watched_identity(pid_t pid) const {
  auto it = watches_.find(pid);
  if (it == watches_.end()) return std::nullopt;
  return it->second.identity;
}

void OwnerWatches::publish_status() const {
  const std::string s = "STATUS=serving namespace " + log_.ns() + ", " + std::to_string(watches_.size()) + " owners watched, " +
                        std::to_string(reaped_owners_) + " reaped";
  sd_notify(0, s.c_str());
}

}  // namespace shmreg::broker
