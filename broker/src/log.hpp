// The broker's log: one line per event on stderr, prefixed with the namespace
// ("shmreg-broker[<ns>]: ..."), which journald keeps under the broker's unit.
//
// Thread-safety: single-threaded, like everything on the broker's io_context.
#pragma once

#include <iostream>
#include <string>
#include <string_view>

namespace shmreg::broker {

class BrokerLog {
 public:
  explicit BrokerLog(std::string ns) : ns_(std::move(ns)) {}

  void operator()(std::string_view line) const { std::cerr << "shmreg-broker[" << ns_ << "]: " << line << std::endl; }
  [[nodiscard]] const std::string& ns() const noexcept { return ns_; }

 private:
  std::string ns_;
};

}  // namespace shmreg::broker
