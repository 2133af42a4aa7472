#include "config_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "config_cluster.hpp"
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

void read_huge_pages(ConfigReader& r, const toml::table& t, BrokerSection& b) {
  std::string text;
  if (!r.string(t, "huge_pages", "broker", text)) return;
  if (const auto h = parse_huge_pages(text)) b.huge_pages = *h;
  else r.problem(t.get("huge_pages")->source(), "broker.huge_pages",
                 "'" + text + "' is not one of " + std::string(kHugePagesValues));
}

void read_broker(ConfigReader& r, const toml::table& t, BrokerSection& b) {
  r.only_keys(t, "broker",
              {"segment_size", "segment_group", "owner_capacity", "grace", "default_max_key", "default_max_value",
               "default_capacity", "queued_reply_bytes", "frame_deadline", "idle_timeout", "fds_per_request",
               "mailbox_bytes_per_uid", "mailbox_bytes_per_receiver_uid", "pattern_bytes", "huge_pages"});
  r.size(t, "segment_size", "broker", shm::kMinSegmentSize, kMaxSegmentSize, b.segment_size);
  read_segment_group(r, t, b);
  r.integer(t, "owner_capacity", "broker", 1, 1u << 22, b.owner_capacity);
  r.duration(t, "grace", "broker", 0, 60'000, b.grace);
  read_huge_pages(r, t, b);
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
  r.only_keys(doc, "", {"broker", "limits", "access", "registry", "cluster"});
  if (const auto* t = section(r, doc, "broker")) read_broker(r, *t, s.broker);
  if (const auto* t = section(r, doc, "limits")) read_limits(r, *t, s.limits);
  if (const auto* t = section(r, doc, "access")) read_access(r, *t, s.access);
  if (const auto* t = section(r, doc, "cluster")) read_cluster(r, *t, s.cluster.emplace());
  const toml::array* regs = r.tables(doc, "registry", "");
  if (regs != nullptr) read_registries(r, *regs, s.broker, s.registries);
  check_cluster_scopes(r, regs, s);
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

// toml++ 3.3.0, the version Debian 12 ships, reaches __builtin_unreachable()
// (undefined behaviour) when it asks whether certain non-ASCII characters
// are whitespace (U+00A1..U+0499, U+2C8E..U+3087, U+FB26..U+FEFE among
// them). It asks that of characters outside strings and comments, where
// TOML allows no non-ASCII character at all, and of the character after a
// backslash in a multi-line basic string, also after the blanks and line
// breaks a line-ending backslash skips. Such text is refused here, at the
// place the parser would have stopped, before the parser sees it.
class NonAsciiScan {
 public:
  NonAsciiScan(std::string_view text, const std::string& file) : text_(text), file_(file) {}

  std::optional<ConfigProblem> run() {
    while (i_ < text_.size() && !found_) {
      if (in_ == In::code) code();
      else if (in_ == In::comment) comment();
      else if (in_ == In::literal) until("'", false);
      else if (in_ == In::multi_literal) until("'''", true);
      else basic(in_ == In::multi_basic);
    }
    return found_;
  }

 private:
  enum class In { code, comment, basic, literal, multi_basic, multi_literal };

  void step() {
    if (text_[i_] == '\n') {
      line_start_ = i_ + 1;
      ++line_;
    }
    ++i_;
  }
  bool at(std::string_view s) const { return text_.substr(i_, s.size()) == s; }
  // at may lie lines past i_ (after a line-ending backslash).
  void refuse(std::size_t at, const std::string& why) {
    std::uint32_t line = line_;
    std::size_t start = line_start_;
    for (std::size_t k = line_start_; k < at; ++k)
      if (text_[k] == '\n') {
        ++line;
        start = k + 1;
      }
    const auto column = std::count_if(text_.begin() + static_cast<std::ptrdiff_t>(start),
                                      text_.begin() + static_cast<std::ptrdiff_t>(at),
                                      [](char c) { return (static_cast<unsigned char>(c) & 0xc0) != 0x80; });
    found_ = ConfigProblem{file_, line, static_cast<std::uint32_t>(column + 1), "", why};
  }
  bool non_ascii(std::size_t at) const { return at < text_.size() && static_cast<unsigned char>(text_[at]) >= 0x80; }

  void code() {
    if (non_ascii(i_))
      return refuse(i_, "a non-ASCII character outside a string or comment (TOML allows none there)");
    const std::pair<std::string_view, In> opens[] = {{"\"\"\"", In::multi_basic}, {"'''", In::multi_literal},
                                                     {"\"", In::basic},        {"'", In::literal},
                                                     {"#", In::comment}};
    for (const auto& [mark, in] : opens)
      if (at(mark)) {
        in_ = in;
        i_ += mark.size();
        return;
      }
    step();
  }
  void comment() {
    if (text_[i_] == '\n') in_ = In::code;
    step();
  }
  // Up to and past close (a closing quote may have two more quotes after it).
  void until(std::string_view close, bool multi) {
    if (!at(close)) return step();
    i_ += close.size();
    for (int extra = 0; multi && extra < 2 && at(close.substr(0, 1)); ++extra) ++i_;
    in_ = In::code;
  }
  void basic(bool multi) {
    if (text_[i_] != '\\') return until(multi ? "\"\"\"" : "\"", multi);
    std::size_t next = i_ + 1;
    while (multi && next < text_.size() && std::string_view(" \t\r\n").find(text_[next]) != std::string_view::npos)
      ++next;
    if (non_ascii(next))
      return refuse(next, "a non-ASCII character after a backslash in a string (write it as \\uXXXX there)");
    step();
    if (i_ < text_.size() && next == i_) step();  // the escaped character, a quote or a backslash included
  }

  std::string_view text_;
  const std::string& file_;
  std::size_t i_ = 0, line_start_ = 0;
  std::uint32_t line_ = 1;
  In in_ = In::code;
  std::optional<ConfigProblem> found_;
};

}  // namespace

LoadResult parse_settings(std::string_view toml_text, const std::string& file_for_messages) {
  if (toml_text.size() > kMaxFileBytes)
    return std::unexpected(std::vector<ConfigProblem>{ConfigProblem{
        file_for_messages, 0, 0, "",
        "the file is " + std::to_string(toml_text.size()) + " bytes, more than " + std::to_string(kMaxFileBytes)}});
  if (auto deep = too_deep(toml_text, file_for_messages)) return std::unexpected(std::vector<ConfigProblem>{*deep});
  if (auto odd = NonAsciiScan(toml_text, file_for_messages).run()) return std::unexpected(std::vector<ConfigProblem>{*odd});
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
