// The segment file's name, watched while the broker runs.
//
// Readers find the segment by its name in the runtime directory; the broker
// writes it through a mapping. If the name is removed (an admin's rm,
// systemd-tmpfiles or a clean-up script ageing files under /run) or
// renamed, the broker would go on writing a file no new reader can open, and
// a restarted broker would create an empty segment: every live owner's
// entries lost. So the guard checks, every kCheckInterval, that the name
// still leads to the file the broker maps: one fstatat, compared with the
// device and inode that file had when the writer attached to it or created it
// (no descriptor is held for it: a broker short of descriptors needs each
// one). When it does not:
//  - the name is free: the guard writes the live image (the broker is
//    between writes, so it is whole) into a new file created there with
//    O_TMPFILE and linked at the name once whole, with the mode and group
//    the settings in force give the segment (segment_access()),
//    re-attaches the writer to it (the generation goes up), hands the broker
//    a reader of that same descriptor (on_recreated: its own reader must map
//    the writer's file, never whatever the name leads to later) and logs
//    what happened. Owners keep their entries and their pidfds; new readers
//    open the new file. A recreation that fails is tried again at each check,
//    logged at the 1st, 2nd, 4th, 8th... failure, never twice a second.
//  - another file holds the name (only the broker's uid or root can put one
//    there): the broker refuses to guess which one readers should trust,
//    logs both and stops as on a broken invariant (exit 3).
//  - the runtime directory itself is gone (logind removes a user's at the
//    end of the last session), renamed or replaced at its path, or the
//    socket's name removed or taken by another file: no client can reach
//    the broker, so it stops the same way and its service manager may start
//    a fresh one. These are checked first, and a segment name found free is
//    recreated only if it is still free at the next check, so that a
//    directory being removed whole is never written into.
// Once the new file is linked at the name, and only then, the old mapping
// is marked superseded (SegmentWriter::mark_superseded): processes that
// still map the old file get Errc::superseded (clients: segment_replaced)
// from every read, their watchers and awaits are woken to return it, and
// their writes are refused before they reach the broker, until they open
// the namespace again; the log line says so. A recreation that fails marks
// nothing: the old file stays the namespace's.
//
// Thread-safety: single-threaded, on the broker's io_context.
#pragma once

#include <sys/stat.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "log.hpp"
#include "settings.hpp"
#include "shmreg/shm/reader.hpp"
#include "shmreg/shm/writer.hpp"
#include "shutdown.hpp"

namespace shmreg::broker {

class SegmentGuard {
 public:
  static constexpr std::chrono::milliseconds kCheckInterval{500};

  // dir_fd, name and path: where the segment lives (runtime_dir.hpp). writer
  // is the broker's, replaced in place on a recreation, so that every holder
  // of a reference to it writes the new file; on_recreated then receives a
  // reader mapping the new file.
  // settings: the settings in force (a reload replaces them in place).
  SegmentGuard(boost::asio::io_context& io, int dir_fd, std::string name, std::string path,
               shm::SegmentWriter& writer, shm::WriterOptions options, const Settings& settings,
               const BrokerLog& log, Shutdown& shutdown,
               std::function<void(shm::SegmentReader)> on_recreated);

  // Remembers the file at the name the writer was just attached to or
  // created at; false (logged) if it cannot be stat'ed.
  [[nodiscard]] bool arm();
  // Remembers the runtime directory at dir_path (the one dir_fd is) and the
  // socket the broker just bound at socket_name in it; false (logged) if
  // either cannot be stat'ed.
  [[nodiscard]] bool arm_directory(std::string dir_path, std::string socket_name);
  // The periodic check, until the io_context stops.
  void start();

 private:
  void check();
  // False (the broker stopping, logged) when the runtime directory or the
  // socket's name no longer lead to what the broker holds and bound.
  bool directory_intact();
  // The name is free: the live image into a new file there, the writer moved
  // over to it; returns a reader of the new file. Nothing (logged, nothing
  // left at the name) when it failed; the next check tries again.
  std::optional<shm::SegmentReader> recreate();
  // Gives the new file fd the segment's group; false (errno set) if it cannot.
  [[nodiscard]] static bool give_group(int fd, gid_t gid);
  // The file at the name now, as the writer's.
  void remember(const struct stat& st);
  // Logs a failed recreation when failures_ is a power of two.
  void log_failure(const std::string& what);

  boost::asio::steady_timer timer_;
  const int dir_fd_;
  const std::string name_;
  const std::string path_;
  shm::SegmentWriter& writer_;
  const shm::WriterOptions options_;
  const Settings& settings_;
  const BrokerLog& log_;
  Shutdown& shutdown_;
  const std::function<void(shm::SegmentReader)> on_recreated_;
  std::uint64_t failures_ = 0;  // failed recreations since the name went
  bool seen_missing_ = false;  // the segment's name was free at the last check
  // The file the writer maps.
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  // The runtime directory and the bound socket (arm_directory).
  std::string dir_path_;
  std::string socket_name_;
  struct stat dir_{};
  struct stat socket_{};
};

}  // namespace shmreg::broker
