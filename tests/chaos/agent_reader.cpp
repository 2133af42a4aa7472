// The reader mode of shmreg-chaos-agent (agent.hpp): lookups through
// libshmreg for as long as the loop runs, every answer held to the value's
// self-check, so that an entry torn by a concurrent write, a broker killed
// mid-write or a repair at attach is caught by whoever reads it.
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "agent.hpp"
#include "chaos_value.hpp"
#include "shmreg/shmreg.hpp"

namespace shmreg::chaos {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kLookupsPerPass = 16;

struct ReaderCounts {
  std::uint64_t lookups = 0, entries = 0, busy = 0;
};

// Torn: an answer whose entry fails its self-check. Broken: a read that
// failed for any reason but a race that outlasted the retries (busy).
struct ReadFailure {
  bool torn = false;
  std::string what;
};

bool stdin_closed() {
  pollfd p{0, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;  // the loop never writes to it: readable means EOF
}

std::optional<ReadFailure> check_entries(std::span<const shmreg::Entry> entries, std::string_view key) {
  for (const auto& e : entries) {
    if (!key.empty() && e.key != key) return ReadFailure{true, "lookup of '" + std::string(key) + "' gave key '" + e.key + "'"};
    if (auto v = check_value(e.key, e.pid, e.value); !v) return ReadFailure{true, v.error()};
  }
  return std::nullopt;
}

class Reader {
 public:
  Reader(shmreg::Registry svc, shmreg::Registry pool) : svc_(std::move(svc)), pool_(std::move(pool)) {}

  // One pass: the whole unique registry, a window of its keys looked up one
  // by one (copied and zero-copy), and the pool's duplicate key.
  std::optional<ReadFailure> pass() {
    auto all = svc_.list();
    if (!all) return failure(all.error());
    counts_.entries += all->size();
    if (auto f = check_entries(*all, {})) return f;
    for (std::size_t i = 0; i < std::min(kLookupsPerPass, all->size()); ++i) {
      const std::string& key = (*all)[(next_ + i) % all->size()].key;
      if (auto f = lookup_both(key)) return f;
    }
    next_ += kLookupsPerPass;
    auto members = pool_.lookup(kPoolKey);
    ++counts_.lookups;
    if (!members) return failure(members.error());
    return check_entries(*members, kPoolKey);
  }

  const ReaderCounts& counts() const { return counts_; }

 private:
  std::optional<ReadFailure> lookup_both(const std::string& key) {
    counts_.lookups += 2;
    auto copied = svc_.lookup(key);
    if (!copied) return failure(copied.error());
    if (auto f = check_entries(*copied, key)) return f;
    // Only the views of the last call count: a torn one is called again.
    std::optional<std::string> last;
    auto seen = svc_.lookup(key, [&](std::span<const shmreg::EntryView> views) {
      last.reset();
      for (const auto& v : views) {
        if (v.key != key) last = "zero-copy lookup of '" + key + "' gave key '" + std::string(v.key) + "'";
        else if (auto c = check_value(v.key, v.pid, v.value); !c) last = "zero-copy: " + c.error();
      }
    });
    if (!seen) return failure(seen.error());
    if (last) return ReadFailure{true, *last};
    return std::nullopt;
  }

  std::optional<ReadFailure> failure(const shmreg::Error& e) {
    if (e.code == Errc::busy) {
      ++counts_.busy;
      return std::nullopt;
    }
    return ReadFailure{e.code == Errc::corrupt_segment, std::string(shmreg::to_string(e.code)) + ": " + e.message};
  }

  shmreg::Registry svc_, pool_;
  ReaderCounts counts_;
  std::size_t next_ = 0;
};

}  // namespace

int run_reader(const std::vector<std::string>& args) {
  if (args.size() != 2) {
    std::fprintf(stderr, "reader NS SOCKET\n");
    return 2;
  }
  auto client = shmreg::Client::open({args[0], args[1]});
  if (!client) return report("reader error: open: " + client.error().message + "\n"), 4;
  auto svc = client->registry(kUniqueRegistry);
  auto pool = client->registry(kPoolRegistry);
  if (!svc || !pool) return report("reader error: the loop's registries are missing\n"), 4;
  Reader reader(std::move(*svc), std::move(*pool));
  while (!stdin_closed()) {
    if (auto f = reader.pass()) {
      report(std::string(f->torn ? "reader torn: " : "reader error: ") + f->what + "\n");
      return f->torn ? 3 : 4;
    }
    std::this_thread::sleep_for(1ms);  // leaves the shared cores to the owners and the broker
  }
  const auto& c = reader.counts();
  report("reader lookups=" + std::to_string(c.lookups) + " entries=" + std::to_string(c.entries) +
         " busy=" + std::to_string(c.busy) + "\n");
  return 0;
}

}  // namespace shmreg::chaos
