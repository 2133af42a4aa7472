// The broker speaks systemd's notify protocol (Type=notify): READY=1 once it
// listens, with a STATUS= line; around a reload on SIGHUP (the units'
// ExecReload), RELOADING=1 with MONOTONIC_USEC= and then READY=1 again; and
// STOPPING=1 on SIGTERM, after which it exits 0. A real broker process talks to a datagram socket standing in for
// systemd's NOTIFY_SOCKET.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>

#include "broker_process.hpp"

namespace {

std::string unique_name(const char* what) {
  return std::string("sdn") + std::to_string(::getpid()) + what;
}

// Collects notify datagrams until `want` has been seen or the deadline passes.
bool wait_for(int fd, const std::string& want, std::string& seen, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 100};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) seen.append(buf, static_cast<std::size_t>(n)).append("\n");
    if (seen.find(want) != std::string::npos) return true;
  }
  return false;
}

TEST(SystemdNotify, BrokerSignalsReadyWithStatusAndStoppingOnSigterm) {
  char tmpl[] = "/tmp/shmreg-notify-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl, notify = dir + "/notify", sock = dir + "/broker.sock";
  const std::string ns = unique_name("a");

  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", notify.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);

  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::setenv("NOTIFY_SOCKET", notify.c_str(), 1);
    ::execl(SHMREG_BROKER_BIN, SHMREG_BROKER_BIN, "--namespace", ns.c_str(), "--socket", sock.c_str(),
            "--segment-size", "4M", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  std::string seen;
  EXPECT_TRUE(wait_for(fd, "READY=1", seen, std::chrono::seconds(20))) << seen;
  EXPECT_TRUE(wait_for(fd, "STATUS=serving namespace " + ns, seen, std::chrono::seconds(5))) << seen;

  // A reload: systemd waits from RELOADING=1 (stamped with the monotonic
  // clock) to the next READY=1.
  seen.clear();
  ::kill(pid, SIGHUP);
  EXPECT_TRUE(wait_for(fd, "STATUS=configuration generation 2", seen, std::chrono::seconds(20))) << seen;
  const auto reloading = seen.find("RELOADING=1\nMONOTONIC_USEC=");
  const auto ready = seen.find("READY=1");
  EXPECT_NE(reloading, std::string::npos) << seen;
  EXPECT_NE(ready, std::string::npos) << seen;
  EXPECT_LT(reloading, ready) << "RELOADING=1 comes before the READY=1 that ends the reload:\n" << seen;

  ::kill(pid, SIGTERM);
  EXPECT_TRUE(wait_for(fd, "STOPPING=1", seen, std::chrono::seconds(20))) << seen;
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  EXPECT_EQ(::access(shmreg::test::segment_path(dir, ns).c_str(), F_OK), 0) << "SIGTERM must leave the segment in place";

  ::close(fd);
  ::unlink(notify.c_str());
  shmreg::test::remove_namespace_files(dir, ns);
  ::rmdir(dir.c_str());
}

}  // namespace
