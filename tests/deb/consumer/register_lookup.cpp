// A C++ program using libshmreg as installed by the .deb, built by
// tests/deb/deb_test.sh through find_package(shmreg) from the package's CMake
// config. It opens the namespace named by $SHMREG_NAMESPACE (and
// $SHMREG_SOCKET), creates the registry "services", registers a key
// (argv[1], else "db") for itself and looks it up. Exit status 0 means the
// lookup saw the value it registered.
#include <iostream>
#include <string>

#include <shmreg/shmreg.hpp>

namespace {

int report(const char* what, const shmreg::Error& error) {
  std::cerr << what << ": " << shmreg::to_string(error.code) << ": " << error.message << '\n';
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string key = argc > 1 ? argv[1] : "db";
  const std::string value = "10.0.0.5:5432";
  auto client = shmreg::Client::open();
  if (!client) return report("open", client.error());
  if (auto created = client->create_registry("services"); !created) return report("create", created.error());
  if (auto version = client->register_key("services", key, value); !version) {
    return report("register", version.error());
  }
  auto services = client->registry("services");
  if (!services) return report("registry", services.error());
  auto seen = services->lookup_value(key);
  if (!seen) return report("lookup", seen.error());
  if (*seen != value) {
    std::cerr << "lookup: got '" << seen->value_or("(none)") << "', want '" << value << "'\n";
    return 1;
  }
  std::cout << "ok: " << key << " = " << **seen << '\n';
  return 0;
}
