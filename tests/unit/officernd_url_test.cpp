#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "radsync/officernd/url.hpp"

namespace radsync::officernd {
namespace {

TEST(OfficerndUrl, ParsesHttpsAndLoopbackHttpOnly) {
    auto a = parse_url("https://app.officernd.com/api/v2/organizations");
    ASSERT_TRUE(a) << a.error().message;
    EXPECT_EQ(a->host, "app.officernd.com");
    EXPECT_EQ(a->port, 443);
    EXPECT_EQ(a->path, "/api/v2/organizations");
    EXPECT_TRUE(a->tls());
    EXPECT_EQ(a->host_header(), "app.officernd.com");

    auto b = parse_url("https://127.0.0.1:8443/oauth/token");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->port, 8443);
    EXPECT_EQ(b->host_header(), "127.0.0.1:8443");

    auto c = parse_url("http://[::1]:9000");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->host, "::1");
    EXPECT_EQ(c->path, "/");
    EXPECT_EQ(c->host_header(), "[::1]:9000");

    auto d = parse_url("HTTP://LocalHost:80/x");
    ASSERT_TRUE(d);
    EXPECT_EQ(d->host, "localhost");
    EXPECT_EQ(d->host_header(), "localhost");

    for (const char* bad :
         {"http://app.officernd.com/api", "http://10.0.0.1/x", "ftp://x/", "app.officernd.com",
          "https://", "https://user@host/", "https://host:0/", "https://host:70000/",
          "https://host:/", "https://host/x?y=1", "https://ho st/", "https://[::1/",
          "http://127.0.0.1.evil.com/"}) {
        auto r = parse_url(bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error().code, Errc::kConfigInvalid) << bad;
    }
}

TEST(OfficerndUrl, KeepsThePathAsWrittenAndNormalisesTheHost) {
    auto a = parse_url("https://API.Example.COM:00443/a%20b//c/");
    ASSERT_TRUE(a) << a.error().message;
    EXPECT_EQ(a->host, "api.example.com");
    EXPECT_EQ(a->port, 443);
    EXPECT_EQ(a->path, "/a%20b//c/");
    EXPECT_EQ(a->host_header(), "api.example.com");

    auto b = parse_url("https://host:65535");
    ASSERT_TRUE(b) << b.error().message;
    EXPECT_EQ(b->port, 65535);
    EXPECT_EQ(b->path, "/");

    auto c = parse_url("https://[::FFFF:127.0.0.1]/x");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->host, "::ffff:127.0.0.1");
    EXPECT_EQ(c->host_header(), "[::ffff:127.0.0.1]");

    auto d = parse_url("http://127.255.0.9:8080/");
    ASSERT_TRUE(d) << d.error().message;
    EXPECT_FALSE(d->tls());
}

// Text Boost.URL 1.81 reads as an address followed by a path that does not start with '/'
// (boostorg/url#636), host names RFC 3986 allows but DNS does not, and other odd shapes.
TEST(OfficerndUrl, RejectsOddUrls) {
    for (const char* bad : {
             "http://127.0.0.1evil/",        // host 127.0.0.1, path "evil/"
             "http://127.0.0.1.evil.com",    //
             "http://[::1].evil/",           //
             "http://localhost:80:90/",      // port 80, path ":90/"
             "http://127.0.0.1:8080.evil/",  //
             "https://host:443abc/",         //
             "https://host:+443/",           //
             "http://1.2.3.4.5/",            //
             "https://ho%20st/",             // percent-encoded host name
             "https://h_o!st/",              // reg-name sub-delimiters
             "https://[v1.x]/",              // IPvFuture
             "https://@host/",               // empty user info is still user info
             "https://u:p@host/",            //
             "https://host#frag",            //
             "https://host?",                // an empty query is still a query
             "https:host/x",                 // no authority
             "https:/x",                     //
             "https:///x",                   // empty host
             "https://host/%zz",             // bad percent-escape
             "https://host/a b",             //
             " https://host/",               //
             "http://127.0.0.01/",           // not an IPv4 address, so not loopback
             "mailto:someone@example.com",   //
         }) {
        auto r = parse_url(bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error().code, Errc::kConfigInvalid) << bad;
        EXPECT_NE(r.error().message.find(bad), std::string::npos) << r.error().message;
    }
}

TEST(OfficerndUrl, LoopbackHosts) {
    for (const char* yes : {"127.0.0.1", "127.1.2.3", "localhost", "LOCALHOST", "::1"}) {
        EXPECT_TRUE(is_loopback_host(yes)) << yes;
    }
    for (const char* no :
         {"128.0.0.1", "127.0.0", "127.0.0.1.5", "127.0.0.256", "localhost.com", "::2", "0.0.0.0",
          "", "example.com", "127.000.0.1", "[::1]", "localhost."}) {
        EXPECT_FALSE(is_loopback_host(no)) << no;
    }
}

TEST(OfficerndUrl, EncodesQueryComponents) {
    EXPECT_EQ(url_encode("AZaz09-._~$"), "AZaz09-._~$");
    EXPECT_EQ(url_encode("a b/c?d&e=f[g]"), "a%20b%2Fc%3Fd%26e%3Df%5Bg%5D");
    EXPECT_EQ(url_encode("\xC3\xA9"), "%C3%A9");
    EXPECT_EQ(url_encode("a+b%c"), "a%2Bb%25c");
    EXPECT_EQ(url_encode(""), "");
    EXPECT_EQ(url_encode(std::string_view("\0\x7F\xFF", 3)), "%00%7F%FF");
}

}  // namespace
}  // namespace radsync::officernd
