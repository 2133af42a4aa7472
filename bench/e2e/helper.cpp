// shmreg-bench-e2e-helper: the processes shmreg-bench-e2e kills.
//
//   shmreg-bench-e2e-helper victim  RSS_MB
//   shmreg-bench-e2e-helper owner   RSS_MB NAMESPACE SOCKET REGISTRY KEY VALUE
//   shmreg-bench-e2e-helper primary RSS_MB NAMESPACE SOCKET REGISTRY KEY VALUE FLAGS
//   shmreg-bench-e2e-helper queued  RSS_MB NAMESPACE SOCKET REGISTRY KEY VALUE FLAGS
//   shmreg-bench-e2e-helper echo    RSS_MB NAMESPACE SOCKET REGISTRY KEY VALUE REPLY_KEY
//
// It links libshmreg and nothing else, like a minimal application, so that
// the kernel's work at its death (unmapping, closing files) is that of a
// small owner. It first allocates and touches RSS_MB MiB (0: none), so that a
// bigger owner can be modelled too. An owner then opens a client and
// registers KEY; its client, and so its connection to the broker, stay open.
// primary and queued take KEY with Client::request_name instead (FLAGS: the
// owner-queue flags, a number) and succeed only with the reply their mode
// names: primary owner of KEY, or a place in its queue. echo opens a mailbox,
// registers KEY, and sends every message it receives back to REPLY_KEY in the
// same registry (send by name, both ways). When ready it writes one byte to
// fd 3 ('1', or '0' on failure) and sleeps (or echoes) until it is killed.
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string_view>

#include "shmreg/mailbox.hpp"
#include "shmreg/shmreg.hpp"

namespace {

void report(char c) {
  while (::write(3, &c, 1) < 0 && errno == EINTR) {
  }
  ::close(3);
}

void touch(unsigned long mb) {
  if (mb == 0) return;
  const std::size_t n = mb << 20;
  // Through a volatile pointee, so that the stores (and the allocation) stay.
  auto* p = static_cast<volatile char*>(std::malloc(n));
  if (p == nullptr) return;
  for (std::size_t i = 0; i < n; i += 4096) p[i] = static_cast<char>(i);
}

}  // namespace

int main(int argc, char** argv) {
  // Never outlive the benchmark that started us.
  const pid_t parent = ::getppid();
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) return 1;
  if (argc < 3) {
    report('0');
    return 2;
  }
  const std::string_view mode = argv[1];
  touch(std::strtoul(argv[2], nullptr, 10));
  std::optional<shmreg::Client> client;
  bool ok = false;
  if (mode == "victim") {
    ok = true;
  } else if (mode == "owner" && argc >= 8) {
    if (auto c = shmreg::Client::open({argv[3], argv[4]})) {
      ok = c->register_key(argv[5], argv[6], argv[7]).has_value();
      client.emplace(std::move(*c));
    }
  } else if ((mode == "primary" || mode == "queued") && argc >= 9) {
    const auto flags = static_cast<std::uint8_t>(std::strtoul(argv[8], nullptr, 10));
    const auto want = mode == "primary" ? shmreg::QueueReply::primary_owner : shmreg::QueueReply::in_queue;
    if (auto c = shmreg::Client::open({argv[3], argv[4]})) {
      auto r = c->request_name(argv[5], argv[6], argv[7], flags);
      ok = r && r->reply == want;
      client.emplace(std::move(*c));
    }
  } else if (mode == "echo" && argc >= 9) {
    auto c = shmreg::Client::open({argv[3], argv[4]});
    if (!c) {
      report('0');
      return 3;
    }
    auto mailbox = shmreg::Mailbox::open(*c);
    ok = mailbox && c->register_key(argv[5], argv[6], argv[7]).has_value();
    report(ok ? '1' : '0');
    if (!ok) return 3;
    for (;;) {
      auto m = mailbox->receive(std::chrono::hours(1));
      if (m && *m) (void)c->send(argv[5], argv[8], (*m)->body);
    }
  }
  report(ok ? '1' : '0');
  if (!ok) return 3;
  for (;;) ::pause();
}
