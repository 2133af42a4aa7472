#include "http_connection.hpp"

#include <openssl/ssl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <functional>
#include <optional>
#include <vector>

namespace shmreg::cluster::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

class TlsContext {
 public:
  asio::ssl::context ctx{asio::ssl::context::tls_client};
};

Result<std::shared_ptr<TlsContext>> make_tls_context(const TlsFiles& files) {
  auto tls = std::make_shared<TlsContext>();
  error_code ec;
  const auto failed = [&](std::string_view what, const std::string& file) {
    return fail(Errc::invalid_argument, "etcd TLS: " + std::string(what) + " '" + file + "': " + ec.message());
  };
  tls->ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1);
  tls->ctx.set_verify_mode(asio::ssl::verify_peer, ec);
  if (files.ca_file.empty()) {
    tls->ctx.set_default_verify_paths(ec);
    if (ec) return failed("the system's trust store", "");
  } else if (tls->ctx.load_verify_file(files.ca_file, ec); ec) {
    return failed("CA file", files.ca_file);
  }
  if (files.cert_file.empty() != files.key_file.empty()) {
    return fail(Errc::invalid_argument, "etcd TLS: a client certificate needs both cert_file and key_file");
  }
  if (!files.cert_file.empty()) {
    if (tls->ctx.use_certificate_chain_file(files.cert_file, ec); ec) return failed("certificate", files.cert_file);
    if (tls->ctx.use_private_key_file(files.key_file, asio::ssl::context::pem, ec); ec) {
      return failed("private key", files.key_file);
    }
  }
  return tls;
}

namespace {

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// The wording of a failure: which step, and what the system or Beast said.
TransportError describe(std::string_view step, const error_code& ec, bool timed_out) {
  if (timed_out) return {false, std::string(step) + ": timed out"};
  // Beast's HTTP errors are the peer's fault (bad version, bad field...),
  // except a connection closed early.
  const bool malformed = ec.category() == http::make_error_code(http::error::end_of_stream).category() &&
                         ec != http::error::end_of_stream && ec != http::error::partial_message;
  if (ec == http::error::end_of_stream || ec == asio::error::eof) {
    return {false, std::string(step) + ": the server closed the connection without a reply"};
  }
  if (ec == http::error::body_limit || ec == http::error::header_limit) {
    return {true, std::string(step) + ": reply over the size limit (" + ec.message() + ")"};
  }
  return {malformed, std::string(step) + (malformed ? ": not an HTTP reply (" : ": ") + ec.message() +
                         (malformed ? ")" : "")};
}

}  // namespace

struct HttpConnection::State {
  Endpoint endpoint;
  std::size_t max_body;
  std::shared_ptr<TlsContext> tls;
  asio::io_context ioc;
  tcp::resolver resolver{ioc};
  std::optional<beast::tcp_stream> plain;
  std::optional<TlsStream> secure;
  beast::flat_buffer buffer;
  bool connected = false;
  // The stream being read by read_stream().
  std::optional<http::response_parser<http::string_body>> parser;
  std::function<std::size_t(std::uint64_t, std::string_view, error_code&)> on_chunk;
  std::string chunk_data;
  bool read_pending = false;
  error_code read_ec;

  State(Endpoint ep, std::size_t max, std::shared_ptr<TlsContext> ctx)
      : endpoint(std::move(ep)), max_body(max), tls(std::move(ctx)) {}

  beast::tcp_stream& tcp_layer() { return secure ? beast::get_lowest_layer(*secure) : *plain; }

  template <class F>
  void with_stream(F&& f) {
    if (secure) {
      f(*secure);
    } else {
      f(*plain);
    }
  }

  void close() noexcept {
    error_code ignored;
    if (plain || secure) tcp_layer().socket().close(ignored);
    resolver.cancel();
    // Let the handlers of what the close aborted run before their state goes.
    ioc.restart();
    ioc.run();
    parser.reset();
    plain.reset();
    secure.reset();
    buffer.clear();
    connected = false;
    read_pending = false;
  }

  // Runs the operations started until they finish (true) or deadline passes:
  // then closes the connection, which ends them, and returns false.
  bool run_until(Deadline deadline) {
    ioc.restart();
    ioc.run_until(deadline);
    if (ioc.stopped()) return true;
    close();
    return false;
  }

  std::optional<TransportError> connect(Deadline deadline);
  std::optional<TransportError> write_request(std::string_view target, const std::string& body, Deadline deadline);
  std::expected<HttpReply, TransportError> exchange(std::string_view target, const std::string& body,
                                                    Deadline deadline);
};

std::optional<TransportError> HttpConnection::State::connect(Deadline deadline) {
  close();
  error_code ec;
  std::vector<tcp::endpoint> addresses;
  // An address needs no resolver. A name does, and the system's resolver
  // cannot be interrupted: its wait is bounded by resolv.conf, not by the
  // deadline (give etcd endpoints as addresses where that matters).
  if (const auto address = asio::ip::make_address(endpoint.host, ec); !ec) {
    addresses.emplace_back(address, endpoint.port);
  } else {
    ec.clear();
    resolver.async_resolve(endpoint.host, std::to_string(endpoint.port),
                           [&](const error_code& e, const tcp::resolver::results_type& r) {
                             ec = e;
                             for (const auto& entry : r) addresses.push_back(entry.endpoint());
                           });
    if (!run_until(deadline)) return describe("resolve", ec, true);
    if (ec) return describe("resolve", ec, false);
  }
  if (tls) {
    secure.emplace(ioc, tls->ctx);
  } else {
    plain.emplace(ioc);
  }
  tcp_layer().async_connect(addresses, [&](const error_code& e, const tcp::endpoint&) { ec = e; });
  if (!run_until(deadline)) return describe("connect", ec, true);
  if (ec) {
    close();
    return describe("connect", ec, false);
  }
  error_code ignored;
  tcp_layer().socket().set_option(tcp::no_delay(true), ignored);
  if (secure) {
    // SNI for a host name; the certificate must name the host either way.
    if (endpoint.host.find_first_not_of("0123456789.:") != std::string::npos) {
      SSL_set_tlsext_host_name(secure->native_handle(), endpoint.host.c_str());
    }
    secure->set_verify_callback(asio::ssl::host_name_verification(endpoint.host));
    secure->async_handshake(asio::ssl::stream_base::client, [&](const error_code& e) { ec = e; });
    if (!run_until(deadline)) return describe("tls handshake", ec, true);
    if (ec) {
      close();
      return describe("tls handshake", ec, false);
    }
  }
  connected = true;
  return std::nullopt;
}

std::optional<TransportError> HttpConnection::State::write_request(std::string_view target,
                                                                   const std::string& body, Deadline deadline) {
  http::request<http::string_body> req{http::verb::post, target, 11};
  req.set(http::field::host, endpoint.host_header);
  req.set(http::field::content_type, "application/json");
  req.keep_alive(true);
  req.body() = body;
  req.prepare_payload();
  error_code ec;
  with_stream([&](auto& s) { http::async_write(s, req, [&](const error_code& e, std::size_t) { ec = e; }); });
  if (!run_until(deadline)) return describe("send", ec, true);
  if (ec) {
    close();
    return describe("send", ec, false);
  }
  return std::nullopt;
}

std::expected<HttpReply, TransportError> HttpConnection::State::exchange(std::string_view target,
                                                                         const std::string& body,
                                                                         Deadline deadline) {
  if (!connected) {
    if (auto err = connect(deadline)) return std::unexpected(*err);
  }
  if (auto err = write_request(target, body, deadline)) return std::unexpected(*err);
  http::response_parser<http::string_body> reply;
  reply.body_limit(max_body);
  error_code ec;
  with_stream([&](auto& s) { http::async_read(s, buffer, reply, [&](const error_code& e, std::size_t) { ec = e; }); });
  if (!run_until(deadline)) return std::unexpected(describe("reply", ec, true));
  if (ec) {
    close();
    return std::unexpected(describe("reply", ec, false));
  }
  HttpReply out{reply.get().result_int(), std::move(reply.get().body())};
  if (!reply.get().keep_alive()) close();
  return out;
}

HttpConnection::HttpConnection(Endpoint endpoint, std::size_t max_body, std::shared_ptr<TlsContext> tls)
    : state_(std::make_unique<State>(std::move(endpoint), max_body, std::move(tls))) {}
HttpConnection::HttpConnection(HttpConnection&&) noexcept = default;
HttpConnection& HttpConnection::operator=(HttpConnection&&) noexcept = default;
HttpConnection::~HttpConnection() {
  if (state_) state_->close();
}

const Endpoint& HttpConnection::endpoint() const noexcept { return state_->endpoint; }

void HttpConnection::close() noexcept { state_->close(); }

std::expected<HttpReply, TransportError> HttpConnection::post(std::string_view target, const std::string& body,
                                                              Deadline deadline) {
  const bool reused = state_->connected;
  auto reply = state_->exchange(target, body, deadline);
  // A kept-alive connection the server has since closed fails at once; one
  // more try on a fresh connection, while there is time.
  if (!reply && reused && !reply.error().malformed && Clock::now() < deadline) {
    reply = state_->exchange(target, body, deadline);
  }
  return reply;
}

std::expected<HttpReply, TransportError> HttpConnection::open_stream(std::string_view target,
                                                                     const std::string& body, Deadline deadline) {
  State& s = *state_;
  if (auto err = s.connect(deadline)) return std::unexpected(*err);
  if (auto err = s.write_request(target, body, deadline)) return std::unexpected(*err);
  s.parser.emplace();
  s.parser->body_limit(boost::none);  // a stream has no end; read_stream's caller bounds each message
  error_code ec;
  s.with_stream([&](auto& st) {
    http::async_read_header(st, s.buffer, *s.parser, [&](const error_code& e, std::size_t) { ec = e; });
  });
  if (!s.run_until(deadline)) return std::unexpected(describe("reply", ec, true));
  if (ec) {
    s.close();
    return std::unexpected(describe("reply", ec, false));
  }
  const unsigned status = s.parser->get().result_int();
  if (status == 200) {
    s.on_chunk = [&s](std::uint64_t, std::string_view data, error_code&) {
      s.chunk_data.append(data);
      return data.size();
    };
    s.parser->on_chunk_body(s.on_chunk);
    return HttpReply{status, {}};
  }
  // An error reply: read its body, bounded.
  s.parser->body_limit(s.max_body);
  s.with_stream([&](auto& st) {
    http::async_read(st, s.buffer, *s.parser, [&](const error_code& e, std::size_t) { ec = e; });
  });
  if (!s.run_until(deadline)) return std::unexpected(describe("reply", ec, true));
  HttpReply out{status, ec ? std::string() : std::move(s.parser->get().body())};
  s.close();
  return out;
}

std::expected<void, TransportError> HttpConnection::read_stream(std::string& out, Deadline deadline) {
  State& s = *state_;
  if (!s.parser) return std::unexpected(TransportError{false, "watch: the stream is closed"});
  if (!s.read_pending) {
    if (s.parser->is_done()) {
      s.close();
      return std::unexpected(TransportError{false, "watch: the server ended the stream"});
    }
    s.read_pending = true;
    s.with_stream([&](auto& st) {
      http::async_read_some(st, s.buffer, *s.parser, [&s](const error_code& e, std::size_t) {
        s.read_pending = false;
        s.read_ec = e;
      });
    });
  }
  s.ioc.restart();
  s.ioc.run_until(deadline);
  // A body sent without chunks (Content-Length) lands in the body.
  out.append(s.chunk_data);
  s.chunk_data.clear();
  out.append(s.parser->get().body());
  s.parser->get().body().clear();
  if (s.read_pending) return {};
  if (s.read_ec) {
    const error_code ec = s.read_ec;
    s.close();
    return std::unexpected(describe("watch", ec, false));
  }
  return {};
}

}  // namespace shmreg::cluster::detail
