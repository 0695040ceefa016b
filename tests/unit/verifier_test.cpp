#include <gtest/gtest.h>

#include "radsync/webhook/envelope.hpp"
#include "radsync/webhook/verifier.hpp"

namespace radsync::webhook {
namespace {

using namespace std::chrono_literals;

// officernd-api.md §10, E1: the constructed test vector.
constexpr std::string_view kSecret = "whsec-test-0123456789abcdef";
constexpr std::string_view kBody =
    R"({"event":"65f1c0ffee0000000000abcd","eventType":"membership.updated","data":{"object":{"_id":"65f1c0ffee0000000000aaaa","calculatedStatus":"active"},"previousAttributes":{"calculatedStatus":"not_started"}},"createdAt":"2026-03-01T08:00:00.000Z"})";
constexpr std::string_view kSignature =
    "a22e11cdf1a09af0c68e8750884c98e9ed6575c8cceeaaa2d393c8e0b750c59f";
constexpr std::string_view kStripeOrderSignature =
    "2fa0a6ef32d797892474f207e10126f6cbcb0a1e985c0b060412b41e6653e194";
const core::Instant kT{std::chrono::seconds{1772352000}};

Verifier make(std::vector<std::string> secrets = {std::string(kSecret)}) {
    std::vector<Secret> s;
    for (auto& x : secrets) {
        s.emplace_back(std::move(x));
    }
    return Verifier(std::move(s), 300s, 60s);
}

std::string header(std::string_view sig, std::string_view t = "1772352000") {
    return "t=" + std::string(t) + ",signature=" + std::string(sig);
}

TEST(Verifier, BodyIs245Bytes) {
    EXPECT_EQ(kBody.size(), 245U);
}

TEST(Verifier, E1VectorVerifies) {
    EXPECT_EQ(sign(kSecret, kBody, "1772352000"), kSignature);
    EXPECT_EQ(make().verify(header(kSignature), kBody, kT), Verdict::kValid);
}

TEST(Verifier, StripeOrderDoesNotVerify) {
    EXPECT_EQ(make().verify(header(kStripeOrderSignature), kBody, kT), Verdict::kBadSignature);
}

TEST(Verifier, OneTamperedByteFails) {
    std::string body(kBody);
    body[body.find("active")] = 'A';
    EXPECT_EQ(make().verify(header(kSignature), body, kT), Verdict::kBadSignature);
}

TEST(Verifier, WrongSecretFailsSecondSecretWorks) {
    EXPECT_EQ(make({"other"}).verify(header(kSignature), kBody, kT), Verdict::kBadSignature);
    EXPECT_EQ(make({"old-secret", std::string(kSecret)}).verify(header(kSignature), kBody, kT),
              Verdict::kValid);
}

TEST(Verifier, TimestampWindow) {
    const auto v = make();
    EXPECT_EQ(v.verify(header(kSignature), kBody, kT + 300s), Verdict::kValid);
    EXPECT_EQ(v.verify(header(kSignature), kBody, kT + 301s), Verdict::kStaleTimestamp);
    EXPECT_EQ(v.verify(header(kSignature), kBody, kT - 60s), Verdict::kValid);
    EXPECT_EQ(v.verify(header(kSignature), kBody, kT - 61s), Verdict::kStaleTimestamp);
}

TEST(Verifier, HeaderVariants) {
    const auto v = make();
    const std::string sig(kSignature);
    EXPECT_EQ(v.verify("t=1772352000,v1=" + sig, kBody, kT), Verdict::kValid);
    EXPECT_EQ(v.verify("t=1772352000, sig=" + sig, kBody, kT), Verdict::kValid);  // by position
    EXPECT_EQ(v.verify(" t=1772352000 , signature=" + sig + " ", kBody, kT), Verdict::kValid);
    std::string upper = sig;
    for (char& c : upper) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    EXPECT_EQ(v.verify(header(upper), kBody, kT), Verdict::kValid);
}

TEST(Verifier, MissingDuplicatedAndGarbledParts) {
    const auto v = make();
    const std::string sig(kSignature);
    EXPECT_EQ(v.verify("", kBody, kT), Verdict::kMissingHeader);
    EXPECT_EQ(v.verify("signature=" + sig, kBody, kT), Verdict::kMalformedHeader);
    EXPECT_EQ(v.verify("t=1772352000", kBody, kT), Verdict::kMalformedHeader);
    EXPECT_EQ(v.verify("t=1772352000,t=1772352001,signature=" + sig, kBody, kT),
              Verdict::kMalformedHeader);
    EXPECT_EQ(v.verify("t=17723520xx,signature=" + sig, kBody, kT), Verdict::kMalformedHeader);
    EXPECT_EQ(v.verify("t=1772352000,signature=" + sig.substr(1), kBody, kT),
              Verdict::kMalformedHeader);
    EXPECT_EQ(v.verify("t=1772352000,signature=" + sig.substr(1) + "g", kBody, kT),
              Verdict::kMalformedHeader);
    EXPECT_EQ(v.verify("garbage", kBody, kT), Verdict::kMalformedHeader);
    EXPECT_EQ(v.verify("t=1772352000,signature=" + sig + std::string(2000, 'a'), kBody, kT),
              Verdict::kMalformedHeader);
}

// Regression (trust issue, item 10): only one candidate used to be checked, so a header listing
// a wrong signature before the right one, or one signature per secret during a rotation, got 401.
TEST(Verifier, EveryCandidateIsCheckedAgainstEverySecret) {
    const auto v = make();
    const std::string sig(kSignature);
    const std::string wrong(kStripeOrderSignature);
    EXPECT_EQ(v.verify("t=1772352000,signature=" + wrong + ",signature=" + sig, kBody, kT),
              Verdict::kValid);
    EXPECT_EQ(v.verify("t=1772352000,signature=" + wrong + ",v1=" + sig, kBody, kT),
              Verdict::kValid);
    EXPECT_EQ(v.verify("t=1772352000,v1=" + sig + ",signature=" + wrong, kBody, kT),
              Verdict::kValid);
    EXPECT_EQ(v.verify("t=1772352000,signature=" + sig + ",signature=" + sig, kBody, kT),
              Verdict::kValid);
    // A rotation: one signature per secret, the receiver knows only the new secret (or only
    // the old one); either order works.
    const std::string old_sig = sign("old-secret", kBody, "1772352000");
    EXPECT_EQ(make({"old-secret"})
                  .verify("t=1772352000,signature=" + sig + ",signature=" + old_sig, kBody, kT),
              Verdict::kValid);
    EXPECT_EQ(make({std::string(kSecret)})
                  .verify("t=1772352000,signature=" + old_sig + ",signature=" + sig, kBody, kT),
              Verdict::kValid);
    // No candidate right: still 401, also with a garbled one among them.
    EXPECT_EQ(v.verify("t=1772352000,signature=" + wrong + ",signature=" + old_sig, kBody, kT),
              Verdict::kBadSignature);
    EXPECT_EQ(v.verify("t=1772352000,signature=zz,signature=" + sig, kBody, kT), Verdict::kValid);
    EXPECT_EQ(v.verify("t=1772352000,signature=zz,v1=short", kBody, kT), Verdict::kMalformedHeader);
}

TEST(Verifier, CandidatesAreBounded) {
    const auto v = make();
    const std::string sig(kSignature);
    std::string eight = "t=1772352000";
    for (int i = 0; i < 7; ++i) {
        eight += ",signature=" + std::string(kStripeOrderSignature);
    }
    EXPECT_EQ(v.verify(eight + ",signature=" + sig, kBody, kT), Verdict::kValid);
    EXPECT_EQ(v.verify(eight + ",v1=" + sig + ",signature=" + sig, kBody, kT),
              Verdict::kMalformedHeader);
}

TEST(Verifier, EmptyBodyIsJustAnotherMessage) {
    const auto v = make();
    const std::string sig = sign(kSecret, "", "1772352000");
    EXPECT_EQ(v.verify(header(sig), "", kT), Verdict::kValid);
    EXPECT_EQ(v.verify(header(kSignature), "", kT), Verdict::kBadSignature);
}

TEST(Verifier, SignedTimestamp) {
    EXPECT_EQ(signed_timestamp("t=123,signature=abc"), "123");
    EXPECT_EQ(signed_timestamp("nonsense"), "");
}

TEST(Envelope, ParsesTheE1Envelope) {
    auto e = parse_envelope(kBody).value();
    EXPECT_EQ(e.event_id, "65f1c0ffee0000000000abcd");
    EXPECT_EQ(e.event_type, "membership.updated");
    EXPECT_EQ(e.action, Action::kUpsert);
    EXPECT_EQ(e.kind, snapshot::Kind::kMembership);
    EXPECT_EQ(e.object_id, "65f1c0ffee0000000000aaaa");
}

TEST(Envelope, EventNamesAndIgnoredTypes) {
    auto removed = parse_envelope(
        R"({"event":"e1","eventType":"member.removed","data":{"object":{"_id":"m1","status":"former"}}})");
    ASSERT_TRUE(removed);
    EXPECT_EQ(removed->action, Action::kRemove);
    EXPECT_EQ(removed->kind, snapshot::Kind::kMember);
    for (const char* type : {"invoice.created", "fee.updated", "company.paymentdetails.removed",
                             "checkin.created", "member.deleted", "team.updated"}) {
        auto e = parse_envelope(std::string(R"({"event":"e","eventType":")") + type + R"("})");
        ASSERT_TRUE(e) << type;
        EXPECT_EQ(e->action, Action::kIgnore) << type;
    }
}

TEST(Envelope, AnOccupancySlotIsAHintToRemapItsBooking) {
    for (const char* booking : {R"("b1")", R"({"_id":"b1","start":{"dateTime":"x"}})"}) {
        auto e = parse_envelope(
            std::string(R"({"event":"e","eventType":"occupancyslot.created","data":{"object":)") +
            R"({"_id":"s1","booking":)" + booking + "}}}");
        ASSERT_TRUE(e) << booking;
        EXPECT_EQ(e->action, Action::kHint);
        EXPECT_EQ(e->kind, snapshot::Kind::kBooking);
        EXPECT_EQ(e->object_id, "b1");
    }
    EXPECT_FALSE(parse_envelope(
        R"({"event":"e","eventType":"occupancyslot.removed","data":{"object":{"_id":"s1"}}})"));
    // A verb OfficeRnD does not send for slots is acknowledged and ignored.
    EXPECT_EQ(parse_envelope(R"({"event":"e","eventType":"occupancyslot.updated"})")->action,
              Action::kIgnore);
}

TEST(Envelope, MalformedBodies) {
    EXPECT_FALSE(parse_envelope("not json"));
    EXPECT_FALSE(parse_envelope("[]"));
    EXPECT_FALSE(parse_envelope(R"({"event":"e"})"));
    EXPECT_FALSE(parse_envelope(R"({"eventType":"member.updated","data":{}})"));
    EXPECT_FALSE(parse_envelope(R"({"eventType":"member.updated","data":{"object":{}}})"));
}

// Regression (trust issue, item 11): the key used to hash body + t, so the same event re-signed
// with a new t got a second inbox row and was applied twice.
TEST(Envelope, MissingEventIdFallsBackToADigestOfTheBodyAlone) {
    const std::string body = R"({"eventType":"member.updated","data":{"object":{"_id":"m"}}})";
    const auto a = parse_envelope(body).value();
    // SHA-256 of the body in lower-case hex (computed independently with Python's hashlib).
    EXPECT_EQ(a.event_id,
              "sha256:8ef18c9f904be1fb6812e5841e7a835208ef7dbfa48fb1436bbdddeaab98ce71");
    EXPECT_EQ(a.event_id, parse_envelope(body).value().event_id);
    const std::string other = R"({"eventType":"member.updated","data":{"object":{"_id":"n"}}})";
    EXPECT_NE(a.event_id, parse_envelope(other).value().event_id);
}

// Regression (trust issue, item 7): ~31k nested arrays in data.object crashed the daemon in
// dump(); now the parse stops at the depth bound before anything recursive runs.
TEST(Envelope, DeepNestingIsMalformedNotACrash) {
    std::string deep = R"({"eventType":"member.updated","data":{"object":{"_id":"m","x":)";
    deep += std::string(100000, '[') + std::string(100000, ']') + "}}}";
    auto e = parse_envelope(deep);
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().code, Errc::kMalformedPayload);
    EXPECT_NE(e.error().message.find("nested deeper than 64"), std::string::npos)
        << e.error().message;
    // Within the bound it parses.
    std::string ok = R"({"eventType":"member.updated","data":{"object":{"_id":"m","x":)";
    ok += std::string(60, '[') + std::string(60, ']') + "}}}";
    EXPECT_TRUE(parse_envelope(ok));
}

// Regression (trust issue, item 8): nlohmann's lexer takes NUL for the end of input, so a
// valid envelope followed by NUL and garbage was accepted and applied.
TEST(Envelope, BytesAfterTheDocumentAreMalformed) {
    std::string body(kBody);
    EXPECT_TRUE(parse_envelope(body));
    EXPECT_FALSE(parse_envelope(body + std::string(1, '\0') + "garbage"));
    EXPECT_FALSE(parse_envelope(body + std::string(1, '\0')));
    EXPECT_FALSE(parse_envelope(body + "{}"));
    EXPECT_FALSE(parse_envelope(body + " x"));
    EXPECT_TRUE(parse_envelope(body + " \n"));  // trailing whitespace is still one document
}

}  // namespace
}  // namespace radsync::webhook
