// UniqueFd: the one owner of a file descriptor in shmreg.
//
// Move-only; closes what it holds when destroyed or reset. Every descriptor
// the broker, the client, the CLI, the tests and the benchmarks open is held
// by one of these from the moment the syscall returns it.
//
// Thread-safety: as a plain int; one object is not shared between threads
// without synchronisation.
#pragma once

namespace shmreg::sys {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  [[nodiscard]] int get() const noexcept { return fd_; }
  // Gives up ownership: the caller closes the descriptor.
  [[nodiscard]] int release() noexcept {
    const int f = fd_;
    fd_ = -1;
    return f;
  }
  // Closes the held descriptor (if any) and holds fd instead.
  void reset(int fd = -1) noexcept;
  explicit operator bool() const noexcept { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// A pipe whose two ends are close-on-exec; both empty when pipe2 failed
// (errno set).
struct Pipe {
  UniqueFd read;
  UniqueFd write;
  [[nodiscard]] static Pipe make() noexcept;
};

}  // namespace shmreg::sys
