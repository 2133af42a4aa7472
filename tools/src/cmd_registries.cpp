// The registries family of the CLI:
//   ping                          exit 0 when the broker answers; shows the socket, segment and lock paths
//   create REG [--keys unique|duplicate] [--partitions N] [--max-key N]
//          [--max-value N] [--capacity N] [--events N] [--meta KEY=VALUE]...
// Both talk to the broker.
#include <iostream>

#include "commands.hpp"
#include "shmreg/proto/paths.hpp"
#include "shmreg/shm/layout.hpp"

namespace shmreg::tools {

namespace {

using namespace cli;

int run_ping(const Globals& g) {
  auto c = open_client(g);
  if (!c) return c.error();
  auto pid = c->ping();
  if (!pid) return report_error(g, pid.error());
  // The same resolution libshmreg used, so these are the files it opened.
  const proto::NamespacePaths paths = proto::client_paths(g.socket, c->ns());
  if (g.json)
    std::cout << to_json_text({{"broker_pid", *pid},
                               {"namespace", c->ns()},
                               {"socket", c->socket_path()},
                               {"segment", paths.segment()},
                               {"lock", paths.lock()}})
              << "\n";
  else
    std::cout << "broker pid " << *pid << " serves namespace " << c->ns() << " (segment " << paths.segment()
              << ", lock " << paths.lock() << ")\n";
  return kExitOk;
}

struct CreateArgs {
  std::string reg;
  std::string keys = "unique";
  RegistryOptions options;
};

int run_create(const Globals& g, const CreateArgs& a) {
  RegistryOptions o = a.options;
  o.unique = a.keys == "unique";
  auto c = open_client(g);
  if (!c) return c.error();
  if (auto r = c->create_registry(a.reg, o); !r) return report_error(g, r.error());
  if (g.json)
    std::cout << to_json_text({{"registry", a.reg}, {"keys", a.keys}, {"partitions", o.partitions}}) << "\n";
  return kExitOk;
}

// "KEY=VALUE" for create --meta; the value may itself hold '='.
std::pair<std::string, std::string> meta_pair(const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    throw CLI::ValidationError("--meta", "expected KEY=VALUE with a non-empty KEY, got '" + text + "'");
  return {text.substr(0, eq), text.substr(eq + 1)};
}

void add_create(CommandTable& table) {
  auto [c, a] = table.add<CreateArgs>("create", "create a registry (idempotent with the same options)", run_create);
  c->add_option("REG", a.reg, "registry name")->required();
  c->add_option("--keys", a.keys, "unique or duplicate")->check(CLI::IsMember({"unique", "duplicate"}));
  c->add_option("--partitions", a.options.partitions, "number of partitions")->check(CLI::Range(1u, 64u));
  // 0 is what the wire sends for "the broker's default": refused here, so
  // that it is never taken for a limit of its own.
  c->add_option("--max-key", a.options.max_key, "max key length in bytes, 1 to " + std::to_string(shm::kMaxKeyLen) +
                                                    " (default: the broker's, --default-max-key)")
      ->check(CLI::Range(1u, shm::kMaxKeyLen));
  c->add_option("--max-value", a.options.max_value,
                "max value length in bytes, 1 to " + std::to_string(shm::kMaxValueLen) +
                    " (default: the broker's, --default-max-value)")
      ->check(CLI::Range(1u, shm::kMaxValueLen));
  c->add_option("--capacity", a.options.capacity,
                "max entries, 1 to " + std::to_string(shm::kMaxRecordsPerRegistry) +
                    " (default: the broker's, --default-capacity)")
      ->check(CLI::Range(1u, shm::kMaxRecordsPerRegistry));
  c->add_option("--events", a.options.events,
                "events the ring keeps for watch and await, a power of two from 2 to " +
                    std::to_string(shm::kMaxEventCapacity) + " (default: 1024; each costs about 64 bytes plus max-key)")
      ->check(CLI::Range(2u, shm::kMaxEventCapacity));
  c->add_option_function<std::vector<std::string>>(
       "--meta",
       [&meta = a.options.meta](const std::vector<std::string>& pairs) {
         for (const auto& p : pairs) meta.push_back(meta_pair(p));
       },
       "initial meta KEY=VALUE (repeatable), set together with the creation; an existing registry keeps "
       "its own meta")
      ->type_name("KEY=VALUE");
}

}  // namespace

void add_registries_commands(CommandTable& table) {
  table.add("ping", "exit 0 when the broker answers", run_ping);
  add_create(table);
}

}  // namespace shmreg::tools
