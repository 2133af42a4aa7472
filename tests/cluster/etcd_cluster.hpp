// EtcdCluster: a real etcd cluster for the tests and benchmarks, started
// from Debian's etcd-server (the binary `etcd`) on loopback, with free
// ports and a temporary data directory per member, and faults on demand:
// SIGKILL, SIGSTOP / SIGCONT, restart of one member.
//
//   auto cluster = EtcdCluster::start({.members = 3});
//   if (!cluster) FAIL() << cluster.error();
//   client_options.endpoints = cluster->client_urls();
//   cluster->kill(0);   // and every call still works through the other two
//
// Everything it started is killed and reaped, and every directory removed,
// when it is destroyed, also when a test fails half-way; the members die
// with the test process too (PR_SET_PDEATHSIG, as every Subprocess).
// No GoogleTest in here, so that benchmarks can link it; the fixture is
// etcd_cluster_test.hpp.
//
// Thread-safety: for the test's main thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "child_process.hpp"

namespace shmreg::test {

// Files for an etcd that serves its clients over TLS (test_certs.hpp makes
// them). Peers still talk plain HTTP to each other.
struct EtcdTlsFiles {
  std::string ca_file;    // the CA that signed the client certificates it accepts
  std::string cert_file;  // the server's certificate (naming 127.0.0.1)
  std::string key_file;
  bool client_cert_auth = true;  // refuse clients without a certificate of ca_file
};

struct EtcdClusterOptions {
  int members = 3;
  // Set: client URLs are https:// and need a client certificate.
  std::optional<EtcdTlsFiles> tls;
  // Raft timing, short so that a test sees an election in well under a
  // second (etcd's defaults: 100 ms and 1000 ms).
  std::chrono::milliseconds heartbeat{50};
  std::chrono::milliseconds election{500};
  // How long start() and restart() wait for every member to be healthy.
  std::chrono::milliseconds start_timeout{20000};
};

class EtcdCluster {
 public:
  // The etcd binary on PATH, or empty when etcd-server is not installed.
  static std::string find_etcd();

  // Starts the members and waits until each says it is healthy (it has a
  // leader). The error says what did not start, with the tail of its log.
  static std::expected<EtcdCluster, std::string> start(const EtcdClusterOptions& options = {});
  // One cluster (default options) for the whole process, as the benchmarks
  // use it: started by the first call, stopped at exit. nullptr when it did
  // not start; why is printed once to stderr, after `who`.
  static EtcdCluster* process_cluster(const char* who);

  EtcdCluster(EtcdCluster&&) noexcept;
  EtcdCluster& operator=(EtcdCluster&&) noexcept;
  ~EtcdCluster();

  std::size_t size() const noexcept;
  // "http://127.0.0.1:PORT" (https with TLS) of member i, and of all, in
  // member order.
  std::string client_url(std::size_t i) const;
  std::vector<std::string> client_urls() const;
  pid_t pid(std::size_t i) const;

  // SIGKILL, and reap: the member is gone until restart(i).
  void kill(std::size_t i);
  // SIGSTOP: the member keeps its sockets open and answers nothing (a hung
  // host); resume(i) sends SIGCONT.
  void stop(std::size_t i);
  void resume(std::size_t i);
  // Starts a killed member again on its data directory and ports, and waits
  // until it is healthy; the error has its log's tail.
  std::expected<void, std::string> restart(std::size_t i);

  // True when member i answers GET /health with "true" by the deadline (on
  // its metrics port, plain HTTP also when clients need TLS).
  bool healthy(std::size_t i, std::chrono::milliseconds timeout) const;
  // Waits until every running member is healthy.
  bool wait_healthy(std::chrono::milliseconds timeout) const;

  // The last lines member i wrote to its log, for failure messages.
  std::string log_tail(std::size_t i) const;

 private:
  struct Impl;
  explicit EtcdCluster(std::unique_ptr<Impl> impl);
  static std::expected<EtcdCluster, std::string> start_once(const EtcdClusterOptions& options);
  std::unique_ptr<Impl> impl_;
};

// The executable name on PATH, or empty.
std::string find_on_path(const std::string& name);

// A free TCP port on 127.0.0.1 at the time of asking (the kernel's pick;
// another process may take it before the caller binds it). count ports,
// all distinct.
std::vector<std::uint16_t> free_loopback_ports(int count);

// GET path from 127.0.0.1:port, the reply's body when the status is 200;
// empty on anything else or when timeout passes. HTTP/1.0, no keep-alive.
std::string http_get_loopback(std::uint16_t port, const std::string& path, std::chrono::milliseconds timeout);

}  // namespace shmreg::test
