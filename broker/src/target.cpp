// The process behind a passed pidfd, and the policy on acting for it (see target.hpp).
#include "target.hpp"

#include <unistd.h>

#include <fstream>
#include <optional>
#include <sstream>

#include "shmreg/sys/pidfd.hpp"

namespace shmreg::broker {

namespace {

// The value after "<name>:" on the first line that starts with it.
std::optional<std::string> proc_field(const std::string& path, std::string_view name) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (line.size() > name.size() && line.compare(0, name.size(), name) == 0 && line[name.size()] == ':')
      return line.substr(name.size() + 1);
  return std::nullopt;
}

TargetError invalid(std::string message) { return TargetError{proto::Status::invalid_argument, std::move(message)}; }

std::string exited(pid_t pid) {
  return "the target process" + (pid > 0 ? " (pid " + std::to_string(pid) + ")" : std::string()) +
         " has exited; pass a pidfd of a live process";
}

}  // namespace

std::expected<TargetProcess, TargetError> target_of(int pidfd, uid_t caller_uid) {
  if (!sys::is_pidfd(pidfd)) return std::unexpected(invalid("the descriptor passed for the target is not a pidfd"));
  const auto field = sys::pidfd_pid_field(pidfd);
  if (!field) return std::unexpected(invalid("cannot read the pid behind the passed pidfd"));
  const long pid = *field;
  if (pid < 0) return std::unexpected(invalid(exited(0)));
  if (pid == 0) return std::unexpected(invalid("the target process is not visible in the broker's pid namespace"));
  TargetProcess t;
  t.pid = static_cast<pid_t>(pid);
  const std::string status = "/proc/" + std::to_string(pid) + "/status";
  long long tgid = -1;
  std::istringstream tgid_in(proc_field(status, "Tgid").value_or(""));
  if (!(tgid_in >> tgid)) return std::unexpected(invalid(exited(t.pid)));
  if (tgid != pid)
    return std::unexpected(invalid("the passed pidfd refers to thread " + std::to_string(pid) + " of process " +
                                   std::to_string(tgid) + "; entries belong to processes: pass a process pidfd"));
  unsigned long long real = 0, effective = 0, saved = 0;
  std::istringstream uid_in(proc_field(status, "Uid").value_or(""));
  if (!(uid_in >> real >> effective >> saved)) return std::unexpected(invalid(exited(t.pid)));
  if (caller_uid != 0 && (real != caller_uid || effective != caller_uid || saved != caller_uid))
    return std::unexpected(TargetError{
        proto::Status::permission_denied,
        "permission denied: uid " + std::to_string(caller_uid) + " may act only for its own processes, and pid " +
            std::to_string(pid) + " runs as uid " + std::to_string(real) + "/" + std::to_string(effective) + "/" +
            std::to_string(saved) + " (real/effective/saved); only root may act for any process"});
  t.uid = static_cast<uid_t>(effective);
  unsigned long long gid_real = 0, gid_effective = 0;
  std::istringstream gid_in(proc_field(status, "Gid").value_or(""));
  if (!(gid_in >> gid_real >> gid_effective)) return std::unexpected(invalid(exited(t.pid)));
  t.groups.push_back(static_cast<gid_t>(gid_effective));
  std::istringstream groups_in(proc_field(status, "Groups").value_or(""));
  for (unsigned long long g = 0; groups_in >> g;)
    if (g != gid_effective) t.groups.push_back(static_cast<gid_t>(g));
  // Last: it fails if the process has exited, which makes the reads above its own.
  auto id = identity_of(pidfd, t.pid);
  if (!id) return std::unexpected(invalid(exited(t.pid)));
  t.identity = *id;
  return t;
}

}  // namespace shmreg::broker
