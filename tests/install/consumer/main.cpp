// Consumer of an installed libshmreg: opens a namespace that has no segment
// and expects the documented error, segment_not_found. Exit status 0 means the
// installed headers, library and error mapping all work together.
#include <unistd.h>

#include <iostream>
#include <string>

#include <shmreg/shmreg.hpp>

int main() {
  // A name no broker serves: per process, so parallel runs never collide.
  const std::string ns = "shmreg-install-test-" + std::to_string(::getpid());
  auto client = shmreg::Client::open(shmreg::ClientOptions{.ns = ns});
  if (client) {
    std::cerr << "unexpected: namespace '" << ns << "' has a segment\n";
    return 1;
  }
  if (client.error().code != shmreg::Errc::segment_not_found) {
    std::cerr << "unexpected error " << shmreg::to_string(client.error().code) << ": "
              << client.error().message << '\n';
    return 1;
  }
  std::cout << "ok: " << shmreg::to_string(client.error().code) << " (" << client.error().message << ")\n";
  return 0;
}
