// The entry point of shmreg-chaos-agent: picks the mode (agent.hpp).
#include <cstdio>
#include <string>
#include <vector>

#include "agent.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s owner|cli-owner|hold|reader ARGS...\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  if (mode == "owner") return shmreg::chaos::run_owner(args);
  if (mode == "cli-owner") return shmreg::chaos::run_cli_owner(argv[0], args);
  if (mode == "hold") return shmreg::chaos::run_hold(args);
  if (mode == "reader") return shmreg::chaos::run_reader(args);
  std::fprintf(stderr, "%s: unknown mode '%s'\n", argv[0], mode.c_str());
  return 2;
}
