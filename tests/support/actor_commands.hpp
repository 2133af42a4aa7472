// The child's side of an Actor: the command interpreter (the commands and
// their answers are listed in actor.hpp). Internal to the support library.
//
// Thread-safety: runs in the forked child, on its only thread (the increment
// command starts and joins threads of its own).
#pragma once

#include <string>

#include "child_process.hpp"

namespace shmreg::test {

// Opens a client of (ns, socket), answers "ready" (or its error line), then
// answers each command line until the test closes the channel; the child's
// exit code.
int serve_actor(ChildChannel& ch, const std::string& ns, const std::string& socket);

}  // namespace shmreg::test
