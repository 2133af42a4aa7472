#include "model.hpp"

#include <charconv>

namespace shmreg::chaos {
namespace {

std::vector<std::string_view> words(std::string_view s) {
  std::vector<std::string_view> out;
  while (!s.empty()) {
    const auto at = s.find(' ');
    if (at != 0) out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) break;
    s.remove_prefix(at + 1);
  }
  return out;
}

}  // namespace

std::string_view kind_name(OwnerKind k) {
  switch (k) {
    case OwnerKind::library: return "library";
    case OwnerKind::cli_exec: return "cli -- CMD";
    case OwnerKind::cli_hold: return "cli holding";
  }
  return "?";
}

OwnerRecord& Model::add(std::uint64_t serial, pid_t pid, OwnerKind kind, bool churn) {
  OwnerRecord& o = owners_[serial];
  o = OwnerRecord{.serial = serial, .pid = pid, .kind = kind, .churn = churn};
  ++alive_count_;
  return o;
}

bool Model::apply_report(std::string_view line, std::vector<std::string>& failures) {
  const auto w = words(line);
  std::uint64_t serial = 0;
  if (w.size() < 3 || w[0] != "chaos") return false;
  if (auto [p, ec] = std::from_chars(w[1].data(), w[1].data() + w[1].size(), serial); ec != std::errc()) return false;
  OwnerRecord* o = find(serial);
  if (o == nullptr) return false;
  if (w[2] == "done") {
    o->done = true;
  } else if (w[2] == "ok" && w.size() == 5) {
    if (o->confirmed.emplace(std::string(w[3]), std::string(w[4])).second) ++confirmed_total_;
  } else if (w[2] == "fail") {
    failures.push_back("owner " + std::to_string(serial) + " (pid " + std::to_string(o->pid) + "): " +
                       std::string(line));
  } else {
    return false;
  }
  return true;
}

void Model::died(std::uint64_t serial, Clock::time_point when) {
  OwnerRecord* o = find(serial);
  if (o == nullptr || !o->alive) return;
  o->alive = false;
  o->died_at = when;
  --alive_count_;
}

Clock::time_point Model::reap_deadline(const OwnerRecord& o, Clock::duration window) const {
  return std::max(o.died_at, available_since_) + window;
}

void Model::retire(std::uint64_t serial) {
  owners_.erase(serial);
  retired_.insert(serial);
}

OwnerRecord* Model::find(std::uint64_t serial) {
  auto it = owners_.find(serial);
  return it == owners_.end() ? nullptr : &it->second;
}

std::vector<std::uint64_t> Model::alive() const {
  std::vector<std::uint64_t> out;
  for (const auto& [serial, o] : owners_)
    if (o.alive) out.push_back(serial);
  return out;
}

}  // namespace shmreg::chaos
