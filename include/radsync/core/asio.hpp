#pragma once

// The one place that spells out radsync's coroutine idiom (style.md c.3), after Beast's
// boost-1.81.0 advanced_server_flex_awaitable example: every I/O object below carries
// `as_tuple(use_awaitable)` as its default completion token, so `co_await obj.async_x(...)`
// yields `[ec, ...]` and never throws for I/O. No other file names a completion token.
//
// Include this only from edge modules (http, officernd, service); it pulls in Asio and
// Beast's core and costs tens of seconds of compile time per translation unit.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>

// Declared (not defined) here so the aliases below exist without pulling in OpenSSL or the
// HTTP parser; files that use them include <boost/asio/ssl.hpp> / <boost/beast/http.hpp>.
namespace boost::asio::ssl {}
namespace boost::beast::http {}

namespace radsync {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace ssl = boost::asio::ssl;
/// Beast's HTTP namespace. Not called `http` because `radsync::http` is our own module (the
/// server), and a namespace alias may not share a name with a namespace in the same scope.
namespace bhttp = boost::beast::http;

/// The single-threaded io_context's executor; all network code runs on it.
using Executor = net::io_context::executor_type;

/// The default completion token: resume the coroutine with a tuple `(error_code, results...)`.
using Token = net::as_tuple_t<net::use_awaitable_t<Executor>>;

/// Executor that makes Token the default for objects constructed with it.
using DefaultTokenExecutor = Token::executor_with_default<Executor>;

/// A coroutine running on the io_context. Name coroutines for their effect, not `async_*`.
template <class T = void>
using Task = net::awaitable<T, Executor>;

/// I/O objects rebound to DefaultTokenExecutor: their async operations need no token argument.
using TcpStream = beast::basic_stream<net::ip::tcp, DefaultTokenExecutor>;
using Acceptor = net::ip::tcp::acceptor::rebind_executor<DefaultTokenExecutor>::other;
using TcpSocket = net::ip::tcp::socket::rebind_executor<DefaultTokenExecutor>::other;
using SteadyTimer = net::steady_timer::rebind_executor<DefaultTokenExecutor>::other;

}  // namespace radsync
