#include "support/https_client.hpp"

#include <optional>
#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "radsync/core/asio.hpp"

namespace radsync::test {

namespace {

using SslStream = beast::ssl_stream<TcpStream>;
using ErrorCode = boost::system::error_code;

[[noreturn]] void fail(const char* what, const ErrorCode& ec) {
    throw std::runtime_error(std::string("http client: ") + what + ": " + ec.message());
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return out;
}

}  // namespace

struct HttpClient::Impl {
    explicit Impl(HttpClientOptions o) : opts(std::move(o)) {
        // Test client against a self-signed test certificate: no verification on purpose.
        tls_ctx.set_verify_mode(ssl::verify_none);
    }

    TcpStream& tcp() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
    bool connected() const { return tls.has_value() || plain.has_value(); }

    void disconnect() {
        if (connected()) {
            ErrorCode ec;
            tcp().socket().close(ec);
        }
        tls.reset();
        plain.reset();
        buffer.clear();
    }

    Task<void> connect() {
        ErrorCode ec;
        const auto address = net::ip::make_address(opts.host, ec);
        if (ec) {
            fail("bad host", ec);
        }
        TcpStream stream(ioc.get_executor());
        stream.expires_after(opts.timeout);
        auto [connect_ec] =
            co_await stream.async_connect(net::ip::tcp::endpoint(address, opts.port));
        if (connect_ec) {
            fail("connect", connect_ec);
        }
        ++connections;
        if (opts.tls) {
            tls.emplace(std::move(stream), tls_ctx);
            tcp().expires_after(opts.timeout);
            auto [hs_ec] = co_await tls->async_handshake(ssl::stream_base::client);
            if (hs_ec) {
                disconnect();
                fail("tls handshake", hs_ec);
            }
        } else {
            plain.emplace(std::move(stream));
        }
    }

    template <class Stream>
    Task<ErrorCode> exchange(Stream& stream, bhttp::request<bhttp::string_body>& req,
                             HttpResponse& out) {
        tcp().expires_after(opts.timeout);
        auto [write_ec, written] = co_await bhttp::async_write(stream, req);
        if (write_ec) {
            co_return write_ec;
        }
        bhttp::response_parser<bhttp::string_body> parser;
        parser.body_limit(64U * 1024U * 1024U);
        parser.skip(req.method() == bhttp::verb::head);
        tcp().expires_after(opts.timeout);
        auto [read_ec, read] = co_await bhttp::async_read(stream, buffer, parser);
        if (read_ec) {
            co_return read_ec;
        }
        auto res = parser.release();
        out.status = res.result_int();
        out.keep_alive = res.keep_alive();
        for (const auto& field : res) {
            auto [it, inserted] =
                out.headers.try_emplace(lower(field.name_string()), field.value());
            if (!inserted) {
                it->second.append(",").append(field.value());
            }
        }
        out.body = std::move(res.body());
        co_return ErrorCode{};
    }

    Task<HttpResponse> run(bhttp::request<bhttp::string_body> req) {
        for (int attempt = 0;; ++attempt) {
            const bool reused = connected();
            if (!reused) {
                co_await connect();
            }
            HttpResponse out;
            const ErrorCode ec =
                tls ? co_await exchange(*tls, req, out) : co_await exchange(*plain, req, out);
            if (ec) {
                disconnect();
                if (reused && attempt == 0) {
                    continue;  // the server closed the idle connection; try a fresh one
                }
                fail("request", ec);
            }
            if (!out.keep_alive) {
                disconnect();
            }
            co_return out;
        }
    }

    HttpClientOptions opts;
    net::io_context ioc{1};
    ssl::context tls_ctx{ssl::context::tls_client};
    std::optional<SslStream> tls;
    std::optional<TcpStream> plain;
    beast::flat_buffer buffer;
    std::size_t connections = 0;
};

HttpClient::HttpClient(HttpClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

HttpClient::~HttpClient() {
    impl_->disconnect();
}

HttpResponse HttpClient::request(std::string_view method, std::string_view target,
                                 const std::vector<std::pair<std::string, std::string>>& headers,
                                 std::string body) {
    bhttp::request<bhttp::string_body> req;
    req.method_string(method);
    req.target(target);
    req.version(11);
    req.set(bhttp::field::host, impl_->opts.host);
    req.set(bhttp::field::user_agent, "radsync-test-client");
    for (const auto& [name, value] : headers) {
        req.insert(name, value);
    }
    req.body() = std::move(body);
    req.prepare_payload();

    auto result =
        net::co_spawn(impl_->ioc.get_executor(), impl_->run(std::move(req)), net::use_future);
    impl_->ioc.restart();
    impl_->ioc.run();
    return result.get();
}

std::size_t HttpClient::connections_opened() const {
    return impl_->connections;
}

void HttpClient::close() {
    impl_->disconnect();
}

}  // namespace radsync::test
