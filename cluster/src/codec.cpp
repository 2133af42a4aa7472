#include "codec.hpp"

#include <array>
#include <charconv>

namespace shmreg::cluster::detail {

namespace {

[[noreturn]] void bad_field(std::string_view name, std::string_view why) {
  throw ReplyError("field '" + std::string(name) + "' " + std::string(why));
}

const Json* find(const Json& object, std::string_view name) {
  if (!object.is_object()) throw ReplyError("expected a JSON object where '" + std::string(name) + "' should be");
  const auto it = object.find(name);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

template <class Int>
Int int_field(const Json& object, std::string_view name) {
  const Json* v = find(object, name);
  if (v == nullptr) return 0;
  if (v->is_number_integer()) {
    if constexpr (std::is_signed_v<Int>) {
      if (v->is_number_unsigned() && v->get<std::uint64_t>() > std::uint64_t(INT64_MAX)) bad_field(name, "is out of range");
    } else {
      if (!v->is_number_unsigned()) bad_field(name, "is negative");
    }
    return v->get<Int>();
  }
  if (!v->is_string()) bad_field(name, "is not a number");
  const auto& text = v->get_ref<const std::string&>();
  Int n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) bad_field(name, "is not a number");
  return n;
}

const char* compare_target(Compare::Target t) {
  switch (t) {
    case Compare::Target::version: return "VERSION";
    case Compare::Target::create_revision: return "CREATE";
    case Compare::Target::mod_revision: return "MOD";
    case Compare::Target::value: return "VALUE";
    case Compare::Target::lease: return "LEASE";
  }
  return "VERSION";
}

const char* compare_result(Compare::Op op) {
  switch (op) {
    case Compare::Op::equal: return "EQUAL";
    case Compare::Op::greater: return "GREATER";
    case Compare::Op::less: return "LESS";
    case Compare::Op::not_equal: return "NOT_EQUAL";
  }
  return "EQUAL";
}

Json compare_json(const Compare& c) {
  Json j = {{"key", base64_encode(c.key)}, {"target", compare_target(c.target)}, {"result", compare_result(c.op)}};
  switch (c.target) {
    case Compare::Target::version: j["version"] = int64_string(c.number); break;
    case Compare::Target::create_revision: j["create_revision"] = int64_string(c.number); break;
    case Compare::Target::mod_revision: j["mod_revision"] = int64_string(c.number); break;
    case Compare::Target::value: j["value"] = base64_encode(c.value); break;
    case Compare::Target::lease: j["lease"] = int64_string(c.number); break;
  }
  return j;
}

Json op_json(const TxnOp& op) {
  if (const auto* put = std::get_if<PutOp>(&op)) {
    Json p = {{"key", base64_encode(put->key)}, {"value", base64_encode(put->value)}};
    if (put->lease != 0) p["lease"] = int64_string(put->lease);
    return {{"request_put", p}};
  }
  if (const auto* range = std::get_if<RangeOp>(&op)) {
    Json r = {{"key", base64_encode(range->key)}};
    if (!range->range_end.empty()) r["range_end"] = base64_encode(range->range_end);
    return {{"request_range", r}};
  }
  const auto& del = std::get<DeleteOp>(op);
  Json d = {{"key", base64_encode(del.key)}};
  if (!del.range_end.empty()) d["range_end"] = base64_encode(del.range_end);
  return {{"request_delete_range", d}};
}

}  // namespace



Json int64_string(std::int64_t n) { return std::to_string(n); }

Json range_request(std::string_view key, std::string_view range_end, ReadMode mode) {
  Json j = {{"key", base64_encode(key)}};
  if (!range_end.empty()) j["range_end"] = base64_encode(range_end);
  if (mode == ReadMode::serializable) j["serializable"] = true;
  return j;
}

Json txn_request(const Txn& txn) {
  Json compare = Json::array(), success = Json::array(), failure = Json::array();
  for (const auto& c : txn.compare) compare.push_back(compare_json(c));
  for (const auto& op : txn.success) success.push_back(op_json(op));
  for (const auto& op : txn.failure) failure.push_back(op_json(op));
  return {{"compare", compare}, {"success", success}, {"failure", failure}};
}

std::int64_t int64_field(const Json& object, std::string_view name) { return int_field<std::int64_t>(object, name); }
std::uint64_t uint64_field(const Json& object, std::string_view name) { return int_field<std::uint64_t>(object, name); }

bool bool_field(const Json& object, std::string_view name) {
  const Json* v = find(object, name);
  if (v == nullptr) return false;
  if (!v->is_boolean()) bad_field(name, "is not a boolean");
  return v->get<bool>();
}

std::string string_field(const Json& object, std::string_view name) {
  const Json* v = find(object, name);
  if (v == nullptr) return {};
  if (!v->is_string()) bad_field(name, "is not a string");
  return v->get<std::string>();
}

std::string bytes_field(const Json& object, std::string_view name) {
  auto bytes = base64_decode(string_field(object, name));
  if (!bytes) bad_field(name, "is not base64");
  return std::move(*bytes);
}

const Json& object_field(const Json& object, std::string_view name) {
  static const Json kEmpty = Json::object();
  const Json* v = find(object, name);
  if (v == nullptr) return kEmpty;
  if (!v->is_object()) bad_field(name, "is not an object");
  return *v;
}

const Json* array_field(const Json& object, std::string_view name) {
  const Json* v = find(object, name);
  if (v != nullptr && !v->is_array()) bad_field(name, "is not an array");
  return v;
}

ResponseHeader read_header(const Json& reply) {
  // Every reply of etcd names the member that served it: a reply that does
  // not is not etcd's, whatever else it holds.
  const Json& h = object_field(reply, "header");
  ResponseHeader header{uint64_field(h, "cluster_id"), uint64_field(h, "member_id"), int64_field(h, "revision"),
                        int64_field(h, "raft_term")};
  if (header.member_id == 0) throw ReplyError("no 'header' naming the member that answered");
  return header;
}

KeyValue read_key_value(const Json& kv) {
  return {bytes_field(kv, "key"),          bytes_field(kv, "value"),   int64_field(kv, "create_revision"),
          int64_field(kv, "mod_revision"), int64_field(kv, "version"), int64_field(kv, "lease")};
}

RangeResult read_range(const Json& reply) {
  RangeResult r{read_header(reply), {}, int64_field(reply, "count"), bool_field(reply, "more")};
  if (const Json* kvs = array_field(reply, "kvs")) {
    for (const auto& kv : *kvs) r.kvs.push_back(read_key_value(kv));
  }
  return r;
}

TxnResult read_txn(const Json& reply) {
  TxnResult r{read_header(reply), bool_field(reply, "succeeded"), {}};
  if (const Json* responses = array_field(reply, "responses")) {
    for (const auto& op : *responses) {
      TxnOpResult out;
      if (const Json& range = object_field(op, "response_range"); !range.empty()) {
        if (const Json* kvs = array_field(range, "kvs")) {
          for (const auto& kv : *kvs) out.kvs.push_back(read_key_value(kv));
        }
      }
      out.deleted = int64_field(object_field(op, "response_delete_range"), "deleted");
      r.responses.push_back(std::move(out));
    }
  }
  return r;
}

Lease read_lease(const Json& reply) { return {read_header(reply), int64_field(reply, "ID"), int64_field(reply, "TTL")}; }

LeaseTimeToLive read_time_to_live(const Json& reply) {
  LeaseTimeToLive r{read_header(reply), int64_field(reply, "ID"), int64_field(reply, "TTL"),
                    int64_field(reply, "grantedTTL"), {}};
  if (const Json* keys = array_field(reply, "keys")) {
    for (const auto& k : *keys) {
      if (!k.is_string()) throw ReplyError("field 'keys' has an element that is not a string");
      auto key = base64_decode(k.get<std::string>());
      if (!key) throw ReplyError("field 'keys' has an element that is not base64");
      r.keys.push_back(std::move(*key));
    }
  }
  return r;
}

std::vector<Member> read_members(const Json& reply) {
  std::vector<Member> members;
  const auto strings = [](const Json& m, std::string_view name) {
    std::vector<std::string> out;
    if (const Json* a = array_field(m, name)) {
      for (const auto& s : *a) {
        if (!s.is_string()) bad_field(name, "has an element that is not a string");
        out.push_back(s.get<std::string>());
      }
    }
    return out;
  };
  if (const Json* list = array_field(reply, "members")) {
    for (const auto& m : *list) {
      members.push_back({uint64_field(m, "ID"), string_field(m, "name"), strings(m, "peerURLs"), strings(m, "clientURLs")});
    }
  }
  return members;
}

void read_endpoint_status(const Json& reply, EndpointStatus& out) {
  out.member_id = read_header(reply).member_id;
  out.leader_id = uint64_field(reply, "leader");
  out.version = string_field(reply, "version");
  out.raft_term = int64_field(reply, "raftTerm");
  out.raft_index = int64_field(reply, "raftIndex");
  out.db_size = int64_field(reply, "dbSize");
  if (out.version.empty()) throw ReplyError("no 'version' in a status reply");
}

WatchEvent read_watch_event(const Json& event) {
  const std::string type = string_field(event, "type");
  WatchEvent e;
  if (type.empty() || type == "PUT") {
    e.type = WatchEvent::Type::put;
  } else if (type == "DELETE") {
    e.type = WatchEvent::Type::del;
  } else {
    throw ReplyError("watch event of unknown type '" + type + "'");
  }
  e.kv = read_key_value(object_field(event, "kv"));
  return e;
}

}  // namespace shmreg::cluster::detail

namespace shmreg::cluster {

std::string prefix_range_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

}  // namespace shmreg::cluster
