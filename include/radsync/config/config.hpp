#pragma once

#include <chrono>
#include <cstdint>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace radsync::config {

/// Where a value came from, for messages that point the operator at the exact spot.
struct Origin {
    std::string file;
    int line = 0;    // 1-based; 0 when unknown
    int column = 0;  // 1-based
};

/// How a member's location rights are decided.
enum class Roaming {
    kHome,        ///< the member's home location only
    kMembership,  ///< the locations of the memberships that grant access
    kAll,         ///< every mapped location
};

/// Which attribute families carry bandwidth limits in the plan group's reply.
enum class BandwidthAttributes { kWispr, kMikrotik };

/// One extra RADIUS reply attribute an operator wants on a group.
struct ReplyAttribute {
    std::string attribute;  ///< checked against the FreeRADIUS dictionary
    std::string op = "=";   ///< one of := = +=
    std::string value;
    Origin origin;
};

/// An access group: what a plan buys on the network.
struct AccessGroup {
    std::string name;    ///< safe characters only; becomes part of a RADIUS group name
    int rank = 0;        ///< with several memberships the highest rank wins
    bool access = true;  ///< `access: none` in YAML sets false (e.g. Virtual Office)
    std::optional<std::uint64_t> bandwidth_down_bps;
    std::optional<std::uint64_t> bandwidth_up_bps;
    std::optional<std::chrono::seconds> session_timeout;
    std::optional<int> simultaneous_use;
    /// Acct-Interim-Interval for the group's sessions; Sessions::interim_interval when unset.
    std::optional<std::chrono::seconds> accounting_interval;
    /// Network (CIDR) each member of the group gets a stable Framed-IP-Address from; a
    /// company's own pool takes precedence.
    std::optional<std::string> ip_pool;
    std::vector<ReplyAttribute> reply;
    Origin origin;
};

/// How a plan or location is recognised in OfficeRnD data. Exactly one field is set.
struct Match {
    std::optional<std::string> id;
    std::optional<std::string> name;
    std::optional<std::string> code;
};

/// plans → access groups, with an optional roaming override.
struct PlanRule {
    Match match;
    std::string group;  ///< name of an AccessGroup
    std::optional<Roaming> roaming;
    Origin origin;
};

/// A location (site) and how FreeRADIUS recognises it.
struct LocationRule {
    Match match;
    std::string key;  ///< short safe name, e.g. "downtown"; part of the RADIUS group name
    std::optional<int> vlan;
    std::vector<std::string> nas_identifiers;   ///< NAS-Identifier == value
    std::vector<std::string> ssids;             ///< Called-Station-Id ends in ":<ssid>"
    std::vector<std::string> nas_ip_addresses;  ///< NAS-IP-Address == value
    std::optional<std::string> timezone;        ///< overrides OfficeRnD's location timezone
    /// Local time of day when expired pass accounts of this location are removed (overrides
    /// Passes::sweep_at).
    std::optional<std::chrono::minutes> pass_sweep_at;
    Origin origin;
};

/// When a pass without `validTo` ends.
enum class PassOpenEnd {
    kMidnight,  ///< at the end of its first day, in its location's zone
    k24Hours,   ///< 24 hours after validFrom
};

/// Who a company pass (`isPersonal` false) covers.
enum class CompanyPasses {
    kAssigned,    ///< only the member the pass names, if any
    kAllMembers,  ///< every member of the company
};

/// Day passes (OfficeRnD `passes`): time-limited access through their own group.
struct Passes {
    std::string group;  ///< name of an AccessGroup (with access)
    /// Locations a pass holder may use; kHome (the default) is the pass's own location, or the
    /// holder's home when the pass names none.
    Roaming roaming = Roaming::kHome;
    PassOpenEnd open_end = PassOpenEnd::kMidnight;
    /// Local time of day when accounts whose passes expired are removed (not kept for the
    /// revoked retention as members' are).
    std::chrono::minutes sweep_at{0};
    CompanyPasses company_passes = CompanyPasses::kAssigned;
    Origin origin;
};

/// Meeting-room guests: a booking's visitors get temporary credentials.
struct Guests {
    std::string group;  ///< name of an AccessGroup (with access)
    /// Resource types whose bookings count, matched against the resource's `type` and its
    /// resource type's key, title or id (e.g. meeting_room).
    std::vector<std::string> resource_types = {"meeting_room"};
    std::chrono::seconds grace_before{15 * 60};
    std::chrono::seconds grace_after{15 * 60};
    /// Guest user names: prefix + `username_length` characters without look-alikes.
    std::string username_prefix = "guest-";
    int username_length = 6;
    int code_length = 8;  ///< the access code (password)
    /// Members listed on a booking (`members[]`) whose company is not the booker's get a guest
    /// account too.
    bool members_of_other_companies = false;
    Origin origin;
};

/// A company's own network (a private office): its VLAN and address pool.
struct CompanyRule {
    Match match;  ///< id or name (companies have no code)
    std::optional<int> vlan;
    std::optional<std::string> ip_pool;  ///< CIDR
    Origin origin;
};

/// Everything that decides who gets which rows: the content of the mapping file(s).
struct Mapping {
    std::vector<AccessGroup> groups;
    std::vector<PlanRule> plans;
    std::vector<LocationRule> locations;
    Roaming roaming = Roaming::kHome;
    /// Member statuses (OfficeRnD `status`, or v1 `calculatedStatus`) that may have access.
    std::vector<std::string> member_statuses = {"active"};
    /// Absent: passes give no access.
    std::optional<Passes> passes;
    /// Absent: bookings give no guest access.
    std::optional<Guests> guests;
    std::vector<CompanyRule> companies;
    /// Company custom property holding the company's VLAN (1..4094); `companies[].vlan` wins.
    std::string company_vlan_property;
    /// Member custom property holding an explicit address for the member (beats any pool).
    std::string member_address_property;
};

enum class UsernameFormat { kEmail, kMemberId, kTemplate };
enum class UsernameCase { kLower, kPreserve };
enum class PasswordSource { kGenerate, kProperty };
enum class PasswordStorage { kNtHash, kCleartext };

struct Accounts {
    UsernameFormat username_format = UsernameFormat::kEmail;
    /// For kTemplate: "{email}", "{_id}", "{name}", "{properties.<key>}" and literal text.
    std::string username_template;
    UsernameCase username_case = UsernameCase::kLower;
    PasswordSource password_source = PasswordSource::kGenerate;
    int password_length = 12;
    std::string password_property;  ///< for kProperty: the member custom property key
    PasswordStorage password_storage = PasswordStorage::kNtHash;

    /// Member custom properties named as holding secrets: the password property, if used.
    /// (The stored snapshot keeps these, and any property named like a password, only as
    /// keyed hashes; see snapshot::is_secret_property.)
    [[nodiscard]] std::set<std::string> secret_properties() const {
        if (password_source == PasswordSource::kProperty && !password_property.empty()) {
            return {password_property};
        }
        return {};
    }
};

struct OfficeRnd {
    std::string org_slug;
    std::string client_id;
    std::string client_secret_file;
    std::string base_url = "https://app.officernd.com/api/v2/organizations";
    std::string token_url = "https://identity.officernd.com/oauth/token";
    /// Extra trust anchor for the API's TLS certificate (a private CA); system CAs always apply.
    std::string ca_file;
    std::chrono::seconds request_timeout{30};
};

struct Webhook {
    std::string listen_address = "127.0.0.1";
    std::uint16_t listen_port = 8443;
    /// TLS material; both empty only together with plain_http.
    std::string tls_cert_file;
    std::string tls_key_file;
    bool plain_http = false;
    /// Plain HTTP on a non-loopback address needs this explicit opt-in.
    bool allow_plain_http_on_public_address = false;
    std::vector<std::string> secret_files;  ///< 1 to 3, for rotation
    std::chrono::seconds tolerance_past{300};
    std::chrono::seconds tolerance_future{60};
    std::uint64_t max_body_bytes = 256 * 1024;
    /// Per-connection deadlines and the connection cap (`webhook.limits`).
    std::chrono::seconds handshake_timeout{10};
    std::chrono::seconds read_timeout{10};  ///< whole request (headers and body)
    std::chrono::seconds write_timeout{10};
    std::chrono::seconds idle_timeout{30};  ///< keep-alive, between requests
    std::size_t max_connections = 256;
};

struct Metrics {
    std::string listen_address = "127.0.0.1";
    std::uint16_t listen_port = 9464;
};

struct Sync {
    std::chrono::seconds interval{15 * 60};
    /// Deletion guard: a run may remove at most max(min_count, share * accounts) accounts.
    double deletion_guard_share = 0.10;
    int deletion_guard_min_count = 5;
    /// Members, companies and memberships that vanish from a complete poll are confirmed one by
    /// one (GET by id) before anybody loses access; at most this many per run, more vanishing
    /// at once holds them all back as the deletion guard does.
    int confirm_vanished = 25;
    /// Revoked accounts are rejected at once and their rows deleted after this long.
    std::chrono::seconds revoked_retention{30LL * 24 * 3600};
};

struct Radius {
    /// Top-level FreeRADIUS dictionary used to check attribute names.
    std::string dictionary = "/usr/share/freeradius/dictionary";
    std::vector<BandwidthAttributes> bandwidth_attributes = {BandwidthAttributes::kWispr,
                                                             BandwidthAttributes::kMikrotik};
};

/// The whole configuration: main file plus the mapping files it names.
/// sockaddr_un::sun_path holds 108 bytes with the terminating NUL.
inline constexpr std::size_t kMaxSocketPath = 108;

/// The control socket: everything that changes state or reveals detail goes through it.
struct Control {
    std::string socket = "/run/radsync/control.sock";
    /// Who may connect: the owner (radsync) and root always; the group too with 0660. Never
    /// others. 0600 by default: group radsync includes FreeRADIUS's user.
    unsigned mode = 0600;
    /// Group of the socket (the daemon's user must be in it); empty keeps the daemon's own.
    std::string group;
};

/// One kind of message: subject, plain text and optional HTML, each a notify::MessageTemplate
/// text (checked at load).
struct MessageTemplates {
    std::string subject;
    std::string text;
    std::string html;  ///< empty: plain text only
};

/// Which messages radsync sends (`notify.templates`), by what happened to the account.
enum class MessageKind {
    kWelcome,    ///< a new member's first account
    kReturning,  ///< a member whose disabled account is active again (same password)
    kPass,       ///< a day-pass holder's new account
    kGuest,      ///< a meeting-room guest's code
    kReset,      ///< accounts reset-password
};
inline constexpr MessageKind kMessageKinds[] = {MessageKind::kWelcome, MessageKind::kReturning,
                                                MessageKind::kPass, MessageKind::kGuest,
                                                MessageKind::kReset};
[[nodiscard]] const char* to_string(MessageKind k);

/// Who receives a guest's code.
enum class GuestRecipients { kVisitor, kBooker, kBoth };

/// The operator's mail relay (`notify.smtp`).
struct Smtp {
    enum class Security { kStartTls, kSmtps, kNone };
    std::string host;
    unsigned port = 587;
    Security security = Security::kStartTls;
    std::string ca_file;  ///< extra trust anchor; the system CAs always apply
    std::string username;
    std::string password_file;  ///< required with username
    std::chrono::seconds connect_timeout{15};
    std::chrono::seconds timeout{60};  ///< one whole message
    int max_connections = 2;           ///< sender threads, one connection each
    int rate_per_minute = 60;          ///< messages handed to the relay, evenly spaced
};

/// `notify.profile`: an Apple configuration profile attached to credential e-mails.
struct Profile {
    bool attach = true;
    std::string identifier;  ///< reverse-DNS prefix, e.g. com.example.wifi
    bool ttls = false;       ///< EAP-TTLS/MSCHAPv2 instead of PEAP
    std::vector<std::string> trusted_server_names;
    std::string ca_file;  ///< the CA of the RADIUS server's certificate (PEM)
    bool include_password = false;
    std::string signing_certificate_file;
    std::string signing_key_file;
    std::string signing_chain_file;
    Origin origin;
};

/// `notify`: credentials handed over by e-mail through the outbox.
struct Notify {
    std::string from;          ///< "Name <address>" or an address
    std::string from_address;  ///< the bare address (MAIL FROM)
    std::string reply_to;
    std::string organisation;
    std::vector<std::string> ssids;  ///< when the account's locations list none
    GuestRecipients guest_codes_to = GuestRecipients::kVisitor;
    Smtp smtp;
    int max_attempts = 10;  ///< then the message is parked
    std::chrono::seconds retry_min{30};
    std::chrono::seconds retry_max{3600};
    MessageTemplates templates[std::size(kMessageKinds)];
    std::optional<Profile> profile;
    Origin origin;

    [[nodiscard]] const MessageTemplates& templates_for(MessageKind k) const {
        return templates[static_cast<std::size_t>(k)];
    }
};

/// Session attributes a NAS can be told to identify a session by in a Disconnect or CoA
/// request (RFC 5176 §3).
enum class SessionKey {
    kUserName,
    kAcctSessionId,
    kCallingStationId,
    kFramedIpAddress,
    kNasIpAddress,
};
[[nodiscard]] const char* to_string(SessionKey k);

/// An access point or controller radsync tells about ended or changed access (RFC 5176).
struct Nas {
    std::string name;
    std::string address;  ///< IPv4: where requests go, and the radacct nasipaddress it matches
    unsigned coa_port = 3799;
    std::string secret_file;
    /// What the NAS wants to identify a session by, in request order.
    std::vector<SessionKey> identify = {SessionKey::kUserName, SessionKey::kAcctSessionId,
                                        SessionKey::kNasIpAddress};
    /// false: the NAS cannot change a session's limits, so a plan change disconnects instead.
    bool coa = true;
    Origin origin;
};

/// `sessions.checkins`: presence to OfficeRnD check-ins (off by default). A member's first
/// session of the day at a location whose rule names nas_ip_addresses or ssids checks them in
/// there; they are checked out at the last Stop once no session has been open there for
/// `checkout_after`, or at the end of the day in the location's zone.
struct Checkins {
    bool enabled = false;
    std::chrono::seconds checkout_after{1800};
    Origin origin;
};

/// `sessions`: accounting in its own database, stale sessions, Disconnect and CoA.
struct Sessions {
    /// Acct-Interim-Interval every access group sends unless it sets its own.
    std::chrono::seconds interim_interval{600};
    /// A session with no accounting update for this many of the longest interim interval is
    /// closed by radsync (the NAS rebooted without a Stop).
    int stale_after_intervals = 3;
    std::chrono::seconds sweep_interval{60};  ///< how often stale sessions are looked for
    /// Disconnect/CoA on access changes; on by default when `nas` lists anything.
    bool dynamic_authorization = true;
    std::chrono::milliseconds request_timeout{2000};  ///< first wait for a reply; doubles
    int attempts = 4;                                 ///< sends per request before "timeout"
    std::vector<Nas> nas;
    Checkins checkins;
};

struct Config {
    std::string source_file;  ///< the main file as given
    /// The database FreeRADIUS reads (group radsync, 0660). Earlier releases called it
    /// `database` and kept everything in it; that file is split on the first start.
    std::string radius_database = "/var/lib/radsync/radsync.db";
    /// radsync's private state (0600); next to the RADIUS database unless set.
    std::string state_database = "/var/lib/radsync/state.db";
    /// FreeRADIUS's accounting (radacct, 0660, written by FreeRADIUS); next to the RADIUS
    /// database unless set.
    std::string accounting_database = "/var/lib/radsync/accounting.db";
    /// Zone for dates when neither the mapping nor OfficeRnD gives the location's zone.
    std::string default_timezone = "UTC";
    std::string log_level = "info";
    /// Per-module levels over log_level (log_modules: {webhook: debug}); keys from
    /// log::kModules.
    std::map<std::string, std::string> log_modules;
    OfficeRnd officernd;
    std::optional<Webhook> webhook;
    Metrics metrics;
    Control control;
    Sync sync;
    Accounts accounts;
    Radius radius;
    Sessions sessions;
    std::vector<std::string> mapping_files;  ///< as resolved (absolute or relative to cwd)
    Mapping mapping;
    std::optional<Notify> notify;  ///< absent: no e-mail; reset-password prints
};

[[nodiscard]] const char* to_string(Roaming r);

/// The Acct-Interim-Interval a group's sessions get: its accounting_interval, else one its own
/// `reply` rows set, else sessions.interim_interval.
[[nodiscard]] std::chrono::seconds interim_interval_of(const AccessGroup& g, const Sessions& s);
/// Whether the group's own `reply` rows set Acct-Interim-Interval (then radsync adds none).
[[nodiscard]] bool replies_set_interim_interval(const AccessGroup& g);

}  // namespace radsync::config
