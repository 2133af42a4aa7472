// Settings checked against the live segment, then applied (see settings_apply.hpp).
#include "settings_apply.hpp"

#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <set>
#include <utility>

#include "shmreg/shm/meta_codec.hpp"
#include "shmreg/shm/reader.hpp"
#include "shmreg/sys/unique_fd.hpp"

namespace shmreg::broker {

namespace {

shm::RegistrySpec spec_of(const DeclaredRegistry& r) {
  shm::RegistrySpec spec;
  spec.name = r.name;
  spec.kind = r.kind;
  spec.partitions = r.partitions;
  spec.max_key = r.max_key;
  spec.max_value = r.max_value;
  spec.capacity = r.capacity;
  spec.meta = r.meta;
  spec.creator_uid = shm::kNamespaceUid;
  return spec;
}

const char* kind_text(shm::RegistryKind k) { return k == shm::RegistryKind::unique ? "\"unique\"" : "\"duplicate\""; }

std::string where(const std::string& file, SourcePos pos) {
  if (pos.line == 0) return {};
  return " (" + file + ":" + std::to_string(pos.line) + ")";
}

// The broker's own read-only view of its segment, as any reader sees it.
std::optional<shm::SegmentReader> open_reader(const SegmentFile& file) {
  sys::UniqueFd fd(::openat(file.dir_fd, file.name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return std::nullopt;
  auto r = shm::SegmentReader::open_fd(fd.get());
  if (!r) return std::nullopt;
  return std::move(*r);
}

// A live registry whose constant geometry the file would change.
void check_live_registry(const DeclaredRegistry& r, const shm::RegistryView& live, const std::string& file,
                         std::vector<std::string>& reasons) {
  const auto differs = [&](const char* field, const std::string& now, const std::string& asked) {
    reasons.push_back("registry '" + r.name + "'" + where(file, r.where) + ": " + field + " is " + now +
                      " in the live segment, the file asks " + asked +
                      " (a live registry's geometry cannot change; to start afresh, stop the broker, remove the "
                      "segment, start it)");
  };
  if (live.kind() != r.kind) differs("keys", kind_text(live.kind()), kind_text(r.kind));
  if (live.partitions() != r.partitions)
    differs("partitions", std::to_string(live.partitions()), std::to_string(r.partitions));
  if (live.max_key() != r.max_key) differs("max_key", std::to_string(live.max_key()), std::to_string(r.max_key));
  if (live.max_value() != r.max_value)
    differs("max_value", std::to_string(live.max_value()), std::to_string(r.max_value));
  if (live.capacity() != r.capacity) differs("capacity", std::to_string(live.capacity()), std::to_string(r.capacity));
}

// New registries: each valid, and all of them within the free arena and the
// free registry slots together.
void check_new_registries(const std::vector<const DeclaredRegistry*>& fresh, const shm::SegmentWriter& writer,
                          const shm::SegmentReader& reader, const std::string& file,
                          std::vector<std::string>& reasons) {
  std::uint64_t bytes = 0;
  for (const DeclaredRegistry* r : fresh) {
    if (auto ok = shm::check_meta(r->meta); !ok)
      reasons.push_back("registry '" + r->name + "'" + where(file, r->where) +
                        ": meta: " + std::string(shm::to_string(ok.error())));
    const std::uint64_t need = shm::SegmentWriter::footprint(spec_of(*r));
    if (need == 0)
      reasons.push_back("registry '" + r->name + "'" + where(file, r->where) +
                        ": its options do not make a valid registry");
    bytes += need;
  }
  if (const std::uint64_t free = writer.arena_free(); bytes > free)
    reasons.push_back("the " + std::to_string(fresh.size()) + " registries to create need " + std::to_string(bytes) +
                      " bytes of the segment, " + std::to_string(free) + " are free");
  const std::uint64_t used = reader.header().registry_count;
  if (used + fresh.size() > shm::kMaxRegistries)
    reasons.push_back("the " + std::to_string(fresh.size()) + " registries to create do not fit: the segment holds " +
                      std::to_string(used) + " of " + std::to_string(shm::kMaxRegistries));
}

// Declared statics: within the registry's limits, and not on a unique key a
// process holds.
void check_statics(const DeclaredRegistry& r, const shm::SegmentReader& reader, const shm::RegistryView* live,
                   const std::string& file, std::vector<std::string>& reasons) {
  std::uint64_t new_entries = 0;
  for (const StaticEntry& s : r.statics) {
    const std::string what = "registry '" + r.name + "' static '" + s.key + "'" + where(file, s.where) + ": ";
    if (s.key.empty() || s.key.size() > r.max_key)
      reasons.push_back(what + "the key is " + std::to_string(s.key.size()) + " bytes, max_key = " +
                        std::to_string(r.max_key));
    if (s.value.size() > r.max_value)
      reasons.push_back(what + "the value is " + std::to_string(s.value.size()) + " bytes, max_value = " +
                        std::to_string(r.max_value));
    if (live == nullptr) continue;
    auto held = reader.lookup_copy(*live, s.key);
    const bool has_static = held && std::any_of(held->begin(), held->end(), [](const shm::Entry& e) { return e.pid == 0; });
    if (!has_static) ++new_entries;
    if (!held || live->kind() != shm::RegistryKind::unique) continue;
    for (const shm::Entry& e : *held)
      if (e.pid != 0) reasons.push_back(what + "the key is held by pid " + std::to_string(e.pid));
  }
  // Each static the registry does not hold yet takes a place of its capacity.
  if (live == nullptr || new_entries == 0) return;
  const auto held = reader.count(*live);
  if (held && *held + new_entries > live->capacity())
    reasons.push_back("registry '" + r.name + "'" + where(file, r.where) + ": " + std::to_string(new_entries) +
                      " static entries to set need as many free places, and it holds " + std::to_string(*held) +
                      " entries of its capacity " + std::to_string(live->capacity()));
}

bool in_group(gid_t gid) {
  if (::geteuid() == 0 || ::getegid() == gid) return true;
  std::vector<gid_t> groups(static_cast<std::size_t>(std::max(::getgroups(0, nullptr), 0)));
  const int n = ::getgroups(static_cast<int>(groups.size()), groups.data());
  return n >= 0 && std::find(groups.begin(), groups.begin() + n, gid) != groups.begin() + n;
}

}  // namespace

std::vector<std::string> validate_settings(const Settings& next, const shm::SegmentWriter& writer,
                                           const SegmentFile& file) {
  std::vector<std::string> reasons;
  auto reader = open_reader(file);
  if (!reader) return {"the broker cannot read its own segment to check the configuration against it"};
  std::vector<const DeclaredRegistry*> fresh;
  for (const DeclaredRegistry& r : next.registries) {
    auto live = reader->registry(r.name);
    if (live) check_live_registry(r, *live, next.path, reasons);
    else fresh.push_back(&r);
    check_statics(r, *reader, live ? &*live : nullptr, next.path, reasons);
  }
  check_new_registries(fresh, writer, *reader, next.path, reasons);
  if (const auto& g = next.broker.segment_group; g && !in_group(*g))
    reasons.push_back("[broker] segment_group = \"" + next.broker.segment_group_name + "\" (gid " +
                      std::to_string(*g) + "): the broker (uid " + std::to_string(::geteuid()) +
                      ") is not in that group, so it cannot give it the segment");
  return reasons;
}

SegmentAccess segment_access(const Settings& settings) {
  if (settings.broker.segment_group) return SegmentAccess{*settings.broker.segment_group, 0640};
  return SegmentAccess{::getegid(), 0644};
}

namespace {

// The segment file's group and mode, as segment_access() says.
std::optional<std::string> apply_segment_group(const Settings& next, const SegmentFile& file, const BrokerLog& log) {
  sys::UniqueFd fd(::openat(file.dir_fd, file.name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st{};
  if (!fd || ::fstat(fd.get(), &st) != 0) return "cannot open the segment file to set its group: " + std::string(std::strerror(errno));
  const auto [gid, mode] = segment_access(next);
  if (st.st_gid != gid && ::fchown(fd.get(), static_cast<uid_t>(-1), gid) != 0)
    return "cannot give the segment to gid " + std::to_string(gid) + ": " + std::strerror(errno);
  if ((st.st_mode & 07777) != mode && ::fchmod(fd.get(), mode) != 0)
    return "cannot set the segment's mode: " + std::string(std::strerror(errno));
  if (st.st_gid != gid || (st.st_mode & 07777) != mode)
    log("segment: group " + std::to_string(gid) + ", mode " + (mode == 0640 ? "0640" : "0644"));
  return std::nullopt;
}

// The declared statics of next, by registry id; creates nothing.
std::set<std::pair<std::uint32_t, std::string>> listed_statics(const Settings& next, const shm::SegmentWriter& writer) {
  std::set<std::pair<std::uint32_t, std::string>> listed;
  for (const DeclaredRegistry& r : next.registries)
    if (auto id = writer.find_registry(r.name))
      for (const StaticEntry& s : r.statics) listed.emplace(*id, s.key);
  return listed;
}

}  // namespace

std::vector<std::string> apply_settings(const Settings& next, shm::SegmentWriter& writer, const SegmentFile& file,
                                        const BrokerLog& log, ApplyMode mode) {
  const bool go_on = mode == ApplyMode::best_effort;
  const std::string kept = go_on ? std::string() : "; what was applied before this step stays (registries cannot be removed)";
  std::vector<std::string> failed;
  // Statics of registries that exist first, new registries after: a static
  // that cannot be set leaves no new registry behind.
  const auto set_statics = [&](const DeclaredRegistry& r, std::uint32_t id) {
    for (const StaticEntry& s : r.statics) {
      std::uint32_t holder = 0;
      auto v = writer.set_static(id, s.key, s.value, true, &holder);
      if (v) continue;
      failed.push_back("setting static '" + s.key + "' of registry '" + r.name + "' failed: " +
                       std::string(shm::to_string(v.error())) +
                       (holder ? " (held by pid " + std::to_string(holder) + ")" : "") + kept);
      if (!go_on) return false;
    }
    return true;
  };
  for (const DeclaredRegistry& r : next.registries)
    if (auto id = writer.find_registry(r.name); id && !set_statics(r, *id)) return failed;
  for (const DeclaredRegistry& r : next.registries) {
    if (writer.find_registry(r.name)) continue;
    auto id = writer.create_registry(spec_of(r));
    if (!id) {
      failed.push_back("creating registry '" + r.name + "' failed: " + std::string(shm::to_string(id.error())) + kept);
      if (!go_on) return failed;
      continue;
    }
    log("created declared registry '" + r.name + "'");
    if (!set_statics(r, *id)) return failed;
  }
  const auto listed = listed_statics(next, writer);
  for (const shm::StaticEntryView& s : writer.statics()) {
    if (!s.declared || listed.contains({s.registry, s.key})) continue;
    if (auto gone = writer.unset_static(s.registry, s.key); !gone) {
      failed.push_back("unsetting static '" + s.key + "' failed: " + std::string(shm::to_string(gone.error())) + kept);
      if (!go_on) return failed;
      continue;
    }
    log("unset static '" + s.key + "' of registry " + std::to_string(s.registry) + ": the configuration no longer declares it");
  }
  if (auto group = apply_segment_group(next, file, log)) failed.push_back(*group + kept);
  return failed;
}

}  // namespace shmreg::broker
