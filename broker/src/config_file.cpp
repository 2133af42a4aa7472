#include "config_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "config_reader.hpp"
#include "shmreg/sys/unique_fd.hpp"
#include "config_registry.hpp"
#include "config_values.hpp"
#include "shmreg/proto/wire.hpp"
#include "shmreg/shm/layout.hpp"
#include "shmreg/shm/segment.hpp"

namespace shmreg::broker {

namespace {

constexpr std::uint64_t kAnyCount = std::numeric_limits<std::int64_t>::max();
constexpr std::uint64_t kMaxSegmentSize = std::uint64_t{1} << 40;
constexpr std::uint64_t kDay = 86'400'000;

void read_connection_limits(ConfigReader& r, const toml::table& t, ConnectionLimits& c) {
  r.size(t, "queued_reply_bytes", "broker", 64 << 10, std::uint64_t{1} << 30, c.queued_reply_bytes);
  r.duration(t, "frame_deadline", "broker", 1, 3'600'000, c.frame_deadline);
  r.duration(t, "idle_timeout", "broker", 0, kDay, c.idle_timeout);
  r.integer(t, "fds_per_request", "broker", 0, proto::kMaxFramePidfds, c.fds_per_connection);
  const bool per_uid = r.size(t, "mailbox_bytes_per_uid", "broker", 0, std::uint64_t{1} << 40, c.mailbox_bytes_per_uid);
  // As with the flags: unless given, a quarter of the per-uid budget.
  if (!r.size(t, "mailbox_bytes_per_receiver_uid", "broker", 0, std::uint64_t{1} << 40,
              c.mailbox_bytes_per_receiver_uid) &&
      per_uid)
    c.mailbox_bytes_per_receiver_uid = c.mailbox_bytes_per_uid / 4;
  r.size(t, "pattern_bytes", "broker", 1, std::uint64_t{16} << 20, c.pattern_bytes);
}

void read_segment_group(ConfigReader& r, const toml::table& t, BrokerSection& b) {
  const toml::node* n = t.get("segment_group");
  if (n == nullptr) return;
  std::string text;
  if (const auto i = n->value_exact<std::int64_t>()) text = std::to_string(*i);
  else if (const auto s = n->value_exact<std::string>()) text = *s;
  else {
    r.problem(n->source(), "broker.segment_group", "expected a group name or gid");
    return;
  }
  // "@svc" as in the access lists means the same group.
  if (text.starts_with('@')) text.erase(0, 1);
  const auto gid = resolve_group(text, true);
  if (!gid) {
    r.problem(n->source(), "broker.segment_group", "unknown group '" + text + "'");
    return;
  }
  b.segment_group = *gid;
  b.segment_group_name = text;
}

void read_broker(ConfigReader& r, const toml::table& t, BrokerSection& b) {
  r.only_keys(t, "broker",
              {"segment_size", "segment_group", "owner_capacity", "grace", "default_max_key", "default_max_value",
               "default_capacity", "queued_reply_bytes", "frame_deadline", "idle_timeout", "fds_per_request",
               "mailbox_bytes_per_uid", "mailbox_bytes_per_receiver_uid", "pattern_bytes"});
  r.size(t, "segment_size", "broker", shm::kMinSegmentSize, kMaxSegmentSize, b.segment_size);
  read_segment_group(r, t, b);
  r.integer(t, "owner_capacity", "broker", 1, 1u << 22, b.owner_capacity);
  r.duration(t, "grace", "broker", 0, 60'000, b.grace);
  r.integer(t, "default_max_key", "broker", 1, shm::kMaxKeyLen, b.default_max_key);
  r.integer(t, "default_max_value", "broker", 0, shm::kMaxValueLen, b.default_max_value);
  r.integer(t, "default_capacity", "broker", 1, shm::kMaxRecordsPerRegistry, b.default_capacity);
  read_connection_limits(r, t, b.connection);
}

void read_quota(ConfigReader& r, const toml::table& t, const std::string& path, Quota& q) {
  if (path == "limits")
    r.only_keys(t, path, {"entries", "registries", "registry_bytes", "connections", "value_bytes", "user"});
  else
    r.only_keys(t, path, {"entries", "registries", "registry_bytes", "connections", "value_bytes"});
  r.integer(t, "entries", path, 0, kAnyCount, q.entries);
  r.integer(t, "registries", path, 0, shm::kMaxRegistries, q.registries);
  r.size(t, "registry_bytes", path, 0, kAnyCount, q.registry_bytes);
  r.integer(t, "connections", path, 1, 1u << 20, q.connections);
  r.size(t, "value_bytes", path, 0, kAnyCount, q.value_bytes);
}

// [limits.user.NAME] tables: read after [limits], whose values they inherit.
void read_user_limits(ConfigReader& r, const toml::table& users, Limits& limits) {
  // In the file's order (a table iterates by key), so that of two tables for
  // one uid the later is the one reported.
  std::vector<std::pair<const toml::key*, const toml::node*>> in_order;
  for (const auto& [name, node] : users) in_order.emplace_back(&name, &node);
  std::ranges::sort(in_order, {}, [](const auto& e) {
    return std::pair{e.first->source().begin.line, e.first->source().begin.column};
  });
  std::map<uid_t, std::string> seen;
  for (const auto& [name_ptr, node_ptr] : in_order) {
    const toml::key& name = *name_ptr;
    const toml::node& node = *node_ptr;
    const std::string path = "limits.user." + std::string(name.str());
    const toml::table* t = node.as_table();
    if (t == nullptr) {
      r.problem(node.source(), path, "expected a table of limits for user '" + std::string(name.str()) + "'");
      continue;
    }
    const auto uid = resolve_user(name.str());
    if (!uid) {
      r.problem(name.source(), path, "unknown user '" + std::string(name.str()) + "'");
      continue;
    }
    if (auto [it, fresh] = seen.emplace(*uid, name.str()); !fresh) {
      r.problem(name.source(), path,
                "uid " + std::to_string(*uid) + " already has limits (limits.user." + it->second + ")");
      continue;
    }
    Quota q = limits.all;
    read_quota(r, *t, path, q);
    limits.per_user[*uid] = q;
  }
}

void read_limits(ConfigReader& r, const toml::table& t, Limits& limits) {
  read_quota(r, t, "limits", limits.all);
  const toml::node* users = t.get("user");
  if (users == nullptr) return;
  if (const toml::table* u = users->as_table()) read_user_limits(r, *u, limits);
  else r.problem(users->source(), "limits.user", "expected tables [limits.user.NAME]");
}

void read_access(ConfigReader& r, const toml::table& t, AccessSection& a) {
  r.only_keys(t, "access", {"create", "register", "reload"});
  r.access(t, "create", "access", a.create);
  r.access(t, "register", "access", a.register_access);
  r.access(t, "reload", "access", a.reload);
}

// A top-level section that must be a table, or nullptr (and a problem).
const toml::table* section(ConfigReader& r, const toml::table& doc, std::string_view name) {
  const toml::node* n = doc.get(name);
  if (n == nullptr) return nullptr;
  if (const toml::table* t = n->as_table()) return t;
  r.problem(n->source(), std::string(name), "expected a table [" + std::string(name) + "]");
  return nullptr;
}

Settings read_document(ConfigReader& r, const toml::table& doc) {
  Settings s;
  r.only_keys(doc, "", {"broker", "limits", "access", "registry"});
  if (const auto* t = section(r, doc, "broker")) read_broker(r, *t, s.broker);
  if (const auto* t = section(r, doc, "limits")) read_limits(r, *t, s.limits);
  if (const auto* t = section(r, doc, "access")) read_access(r, *t, s.access);
  if (const toml::array* regs = r.tables(doc, "registry", "")) read_registries(r, *regs, s.broker, s.registries);
  return s;
}

}  // namespace

std::string ConfigProblem::text() const {
  std::string out = file;
  if (line != 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  out += ": ";
  if (!key.empty()) out += key + ": ";
  return out + reason;
}

namespace {

// The parser recurses once per part of a dotted key or table header, so a
// file with one key of tens of thousands of parts would overflow the stack.
// No configuration needs more than a few parts; a file past these bounds is
// refused before it is parsed.
constexpr std::size_t kMaxFileBytes = std::size_t{1} << 20;
constexpr std::size_t kMaxDotsPerLine = 256;

std::optional<ConfigProblem> too_deep(std::string_view text, const std::string& file) {
  std::uint32_t line = 1;
  std::size_t dots = 0;
  for (char c : text) {
    if (c == '\n') {
      ++line;
      dots = 0;
    } else if (c == '.' && ++dots > kMaxDotsPerLine) {
      return ConfigProblem{file, line, 0, "",
                           "more than " + std::to_string(kMaxDotsPerLine) +
                               " dots on one line: keys nested that deep are refused"};
    }
  }
  return std::nullopt;
}

}  // namespace

LoadResult parse_settings(std::string_view toml_text, const std::string& file_for_messages) {
  if (toml_text.size() > kMaxFileBytes)
    return std::unexpected(std::vector<ConfigProblem>{ConfigProblem{
        file_for_messages, 0, 0, "",
        "the file is " + std::to_string(toml_text.size()) + " bytes, more than " + std::to_string(kMaxFileBytes)}});
  if (auto deep = too_deep(toml_text, file_for_messages)) return std::unexpected(std::vector<ConfigProblem>{*deep});
  ConfigReader reader(file_for_messages);
  toml::table doc;
  try {
    doc = toml::parse(toml_text, std::string_view(file_for_messages));
  } catch (const toml::parse_error& e) {
    reader.problem(e.source(), "", "TOML syntax: " + std::string(e.description()));
    return std::unexpected(reader.take());
  }
  Settings s = read_document(reader, doc);
  if (!reader.ok()) return std::unexpected(reader.take());
  s.path = file_for_messages;
  return s;
}

// Only a regular file is a configuration: a directory opens and reads as
// empty, which would silently mean "the defaults".
LoadResult load_settings(const std::string& path) {
  const auto refuse = [&](const std::string& why) {
    return std::unexpected(std::vector<ConfigProblem>{ConfigProblem{path, 0, 0, "", why}});
  };
  sys::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return refuse(std::string("cannot read the file: ") + std::strerror(errno));
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0) return refuse(std::string("cannot read the file: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return refuse("not a regular file");
  if (static_cast<std::uint64_t>(st.st_size) > kMaxFileBytes)
    return refuse("the file is " + std::to_string(st.st_size) + " bytes, more than " + std::to_string(kMaxFileBytes));
  std::string text(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd.get(), text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return refuse(std::string("cannot read the file: ") + std::strerror(errno));
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  text.resize(got);
  return parse_settings(text, path);
}

}  // namespace shmreg::broker
