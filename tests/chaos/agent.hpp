// shmreg-chaos-agent: the processes of the crash loop other than the broker,
// one exec'd program with four modes (argv[1]), so that every owner and
// reader is a real process whose pid, death and recycling the broker sees
// as in production, and whose libshmreg state is never inherited from a fork.
//
//   owner NS SOCKET SERIAL KEYS CHURN
//       A library owner: registers KEYS unique keys and a place under the
//       pool's duplicate key, retrying through broker restarts, reporting
//       each confirmed one; then holds them. With CHURN=1 it then keeps
//       writing (set_value of its first key, register and unregister of its
//       churn key) until it is killed, so that a broker kill meets writes in
//       flight.
//   cli-owner CLI NS SOCKET SERIAL exec|hold
//       Becomes `shmreg register svc KEY VALUE -- <agent> hold SERIAL KEY`,
//       or with hold `shmreg register svc KEY VALUE`, which holds the entry
//       itself and prints "registered KEY in svc as pid PID; ..." (exec,
//       same pid, so that the value can name the owner's pid).
//   hold SERIAL KEY
//       The command a CLI owner runs once its registration returned: reports
//       it confirmed, then holds.
//   reader NS SOCKET
//       Looks keys up until its stdin closes, checking every value it is
//       handed; prints "reader lookups=N entries=M busy=B" and exits 0, or
//       "reader torn: ..." (exit 3) or "reader error: ..." (exit 4).
//
// Owners give each broker call 1 s (the loop's longer SIGSTOPs of the broker
// outlast it). Reports go to stdout, one line per write(2) of at most PIPE_BUF bytes, so
// that the lines of hundreds of owners sharing one FIFO never interleave:
//   chaos SERIAL ok REGISTRY KEY | chaos SERIAL fail REGISTRY KEY WHY |
//   chaos SERIAL done
//
// Thread-safety: each mode runs on the process's only thread.
#pragma once

#include <string>
#include <vector>

namespace shmreg::chaos {

// Each takes the arguments after the mode and returns the exit code (the
// holding modes return only if the process is not killed first, which it is).
int run_owner(const std::vector<std::string>& args);
int run_cli_owner(const std::string& self, const std::vector<std::string>& args);
int run_hold(const std::vector<std::string>& args);
int run_reader(const std::vector<std::string>& args);

// One report line (with its newline) in one write to stdout.
void report(const std::string& line);

}  // namespace shmreg::chaos
