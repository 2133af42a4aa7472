// Certificates for TLS tests, made by the openssl command (Debian's
// openssl) in a directory the caller owns: a CA, a server certificate for
// 127.0.0.1 and a client certificate signed by it, and a second CA that
// signed neither. EC P-256 keys, valid for a day.
//
// Thread-safety: for the test's main thread.
#pragma once

#include <expected>
#include <string>

namespace shmreg::test {

struct TestCerts {
  std::string ca_file;
  std::string server_cert, server_key;  // subjectAltName IP:127.0.0.1
  std::string client_cert, client_key;
  std::string other_ca_file;  // a CA that signed nothing here
};

// The openssl binary on PATH, or empty.
std::string find_openssl();

// The error has the failing command and what it printed.
std::expected<TestCerts, std::string> make_test_certs(const std::string& dir);

}  // namespace shmreg::test
