// The segment file's name, watched (see segment_guard.hpp).
#include "segment_guard.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "settings_apply.hpp"
#include "shmreg/sys/io.hpp"
#include "shmreg/sys/unique_fd.hpp"

namespace shmreg::broker {

SegmentGuard::SegmentGuard(boost::asio::io_context& io, int dir_fd, std::string name, std::string path,
                           shm::SegmentWriter& writer, shm::WriterOptions options, const Settings& settings,
                           const BrokerLog& log, Shutdown& shutdown,
                           std::function<void(shm::SegmentReader)> on_recreated)
    : timer_(io),
      dir_fd_(dir_fd),
      name_(std::move(name)),
      path_(std::move(path)),
      writer_(writer),
      options_(options),
      settings_(settings),
      log_(log),
      shutdown_(shutdown),
      on_recreated_(std::move(on_recreated)) {}

bool SegmentGuard::arm() {
  struct stat st{};
  if (::fstatat(dir_fd_, name_.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    log_("cannot stat the segment " + path_ + " to watch its name: " + std::strerror(errno));
    return false;
  }
  remember(st);
  return true;
}

bool SegmentGuard::arm_directory(std::string dir_path, std::string socket_name) {
  dir_path_ = std::move(dir_path);
  socket_name_ = std::move(socket_name);
  if (::fstat(dir_fd_, &dir_) != 0 || ::fstatat(dir_fd_, socket_name_.c_str(), &socket_, AT_SYMLINK_NOFOLLOW) != 0) {
    log_("cannot stat the runtime directory " + dir_path_ + " or its socket to watch them: " + std::strerror(errno));
    return false;
  }
  return true;
}

void SegmentGuard::remember(const struct stat& st) {
  dev_ = st.st_dev;
  ino_ = st.st_ino;
}

void SegmentGuard::start() {
  timer_.expires_after(kCheckInterval);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || shutdown_.halting()) return;
    check();
    start();
  });
}

// The runtime directory removed (logind removes a user's at the end of the
// last session; or an admin), renamed or replaced, or the socket's name gone:
// no client can reach this broker again.
bool SegmentGuard::directory_intact() {
  if (socket_name_.empty()) return true;
  struct stat now{};
  std::string wrong;
  if (::fstat(dir_fd_, &now) == 0 && now.st_nlink == 0)
    wrong = "the runtime directory of " + path_ + " was removed while the broker ran, with its socket and segment";
  else if (::stat(dir_path_.c_str(), &now) != 0 || now.st_dev != dir_.st_dev || now.st_ino != dir_.st_ino)
    wrong = "the runtime directory " + dir_path_ + " was renamed or replaced while the broker ran";
  else if (::fstatat(dir_fd_, socket_name_.c_str(), &now, AT_SYMLINK_NOFOLLOW) != 0 ||
           now.st_dev != socket_.st_dev || now.st_ino != socket_.st_ino)
    wrong = "the broker's socket " + dir_path_ + "/" + socket_name_ + " was removed or replaced while the broker ran";
  if (wrong.empty()) return true;
  shutdown_.broken_invariant(wrong + ": no client can reach this broker any more");
  return false;
}

void SegmentGuard::check() {
  if (!directory_intact()) return;
  struct stat named{};
  const bool present = ::fstatat(dir_fd_, name_.c_str(), &named, AT_SYMLINK_NOFOLLOW) == 0;
  const int missing = present ? 0 : errno;
  const bool was_missing = std::exchange(seen_missing_, false);
  if (present && named.st_dev == dev_ && named.st_ino == ino_) return remember(named);
  const std::string ours = "inode " + std::to_string(ino_);
  if (present) {
    shutdown_.broken_invariant("the segment's name " + path_ + " now leads to another file (inode " +
                               std::to_string(named.st_ino) + ") than the one this broker writes (" + ours +
                               "); refusing to choose which one readers trust");
    return;
  }
  if (missing != ENOENT) {
    // Neither free nor ours: nothing is done until the name can be stat'ed.
    errno = missing;
    log_failure("cannot stat the segment's name " + path_ + ": " + std::strerror(missing));
    return;
  }
  // Free at two checks in a row: a directory being removed whole is gone
  // (and noticed above) by the second.
  seen_missing_ = true;
  if (!was_missing) return;
  if (failures_ == 0)
    log_("the segment file " + path_ + " (" + ours +
         ") was removed while the broker ran (by an admin, systemd-tmpfiles or a clean-up script?); recreating it "
         "from the live segment");
  auto reader = recreate();
  if (!reader) return;
  failures_ = 0;
  on_recreated_(std::move(*reader));
  log_("recreated the segment " + path_ + " with every entry (now inode " + std::to_string(ino_) +
       "); the old file is marked superseded: processes that still map it get segment_replaced until they "
       "open the namespace again");
}

void SegmentGuard::log_failure(const std::string& what) {
  ++failures_;
  if ((failures_ & (failures_ - 1)) != 0) return;
  log_(what + " (failure " + std::to_string(failures_) + "); trying again every " +
       std::to_string(kCheckInterval.count()) + " ms, logged at the 2nd, 4th, 8th... failure");
}

// fchown only when the group must change: the systemd unit allows it, but a
// filter that forbids @chown kills the broker at the call (SIGSYS), and a new
// file most often has the broker's group already.
bool SegmentGuard::give_group(int fd, gid_t gid) {
  struct stat st{};
  if (::fstat(fd, &st) != 0) return false;
  return st.st_gid == gid || ::fchown(fd, static_cast<uid_t>(-1), gid) == 0;
}

// The new file is made unnamed (O_TMPFILE) and linked at the name only once
// whole: a reader that opens the name, root's included, never finds a file
// still being written, and a name taken meanwhile makes the link fail.
std::optional<shm::SegmentReader> SegmentGuard::recreate() {
  // The settings in force, not the old file's: a reload may have changed
  // segment_group since the name was last seen.
  const SegmentAccess access = segment_access(settings_);
  sys::UniqueFd fd(::openat(dir_fd_, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  const bool written = fd && sys::write_all(fd.get(), writer_.data(), writer_.size()) &&
                       give_group(fd.get(), access.gid) && ::fchmod(fd.get(), access.mode) == 0;
  if (!written) {
    log_failure("cannot recreate the segment " + path_ + " (" + std::to_string(writer_.size()) +
                " bytes): " + std::strerror(errno));
    return std::nullopt;
  }
  auto attached = shm::SegmentWriter::attach_fd(fd.get(), options_);
  if (!attached) {
    log_failure("cannot attach the recreated segment " + path_ + ": " + std::string(shm::to_string(attached.error())));
    return std::nullopt;
  }
  // Mapped from the writer's descriptor: the name could lead elsewhere by
  // the time the broker would open it.
  auto reader = shm::SegmentReader::open_fd(fd.get());
  if (!reader) {
    log_failure("cannot map the recreated segment " + path_ + " for reading: " +
                std::string(shm::to_string(reader.error())));
    return std::nullopt;
  }
  const std::string self = "/proc/self/fd/" + std::to_string(fd.get());
  if (::linkat(AT_FDCWD, self.c_str(), dir_fd_, name_.c_str(), AT_SYMLINK_FOLLOW) != 0) {
    log_failure("cannot link the recreated segment at " + path_ + ": " + std::strerror(errno));
    return std::nullopt;
  }
  // Only now that a reader opening the name finds the new file: the mark on
  // the old one tells every process still mapping it to open the namespace
  // again, and wakes its watchers. The image copied above never carries it.
  writer_.mark_superseded();
  writer_ = std::move(*attached);
  struct stat st{};
  if (::fstat(fd.get(), &st) == 0) remember(st);
  return std::move(*reader);
}

}  // namespace shmreg::broker
