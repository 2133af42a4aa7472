#include "settle_check.hpp"

#include <fstream>
#include <map>
#include <string>

#include "chaos_value.hpp"
#include "child_process.hpp"
#include "shmreg/shm/reader.hpp"
#include "shmreg/shm/validate.hpp"

namespace shmreg::chaos {
namespace {

// How many problems of one kind a settle point describes (all are counted).
constexpr std::size_t kDescribed = 8;

// The kernel's word on a process the model holds alive, for a failure's
// description: its state letter from /proc (Z: it ended and nobody has
// waited for it yet), or that it is gone.
std::string process_state(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return "its process is gone";
  const auto paren = line.rfind(')');
  if (paren == std::string::npos || paren + 2 >= line.size()) return "its process state is unreadable";
  return std::string("its process is in state ") + line[paren + 2];
}

struct Seen {
  std::string registry, key;
  std::uint32_t pid = 0;
  ValueFields fields;
};

// Every entry of the loop's registries, by the serial its value names.
struct Snapshot {
  std::map<std::uint64_t, std::vector<Seen>> by_serial;
  std::vector<std::string> torn;
};

std::expected<Snapshot, std::string> take_snapshot(const shm::SegmentReader& reader) {
  Snapshot s;
  for (const std::string_view name : {kUniqueRegistry, kPoolRegistry}) {
    auto reg = reader.registry(name);
    if (!reg) return std::unexpected("registry " + std::string(name) + ": " + std::string(shm::to_string(reg.error())));
    auto walked = reader.for_each(*reg, [&](const shm::Entry& e) {
      auto f = check_value(e.key, e.pid, e.value);
      if (!f)
        s.torn.push_back(f.error());
      else
        s.by_serial[f->serial].push_back({std::string(name), e.key, e.pid, *f});
    });
    if (!walked) return std::unexpected("walking " + std::string(name) + ": " + std::string(shm::to_string(walked.error())));
  }
  return s;
}

void describe(SettleOutcome& out, std::uint64_t count_before, const std::string& what) {
  if (count_before < kDescribed) out.problems.push_back(what);
}

std::string owner_name(const OwnerRecord& o) {
  return "owner " + std::to_string(o.serial) + " (pid " + std::to_string(o.pid) + ", " +
         std::string(kind_name(o.kind)) + ")";
}

// The serials of dead (or retired) owners that still have entries.
std::vector<std::uint64_t> dead_with_entries(Model& model, const Snapshot& s) {
  std::vector<std::uint64_t> out;
  for (const auto& [serial, seen] : s.by_serial) {
    const OwnerRecord* o = model.find(serial);
    if ((o != nullptr && !o->alive) || model.retired(serial)) out.push_back(serial);
  }
  return out;
}

// Polls until no dead owner has entries left, or every one that has is past
// its reap deadline; the last snapshot.
std::expected<Snapshot, std::string> wait_for_reaping(const shm::SegmentReader& reader, Model& model,
                                                      Clock::duration window) {
  std::expected<Snapshot, std::string> last = std::unexpected(std::string("no snapshot"));
  (void)test::wait_until(
      [&] {
        last = take_snapshot(reader);
        if (!last) return false;
        const auto now = Clock::now();
        for (const auto serial : dead_with_entries(model, *last)) {
          const OwnerRecord* o = model.find(serial);
          if (o != nullptr && model.reap_deadline(*o, window) > now) return false;
        }
        return true;
      },
      std::chrono::duration_cast<std::chrono::milliseconds>(window) + test::kTimeout);
  return last;
}

void check_stale(Model& model, const Snapshot& s, SettleOutcome& out) {
  for (const auto serial : dead_with_entries(model, s)) {
    for (const auto& e : s.by_serial.at(serial)) {
      const OwnerRecord* o = model.find(serial);
      describe(out, out.stale,
               "stale: " + (o ? owner_name(*o) + " dead" : "retired owner " + std::to_string(serial)) +
                   ", its entry " + e.registry + "/" + e.key + " (pid " + std::to_string(e.pid) + ") is still there");
      ++out.stale;
    }
  }
}

void check_live(Model& model, const Snapshot& s, SettleOutcome& out) {
  for (const auto& [serial, o] : model.owners()) {
    if (!o.alive) continue;
    const auto it = s.by_serial.find(serial);
    for (const auto& [reg, key] : o.confirmed) {
      bool present = false;
      if (it != s.by_serial.end())
        for (const auto& e : it->second) present |= e.registry == reg && e.key == key && e.pid == static_cast<std::uint32_t>(o.pid);
      if (!present) describe(out, out.lost, "lost: " + owner_name(o) + " is alive, its confirmed " + reg + "/" + key + " is missing (" +
                              process_state(o.pid) + ")");
      out.lost += present ? 0 : 1;
    }
  }
  for (const auto& [serial, seen] : s.by_serial) {
    const OwnerRecord* o = model.find(serial);
    if (o == nullptr && model.retired(serial)) continue;  // counted as stale
    for (const auto& e : seen) {
      if (o != nullptr && e.pid == static_cast<std::uint32_t>(o->pid)) continue;
      describe(out, out.foreign, "foreign: " + e.registry + "/" + e.key + " of pid " + std::to_string(e.pid) +
                                     (o ? " belongs to " + owner_name(*o) : " names no owner of the run"));
      ++out.foreign;
    }
  }
}

// validate() on the quiet segment; a problem seen once is looked at again
// for a moment, since a reap the broker had not finished can look like one.
void check_valid(const shm::SegmentReader& reader, SettleOutcome& out) {
  std::vector<shm::Problem> problems;
  if (test::wait_until([&] { return (problems = shm::validate(reader)).empty(); }, std::chrono::seconds(2))) return;
  ++out.validation_failures;
  for (std::size_t i = 0; i < problems.size() && i < kDescribed; ++i)
    out.problems.push_back("validate: " + problems[i].where + ": " + problems[i].what);
}

}  // namespace

SettleOutcome SettleCheck::run(Model& model, Owners& owners) const {
  SettleOutcome out;
  auto reader = shm::SegmentReader::open(segment_path_);
  if (!reader) {
    ++out.validation_failures;
    out.problems.push_back("cannot open the segment: " + std::string(shm::to_string(reader.error())));
    return out;
  }
  const auto held = owners.hold_churners();
  auto snap = wait_for_reaping(*reader, model, reap_window_);
  if (!snap) {
    ++out.validation_failures;
    out.problems.push_back("cannot read the segment: " + snap.error());
    return out;
  }
  for (const auto& t : snap->torn) {
    describe(out, out.validation_failures, "torn at a settle point: " + t);
    ++out.validation_failures;
  }
  check_stale(model, *snap, out);
  check_live(model, *snap, out);
  check_valid(*reader, out);
  std::vector<std::uint64_t> gone;
  for (const auto& [serial, o] : model.owners())
    if (!o.alive && !snap->by_serial.contains(serial)) gone.push_back(serial);
  for (const auto serial : gone) model.retire(serial);
  return out;
}

}  // namespace shmreg::chaos
