#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "radsync/config/loader.hpp"
#include "support/temp_dir.hpp"

namespace radsync::config {
namespace {

using std::chrono::seconds;
using Texts = std::vector<std::pair<std::string, std::string>>;

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
    for (auto pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos)) {
        text.replace(pos, from.size(), to);
        pos += to.size();
    }
    return text;
}

std::vector<std::string> messages(const std::vector<Problem>& problems) {
    std::vector<std::string> out;
    for (const auto& p : problems) {
        out.push_back(p.to_string());
    }
    return out;
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Secret and TLS files exist in a per-test directory; "@DIR@" in texts stands for it.
class ConfigTest : public ::testing::Test {
protected:
    ConfigTest() {
        for (const char* name : {"officernd-secret", "webhook-secret", "webhook-secret.old",
                                 "webhook-secret.3", "webhook-secret.4", "cert.pem", "key.pem"}) {
            // 0600, as an operator keeps secrets (a looser mode is a warning).
            std::filesystem::permissions(
                dir_.write(name, "not a real secret\n"),
                std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
        }
    }

    [[nodiscard]] std::string with_dir(const std::string& text) const {
        return replace_all(text, "@DIR@", dir_.path().string());
    }

    LoadResult load_texts(const std::string& main, const Texts& mappings) {
        Texts resolved;
        for (const auto& [name, text] : mappings) {
            resolved.emplace_back(name, with_dir(text));
        }
        return load_from_strings("radsync.yaml", with_dir(main), resolved);
    }

    test::TempDir dir_;
};

// ---------------------------------------------------------------------------------------------
// A valid configuration using every key, read back into the structs.

constexpr const char* kFullMain = R"(radius_database: /var/lib/radsync/test.db
state_database: /var/lib/radsync-state/state.db
default_timezone: Europe/Berlin
log_level: debug
log_modules:
  officernd: trace
officernd:
  org_slug: acme-coworking
  client_id: client-123
  client_secret_file: @DIR@/officernd-secret
  base_url: http://127.0.0.1:9000/api/v2/organizations
  token_url: http://127.0.0.1:9000/oauth/token
webhook:
  listen: 0.0.0.0:8443
  tls:
    cert_file: @DIR@/cert.pem
    key_file: @DIR@/key.pem
  plain_http: false
  allow_plain_http_on_public_address: false
  secret_files: [@DIR@/webhook-secret, @DIR@/webhook-secret.old]
  tolerance: {past: 10m, future: 30s}
  max_body_bytes: 1MiB
metrics:
  listen: "[::1]:9100"
control:
  socket: /run/radsync-test/control.sock
  mode: "0660"
  group: radsync-admins
sync:
  interval: 5m
  deletion_guard: {max_share: 0.25, min_count: 3}
  revoked_retention: 7d
accounts:
  username:
    format: template
    template: "{properties.wifi_username}@acme"
    case: preserve
  password:
    source: property
    property: wifi_password
    storage: cleartext
radius:
  dictionary: /usr/share/freeradius/dictionary
  bandwidth_attributes: [mikrotik]
mapping_files: [groups.yaml, sites.yaml]
)";

constexpr const char* kFullGroups = R"(roaming: membership
member_statuses: [active, drop-in]
groups:
  - name: virtual-office
    access: none
  - name: pro
    rank: 20
    bandwidth: {down: 50M, up: 1.5M}
    session_timeout: 8h
    simultaneous_use: 2
    ip_pool: 10.0.0.0/29
    reply:
      - {attribute: Acct-Interim-Interval, op: ":=", value: "600"}
      - {attribute: Class, value: pro}
plans:
  - match: {name: Virtual Office}
    group: virtual-office
  - match: {code: PRO}
    group: pro
    roaming: all
)";

constexpr const char* kFullSites = R"(locations:
  - match: {id: 64b7f0c2a1e4d90012345678}
    key: downtown
    vlan: 100
    nas_identifiers: [downtown-ap, downtown-ap-2]
    ssids: [CoWork-Downtown]
    nas_ip_addresses: [10.1.0.1]
    timezone: Europe/London
  - match: {name: Uptown}
    key: uptown
    ssids: [CoWork-Uptown]
)";

TEST_F(ConfigTest, FullConfigRoundTripsToStructs) {
    const auto r =
        load_texts(kFullMain, {{"groups.yaml", kFullGroups}, {"sites.yaml", kFullSites}});
    ASSERT_EQ(messages(r.problems), std::vector<std::string>{});
    EXPECT_EQ(messages(r.warnings), std::vector<std::string>{});
    ASSERT_TRUE(r.config.has_value());
    const Config& c = *r.config;
    const std::string dir = dir_.path().string();

    EXPECT_EQ(c.source_file, "radsync.yaml");
    EXPECT_EQ(c.radius_database, "/var/lib/radsync/test.db");
    EXPECT_EQ(c.state_database, "/var/lib/radsync-state/state.db");
    EXPECT_EQ(c.default_timezone, "Europe/Berlin");
    EXPECT_EQ(c.log_level, "debug");
    EXPECT_EQ(c.log_modules, (std::map<std::string, std::string>{{"officernd", "trace"}}));
    EXPECT_EQ(c.officernd.org_slug, "acme-coworking");
    EXPECT_EQ(c.officernd.client_id, "client-123");
    EXPECT_EQ(c.officernd.client_secret_file, dir + "/officernd-secret");
    EXPECT_EQ(c.officernd.base_url, "http://127.0.0.1:9000/api/v2/organizations");
    EXPECT_EQ(c.officernd.token_url, "http://127.0.0.1:9000/oauth/token");

    ASSERT_TRUE(c.webhook.has_value());
    EXPECT_EQ(c.webhook->listen_address, "0.0.0.0");
    EXPECT_EQ(c.webhook->listen_port, 8443);
    EXPECT_EQ(c.webhook->tls_cert_file, dir + "/cert.pem");
    EXPECT_EQ(c.webhook->tls_key_file, dir + "/key.pem");
    EXPECT_FALSE(c.webhook->plain_http);
    EXPECT_FALSE(c.webhook->allow_plain_http_on_public_address);
    EXPECT_EQ(c.webhook->secret_files,
              (std::vector<std::string>{dir + "/webhook-secret", dir + "/webhook-secret.old"}));
    EXPECT_EQ(c.webhook->tolerance_past, seconds(600));
    EXPECT_EQ(c.webhook->tolerance_future, seconds(30));
    EXPECT_EQ(c.webhook->max_body_bytes, 1024u * 1024u);

    EXPECT_EQ(c.metrics.listen_address, "::1");
    EXPECT_EQ(c.metrics.listen_port, 9100);
    EXPECT_EQ(c.control.socket, "/run/radsync-test/control.sock");
    EXPECT_EQ(c.control.mode, 0660U);
    EXPECT_EQ(c.control.group, "radsync-admins");
    EXPECT_EQ(c.sync.interval, seconds(300));
    EXPECT_DOUBLE_EQ(c.sync.deletion_guard_share, 0.25);
    EXPECT_EQ(c.sync.deletion_guard_min_count, 3);
    EXPECT_EQ(c.sync.revoked_retention, seconds(7 * 86400));

    EXPECT_EQ(c.accounts.username_format, UsernameFormat::kTemplate);
    EXPECT_EQ(c.accounts.username_template, "{properties.wifi_username}@acme");
    EXPECT_EQ(c.accounts.username_case, UsernameCase::kPreserve);
    EXPECT_EQ(c.accounts.password_source, PasswordSource::kProperty);
    EXPECT_EQ(c.accounts.password_property, "wifi_password");
    EXPECT_EQ(c.accounts.password_storage, PasswordStorage::kCleartext);
    EXPECT_EQ(c.radius.dictionary, "/usr/share/freeradius/dictionary");
    EXPECT_EQ(c.radius.bandwidth_attributes,
              std::vector<BandwidthAttributes>{BandwidthAttributes::kMikrotik});
    EXPECT_EQ(c.mapping_files, (std::vector<std::string>{"groups.yaml", "sites.yaml"}));

    const Mapping& m = c.mapping;
    EXPECT_EQ(m.roaming, Roaming::kMembership);
    EXPECT_EQ(m.member_statuses, (std::vector<std::string>{"active", "drop-in"}));
    ASSERT_EQ(m.groups.size(), 2u);
    EXPECT_EQ(m.groups[0].name, "virtual-office");
    EXPECT_FALSE(m.groups[0].access);
    EXPECT_EQ(m.groups[0].rank, 0);
    EXPECT_EQ(m.groups[0].origin.file, "groups.yaml");
    EXPECT_EQ(m.groups[0].origin.line, 4);
    EXPECT_EQ(m.groups[0].origin.column, 5);
    const AccessGroup& pro = m.groups[1];
    EXPECT_EQ(pro.name, "pro");
    EXPECT_TRUE(pro.access);
    EXPECT_EQ(pro.rank, 20);
    EXPECT_EQ(pro.bandwidth_down_bps, 50'000'000u);
    EXPECT_EQ(pro.bandwidth_up_bps, 1'500'000u);
    EXPECT_EQ(pro.session_timeout, seconds(8 * 3600));
    EXPECT_EQ(pro.simultaneous_use, 2);
    EXPECT_EQ(pro.ip_pool, "10.0.0.0/29");
    ASSERT_EQ(pro.reply.size(), 2u);
    EXPECT_EQ(pro.reply[0].attribute, "Acct-Interim-Interval");
    EXPECT_EQ(pro.reply[0].op, ":=");
    EXPECT_EQ(pro.reply[0].value, "600");
    EXPECT_EQ(pro.reply[0].origin.line, 13);
    EXPECT_EQ(pro.reply[0].origin.column, 21);
    EXPECT_EQ(pro.reply[1].attribute, "Class");
    EXPECT_EQ(pro.reply[1].op, "=");
    EXPECT_EQ(pro.reply[1].value, "pro");

    ASSERT_EQ(m.plans.size(), 2u);
    EXPECT_EQ(m.plans[0].match.name, "Virtual Office");
    EXPECT_FALSE(m.plans[0].match.id.has_value());
    EXPECT_FALSE(m.plans[0].match.code.has_value());
    EXPECT_EQ(m.plans[0].group, "virtual-office");
    EXPECT_FALSE(m.plans[0].roaming.has_value());
    EXPECT_EQ(m.plans[1].match.code, "PRO");
    EXPECT_EQ(m.plans[1].group, "pro");
    EXPECT_EQ(m.plans[1].roaming, Roaming::kAll);

    ASSERT_EQ(m.locations.size(), 2u);
    const LocationRule& downtown = m.locations[0];
    EXPECT_EQ(downtown.match.id, "64b7f0c2a1e4d90012345678");
    EXPECT_EQ(downtown.key, "downtown");
    EXPECT_EQ(downtown.vlan, 100);
    EXPECT_EQ(downtown.nas_identifiers, (std::vector<std::string>{"downtown-ap", "downtown-ap-2"}));
    EXPECT_EQ(downtown.ssids, std::vector<std::string>{"CoWork-Downtown"});
    EXPECT_EQ(downtown.nas_ip_addresses, std::vector<std::string>{"10.1.0.1"});
    EXPECT_EQ(downtown.timezone, "Europe/London");
    EXPECT_EQ(downtown.origin.file, "sites.yaml");
    const LocationRule& uptown = m.locations[1];
    EXPECT_EQ(uptown.match.name, "Uptown");
    EXPECT_EQ(uptown.key, "uptown");
    EXPECT_FALSE(uptown.vlan.has_value());
    EXPECT_TRUE(uptown.nas_identifiers.empty());
    EXPECT_FALSE(uptown.timezone.has_value());
}

// Issue 9: two databases. `database` (the one-file release's key) still names the RADIUS one,
// with a warning; the state database follows it unless set, and may never be the same file.
TEST_F(ConfigTest, DatabasePathsAcceptTheOlderKeyAndRefuseOneFileForBoth) {
    auto r = load_texts("database: /srv/radius.db\nmapping_files: [mapping.yaml]\n",
                        {{"mapping.yaml", ""}});
    ASSERT_TRUE(r.config.has_value());
    EXPECT_EQ(r.config->radius_database, "/srv/radius.db");
    EXPECT_EQ(r.config->state_database, "/srv/state.db");
    ASSERT_EQ(r.warnings.size(), 1U);
    EXPECT_NE(r.warnings[0].to_string().find("renamed to radius_database"), std::string::npos)
        << r.warnings[0].to_string();

    r = load_texts("database: /a.db\nradius_database: /b.db\nmapping_files: [mapping.yaml]\n",
                   {{"mapping.yaml", ""}});
    EXPECT_FALSE(r.config.has_value());
    r = load_texts(
        "radius_database: /x/r.db\nstate_database: /x/r.db\nmapping_files: [mapping.yaml]\n",
        {{"mapping.yaml", ""}});
    ASSERT_FALSE(r.config.has_value());
    EXPECT_NE(messages(r.problems).at(0).find("radsync.yaml:2:17: state_database: must not be"),
              std::string::npos)
        << messages(r.problems).at(0);
}

// Group radsync includes FreeRADIUS's user: a secret that group (or anyone) may read is one
// every FreeRADIUS module may read.
TEST_F(ConfigTest, SecretsOthersMayReadAreWarnedAbout) {
    const std::string main =
        "webhook:\n  plain_http: true\n  secret_files: [@DIR@/webhook-secret]\n"
        "mapping_files: [mapping.yaml]\n";
    auto r = load_texts(main, {{"mapping.yaml", ""}});
    ASSERT_TRUE(r.config.has_value());
    EXPECT_EQ(messages(r.warnings), std::vector<std::string>{});

    std::filesystem::permissions(dir_.path() / "webhook-secret",
                                 std::filesystem::perms::owner_read |
                                     std::filesystem::perms::owner_write |
                                     std::filesystem::perms::group_read);
    r = load_texts(main, {{"mapping.yaml", ""}});
    ASSERT_TRUE(r.config.has_value());
    ASSERT_EQ(r.warnings.size(), 1U);
    const auto w = r.warnings[0].to_string();
    EXPECT_NE(w.find("radsync.yaml:3:18: webhook.secret_files[0]: "), std::string::npos) << w;
    EXPECT_NE(w.find("has mode 0640: make it 0600"), std::string::npos) << w;

    // Read-only commands do not look at secret files at all.
    LoadOptions skip;
    skip.check_secret_files = false;
    std::filesystem::remove(dir_.path() / "webhook-secret");
    r = load_from_strings("radsync.yaml", with_dir(main), {{"mapping.yaml", ""}}, skip);
    EXPECT_TRUE(r.config.has_value()) << messages(r.problems).at(0);
    EXPECT_EQ(messages(r.warnings), std::vector<std::string>{});
}

TEST_F(ConfigTest, ControlSocketModeGivesOthersNothing) {
    const auto with_control = [&](const std::string& section) {
        return load_texts("control:\n" + section + "mapping_files: [mapping.yaml]\n",
                          {{"mapping.yaml", ""}});
    };
    auto r = with_control("  mode: \"0660\"\n");
    ASSERT_TRUE(r.config.has_value());
    EXPECT_EQ(r.config->control.mode, 0660U);
    EXPECT_EQ(r.config->control.socket, "/run/radsync/control.sock");

    for (const char* bad : {"\"0666\"", "\"0661\"", "rw-rw----", "\"08\"", "\"17777\""}) {
        r = with_control(std::string("  mode: ") + bad + "\n");
        EXPECT_FALSE(r.config.has_value()) << bad;
        ASSERT_FALSE(r.problems.empty()) << bad;
        EXPECT_NE(messages(r.problems)[0].find("radsync.yaml:2:9: control.mode: expected an "
                                               "octal mode that gives others nothing"),
                  std::string::npos)
            << messages(r.problems)[0];
    }
    r = with_control("  socket: /" + std::string(120, 'x') + "\n");
    ASSERT_FALSE(r.config.has_value());
    EXPECT_NE(messages(r.problems)[0].find("control.socket: longer than a Unix socket path"),
              std::string::npos)
        << messages(r.problems)[0];
}

TEST_F(ConfigTest, SessionsListTheNasesAndTurnDynamicAuthorizationOnWithThem) {
    dir_.write("nas-secret", "s3cret\n");
    const auto with_sessions = [&](const std::string& section) {
        return load_texts("sessions:\n" + section + "mapping_files: [mapping.yaml]\n",
                          {{"mapping.yaml", ""}});
    };
    auto r = with_sessions(
        "  interim_interval: 5m\n  stale_after_intervals: 4\n  sweep_interval: 10s\n"
        "  request_timeout: 500ms\n"
        "  attempts: 3\n  nas:\n"
        "    - {name: downtown, address: 10.0.0.2, secret_file: @DIR@/nas-secret}\n"
        "    - name: uptown\n      address: 10.0.0.3\n      coa_port: 1700\n"
        "      secret_file: @DIR@/nas-secret\n      identify: [Calling-Station-Id, User-Name]\n"
        "      coa: false\n");
    ASSERT_TRUE(r.config.has_value()) << messages(r.problems).at(0);
    const auto& s = r.config->sessions;
    EXPECT_EQ(s.interim_interval, std::chrono::seconds{300});
    EXPECT_EQ(s.stale_after_intervals, 4);
    EXPECT_EQ(s.sweep_interval, std::chrono::seconds{10});
    EXPECT_EQ(s.request_timeout, std::chrono::milliseconds{500});
    EXPECT_EQ(s.attempts, 3);
    EXPECT_TRUE(s.dynamic_authorization);
    ASSERT_EQ(s.nas.size(), 2U);
    EXPECT_EQ(s.nas[0].coa_port, 3799U);
    EXPECT_TRUE(s.nas[0].coa);
    EXPECT_EQ(s.nas[0].identify.size(), 3U);
    EXPECT_EQ(s.nas[1].coa_port, 1700U);
    EXPECT_FALSE(s.nas[1].coa);
    EXPECT_EQ(s.nas[1].identify,
              (std::vector<SessionKey>{SessionKey::kCallingStationId, SessionKey::kUserName}));
    EXPECT_EQ(r.config->accounting_database, "/var/lib/radsync/accounting.db");

    r = with_sessions("  interim_interval: 5m\n");
    ASSERT_TRUE(r.config.has_value());
    EXPECT_FALSE(r.config->sessions.dynamic_authorization);  // nobody to tell

    r = with_sessions(
        "  dynamic_authorization: true\n  request_timeout: 50ms\n  nas:\n"
        "    - {name: a, address: 10.0.0.2, secret_file: @DIR@/nas-secret, identify: [Foo]}\n"
        "    - {name: a, address: 10.0.0.2, secret_file: @DIR@/nas-secret}\n");
    ASSERT_FALSE(r.config.has_value());
    const auto m = messages(r.problems);
    ASSERT_EQ(m.size(), 4U) << ::testing::PrintToString(m);
    EXPECT_NE(m[0].find("sessions.request_timeout: "), std::string::npos) << m[0];
    EXPECT_NE(m[1].find("sessions.nas[0].identify[0]: "), std::string::npos) << m[1];
    EXPECT_NE(m[2].find("sessions.nas[1].name: NAS name listed twice"), std::string::npos) << m[2];
    EXPECT_NE(m[3].find("sessions.nas[1].address: NAS address listed twice"), std::string::npos)
        << m[3];

    r = load_texts(
        "radius_database: /x/r.db\naccounting_database: /x/r.db\n"
        "mapping_files: [mapping.yaml]\n",
        {{"mapping.yaml", ""}});
    ASSERT_FALSE(r.config.has_value());
    EXPECT_NE(messages(r.problems).at(0).find("accounting_database: must be a file of its own"),
              std::string::npos)
        << messages(r.problems).at(0);
}

TEST_F(ConfigTest, CheckinsNeedOfficerndAndALocationRuleRadacctCanMatch) {
    dir_.write("client-secret", "s3cret\n");
    const std::string officernd =
        "officernd:\n  org_slug: acme\n  client_id: abc\n"
        "  client_secret_file: @DIR@/client-secret\n";
    const std::string checkins =
        "sessions:\n  checkins:\n    enabled: true\n    checkout_after: 45m\n";
    const std::string by_address =
        "locations:\n  - {match: {name: Downtown}, key: downtown, nas_ip_addresses: [10.0.0.2]}\n";
    auto r = load_texts(officernd + checkins + "mapping_files: [mapping.yaml]\n",
                        {{"mapping.yaml", by_address}});
    ASSERT_TRUE(r.config.has_value()) << messages(r.problems).at(0);
    EXPECT_TRUE(r.config->sessions.checkins.enabled);
    EXPECT_EQ(r.config->sessions.checkins.checkout_after, std::chrono::minutes{45});

    r = load_texts(officernd + "sessions:\n  interim_interval: 5m\nmapping_files: [mapping.yaml]\n",
                   {{"mapping.yaml", ""}});
    ASSERT_TRUE(r.config.has_value());
    EXPECT_FALSE(r.config->sessions.checkins.enabled);  // off by default

    r = load_texts(checkins + "mapping_files: [mapping.yaml]\n", {{"mapping.yaml", by_address}});
    ASSERT_FALSE(r.config.has_value());
    EXPECT_EQ(messages(r.problems),
              std::vector<std::string>{
                  "radsync.yaml:3:5: sessions.checkins: check-ins need the officernd section"});

    r = load_texts(
        officernd + checkins + "mapping_files: [mapping.yaml]\n",
        {{"mapping.yaml",
          "locations:\n  - {match: {name: Annex}, key: annex, nas_identifiers: [annex]}\n"}});
    ASSERT_FALSE(r.config.has_value());
    ASSERT_EQ(r.problems.size(), 1U);
    EXPECT_NE(messages(r.problems)[0].find("radsync.yaml:7:5: sessions.checkins: check-ins need a "
                                           "location rule with nas_ip_addresses or ssids"),
              std::string::npos)
        << messages(r.problems)[0];
}

TEST_F(ConfigTest, MinimalConfigTakesEveryDefault) {
    const auto r = load_texts("mapping_files: [mapping.yaml]\n", {{"mapping.yaml", ""}});
    ASSERT_EQ(messages(r.problems), std::vector<std::string>{});
    ASSERT_TRUE(r.config.has_value());
    const Config& c = *r.config;
    const Config defaults;
    EXPECT_EQ(c.radius_database, defaults.radius_database);
    EXPECT_EQ(c.state_database, "/var/lib/radsync/state.db");
    EXPECT_EQ(c.default_timezone, "UTC");
    EXPECT_EQ(c.log_level, "info");
    EXPECT_FALSE(c.webhook.has_value());
    EXPECT_EQ(c.metrics.listen_address, "127.0.0.1");
    EXPECT_EQ(c.metrics.listen_port, 9464);
    EXPECT_EQ(c.sync.interval, seconds(900));
    EXPECT_EQ(c.accounts.password_length, 12);
    EXPECT_EQ(c.radius.bandwidth_attributes, defaults.radius.bandwidth_attributes);
    EXPECT_EQ(c.mapping.roaming, Roaming::kHome);
    EXPECT_EQ(c.mapping.member_statuses, std::vector<std::string>{"active"});
    EXPECT_TRUE(c.mapping.groups.empty());
}

// The shipped examples must always load. They name the paths a real installation uses
// (secrets under /etc/radsync/secrets, TLS under /etc/radsync/tls), which do not exist
// on a build machine; the test rewrites only those two directory prefixes to a temp dir where
// it creates the files, and keeps every other byte, so the example cannot rot unnoticed.
TEST(ConfigExample, ShippedExamplesLoadWithoutProblems) {
    const std::filesystem::path source = std::filesystem::path(RADSYNC_SOURCE_DIR) / "config";
    const std::string main_text = read_file(source / "radsync.example.yaml");
    const std::string mapping_text = read_file(source / "mapping.example.yaml");
    ASSERT_FALSE(main_text.empty());
    ASSERT_FALSE(mapping_text.empty());
    const std::string credentials = "/etc/radsync/secrets/";
    const std::string tls = "/etc/radsync/tls/";
    ASSERT_NE(main_text.find(credentials), std::string::npos);
    ASSERT_NE(main_text.find(tls), std::string::npos);

    test::TempDir dir;
    const std::string local = dir.path().string() + "/";
    // Secrets as an operator keeps them (0600): a looser mode is a warning.
    const auto owner_only =
        std::filesystem::perms::owner_read | std::filesystem::perms::owner_write;
    for (const char* name : {"officernd-client-secret", "webhook-secret"}) {
        std::filesystem::permissions(
            dir.write(std::string("credentials/") + name, "not a real secret\n"), owner_only);
    }
    for (const char* name : {"fullchain.pem", "privkey.pem"}) {
        dir.write(std::string("tls/") + name, "not a real certificate\n");
    }
    std::filesystem::permissions(dir.path() / "tls/privkey.pem", owner_only);
    const std::string main_file = dir.write(
        "radsync.yaml", replace_all(replace_all(main_text, credentials, local + "credentials/"),
                                    tls, local + "tls/"));
    dir.write("mapping.yaml", mapping_text);

    const auto r = load(main_file);
    EXPECT_EQ(messages(r.problems), std::vector<std::string>{});
    EXPECT_EQ(messages(r.warnings), std::vector<std::string>{});
    ASSERT_TRUE(r.config.has_value());
    EXPECT_EQ(r.config->source_file, main_file);
    EXPECT_EQ(r.config->mapping_files, std::vector<std::string>{local + "mapping.yaml"});
    EXPECT_EQ(r.config->mapping.groups.size(), 5u);
    EXPECT_EQ(r.config->mapping.plans.size(), 3u);
    EXPECT_EQ(r.config->mapping.locations.size(), 2u);
    ASSERT_TRUE(r.config->mapping.passes);
    EXPECT_EQ(r.config->mapping.passes->group, "day-pass");
}

// The campaign's case: one comma before the '#' on line 5 of the shipped example. It must be
// an error at 5:1, promptly, with bounded memory (yaml-cpp's LoadAll would never return).
TEST(ConfigExample, AStrayCommaInTheExampleIsAnErrorAtItsPosition) {
    const std::filesystem::path source = std::filesystem::path(RADSYNC_SOURCE_DIR) / "config";
    std::string text = read_file(source / "radsync.example.yaml");
    std::size_t line_start = 0;
    for (int line = 1; line < 5; ++line) {
        line_start = text.find('\n', line_start) + 1;
    }
    ASSERT_EQ(text[line_start], '#');
    text.insert(line_start, ",");
    const auto r = load_from_strings("radsync.example.yaml", text, {});
    ASSERT_FALSE(r.config.has_value());
    EXPECT_EQ(messages(r.problems),
              std::vector<std::string>{"radsync.example.yaml:5:1: invalid YAML: unexpected ','"});
}

TEST(ConfigExample, DeepYamlNestingIsAnErrorNotAStackOverflow) {
    const auto r = load_from_strings("radsync.yaml", std::string(100'000, '['), {});
    ASSERT_FALSE(r.config.has_value());
    ASSERT_EQ(r.problems.size(), 1U);
    EXPECT_NE(r.problems[0].to_string().find("invalid YAML: nested more than"), std::string::npos)
        << r.problems[0].to_string();
}

// ---------------------------------------------------------------------------------------------
// Bad configurations: each case lists the exact messages, in the order reported.

constexpr const char* kMinimalMain = "mapping_files: [mapping.yaml]\n";
constexpr const char* kMinimalMapping = R"(groups:
  - name: basic
plans:
  - match: {name: Basic}
    group: basic
)";

struct BadCase {
    const char* name;
    std::string main;
    Texts mappings;
    std::vector<std::string> expected;
};

std::ostream& operator<<(std::ostream& os, const BadCase& c) {
    return os << c.name;
}

const BadCase kBadCases[] = {
    {"UnknownKeyWithSuggestion",
     "accounts:\n  pasword:\n    length: 10\nmapping_files: [mapping.yaml]\n",
     {{"mapping.yaml", kMinimalMapping}},
     {R"(radsync.yaml:2:3: accounts.pasword: unknown key (did you mean "password"?))"}},
    {"UnknownKeyListsValidKeys",
     kMinimalMain,
     {{"mapping.yaml",
       "groups:\n  - name: basic\n    colour: blue\n"
       "plans:\n  - {match: {name: Basic}, group: basic}\n"}},
     {"mapping.yaml:3:5: groups[0].colour: unknown key (expected one of name, rank, access, "
      "bandwidth, session_timeout, simultaneous_use, accounting_interval, ip_pool, static_ip, "
      "reply)"}},
    {"WrongType",
     kMinimalMain,
     {{"mapping.yaml",
       "groups:\n  - name: basic\n  - name: pro\n    rank: high\n"
       "plans:\n  - {match: {name: Basic}, group: basic}\n"
       "  - {match: {name: Pro}, group: pro}\n"}},
     {R"(mapping.yaml:4:11: groups[1].rank: expected an integer, got "high")"}},
    {"SectionIsNotAMapping",
     "sync: [15m]\nmapping_files: [mapping.yaml]\n",
     {{"mapping.yaml", kMinimalMapping}},
     {"radsync.yaml:1:7: sync: expected a mapping, got a list"}},
    {"BadDuration",
     "sync:\n  interval: 15 minutes\nmapping_files: [mapping.yaml]\n",
     {{"mapping.yaml", kMinimalMapping}},
     {R"(radsync.yaml:2:13: sync.interval: expected a duration such as 300s, 15m, 8h or 30d, got "15 minutes")"}},
    {"DurationBelowMinimum",
     "sync:\n  interval: 30s\nmapping_files: [mapping.yaml]\n",
     {{"mapping.yaml", kMinimalMapping}},
     {"radsync.yaml:2:13: sync.interval: must be at least 1m, got 30s"}},
    {"BadRate",
     kMinimalMain,
     {{"mapping.yaml",
       "groups:\n  - name: basic\n    bandwidth: {down: 50Mbps, up: 0}\n"
       "plans:\n  - {match: {name: Basic}, group: basic}\n"}},
     {R"(mapping.yaml:3:23: groups[0].bandwidth.down: expected a rate in bit/s such as 50M, 512k or 1G, got "50Mbps")",
      "mapping.yaml:3:35: groups[0].bandwidth.up: must be greater than 0 (leave it out for no "
      "limit), got 0"}},
    {"VlanOutOfRange",
     kMinimalMain,
     {{"mapping.yaml",
       "locations:\n  - match: {name: Downtown}\n    key: downtown\n"
       "    vlan: 5000\n    ssids: [CoWork]\n"}},
     {"mapping.yaml:4:11: locations[0].vlan: must be between 1 and 4094, got 5000"}},
    {"DuplicateGroupNameAcrossFiles",
     "mapping_files: [a.yaml, b.yaml]\n",
     {{"a.yaml", "groups:\n  - name: pro\nplans:\n  - {match: {name: Pro}, group: pro}\n"},
      {"b.yaml",
       "groups:\n  - name: basic\n  - name: pro\n"
       "plans:\n  - {match: {name: Basic}, group: basic}\n"}},
     {R"(b.yaml:3:11: groups[1].name: duplicate group name "pro" (first defined at a.yaml:2:11))"}},
    {"DuplicateLocationKeyAndPlanMatch",
     kMinimalMain,
     {{"mapping.yaml",
       "groups:\n  - name: basic\n"
       "plans:\n  - {match: {name: Basic}, group: basic}\n"
       "  - {match: {name: Basic}, group: basic}\n"
       "locations:\n  - {match: {name: A}, key: site, ssids: [A]}\n"
       "  - {match: {name: B}, key: site, ssids: [B]}\n"}},
     {R"(mapping.yaml:5:13: plans[1].match: duplicate plan match on name "Basic" (first defined at mapping.yaml:4:13))",
      R"(mapping.yaml:8:29: locations[1].key: duplicate location key "site" (first defined at mapping.yaml:7:29))"}},
    {"PlanNamesUndefinedGroup",
     kMinimalMain,
     {{"mapping.yaml",
       "groups:\n  - name: basic\n"
       "plans:\n  - match: {name: Basic}\n    group: bsic\n"}},
     {R"(mapping.yaml:5:12: plans[0].group: no group named "bsic" is defined (did you mean "basic"?))"}},
    {"MatchWithTwoFields",
     kMinimalMain,
     {{"mapping.yaml",
       "groups:\n  - name: basic\n"
       "plans:\n  - match: {name: Basic, code: B1}\n    group: basic\n"}},
     {"mapping.yaml:4:12: plans[0].match: set exactly one of id, name or code, got name and "
      "code"}},
    {"LocationWithoutMatchers",
     kMinimalMain,
     {{"mapping.yaml",
       "locations:\n  - match: {name: Downtown}\n    key: downtown\n"
       "    vlan: 100\n    ssids: []\n"}},
     {"mapping.yaml:2:5: locations[0]: set at least one of nas_identifiers, ssids or "
      "nas_ip_addresses, so FreeRADIUS can recognise the location"}},
    {"BadTimezone",
     "default_timezone: Europe/Londn\nmapping_files: [mapping.yaml]\n",
     {{"mapping.yaml",
       "locations:\n  - {match: {code: DT}, key: dt, ssids: [x], "
       "timezone: Mars/Olympus}\n"}},
     {R"(radsync.yaml:1:19: default_timezone: unknown time zone "Europe/Londn" (expected an IANA name such as Europe/London))",
      R"(mapping.yaml:2:56: locations[0].timezone: unknown time zone "Mars/Olympus" (expected an IANA name such as Europe/London))"}},
    {"TemplateFormatWithoutTemplate",
     "accounts:\n  username:\n    format: template\nmapping_files: [mapping.yaml]\n",
     {{"mapping.yaml", kMinimalMapping}},
     {"radsync.yaml:3:5: accounts.username.template: required with format: template"}},
    {"TemplateWithUnknownPlaceholder",
     "accounts:\n  username:\n    format: template\n    template: \"{first_name}.wifi\"\n"
     "mapping_files: [mapping.yaml]\n",
     {{"mapping.yaml", kMinimalMapping}},
     {"radsync.yaml:4:15: accounts.username.template: unknown placeholder {first_name}; use "
      "{email}, {_id}, {name} or {properties.KEY}"}},
    {"PropertySourceWithoutProperty",
     "accounts:\n  password:\n    source: property\n    length: 16\nmapping_files: "
     "[mapping.yaml]\n",
     {{"mapping.yaml", kMinimalMapping}},
     {"radsync.yaml:3:5: accounts.password.property: required with source: property",
      "radsync.yaml:4:5: accounts.password.length: only used with source: generate"}},
    {"PlainHttpOnPublicAddress",
     "webhook:\n  listen: 0.0.0.0:8080\n  plain_http: true\n  secret_files: "
     "[@DIR@/webhook-secret]\n"
     "mapping_files: [mapping.yaml]\n",
     {{"mapping.yaml", kMinimalMapping}},
     {"radsync.yaml:2:11: webhook.listen: plain HTTP is only allowed on a loopback address "
      "(127.x, ::1, localhost) unless allow_plain_http_on_public_address is true, got "
      "\"0.0.0.0:8080\""}},
    {"PlainHttpWithTls",
     "webhook:\n  plain_http: true\n  tls: {cert_file: @DIR@/cert.pem, key_file: @DIR@/key.pem}\n"
     "  secret_files: [@DIR@/webhook-secret]\nmapping_files: [mapping.yaml]\n",
     {{"mapping.yaml", kMinimalMapping}},
     {"radsync.yaml:3:3: webhook.tls: must be absent when plain_http is true"}},
    {"TlsMissing",
     "webhook:\n  listen: 0.0.0.0:8443\n  secret_files: [@DIR@/webhook-secret]\n"
     "mapping_files: [mapping.yaml]\n",
     {{"mapping.yaml", kMinimalMapping}},
     {"radsync.yaml:2:3: webhook.tls: required unless plain_http is true"}},
    {"FourSecretFiles",
     "webhook:\n  plain_http: true\n  secret_files:\n    - @DIR@/webhook-secret\n"
     "    - @DIR@/webhook-secret.old\n    - @DIR@/webhook-secret.3\n    - @DIR@/webhook-secret.4\n"
     "mapping_files: [mapping.yaml]\n",
     {{"mapping.yaml", kMinimalMapping}},
     {"radsync.yaml:4:5: webhook.secret_files: expected 1 to 3 files (more than one only while "
      "rotating), got 4"}},
    {"MissingSecretFile",
     "officernd:\n  org_slug: acme\n  client_id: abc\n  client_secret_file: @DIR@/nope\n"
     "mapping_files: [mapping.yaml]\n",
     {{"mapping.yaml", kMinimalMapping}},
     {R"(radsync.yaml:4:23: officernd.client_secret_file: cannot read "@DIR@/nope": No such file or directory)"}},
    {"OfficerndSectionMissingRequiredKeys",
     "officernd:\n  org_slug: Acme Coworking\nmapping_files: [mapping.yaml]\n",
     {{"mapping.yaml", kMinimalMapping}},
     {R"(radsync.yaml:2:3: officernd.client_id: required key is missing)",
      R"(radsync.yaml:2:3: officernd.client_secret_file: required key is missing)",
      R"(radsync.yaml:2:13: officernd.org_slug: must consist of a-z, 0-9 and "-", got "Acme Coworking")"}},
    {"YamlSyntaxErrorInMainFile",
     "sync:\n  interval: [15m\nmapping_files: [mapping.yaml]\n",
     {{"mapping.yaml", kMinimalMapping}},
     {"radsync.yaml:3:14: invalid YAML: end of sequence flow not found"}},
    {"YamlSyntaxErrorInMappingFile",
     kMinimalMain,
     {{"mapping.yaml", "groups:\n  - name: basic\n   rank: 3\n"}},
     {"mapping.yaml:3:4: invalid YAML: end of sequence not found"}},
    {"MissingMappingFile",
     "mapping_files: [mapping.yaml, extra.yaml]\n",
     {{"mapping.yaml", kMinimalMapping}},
     {R"(radsync.yaml:1:31: mapping_files[1]: cannot read "extra.yaml": file not found)"}},
    {"MappingFilesMissing",
     "radius_database: /tmp/x.db\n",
     {},
     {"radsync.yaml:1:1: mapping_files: required key is missing"}},
    {"AccessNoneWithBandwidth",
     kMinimalMain,
     {{"mapping.yaml",
       "groups:\n  - name: virtual-office\n    access: none\n"
       "    bandwidth: {down: 10M}\n    simultaneous_use: 1\n"
       "plans:\n  - {match: {name: VO}, group: virtual-office}\n"}},
     {"mapping.yaml:4:5: groups[0].bandwidth: not allowed with access: none",
      "mapping.yaml:5:5: groups[0].simultaneous_use: not allowed with access: none"}},
    {"AccessWithOtherValue",
     kMinimalMain,
     {{"mapping.yaml",
       "groups:\n  - name: basic\n    access: full\n"
       "plans:\n  - {match: {name: Basic}, group: basic}\n"}},
     {R"(mapping.yaml:3:13: groups[0].access: the only allowed value is "none" (leave access out for WiFi access), got "full")"}},
    {"BadEnumValue",
     kMinimalMain,
     {{"mapping.yaml", std::string("roaming: everywhere\n") + kMinimalMapping +
                           "  - {match: {code: X}, group: basic, roaming: membershp}\n"}},
     {R"(mapping.yaml:1:10: roaming: expected one of home, membership, all, got "everywhere")",
      R"(mapping.yaml:7:47: plans[1].roaming: expected one of home, membership, all, got "membershp" (did you mean "membership"?))"}},
    {"RoamingInTwoFiles",
     "mapping_files: [a.yaml, b.yaml]\n",
     {{"a.yaml", std::string("roaming: all\n") + kMinimalMapping}, {"b.yaml", "roaming: home\n"}},
     {"b.yaml:1:1: roaming: already set in a.yaml:1:1; set it in one mapping file"}},
    {"BadBooleanAndSize",
     "webhook:\n  plain_http: yes\n  secret_files: [@DIR@/webhook-secret]\n"
     "  tls: {cert_file: @DIR@/cert.pem, key_file: @DIR@/key.pem}\n  max_body_bytes: 32MiB\n"
     "mapping_files: [mapping.yaml]\n",
     {{"mapping.yaml", kMinimalMapping}},
     {R"(radsync.yaml:2:15: webhook.plain_http: expected true or false, got "yes")",
      "radsync.yaml:5:19: webhook.max_body_bytes: must be between 1KiB and 16MiB, got 32MiB"}},
    {"BadListenAddress",
     "metrics:\n  listen: 127.0.0.1\nmapping_files: [mapping.yaml]\n",
     {{"mapping.yaml", kMinimalMapping}},
     {R"(radsync.yaml:2:11: metrics.listen: expected HOST:PORT (IPv6 as [ADDRESS]:PORT) with a port 1..65535, got "127.0.0.1")"}},
    {"BadShareAndBandwidthFamily",
     "sync:\n  deletion_guard: {max_share: 150%, min_count: -1}\nradius:\n"
     "  bandwidth_attributes: [wipsr, mikrotik, mikrotik]\nmapping_files: [mapping.yaml]\n",
     {{"mapping.yaml", kMinimalMapping}},
     {"radsync.yaml:2:31: sync.deletion_guard.max_share: must be between 0 and 1 (or 0% and "
      "100%), got 150%",
      "radsync.yaml:2:48: sync.deletion_guard.min_count: must be at least 0, got -1",
      R"(radsync.yaml:4:26: radius.bandwidth_attributes[0]: expected one of wispr, mikrotik, got "wipsr" (did you mean "wispr"?))",
      "radsync.yaml:4:43: radius.bandwidth_attributes[2]: listed twice"}},
    {"UnknownLogModule",
     "log_modules:\n  webhook: debug\n  webhooks: debug\nmapping_files: [mapping.yaml]\n",
     {{"mapping.yaml", kMinimalMapping}},
     {R"(radsync.yaml:3:3: log_modules.webhooks: unknown key (did you mean "webhook"?))"}},
    {"DuplicateYamlKey",
     "log_level: info\nlog_level: debug\nmapping_files: [mapping.yaml]\n",
     {{"mapping.yaml", kMinimalMapping}},
     {"radsync.yaml:2:1: log_level: duplicate key (first at line 1)"}},
    {"StaticIpPoolsAndNasIp",
     kMinimalMain,
     {{"mapping.yaml",
       "groups:\n  - name: basic\n    static_ip: 10.0.0.5\n"
       "  - name: pro\n    ip_pool: 10.0.0.1/24\n"
       "plans:\n  - {match: {name: Basic}, group: basic}\n  - {match: {name: Pro}, group: pro}\n"
       "locations:\n  - {match: {name: A}, key: a, nas_ip_addresses: [10.1.0]}\n"}},
     {"mapping.yaml:3:5: groups[0].static_ip: static_ip gave every member of the group the same "
      "address; use ip_pool: CIDR (one stable address per member), or member_address_property",
      R"(mapping.yaml:5:14: groups[1].ip_pool: host bits set in "10.0.0.1/24": did you mean 10.0.0.0/24?)",
      R"(mapping.yaml:10:51: locations[0].nas_ip_addresses[0]: expected an IPv4 address such as 10.1.0.1, got "10.1.0")"}},
    {"PrivateOffices",
     kMinimalMain,
     {{"mapping.yaml",
       "groups:\n  - {name: basic, ip_pool: 10.20.0.0/16}\n"
       "plans:\n  - {match: {name: Basic}, group: basic}\n"
       "companies:\n"
       "  - {match: {name: Acme}, vlan: 310, ip_pool: 10.20.30.0/28}\n"
       "  - {match: {name: Globex}, vlan: 310}\n"
       "  - {match: {code: X}}\n"
       "locations:\n  - {match: {name: A}, key: a, nas_identifiers: [a], vlan: 310}\n"}},
     {R"(mapping.yaml:6:47: companies[0].ip_pool: pool 10.20.30.0/28 of company "Acme" overlaps pool 10.20.0.0/16 of group "basic" (mapping.yaml:2:28))",
      R"(mapping.yaml:7:35: companies[1].vlan: VLAN 310 is already company "Acme"'s (mapping.yaml:6:33); two companies on one VLAN share a network)",
      "mapping.yaml:8:5: companies[2]: set vlan, ip_pool or both",
      "mapping.yaml:8:13: companies[2].match: companies are matched by id or name"}},
    {"MultipleErrorsInOneFileAllReported",
     kMinimalMain,
     {{"mapping.yaml", R"(groups:
  - name: Pro Plan
    rank: 1.5
    session_timeout: 0
    reply:
      - {attribute: Class, op: "==", value: x}
      - {op: ":="}
plans:
  - match: {}
    group: pro
locations:
  - match: {name: Downtown}
    vlan: 0
    ssids: CoWork
)"}},
     {R"(mapping.yaml:2:11: groups[0].name: must consist of a-z, 0-9, "_", "." and "-", got "Pro Plan")",
      R"(mapping.yaml:3:11: groups[0].rank: expected an integer, got "1.5")",
      "mapping.yaml:4:22: groups[0].session_timeout: must be at least 1s, got 0",
      R"(mapping.yaml:6:32: groups[0].reply[0].op: expected one of :=, =, +=, got "==" (did you mean ":="?))",
      "mapping.yaml:7:9: groups[0].reply[1].attribute: required key is missing",
      "mapping.yaml:7:9: groups[0].reply[1].value: required key is missing",
      "mapping.yaml:9:12: plans[0].match: set exactly one of id, name or code, got none",
      R"(mapping.yaml:10:12: plans[0].group: no group named "pro" is defined)",
      "mapping.yaml:12:5: locations[0].key: required key is missing",
      "mapping.yaml:13:11: locations[0].vlan: must be between 1 and 4094, got 0",
      R"(mapping.yaml:14:12: locations[0].ssids: expected a list, got "CoWork")"}},
    // Regression (trust issue, item 13): yaml-cpp 0.7's LoadAll never consumes a stray comma
    // and allocates empty documents until memory runs out; Load alone read it as an empty file.
    {"StrayCommaIsTheWholeFile", ",#", {}, {"radsync.yaml:1:1: invalid YAML: unexpected ','"}},
    {"StrayCommaBeforeACommentInAMappingFile",
     kMinimalMain,
     {{"mapping.yaml", "# access groups\n,# oops\n" + std::string(kMinimalMapping)}},
     {"mapping.yaml:2:1: invalid YAML: unexpected ','"}},
    {"StrayCommaAfterADocument",
     kMinimalMain,
     {{"mapping.yaml", std::string(kMinimalMapping) + "...\n,\n"}},
     {"mapping.yaml:7:1: invalid YAML: unexpected ','"}},
    {"PassesSection",
     kMinimalMain,
     {{"mapping.yaml",
       "groups:\n  - name: basic\n  - {name: vo, access: none}\n"
       "plans:\n  - {match: {name: Basic}, group: basic}\n  - {match: {name: VO}, group: vo}\n"
       "passes:\n  group: vo\n  roaming: membership\n  open_end: 12h\n  sweep_at: \"24:00\"\n"
       "locations:\n  - {match: {name: D}, key: d, nas_identifiers: [d], pass_sweep_at: 3}\n"}},
     {R"(mapping.yaml:8:10: passes.group: group "vo" has access: none, so passes would give nothing)",
      "mapping.yaml:9:12: passes.roaming: passes take home (the pass's location) or all",
      R"(mapping.yaml:10:13: passes.open_end: expected one of midnight, 24h, got "12h" (did you mean "24h"?))",
      R"(mapping.yaml:11:13: passes.sweep_at: expected a local time of day such as "00:00" or "03:30", got "24:00")",
      R"(mapping.yaml:13:69: locations[0].pass_sweep_at: expected a local time of day such as "00:00" or "03:30", got "3")"}},
    {"GuestsSection",
     kMinimalMain,
     {{"mapping.yaml",
       "groups:\n  - name: basic\n"
       "plans:\n  - {match: {name: Basic}, group: basic}\n"
       "guests:\n  group: visitors\n  resource_types: []\n  username_prefix: Guest!\n"
       "  username_length: 2\n  grace_after: soon\n"}},
     {R"(mapping.yaml:6:10: guests.group: no group named "visitors" is defined)",
      "mapping.yaml:7:19: guests.resource_types: must list at least one resource type",
      R"(mapping.yaml:8:20: guests.username_prefix: use at most 32 of a-z, 0-9, "-", "_" and ".")",
      "mapping.yaml:9:20: guests.username_length: must be between 4 and 16, got 2",
      R"(mapping.yaml:10:16: guests.grace_after: expected a duration such as 300s, 15m, 8h or 30d, got "soon")"}},
    {"TwoYamlDocuments",
     kMinimalMain,
     {{"mapping.yaml", std::string(kMinimalMapping) + "---\nroaming: all\n"}},
     {"mapping.yaml:6:1: expected one YAML document, found a second one"}},
};

class ConfigBadCase : public ConfigTest, public ::testing::WithParamInterface<BadCase> {};

TEST_P(ConfigBadCase, ReportsExactProblems) {
    const BadCase& c = GetParam();
    const auto r = load_texts(c.main, c.mappings);
    std::vector<std::string> expected;
    for (const auto& e : c.expected) {
        expected.push_back(with_dir(e));
    }
    EXPECT_EQ(messages(r.problems), expected);
    EXPECT_FALSE(r.config.has_value());
}

INSTANTIATE_TEST_SUITE_P(Config, ConfigBadCase, ::testing::ValuesIn(kBadCases),
                         [](const ::testing::TestParamInfo<BadCase>& param_info) {
                             return std::string(param_info.param.name);
                         });

// ---------------------------------------------------------------------------------------------
// Warnings, files on disk, formatting

TEST_F(ConfigTest, AVlanSharedByACompanyAndALocationIsAWarning) {
    const auto r = load_texts(kMinimalMain, {{"mapping.yaml", R"(groups:
  - name: basic
plans:
  - {match: {name: Basic}, group: basic}
companies:
  - {match: {id: c1}, vlan: 100, ip_pool: 10.20.30.0/28}
locations:
  - {match: {name: A}, key: a, nas_identifiers: [a], vlan: 100}
company_vlan_property: vlan_id
member_address_property: wifi_ip
)"}});
    EXPECT_EQ(messages(r.problems), std::vector<std::string>{});
    EXPECT_EQ(
        messages(r.warnings),
        std::vector<std::string>{
            R"(mapping.yaml:8:60: locations[0].vlan: VLAN 100 of location "a" is also company "c1"'s (mapping.yaml:6:29): that company's members share a network with everyone there)"});
    ASSERT_TRUE(r.config);
    EXPECT_EQ(r.config->mapping.companies.size(), 1U);
    EXPECT_EQ(r.config->mapping.company_vlan_property, "vlan_id");
    EXPECT_EQ(r.config->mapping.member_address_property, "wifi_ip");
}

TEST_F(ConfigTest, UnusedGroupAndUnknownStatusAreWarningsOnly) {
    const auto r = load_texts(kMinimalMain, {{"mapping.yaml", R"(member_statuses: [active, drop_in]
groups:
  - name: basic
  - name: legacy
plans:
  - {match: {name: Basic}, group: basic}
)"}});
    EXPECT_EQ(messages(r.problems), std::vector<std::string>{});
    EXPECT_EQ(
        messages(r.warnings),
        (std::vector<std::string>{
            R"(mapping.yaml:1:27: member_statuses[1]: "drop_in" is not an OfficeRnD member status (active, former, pending, contact, not_approved, drop-in, lead) (did you mean "drop-in"?))",
            R"(mapping.yaml:4:11: groups[1].name: group "legacy" is not used by any plan)"}));
    EXPECT_TRUE(r.config.has_value());
}

TEST(ConfigFiles, MissingMainFileIsAProblemNamingTheFile) {
    test::TempDir dir;
    const std::string path = (dir.path() / "radsync.yaml").string();
    const auto r = load(path);
    EXPECT_EQ(messages(r.problems),
              std::vector<std::string>{path + ": cannot read file: No such file or directory"});
    EXPECT_FALSE(r.config.has_value());
}

TEST(ConfigFiles, MappingFilesAreResolvedAgainstTheMainFilesDirectory) {
    test::TempDir dir;
    const std::string main_file =
        dir.write("etc/radsync.yaml", "mapping_files: [mapping.d/a.yaml, missing.yaml]\n");
    dir.write("etc/mapping.d/a.yaml", kMinimalMapping);
    const auto r = load(main_file);
    const std::string missing = (dir.path() / "etc/missing.yaml").string();
    EXPECT_EQ(messages(r.problems),
              std::vector<std::string>{main_file + ":1:35: mapping_files[1]: cannot read \"" +
                                       missing + "\": No such file or directory"});
}

TEST(ConfigFiles, OversizedAndNonRegularFilesAreRefused) {
    test::TempDir dir;
    const std::string main_file = dir.write("radsync.yaml", "mapping_files: [big.yaml, sub]\n");
    dir.write("big.yaml", "# " + std::string(1024 * 1024, 'x') + "\n");
    std::filesystem::create_directory(dir.path() / "sub");
    const auto r = load(main_file);
    const std::string base = dir.path().string();
    EXPECT_EQ(messages(r.problems),
              (std::vector<std::string>{main_file + ":1:17: mapping_files[0]: cannot read \"" +
                                            base + "/big.yaml\": larger than 1 MiB, refused",
                                        main_file + ":1:27: mapping_files[1]: cannot read \"" +
                                            base + "/sub\": is a directory"}));
}

TEST(ConfigProblem, FormatsWithAndWithoutPosition) {
    EXPECT_EQ((Problem{{"a.yaml", 3, 7}, "groups[0].rank", "bad"}).to_string(),
              "a.yaml:3:7: groups[0].rank: bad");
    EXPECT_EQ((Problem{{"a.yaml", 0, 0}, "mapping_files", "bad"}).to_string(),
              "a.yaml: mapping_files: bad");
    EXPECT_EQ((Problem{{"a.yaml", 2, 1}, "", "invalid YAML: x"}).to_string(),
              "a.yaml:2:1: invalid YAML: x");
}

TEST(ConfigRoaming, ToStringUsesYamlSpelling) {
    EXPECT_STREQ(to_string(Roaming::kHome), "home");
    EXPECT_STREQ(to_string(Roaming::kMembership), "membership");
    EXPECT_STREQ(to_string(Roaming::kAll), "all");
}

}  // namespace
}  // namespace radsync::config
