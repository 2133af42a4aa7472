// Endpoints that are not etcd, or not there: no etcd needed. A tiny server
// in a forked child answers every request with one canned reply (garbage,
// HTML, JSON of the wrong shape, a body over the limit, silence); each
// gives the call a clear error naming the endpoint and the call, by its
// deadline, and never a crash. With every endpoint dead, a call fails with
// cluster_unavailable within its deadline, naming each one.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "etcd_cluster.hpp"
#include "etcd_cluster_test.hpp"
#include "shmreg/cluster/etcd_client.hpp"
#include "shmreg/cluster/watch.hpp"

namespace shmreg::test {
namespace {

using namespace cluster;

const std::string kSilent = "(silent)";
const std::string kClose = "(close)";

// A listening socket on a free loopback port and a child that serves it.
class CannedServer {
 public:
  // reply: written after each request; kSilent: never answer (keep the
  // connection open and say nothing); kClose: close it at once.
  explicit CannedServer(std::string reply) {
    fd_ = sys::UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (!fd_ || ::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_.get(), 16) != 0 || ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("CannedServer: cannot listen on loopback");
    }
    url_ = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
    const int listen_fd = fd_.get();
    child_ = ForkedChild::start([listen_fd, reply](ChildChannel&) { return serve(listen_fd, reply); }, {listen_fd});
  }
  const std::string& url() const { return url_; }

 private:
  static int serve(int listen_fd, const std::string& reply) {
    std::vector<sys::UniqueFd> silent;  // kept open, unanswered
    for (;;) {
      sys::UniqueFd conn(::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC));
      if (!conn) continue;
      char buf[65536];
      pollfd p{conn.get(), POLLIN, 0};
      if (::poll(&p, 1, 2000) == 1) (void)::read(conn.get(), buf, sizeof buf);  // the request, roughly
      if (reply == kSilent) {
        silent.push_back(std::move(conn));
        continue;
      }
      if (reply == kClose) continue;
      (void)::send(conn.get(), reply.data(), reply.size(), MSG_NOSIGNAL);
      ::shutdown(conn.get(), SHUT_WR);
    }
  }

  sys::UniqueFd fd_;
  std::string url_;
  ForkedChild child_;
};

std::string http_reply(std::string_view status, std::string_view body) {
  return "HTTP/1.1 " + std::string(status) + "\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

struct Canned {
  const char* name;
  std::string reply;
  Errc expected;
  const char* says;  // a word the error must contain
};

void PrintTo(const Canned& c, std::ostream* os) { *os << c.name; }

class HostileEndpointTest : public ::testing::TestWithParam<Canned> {};

TEST_P(HostileEndpointTest, ACallToItFailsClearlyByItsDeadline) {
  CannedServer server(GetParam().reply);
  auto options = etcd_client_options({server.url()});
  options.max_reply_bytes = 64 * 1024;
  auto c = EtcdClient::make(options);
  ASSERT_TRUE(c) << c.error().message;
  const auto deadline = deadline_in(std::chrono::milliseconds(800));
  auto r = c->get("/k", ReadMode::linearizable, deadline);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, GetParam().expected) << r.error().message;
  EXPECT_NE(r.error().message.find("etcd range"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find(server.url()), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find(GetParam().says), std::string::npos) << r.error().message;
  EXPECT_LT(Clock::now(), deadline + std::chrono::seconds(1)) << "the call overran its deadline";
  // The other calls too: none may crash on it.
  const auto soon = [] { return deadline_in(std::chrono::milliseconds(150)); };
  EXPECT_FALSE(c->create_if_absent("/k", "v", 0, soon()));
  EXPECT_FALSE(c->lease_keep_alive(1, soon()));
  EXPECT_FALSE(c->lease_time_to_live(1, soon()));
  const auto status = c->status(soon());
  ASSERT_EQ(status.endpoints.size(), 1u);
  EXPECT_FALSE(status.endpoints[0].healthy);
  EXPECT_FALSE(Watch::open(options, "/p/", 0, soon()));
}

INSTANTIATE_TEST_SUITE_P(
    Replies, HostileEndpointTest,
    ::testing::Values(
        Canned{"NotHttp", "SSH-2.0-OpenSSH_9.2p1\r\n", Errc::bad_reply, "not an HTTP reply"},
        Canned{"HtmlNotFound", "HTTP/1.1 404 Not Found\r\nContent-Length: 14\r\n\r\n<h1>nope</h1>\n", Errc::bad_reply,
               "not a JSON object"},
        Canned{"JsonOfTheWrongShape", http_reply("200 OK", R"({"header": {"member_id": "7"}, "kvs": 5})"), Errc::bad_reply, "'kvs' is not an array"},
        Canned{"BadBase64", http_reply("200 OK", R"({"header": {"member_id": "7"}, "kvs": [{"key": "!!"}]})"), Errc::bad_reply, "not base64"},
        Canned{"NumberThatIsNot", http_reply("200 OK", R"({"header": {"member_id": "7", "revision": "12x"}})"),
               Errc::bad_reply, "'revision' is not a number"},
        Canned{"NoHeader", http_reply("200 OK", R"({"kvs": []})"), Errc::bad_reply, "no 'header'"},
        Canned{"JsonArray", http_reply("200 OK", "[1,2,3]"), Errc::bad_reply, "not a JSON object"},
        Canned{"OverTheSizeLimit", "HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n{\"kvs\": [", Errc::bad_reply,
               "size limit"},
        Canned{"NeverAnswers", kSilent, Errc::cluster_unavailable, "timed out"},
        Canned{"ClosesAtOnce", kClose, Errc::cluster_unavailable, "closed the connection without a reply"},
        Canned{"DeeplyNested", http_reply("200 OK", std::string(30000, '[') + std::string(30000, ']')),
               Errc::bad_reply, "not a JSON object"},
        Canned{"ChunksOfGarbage", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n",
               Errc::bad_reply, "not a JSON object"},
        Canned{"ErrorOfUnknownShape", http_reply("500 Internal", R"({"error": 7})"), Errc::bad_reply,
               "unexpected shape"}),
    [](const auto& p) { return std::string(p.param.name); });

TEST(UnreachableEndpointTest, WithEveryEndpointDeadACallFailsWithinItsDeadlineNamingEach) {
  const auto ports = free_loopback_ports(3);
  std::vector<std::string> urls;
  for (auto p : ports) urls.push_back("http://127.0.0.1:" + std::to_string(p));
  auto c = EtcdClient::make(etcd_client_options(urls));
  ASSERT_TRUE(c) << c.error().message;
  const auto deadline = deadline_in(std::chrono::milliseconds(1000));
  auto r = c->create_if_absent("/k", "v", 0, deadline);
  ASSERT_FALSE(r);
  EXPECT_LT(Clock::now(), deadline + std::chrono::seconds(1)) << "the call overran its deadline";
  EXPECT_EQ(r.error().code, Errc::cluster_unavailable) << r.error().message;
  EXPECT_NE(r.error().message.find("etcd txn"), std::string::npos) << r.error().message;
  for (const auto& url : urls) {
    EXPECT_NE(r.error().message.find(url + ": connect: Connection refused"), std::string::npos) << r.error().message;
  }
}

TEST(UnreachableEndpointTest, ASilentEndpointCostsOneAttemptTimeoutThenTheNextIsTried) {
  CannedServer silent(kSilent);
  CannedServer answering(http_reply("200 OK", R"({"header": {"member_id": "7", "revision": "42"}})"));
  auto c = EtcdClient::make(etcd_client_options({silent.url(), answering.url()}));
  ASSERT_TRUE(c) << c.error().message;
  auto r = c->get("/k", ReadMode::linearizable, deadline_in(kTimeout));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->header.revision, 42);
  EXPECT_TRUE(r->kvs.empty());
}

TEST(EndpointUrlTest, AnEndpointThatIsNotAnHttpUrlIsInvalidArgument) {
  for (const char* bad : {"127.0.0.1:2379", "http://", "http://host:0", "http://host:65536", "http://host:12ab",
                          "http://host:2379/v3", "ftp://host:21", "http://[::1:2379"}) {
    auto c = EtcdClient::make(etcd_client_options({bad}));
    ASSERT_FALSE(c) << bad;
    EXPECT_EQ(c.error().code, Errc::invalid_argument) << bad;
    EXPECT_NE(c.error().message.find(bad), std::string::npos) << c.error().message;
  }
  EXPECT_FALSE(EtcdClient::make(etcd_client_options({})));
  EXPECT_TRUE(EtcdClient::make(etcd_client_options({"http://[::1]:2379", "http://etcd-1", "https://10.0.0.1:2379/"})));
}

TEST(EndpointUrlTest, ATlsFileThatCannotBeReadIsInvalidArgumentNamingIt) {
  auto options = etcd_client_options({"https://127.0.0.1:2379"});
  options.tls.ca_file = "/nonexistent/ca.pem";
  auto c = EtcdClient::make(options);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, Errc::invalid_argument);
  EXPECT_NE(c.error().message.find("/nonexistent/ca.pem"), std::string::npos) << c.error().message;
}

}  // namespace
}  // namespace shmreg::test
