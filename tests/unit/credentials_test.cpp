#include <gtest/gtest.h>

#include <set>

#include "radsync/mapping/credentials.hpp"

namespace radsync::mapping {
namespace {

TEST(NtHash, MatchesKnownVectors) {
    // freeradius.md §4.3: checked with smbencrypt and openssl's legacy MD4.
    EXPECT_EQ(nt_hash_hex("password").value(), "8846f7eaee8fb117ad06bdd830b7586c");
    EXPECT_EQ(nt_hash_hex("bobpw").value(), "c0806a3e8488c045d2a30ff0fd751233");
    // The empty password's NT hash is the MD4 of nothing.
    EXPECT_EQ(nt_hash_hex("").value(), "31d6cfe0d16ae931b73c59d7e0c089c0");
}

TEST(NtHash, EncodesNonAsciiAsUtf16) {
    // "é" is U+00E9 -> UTF-16LE e9 00; "😀" needs a surrogate pair. Different inputs, and
    // stable output (no locale involved).
    const auto e_acute = nt_hash_hex("caf\xC3\xA9").value();
    EXPECT_EQ(e_acute.size(), 32U);
    EXPECT_NE(e_acute, nt_hash_hex("cafe").value());
    EXPECT_EQ(nt_hash_hex("\xF0\x9F\x98\x80").value().size(), 32U);
    EXPECT_FALSE(nt_hash_hex("\xC3"));          // truncated sequence
    EXPECT_FALSE(nt_hash_hex("\xED\xA0\x80"));  // encoded surrogate
}

TEST(RadiusEscape, MatchesRlmSqlSafeCharacters) {
    EXPECT_EQ(radius_escape("carol"), "carol");
    EXPECT_EQ(radius_escape("jo+wifi@cowork.test"), "jo=2Bwifi@cowork.test");
    EXPECT_EQ(radius_escape("o'brien"), "o=27brien");
    EXPECT_EQ(radius_escape("a b:c/d_e-f.g"), "a b:c/d_e-f.g");
    EXPECT_EQ(radius_escape("m\xC3\xBCller"), "m\xC3\xBCller");  // multi-byte UTF-8 passes
    EXPECT_EQ(radius_escape("100%"), "100=25");
    // Bytes that are not UTF-8 are escaped one by one, high bit and all.
    EXPECT_EQ(radius_escape("a\xFF\x01z"), "a=FF=01z");
}

TEST(KeyedHash, IsHmacSha256InLowerCaseHex) {
    // The widely published HMAC-SHA256 example value, checked with Python's hmac module.
    EXPECT_EQ(keyed_hash("key", "The quick brown fox jumps over the lazy dog"),
              "radsync-hmac-sha256:"
              "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
    EXPECT_TRUE(is_keyed_hash(keyed_hash("key", "")));
}

TEST(LoginName, NormalisesAndValidates) {
    EXPECT_EQ(normalise_login_name("  Ada@CoWork.Test ", true).value(), "ada@cowork.test");
    EXPECT_EQ(normalise_login_name("Ada@CoWork.Test", false).value(), "Ada@CoWork.Test");
    EXPECT_FALSE(normalise_login_name("   ", true));
    EXPECT_FALSE(normalise_login_name("a\nb", true));
    EXPECT_FALSE(normalise_login_name("bad\xFF", true));
    EXPECT_TRUE(normalise_login_name(std::string(64, 'a'), true));
    EXPECT_FALSE(normalise_login_name(std::string(65, 'a'), true));
    // 22 '+' escape to 66 bytes.
    EXPECT_FALSE(normalise_login_name(std::string(22, '+'), true));
}

TEST(GeneratePassword, LengthAlphabetAndVariety) {
    std::set<std::string> seen;
    for (int i = 0; i < 50; ++i) {
        const auto pw = generate_password(16);
        ASSERT_EQ(pw.size(), 16U);
        EXPECT_EQ(pw.find_first_of("0O1lI"), std::string::npos);
        seen.insert(pw);
    }
    EXPECT_EQ(seen.size(), 50U);
}

TEST(Credentials, UsablePasswordsStayInsideTheBmp) {
    EXPECT_TRUE(check_usable_password("plain"));
    EXPECT_TRUE(check_usable_password("\xE2\x82\xAC uro \xC3\xA9"));
    EXPECT_FALSE(check_usable_password(""));
    EXPECT_FALSE(check_usable_password("\xF0\x9F\x98\x80"));  // U+1F600
    EXPECT_FALSE(check_usable_password("ab\xFF"));
    // Generated passwords never need the check, but must pass it.
    for (int i = 0; i < 200; ++i) {
        EXPECT_TRUE(check_usable_password(generate_password(16)));
    }
}

}  // namespace
}  // namespace radsync::mapping
