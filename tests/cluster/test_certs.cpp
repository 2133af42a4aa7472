#include "test_certs.hpp"

#include <fstream>
#include <vector>

#include "child_process.hpp"
#include "etcd_cluster.hpp"

namespace shmreg::test {

namespace {

// Runs openssl with args; the error names the command and its output.
std::expected<void, std::string> openssl(const std::string& binary, std::vector<std::string> args) {
  args.insert(args.begin(), binary);
  const RunResult r = run(args);
  if (r.exit_code() == 0) return {};
  std::string command;
  for (const auto& a : args) command += a + " ";
  return std::unexpected("'" + command + "' " + r.describe());
}

// A key and a certificate for subject, signed by the CA (ca/ca_key), or
// self-signed when ca is empty.
std::expected<void, std::string> issue(const std::string& bin, const std::string& dir, const std::string& name,
                                       const std::string& subject, const std::string& extensions,
                                       const std::string& ca, const std::string& ca_key) {
  const std::string key = dir + "/" + name + ".key", cert = dir + "/" + name + ".pem";
  const std::string csr = dir + "/" + name + ".csr", ext = dir + "/" + name + ".ext";
  std::ofstream(ext) << extensions;
  const std::vector<std::string> new_key{"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                                         "-keyout", key, "-subj", subject};
  if (ca.empty()) {
    std::vector<std::string> args{"req", "-x509", "-days", "1", "-out", cert};
    args.insert(args.end(), new_key.begin(), new_key.end());
    return openssl(bin, args);
  }
  std::vector<std::string> args{"req", "-out", csr};
  args.insert(args.end(), new_key.begin(), new_key.end());
  if (auto made = openssl(bin, args); !made) return made;
  return openssl(bin, {"x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-days", "1",
                       "-out", cert, "-extfile", ext});
}

}  // namespace

std::string find_openssl() { return find_on_path("openssl"); }

std::expected<TestCerts, std::string> make_test_certs(const std::string& dir) {
  const std::string bin = find_openssl();
  if (bin.empty()) return std::unexpected("openssl is not installed (Debian package openssl)");
  TestCerts c{dir + "/ca.pem",     dir + "/server.pem", dir + "/server.key",
              dir + "/client.pem", dir + "/client.key", dir + "/other-ca.pem"};
  const std::string ca_key = dir + "/ca.key";
  for (auto step : {issue(bin, dir, "ca", "/CN=shmreg test CA", "", "", ""),
                    issue(bin, dir, "other-ca", "/CN=shmreg other CA", "", "", "")}) {
    if (!step) return std::unexpected(step.error());
  }
  if (auto s = issue(bin, dir, "server", "/CN=127.0.0.1",
                     "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n", c.ca_file, ca_key);
      !s) {
    return std::unexpected(s.error());
  }
  if (auto s = issue(bin, dir, "client", "/CN=shmreg-broker", "extendedKeyUsage=clientAuth\n", c.ca_file, ca_key); !s) {
    return std::unexpected(s.error());
  }
  return c;
}

}  // namespace shmreg::test
