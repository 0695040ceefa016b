#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "radsync/config/loader.hpp"
#include "support/temp_dir.hpp"

namespace radsync::config {
namespace {

constexpr const char* kDictionaryDebian = "/usr/share/freeradius/dictionary";

std::vector<std::string> messages(const std::vector<Problem>& problems) {
    std::vector<std::string> out;
    for (const auto& p : problems) {
        out.push_back(p.to_string());
    }
    return out;
}

Config load_ok(const std::string& main, const std::vector<std::pair<std::string, std::string>>& m) {
    auto r = load_from_strings("radsync.yaml", main, m);
    EXPECT_EQ(messages(r.problems), std::vector<std::string>{});
    return r.config.value_or(Config{});
}

TEST(Dictionary, FollowsIncludesIgnoresOtherLinesAndSurvivesACycle) {
    test::TempDir dir;
    const std::string top = dir.write("dictionary", R"(# Local dictionary
$INCLUDE dictionary.rfc
$INCLUDE	sub/dictionary.vendor
$INCLUDE- dictionary.not-installed
ATTRIBUTE	Local-Attr	3000	string
)");
    dir.write("dictionary.rfc", R"(ATTRIBUTE	User-Name		1	string
ATTRIBUTE	Service-Type		6	integer	# trailing comment
VALUE	Service-Type		Login-User		1
)");
    dir.write("sub/dictionary.vendor", R"(VENDOR		Acme				9999
BEGIN-VENDOR	Acme
ATTRIBUTE	Acme-Rate-Limit		1	string
END-VENDOR	Acme
$INCLUDE dictionary.cycle
)");
    // Includes the top file again: read once, the cycle ends there.
    dir.write("sub/dictionary.cycle", "$INCLUDE ../dictionary\nATTRIBUTE Cycle-Attr 5 octets\n");

    const auto d = Dictionary::load(top);
    ASSERT_TRUE(d.has_value()) << d.error().message;
    EXPECT_EQ(d->size(), 5u);
    for (const char* name :
         {"User-Name", "Service-Type", "Acme-Rate-Limit", "Cycle-Attr", "Local-Attr"}) {
        EXPECT_TRUE(d->has(name)) << name;
    }
    EXPECT_TRUE(d->has("user-name"));
    EXPECT_TRUE(d->has("ACME-RATE-LIMIT"));
    EXPECT_FALSE(d->has("Acme"));
    EXPECT_FALSE(d->has("Login-User"));
    EXPECT_FALSE(d->has("User-Nam"));
}

TEST(Dictionary, MissingIncludeIsAnErrorNamingFileAndLine) {
    test::TempDir dir;
    const std::string top = dir.write("dictionary", "ATTRIBUTE A 1 string\n$INCLUDE nope\n");
    const auto d = Dictionary::load(top);
    ASSERT_FALSE(d.has_value());
    EXPECT_EQ(d.error().code, Errc::kIoFailed);
    EXPECT_EQ(d.error().message, top + ":2: cannot read dictionary " + dir.path().string() +
                                     "/nope: No such file or directory");
}

TEST(Dictionary, MissingTopFileIsAnError) {
    const auto d = Dictionary::load("/nonexistent/dictionary");
    ASSERT_FALSE(d.has_value());
    EXPECT_EQ(d.error().message,
              "cannot read dictionary /nonexistent/dictionary: No such file or directory");
}

TEST(Dictionary, IncludeDepthIsBounded) {
    test::TempDir dir;
    for (int i = 0; i < 20; ++i) {
        dir.write("d" + std::to_string(i), "$INCLUDE d" + std::to_string(i + 1) + "\n");
    }
    const auto d = Dictionary::load((dir.path() / "d0").string());
    ASSERT_FALSE(d.has_value());
    EXPECT_NE(d.error().message.find("d17: $INCLUDE nested more than 16 levels deep"),
              std::string::npos)
        << d.error().message;
}

TEST(Dictionary, FromNamesIsCaseInsensitive) {
    const auto d = Dictionary::from_names({"NT-Password", "nt-password", "Expiration"});
    EXPECT_EQ(d.size(), 2u);
    EXPECT_TRUE(d.has("NT-PASSWORD"));
    EXPECT_TRUE(d.has("expiration"));
    EXPECT_FALSE(d.has("Cleartext-Password"));
}

class DictionaryDebian : public ::testing::Test {
protected:
    void SetUp() override {
        if (!std::filesystem::exists(kDictionaryDebian)) {
            GTEST_SKIP() << "FreeRADIUS dictionaries not installed (scripts/setup installs them)";
        }
    }
};

TEST_F(DictionaryDebian, HasEveryAttributeRadsyncWrites) {
    const auto d = Dictionary::load(kDictionaryDebian);
    ASSERT_TRUE(d.has_value()) << d.error().message;
    EXPECT_GT(d->size(), 5000u);
    for (const char* name :
         {"NT-Password", "Cleartext-Password", "Expiration", "Auth-Type", "Fall-Through",
          "Simultaneous-Use", "Session-Timeout", "WISPr-Bandwidth-Max-Down",
          "WISPr-Bandwidth-Max-Up", "Mikrotik-Rate-Limit", "Tunnel-Type", "Tunnel-Medium-Type",
          "Tunnel-Private-Group-Id", "Called-Station-Id", "NAS-Identifier", "NAS-IP-Address",
          "Framed-IP-Address", "Reply-Message", "Acct-Interim-Interval"}) {
        EXPECT_TRUE(d->has(name)) << name;
    }
    EXPECT_FALSE(d->has("Mikrotik-Rate-Limitt"));
}

TEST_F(DictionaryDebian, ShippedMappingExampleWritesOnlyKnownAttributes) {
    std::ifstream in(std::string(RADSYNC_SOURCE_DIR) + "/config/mapping.example.yaml");
    const std::string mapping{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    ASSERT_FALSE(mapping.empty());
    const Config c = load_ok("mapping_files: [mapping.yaml]\n", {{"mapping.yaml", mapping}});
    const auto d = Dictionary::load(kDictionaryDebian);
    ASSERT_TRUE(d.has_value()) << d.error().message;
    EXPECT_EQ(messages(check_attributes(c, *d)), std::vector<std::string>{});
}

TEST_F(DictionaryDebian, MisspelledReplyAttributeIsReportedAtItsOrigin) {
    const Config c = load_ok("mapping_files: [mapping.yaml]\n", {{"mapping.yaml", R"(groups:
  - name: pro
    bandwidth: {down: 10M}
    reply:
      - {attribute: Mikrotik-Rate-Limitt, value: 10M/10M}
plans:
  - {match: {name: Pro}, group: pro}
)"}});
    const auto d = Dictionary::load(kDictionaryDebian);
    ASSERT_TRUE(d.has_value()) << d.error().message;
    EXPECT_EQ(
        messages(check_attributes(c, *d)),
        std::vector<std::string>{
            R"(mapping.yaml:5:21: groups[0].reply[0].attribute: "Mikrotik-Rate-Limitt" is not in the FreeRADIUS dictionary (/usr/share/freeradius/dictionary))"});
}

// ---------------------------------------------------------------------------------------------
// attributes_written / check_attributes without the real dictionary

constexpr const char* kTwoFilesMain = R"(accounts:
  password: {storage: cleartext}
radius:
  bandwidth_attributes: [wispr]
mapping_files: [a.yaml, b.yaml]
)";
constexpr const char* kFileA = R"(groups:
  - name: vo
    access: none
    session_timeout: 1h
plans:
  - {match: {name: VO}, group: vo}
)";
constexpr const char* kFileB = R"(groups:
  - name: pro
    bandwidth: {up: 5M}
    ip_pool: 10.0.0.8/29
    reply:
      - {attribute: Class, value: pro}
plans:
  - {match: {name: Pro}, group: pro}
locations:
  - {match: {name: A}, key: a, ssids: [A]}
  - {match: {name: B}, key: b, vlan: 20, nas_ip_addresses: [10.1.0.1]}
)";

TEST(ConfigAttributes, WrittenFollowsTheSettingsThatCauseThem) {
    // kFileA's session_timeout is refused (access: none), so load with it removed.
    const std::string file_a =
        "groups:\n  - name: vo\n    access: none\n"
        "plans:\n  - {match: {name: VO}, group: vo}\n";
    const Config c = load_ok(kTwoFilesMain, {{"a.yaml", file_a}, {"b.yaml", kFileB}});
    std::vector<std::string> names;
    for (const auto& [name, origin] : attributes_written(c)) {
        names.push_back(name + "@" + origin.file + ":" + std::to_string(origin.line));
    }
    EXPECT_EQ(names, (std::vector<std::string>{
                         "Cleartext-Password@radsync.yaml:0",
                         "Expiration@radsync.yaml:0",
                         "Auth-Type@radsync.yaml:0",
                         "Reply-Message@radsync.yaml:0",
                         "Fall-Through@radsync.yaml:0",
                         "WISPr-Bandwidth-Max-Up@b.yaml:2",
                         "Acct-Interim-Interval@b.yaml:2",
                         "Framed-IP-Address@b.yaml:2",
                         "Class@b.yaml:6",
                         "Called-Station-Id@b.yaml:10",
                         "Tunnel-Type@b.yaml:11",
                         "Tunnel-Medium-Type@b.yaml:11",
                         "Tunnel-Private-Group-Id@b.yaml:11",
                         "NAS-IP-Address@b.yaml:11",
                     }));
}

TEST(ConfigAttributes, CheckReportsEachUnknownNameWithItsPath) {
    const auto r =
        load_from_strings("radsync.yaml", kTwoFilesMain, {{"a.yaml", kFileA}, {"b.yaml", kFileB}});
    // The access: none group is refused, which also proves paths count per file.
    EXPECT_EQ(messages(r.problems),
              std::vector<std::string>{
                  "a.yaml:4:5: groups[0].session_timeout: not allowed with access: none"});

    const std::string file_a =
        "groups:\n  - name: vo\n    access: none\n"
        "plans:\n  - {match: {name: VO}, group: vo}\n";
    const Config c = load_ok(kTwoFilesMain, {{"a.yaml", file_a}, {"b.yaml", kFileB}});
    const auto d = Dictionary::from_names(
        {"Expiration", "Auth-Type", "Reply-Message", "Fall-Through", "Framed-IP-Address", "Class",
         "Called-Station-Id", "Tunnel-Medium-Type", "Tunnel-Private-Group-Id", "NAS-IP-Address",
         "Acct-Interim-Interval"});
    const std::string suffix =
        " is not in the FreeRADIUS dictionary "
        "(/usr/share/freeradius/dictionary)";
    EXPECT_EQ(messages(check_attributes(c, d)),
              (std::vector<std::string>{
                  "radsync.yaml: accounts.password.storage: \"Cleartext-Password\"" + suffix,
                  "b.yaml:2:5: groups[0].bandwidth.up: \"WISPr-Bandwidth-Max-Up\"" + suffix,
                  "b.yaml:11:5: locations[1].vlan: \"Tunnel-Type\"" + suffix,
              }));
}

}  // namespace
}  // namespace radsync::config
