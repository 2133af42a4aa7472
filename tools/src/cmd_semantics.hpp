// The CLI's registry-semantics commands:
//   update REG KEY VALUE --pid PID [--expect-version V]
//   unregister-match REG KEY PATTERN [GUARDS] --pid PID
//   meta REG [KEY], put-meta REG KEY VALUE, delete-meta REG KEY
// and the options they add to main's commands:
//   create ... --meta KEY=VALUE (repeatable), register --pid PID REG KEY VALUE,
//   lookup --consistent REG KEY.
//
// A shmreg process owns no entries of its own once it exits, so update and
// unregister-match act for the process given with --pid (the caller's own
// processes, or any as root): typically the child of `shmreg register ... --
// CMD`, the holder of `shmreg register` without CMD, or a shell that
// registered itself with `shmreg register --pid $$`.
//
// Exit codes follow main.cpp's contract: 0 success; 1 not found (update: no
// entry of PID under KEY; meta: no such pair, or none; lookup --consistent:
// no live entry); 2 usage or any other error; 3 already registered
// (register --pid); 4 version conflict (update --expect-version).
//
// Thread-safety: for main's thread.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "shmreg/shmreg.hpp"

namespace shmreg::tools {

class SemanticsCommands {
 public:
  // Adds the commands to app and the options to main's create, register and
  // lookup commands; --meta pairs land in create_options.meta. Arguments land
  // in this object (and create_options), which must outlive app's parse.
  SemanticsCommands(CLI::App& app, CLI::App* create, RegistryOptions& create_options, CLI::App* register_cmd,
                    CLI::App* lookup);
  SemanticsCommands(const SemanticsCommands&) = delete;
  SemanticsCommands& operator=(const SemanticsCommands&) = delete;

  // After app.parse and before main's own dispatch: the exit code of a
  // command this object handles (its own, register --pid, lookup
  // --consistent), or nullopt. exec_cmd: what followed "--".
  std::optional<int> run(const std::string& ns, const std::string& socket, bool json,
                         const std::vector<std::string>& exec_cmd) const;

 private:
  CLI::App* update_ = nullptr;
  CLI::App* unregister_match_ = nullptr;
  CLI::App* meta_ = nullptr;
  CLI::App* put_meta_ = nullptr;
  CLI::App* delete_meta_ = nullptr;
  CLI::App* register_ = nullptr;
  CLI::App* lookup_ = nullptr;
  std::string reg_, key_, value_, pattern_, guards_;
  std::uint32_t pid_ = 0;
  std::uint64_t expect_version_ = 0;
  CLI::Option* expect_version_option_ = nullptr;
  std::uint32_t register_pid_ = 0;
  bool consistent_ = false;
};

}  // namespace shmreg::tools
