// What every `shmreg` command shares: the exit codes of the CLI contract, JSON
// text that survives non-UTF-8 bytes, and the one format of error messages.
//
//   0 success; 1 not found / none; 2 usage or any other error;
//   3 already registered ("already registered by PID <n>" on stderr);
//   4 version conflict (update --expect-version).
//
// Thread-safety: for main's thread (writes to std::cerr).
#pragma once

#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "shmreg/shmreg.hpp"

namespace shmreg::tools::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitNotFound = 1;
inline constexpr int kExitError = 2;
inline constexpr int kExitAlreadyRegistered = 3;
inline constexpr int kExitVersionConflict = 4;

// Values are bytes: invalid UTF-8 is replaced rather than thrown on.
inline std::string to_json_text(const nlohmann::json& j, int indent = -1) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Prints e on stderr (text or JSON) and returns its exit code: 3 for
// already_registered, 2 for everything else.
inline int report_error(bool as_json, const Error& e) {
  if (e.code == Errc::already_registered) {
    if (as_json)
      std::cerr << to_json_text({{"error", "already_registered"}, {"pid", e.pid}, {"message", e.message}}) << "\n";
    else
      std::cerr << "already registered by PID " << e.pid << "\n";
    return kExitAlreadyRegistered;
  }
  if (as_json)
    std::cerr << to_json_text({{"error", std::string(to_string(e.code))}, {"message", e.message}}) << "\n";
  else
    std::cerr << "shmreg: " << e.message << "\n";
  return kExitError;
}

}  // namespace shmreg::tools::cli
