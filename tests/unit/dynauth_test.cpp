#include <gtest/gtest.h>

#include <boost/algorithm/hex.hpp>

#include "radsync/radius/dynauth.hpp"

namespace radsync::radius {
namespace {

// Expected bytes from an independent encoder (Python's hashlib and hmac, following RFC 5176
// §2.3/§3.3 and RFC 3579 §3.2, the recipe freeradius.md §8 verified against FreeRADIUS).
constexpr const char* kSecret = "testing123";
constexpr const char* kDisconnect =
    "2807003de4b2d3665d91157216983d35fda4f59a01076361726f6c2c0a736573732d31323304067f0000015012"
    "62bc190d8cbb100e392e055375f9659d";
constexpr const char* kNak =
    "2a07002c9247aa67e5d91d7ebd13322d5236948f6506000001f75012387a964357720603888782cc5ba9b87a";
// What FreeRADIUS 3.2.1, as a stand-in NAS (freeradius.md §8), answered to kDisconnect: the
// same bytes the independent encoder gives.
constexpr const char* kAck = "2907001451ae166cb66c0af0c59a665d963e79ec";
// A request for a user the stand-in NAKs, and its real answer (Error-Cause 503, no
// Message-Authenticator).
constexpr const char* kNoSession =
    "280900375b1338819dbdfd88f10d8eed8e7a1101010b6e6f73657373696f6e04067f0000015012cb87c0772c3e"
    "b73a69975f22cc0c4a37";
constexpr const char* kRealNak = "2a09001a5367af9ff2e1b25ba0dbcc2b285c74536506000001f7";

std::string bytes(const char* hex) {
    return boost::algorithm::unhex(std::string(hex));
}

Request carol() {
    auto r = encode_request(Code::kDisconnectRequest, 7,
                            {Attribute::text(Type::kUserName, "carol"),
                             Attribute::text(Type::kAcctSessionId, "sess-123"),
                             *Attribute::ipv4(Type::kNasIpAddress, "127.0.0.1")},
                            kSecret);
    EXPECT_TRUE(r) << r.error().message;
    return *r;
}

TEST(DynAuth, ADisconnectRequestIsSignedAsRfc5176Says) {
    const auto r = carol();
    EXPECT_EQ(boost::algorithm::hex_lower(r.bytes), kDisconnect);
    EXPECT_EQ(r.identifier, 7);
}

TEST(DynAuth, AnAckMatchingTheRequestIsAccepted) {
    const auto reply = decode_reply(bytes(kAck), carol(), kSecret);
    ASSERT_TRUE(reply) << reply.error().message;
    EXPECT_EQ(reply->code, Code::kDisconnectAck);
    EXPECT_FALSE(reply->error_cause);
}

TEST(DynAuth, ANakCarriesItsErrorCauseAndItsMessageAuthenticatorIsChecked) {
    const auto reply = decode_reply(bytes(kNak), carol(), kSecret);
    ASSERT_TRUE(reply) << reply.error().message;
    EXPECT_EQ(reply->code, Code::kDisconnectNak);
    EXPECT_EQ(reply->error_cause, 503U);
    EXPECT_EQ(describe_error_cause(503), "Session-Context-Not-Found (503)");
    auto tampered = bytes(kNak);
    tampered.back() = static_cast<char>(tampered.back() ^ 1);  // in the Message-Authenticator
    EXPECT_FALSE(decode_reply(tampered, carol(), kSecret));
}

TEST(DynAuth, FreeRadiusNaksAnUnknownSessionWithItsErrorCause) {
    const auto r = encode_request(Code::kDisconnectRequest, 9,
                                  {Attribute::text(Type::kUserName, "nosession"),
                                   *Attribute::ipv4(Type::kNasIpAddress, "127.0.0.1")},
                                  kSecret);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(boost::algorithm::hex_lower(r->bytes), kNoSession);
    const auto reply = decode_reply(bytes(kRealNak), *r, kSecret);
    ASSERT_TRUE(reply) << reply.error().message;
    EXPECT_EQ(reply->code, Code::kDisconnectNak);
    EXPECT_EQ(reply->error_cause, 503U);
}

TEST(DynAuth, RepliesThatDoNotMatchAreDropped) {
    const auto request = carol();
    EXPECT_FALSE(decode_reply(bytes(kAck), request, "another-secret"));
    auto other_id = bytes(kAck);
    other_id[1] = 8;
    EXPECT_FALSE(decode_reply(other_id, request, kSecret));
    auto coa_ack = bytes(kAck);
    coa_ack[0] = static_cast<char>(Code::kCoaAck);  // does not answer a Disconnect-Request
    EXPECT_FALSE(decode_reply(coa_ack, request, kSecret));
    EXPECT_FALSE(decode_reply(bytes(kAck).substr(0, 19), request, kSecret));
    auto long_length = bytes(kAck);
    long_length[3] = 40;  // says 40 octets, has 20
    EXPECT_FALSE(decode_reply(long_length, request, kSecret));
}

TEST(DynAuth, ACoaRequestCarriesVendorAttributes) {
    const auto r = encode_request(
        Code::kCoaRequest, 1,
        {Attribute::text(Type::kUserName, "ann"), Attribute::vendor_integer(14122, 8, 10000000),
         Attribute::vendor_text(14988, 8, "10M/2M"),
         Attribute::integer(Type::kSessionTimeout, 3600)},
        kSecret);
    ASSERT_TRUE(r) << r.error().message;
    // WISPr-Bandwidth-Max-Down: type 26, length 12, vendor 14122, type 8, length 6, value.
    EXPECT_NE(boost::algorithm::hex_lower(r->bytes).find("1a0c0000372a080600989680"),
              std::string::npos);
    EXPECT_EQ(static_cast<unsigned char>(r->bytes[0]), 43);
}

TEST(DynAuth, BadInputIsRefusedBeforeAnythingIsSent) {
    EXPECT_FALSE(encode_request(Code::kDisconnectAck, 1, {}, kSecret));
    EXPECT_FALSE(encode_request(Code::kDisconnectRequest, 1, {}, ""));
    EXPECT_FALSE(encode_request(Code::kDisconnectRequest, 1,
                                {Attribute::text(Type::kUserName, std::string(254, 'a'))},
                                kSecret));
    EXPECT_FALSE(Attribute::ipv4(Type::kNasIpAddress, "10.0.0"));
    EXPECT_FALSE(Attribute::ipv4(Type::kNasIpAddress, "10.0.0.256"));
    EXPECT_FALSE(Attribute::ipv4(Type::kNasIpAddress, "10.0.0.1 "));
}

}  // namespace
}  // namespace radsync::radius
