#include "radsync/cli/cli.hpp"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <set>
#include <sstream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "radsync/config/loader.hpp"
#include "radsync/core/json.hpp"
#include "radsync/core/timezone.hpp"
#include "radsync/log/log.hpp"
#include "radsync/mapping/credentials.hpp"
#include "radsync/mapping/engine.hpp"
#include "radsync/reconcile/reconciler.hpp"
#include "radsync/reconcile/vanished.hpp"
#include "radsync/service/app.hpp"
#include "radsync/service/officernd_fetch.hpp"
#include "radsync/snapshot/entities.hpp"
#include "radsync/store/store.hpp"

namespace radsync::cli {

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;

struct Options {
    std::string config_file = "/etc/radsync/radsync.yaml";
    std::string snapshot_file;
    bool dry_run = false;
    bool verbose = false;
    bool json = false;
    std::string account_key;
    bool no_processing = false;
    bool allow_mass_removal = false;
    bool standalone = false;
    std::string event_id;
    bool all = false;
};

/// Exit code of a reconcile whose removals the deletion guard held back.
constexpr int kExitGuarded = 3;

void print_problems(const std::vector<config::Problem>& problems, const char* kind) {
    for (const auto& p : problems) {
        std::cerr << kind << ": " << p.to_string() << "\n";
    }
}

// Loads and validates the configuration; prints every problem. Empty optional on failure.
std::optional<config::Config> load_config(const Options& opt) {
    auto loaded = config::load(opt.config_file);
    print_problems(loaded.warnings, "warning");
    if (!loaded.config) {
        print_problems(loaded.problems, "error");
        std::cerr << opt.config_file << ": " << loaded.problems.size()
                  << " problem(s); nothing was changed\n";
        return std::nullopt;
    }
    log::setup(loaded.config->log_level);
    return std::move(loaded.config);
}

int fail(const Error& e) {
    std::cerr << "error: " << e.message << "\n";
    return kExitFailure;
}

enum class StoreAccess { kReadOnly, kReadWrite };

store::StorePaths paths_of(const config::Config& cfg) {
    return {cfg.radius_database, cfg.state_database};
}

store::OpenOptions open_options_of(const config::Config& cfg) {
    store::OpenOptions o;
    o.secret_properties = cfg.accounts.secret_properties();
    return o;
}

struct ConfiguredStore {
    config::Config cfg;
    store::Stores stores;
};

// Loads the configuration and opens its databases; prints what went wrong otherwise.
std::optional<ConfiguredStore> open_configured_store(const Options& opt, StoreAccess access) {
    auto cfg = load_config(opt);
    if (!cfg) {
        return std::nullopt;
    }
    auto st = access == StoreAccess::kReadOnly
                  ? store::open_sqlite_stores_read_only(paths_of(*cfg))
                  : store::open_sqlite_stores(paths_of(*cfg), open_options_of(*cfg));
    if (!st) {
        fail(st.error());
        return std::nullopt;
    }
    return ConfiguredStore{std::move(*cfg), std::move(*st)};
}

int check_config(const Options& opt) {
    auto loaded = config::load(opt.config_file);
    print_problems(loaded.warnings, "warning");
    std::vector<config::Problem> problems = loaded.problems;
    if (loaded.config) {
        const auto& cfg = *loaded.config;
        if (auto dict = config::Dictionary::load(cfg.radius.dictionary); dict) {
            auto unknown = config::check_attributes(cfg, *dict);
            problems.insert(problems.end(), unknown.begin(), unknown.end());
        } else {
            std::cerr << "warning: " << dict.error().message
                      << "; attribute names not checked against FreeRADIUS\n";
        }
        // The databases: existing ones must be readable at a schema this binary understands;
        // missing ones must be creatable.
        if (std::filesystem::exists(cfg.radius_database)) {
            // An older schema is fine (serve and migrate upgrade it, splitting a one-file
            // database); a newer one or an unreadable file is not.
            auto status = store::read_schema_status(paths_of(cfg));
            if (!status) {
                problems.push_back(
                    {{cfg.source_file, 0, 0}, "radius_database", status.error().message});
            } else {
                const auto too_new = [&](const char* key, const std::string& path, int version,
                                         int known) {
                    if (version > known) {
                        problems.push_back({{cfg.source_file, 0, 0},
                                            key,
                                            path + " has schema version " +
                                                std::to_string(version) +
                                                ", newer than this radsync knows (" +
                                                std::to_string(known) + ")"});
                    }
                };
                too_new("radius_database", cfg.radius_database, status->radius_version,
                        status->radius_binary_version);
                too_new("state_database", cfg.state_database, status->state_version,
                        status->state_binary_version);
            }
        }
        for (const auto& [key, path] : {std::pair{"radius_database", &cfg.radius_database},
                                        std::pair{"state_database", &cfg.state_database}}) {
            const auto dir = std::filesystem::path(*path).parent_path();
            if (!std::filesystem::exists(*path) && !dir.empty() &&
                !std::filesystem::is_directory(dir)) {
                problems.push_back({{cfg.source_file, 0, 0},
                                    key,
                                    "directory " + dir.string() + " does not exist"});
            }
        }
        if (cfg.accounts.password_storage == config::PasswordStorage::kCleartext) {
            std::cerr << "warning: " << cfg.source_file
                      << ": accounts.password.storage is cleartext: passwords are kept in clear "
                         "in both databases, and the RADIUS one is readable by FreeRADIUS's "
                         "group\n";
        }
    }
    if (!problems.empty()) {
        print_problems(problems, "error");
        std::cerr << opt.config_file << ": " << problems.size() << " problem(s)\n";
        return kExitFailure;
    }
    std::cout << opt.config_file << ": OK (" << loaded.config->mapping.groups.size() << " groups, "
              << loaded.config->mapping.plans.size() << " plans, "
              << loaded.config->mapping.locations.size() << " locations)\n";
    return kExitOk;
}

int migrate(const Options& opt) {
    auto cfg = load_config(opt);
    if (!cfg) {
        return kExitFailure;
    }
    auto status = store::migrate_sqlite(paths_of(*cfg), open_options_of(*cfg));
    if (!status) {
        return fail(status.error());
    }
    std::cout << cfg->radius_database << ": schema version " << status->radius_version << " -> "
              << status->radius_binary_version << "\n"
              << cfg->state_database << ": schema version " << status->state_version << " -> "
              << status->state_binary_version << "\n";
    return kExitOk;
}

Result<std::string> read_bounded(const std::string& path, std::size_t limit) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) {
        return Error(Errc::kIoFailed, "cannot read " + path + ": " + ec.message());
    }
    if (size > limit) {
        return Error(Errc::kMalformedPayload,
                     path + " is larger than " + std::to_string(limit) + " bytes");
    }
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in) {
        return Error(Errc::kIoFailed, "cannot read " + path);
    }
    return text.str();
}

// Every change with --verbose / --dry-run; otherwise everything but the per-change lines (the
// guard's verdict, problems with their first few members, the counts).
int print_report(const std::string& text, const Options& opt) {
    const bool guarded = text.find("deletion guard:") != std::string::npos;
    if (opt.dry_run || opt.verbose) {
        std::cout << text;
    } else {
        std::istringstream lines(text);
        std::string line;
        bool in_change = false;
        while (std::getline(lines, line)) {
            if (line.rfind("account ", 0) == 0 || line.rfind("row ", 0) == 0) {
                in_change = true;
                continue;
            }
            if (in_change && line.rfind("    ", 0) == 0) {
                continue;  // the reason line under an account change
            }
            in_change = false;
            std::cout << line << "\n";
        }
    }
    return guarded && !opt.dry_run ? kExitGuarded : kExitOk;
}

struct LoopbackAnswer {
    unsigned status = 0;
    std::string body;
};

// A minimal HTTP/1.1 exchange with the daemon's ops listener on this machine. Empty when
// nothing listens there (the daemon is not running). Plain sockets: one request, one answer,
// bounded in size and time, so the CLI does not pull in Asio.
std::optional<LoopbackAnswer> loopback_request(const config::Config& cfg, const char* method,
                                               const std::string& target,
                                               std::chrono::milliseconds timeout) {
    std::string host = cfg.metrics.listen_address;
    if (host == "0.0.0.0" || host == "localhost") {
        host = "127.0.0.1";
    } else if (host == "::") {
        host = "::1";
    }
    addrinfo hints{};
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (getaddrinfo(host.c_str(), std::to_string(cfg.metrics.listen_port).c_str(), &hints,
                    &found) != 0) {
        return std::nullopt;
    }
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> ai(found, freeaddrinfo);
    const int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return std::nullopt;
    }
    std::unique_ptr<int, void (*)(int*)> closer(new int(fd), [](int* p) {
        close(*p);
        delete p;
    });
    timeval tv{};
    tv.tv_sec =
        static_cast<time_t>(std::chrono::duration_cast<std::chrono::seconds>(timeout).count());
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        return std::nullopt;
    }
    const std::string request = std::string(method) + " " + target + " HTTP/1.1\r\nHost: " + host +
                                "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(request.size())) {
        return std::nullopt;
    }
    constexpr std::size_t kMaxAnswer = 16 * 1024 * 1024;
    std::string raw;
    char buf[16384];
    for (;;) {
        const ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) {
            break;
        }
        raw.append(buf, static_cast<std::size_t>(n));
        if (raw.size() > kMaxAnswer) {
            return std::nullopt;
        }
    }
    LoopbackAnswer answer;
    if (raw.rfind("HTTP/1.", 0) != 0 || raw.size() < 12) {
        return std::nullopt;
    }
    answer.status = static_cast<unsigned>(std::atoi(raw.c_str() + 9));
    const auto body = raw.find("\r\n\r\n");
    answer.body = body == std::string::npos ? std::string() : raw.substr(body + 4);
    return answer;
}

/// Last step before a full run: may adjust the snapshot and options against the store.
using PrepareRun =
    std::function<Status(store::StateStore&, snapshot::Snapshot&, reconcile::RunOptions&)>;

// A full run in this process (no daemon involved): open, map, diff, apply, print. A dry run
// plans against an in-memory copy of the database: it neither creates nor migrates the file.
int apply_full(const config::Config& cfg, snapshot::Snapshot snap, const char* mode,
               const std::string& source, const Options& opt, const PrepareRun& prepare = {}) {
    auto st = opt.dry_run
                  ? store::open_sqlite_stores_scratch_copy(paths_of(cfg), open_options_of(cfg))
                  : store::open_sqlite_stores(paths_of(cfg), open_options_of(cfg));
    if (!st) {
        return fail(st.error());
    }
    const core::SystemClock clock;
    reconcile::Environment env{*st->state, *st->radius, clock, mapping::generate_password};
    reconcile::RunOptions run;
    run.dry_run = opt.dry_run;
    run.mode = mode;
    run.source = source;
    run.allow_mass_removal = opt.allow_mass_removal;
    if (prepare) {
        if (auto s = prepare(*st->state, snap, run); !s) {
            return fail(s.error());
        }
    }
    auto report = reconcile::reconcile_full(env, cfg, std::move(snap), run);
    if (!report) {
        return fail(report.error());
    }
    return print_report(reconcile::describe(*report), opt);
}

int reconcile_from_file(const Options& opt) {
    auto cfg = load_config(opt);
    if (!cfg) {
        return kExitFailure;
    }
    auto text = read_bounded(opt.snapshot_file, snapshot::kMaxSnapshotBytes);
    if (!text) {
        return fail(text.error());
    }
    auto snap = snapshot::parse_snapshot(*text);
    if (!snap) {
        std::cerr << "error: " << opt.snapshot_file << ": " << snap.error().message << "\n";
        return kExitFailure;
    }
    return apply_full(*cfg, std::move(*snap), "file", opt.snapshot_file, opt);
}

int reconcile_from_officernd(const Options& opt) {
    auto cfg = load_config(opt);
    if (!cfg) {
        return kExitFailure;
    }
    if (cfg->officernd.org_slug.empty()) {
        std::cerr << "error: " << opt.config_file
                  << " has no officernd section; use --from-file SNAPSHOT.json\n";
        return kExitFailure;
    }
    // A running daemon does the run itself, so all writes keep going through its one writer.
    if (!opt.standalone) {
        std::string target = "/reconcile?";
        target += opt.dry_run ? "dry_run=1&" : "";
        target += opt.allow_mass_removal ? "allow_mass_removal=1" : "";
        auto answer = loopback_request(*cfg, "POST", target, std::chrono::minutes{30});
        if (answer) {
            if (answer->status != 200) {
                std::cerr << "error: the running daemon answered " << answer->status << ": "
                          << answer->body;
                return kExitFailure;
            }
            std::cerr << "(run by the radsync daemon on " << cfg->metrics.listen_address << ":"
                      << cfg->metrics.listen_port << ")\n";
            return print_report(answer->body, opt);
        }
    }
    core::SystemClock clock;
    auto access = service::make_officernd_access(*cfg, clock, [] { return false; });
    if (!access) {
        return fail(access.error());
    }
    auto snap = access->fetch();
    if (!snap) {
        return fail(snap.error());
    }
    // As the daemon does: whatever vanished from the lists since the stored snapshot is
    // confirmed by id before anyone loses access over it.
    const auto settle = [&](store::StateStore& st, snapshot::Snapshot& fetched,
                            reconcile::RunOptions& run) -> Status {
        auto previous = st.load_snapshot();
        if (!previous) {
            return previous.error();
        }
        auto accounts = st.load_accounts();
        if (!accounts) {
            return accounts.error();
        }
        std::set<std::string> active;
        for (const auto& [id, acc] : *accounts) {
            if (acc.state == store::AccountState::kActive) {
                active.insert(id);
            }
        }
        fetched.normalise();
        run.vanished = reconcile::settle_vanished(
            fetched, reconcile::find_vanished(*previous, fetched, active), access->confirm,
            static_cast<std::size_t>(cfg->sync.confirm_vanished), opt.allow_mass_removal);
        return {};
    };
    return apply_full(*cfg, std::move(*snap), "full", "officernd", opt, settle);
}

constexpr std::size_t kParkedShown = 5;
constexpr std::size_t kParkedListed = 1000;

void print_parked(const std::vector<store::ParkedEvent>& parked) {
    for (const auto& p : parked) {
        std::cout << "  " << core::format_instant(p.received_at) << " " << p.event_id << " "
                  << p.event_type << " after " << p.attempts << " attempts: " << p.error << "\n";
    }
}

int status(const Options& opt) {
    auto opened = open_configured_store(opt, StoreAccess::kReadOnly);
    if (!opened) {
        return kExitFailure;
    }
    auto& cfg = opened->cfg;
    auto& st = opened->stores.state;
    auto runs = st->recent_runs(5);
    auto inbox = st->inbox_counts();
    auto accounts = st->load_accounts();
    if (!runs || !inbox || !accounts) {
        return fail(!runs ? runs.error() : !inbox ? inbox.error() : accounts.error());
    }
    auto daemon = loopback_request(cfg, "GET", "/status", std::chrono::seconds{5});
    if (daemon && daemon->status == 200) {
        auto parsed = core::parse_json(daemon->body);
        const nlohmann::json j = parsed ? std::move(*parsed) : nlohmann::json();
        std::cout << "daemon:    running";
        if (j.is_object() && j.value("polling", false)) {
            std::cout << ", next full reconcile " << j.value("next_run", std::string("now"));
            if (j.value("consecutive_failures", 0) > 0) {
                std::cout << " (after " << j.value("consecutive_failures", 0)
                          << " failed run(s): " << j.value("last_error", std::string()) << ")";
            }
        } else if (j.is_object()) {
            std::cout << ", webhooks only (no officernd section)";
        }
        std::cout << "\n";
    } else {
        std::cout << "daemon:    not answering on " << cfg.metrics.listen_address << ":"
                  << cfg.metrics.listen_port << "\n";
    }
    std::size_t active = 0;
    for (const auto& [id, a] : *accounts) {
        active += a.state == store::AccountState::kActive ? 1 : 0;
    }
    std::cout << "accounts:  " << active << " active, " << accounts->size() - active
              << " disabled\n";
    std::size_t pending = inbox->count("") ? inbox->at("") : 0;
    std::cout << "webhooks:  " << pending << " waiting";
    for (const auto& [result, n] : *inbox) {
        if (!result.empty()) {
            std::cout << ", " << n << " " << result;
        }
    }
    std::cout << " (inbox keeps 8 days)\n";
    if (auto parked = st->inbox_parked(kParkedShown); !parked) {
        std::cout << "parked webhooks: cannot read (" << parked.error().message << ")\n";
    } else if (!parked->empty()) {
        std::cout << "parked webhooks (newest first; `radsync inbox requeue` retries them):\n";
        print_parked(*parked);
    }
    std::cout << "last runs:\n";
    for (const auto& r : *runs) {
        std::cout << "  #" << r.id << " " << core::format_instant(r.started_at) << " " << r.mode
                  << " " << r.result << " rows +" << r.rows_inserted << " ~" << r.rows_updated
                  << " -" << r.rows_deleted;
        if (!r.error.empty()) {
            std::cout << " (" << r.error << ")";
        }
        std::cout << "\n";
    }
    return kExitOk;
}

int inbox_parked(const Options& opt) {
    auto opened = open_configured_store(opt, StoreAccess::kReadOnly);
    if (!opened) {
        return kExitFailure;
    }
    auto& st = opened->stores.state;
    auto parked = st->inbox_parked(kParkedListed);
    if (!parked) {
        return fail(parked.error());
    }
    if (parked->empty()) {
        std::cout << "no parked webhooks\n";
        return kExitOk;
    }
    print_parked(*parked);
    return kExitOk;
}

int inbox_requeue(const Options& opt) {
    if (opt.event_id.empty() == !opt.all) {
        std::cerr << "name one event id, or --all for every parked event\n";
        return kExitFailure;
    }
    auto opened = open_configured_store(opt, StoreAccess::kReadWrite);
    if (!opened) {
        return kExitFailure;
    }
    auto& st = opened->stores.state;
    auto n =
        st->inbox_requeue_parked(opt.all ? std::nullopt : std::optional<std::string>(opt.event_id));
    if (!n) {
        return fail(n.error());
    }
    if (*n == 0) {
        std::cerr << (opt.all ? "no parked webhooks\n"
                              : "no parked webhook " + opt.event_id + "\n");
        return kExitFailure;
    }
    std::cout << *n
              << " webhook(s) pending again; a running daemon applies them within a "
                 "second, otherwise the next `radsync serve` does\n";
    return kExitOk;
}

std::string format_expiry(const std::optional<core::Instant>& t) {
    return t ? core::format_instant(*t) : "never";
}

int accounts_list(const Options& opt) {
    auto opened = open_configured_store(opt, StoreAccess::kReadOnly);
    if (!opened) {
        return kExitFailure;
    }
    auto& st = opened->stores.state;
    auto accounts = st->load_accounts();
    if (!accounts) {
        return fail(accounts.error());
    }
    if (opt.json) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& [id, a] : *accounts) {
            out.push_back({{"member_id", id},
                           {"username", a.username},
                           {"state", store::to_string(a.state)},
                           {"group", a.group},
                           {"locations", a.locations},
                           {"expires", a.expires ? nlohmann::json(core::format_instant(*a.expires))
                                                 : nlohmann::json(nullptr)},
                           {"reason", a.reason}});
        }
        std::cout << out.dump(2) << "\n";
        return kExitOk;
    }
    std::printf("%-40s %-26s %-8s %-16s %-20s %s\n", "USERNAME", "MEMBER", "STATE", "GROUP",
                "LOCATIONS", "EXPIRES");
    for (const auto& [id, a] : *accounts) {
        std::printf("%-40s %-26s %-8s %-16s %-20s %s\n", a.username.c_str(), id.c_str(),
                    store::to_string(a.state), a.group.c_str(), a.locations.c_str(),
                    format_expiry(a.expires).c_str());
    }
    std::printf("%zu account(s)\n", accounts->size());
    return kExitOk;
}

// The member a command names: a member id, an e-mail, a login name or its escaped FreeRADIUS
// form. Empty when nothing matches.
std::string find_member_id(const std::string& key, const snapshot::Snapshot& snap,
                           const std::map<std::string, store::AccountRecord>& accounts) {
    const std::string lowered = [&] {
        auto n = mapping::normalise_login_name(key, true);
        return n ? *n : key;
    }();
    std::string member_id;
    for (const auto& m : snap.members) {
        if (m.id == key || (!m.email.empty() && (m.email == key || m.email == lowered))) {
            member_id = m.id;
        }
    }
    for (const auto& [id, a] : accounts) {
        if (a.username == key || a.username == mapping::radius_escape(key) ||
            a.username == mapping::radius_escape(lowered) || id == key) {
            member_id = id;
        }
    }
    return member_id;
}

int accounts_show(const Options& opt) {
    auto opened = open_configured_store(opt, StoreAccess::kReadOnly);
    if (!opened) {
        return kExitFailure;
    }
    auto& cfg = opened->cfg;
    auto& store = *opened->stores.state;
    auto& radius = *opened->stores.radius;
    auto snap = store.load_snapshot();
    auto accounts = store.load_accounts();
    auto owned = radius.load_owned_rows();
    auto foreign = radius.foreign_usernames();
    if (!snap || !accounts || !owned || !foreign) {
        return fail(!snap       ? snap.error()
                    : !accounts ? accounts.error()
                    : !owned    ? owned.error()
                                : foreign.error());
    }

    const std::string member_id = find_member_id(opt.account_key, *snap, *accounts);
    if (member_id.empty()) {
        std::cerr << "no member or account matches '" << opt.account_key << "'\n";
        return kExitFailure;
    }

    // Re-run the mapping read-only to explain the current decision, even for members without
    // an account. The generator is never used for the output (no password is shown for
    // members who have none yet).
    mapping::Context ctx;
    ctx.now = core::SystemClock().now();
    ctx.accounts = *accounts;
    ctx.foreign_usernames = *foreign;
    ctx.generate_password = [](int) { return std::string("not-yet-generated"); };
    const auto desired = mapping::map_snapshot(*snap, cfg, ctx);
    const mapping::Decision* decision = nullptr;
    for (const auto& d : desired.decisions) {
        if (d.member_id == member_id) {
            decision = &d;
        }
    }
    const auto stored = accounts->find(member_id);
    std::cout << "member:    " << member_id;
    if (decision != nullptr && !decision->member_name.empty()) {
        std::cout << " (" << decision->member_name << ")";
    }
    std::cout << "\n";
    if (stored != accounts->end()) {
        const auto& a = stored->second;
        std::cout << "username:  " << a.username << "\n"
                  << "state:     " << store::to_string(a.state) << " since "
                  << core::format_instant(a.state_since) << "\n"
                  << "group:     " << (a.group.empty() ? "-" : a.group) << "\n"
                  << "locations: " << (a.locations.empty() ? "-" : a.locations) << "\n"
                  << "expires:   " << format_expiry(a.expires) << "\n"
                  << "password:  "
                  << (!a.secret_mac.empty() ? "from the OfficeRnD custom property"
                      : a.secret.empty()    ? "none yet"
                                            : "generated; kept only as its hash "
                                              "(`radsync accounts reset-password` sets a new one)")
                  << "\n"
                  << "reason:    " << a.reason << "\n";
    } else {
        std::cout << "account:   none\n";
    }
    if (decision != nullptr) {
        std::cout << "now:       " << mapping::to_string(decision->outcome) << ": "
                  << decision->reason << "\n";
    }
    if (stored != accounts->end()) {
        std::cout << "rows:\n";
        for (const auto& o : *owned) {
            if (o.row.name != stored->second.username) {
                continue;
            }
            const auto& r = o.row;
            const bool secret = r.attribute.find("Password") != std::string::npos;
            std::cout << "  " << store::to_string(r.table) << " " << r.attribute << " "
                      << (r.table == store::Table::kRadusergroup
                              ? "priority " + std::to_string(r.priority)
                              : r.op + " " + (secret ? std::string("(secret)") : r.value))
                      << "\n";
        }
        auto audit = store.audit(10, stored->second.username);
        if (audit && !audit->empty()) {
            std::cout << "recent changes:\n";
            for (const auto& e : *audit) {
                std::cout << "  " << core::format_instant(e.at) << " run " << e.run_id << " "
                          << e.op << " " << e.table << " " << e.attribute << "\n";
            }
        }
    }
    return kExitOk;
}

// A new generated password for one member, printed once: radsync keeps only its hash, so this
// is how an operator hands a password over (until the welcome e-mail does).
int accounts_reset_password(const Options& opt) {
    auto opened = open_configured_store(opt, StoreAccess::kReadWrite);
    if (!opened) {
        return kExitFailure;
    }
    const auto& cfg = opened->cfg;
    if (cfg.accounts.password_source == config::PasswordSource::kProperty) {
        std::cerr << "error: passwords come from the OfficeRnD custom property '"
                  << cfg.accounts.password_property
                  << "'; change it there (the next webhook or poll applies it)\n";
        return kExitFailure;
    }
    auto& state = *opened->stores.state;
    auto snap = state.load_snapshot();
    auto accounts = state.load_accounts();
    if (!snap || !accounts) {
        return fail(!snap ? snap.error() : accounts.error());
    }
    const std::string member_id = find_member_id(opt.account_key, *snap, *accounts);
    if (member_id.empty()) {
        std::cerr << "no member or account matches '" << opt.account_key << "'\n";
        return kExitFailure;
    }
    const core::SystemClock clock;
    reconcile::Environment env{state, *opened->stores.radius, clock, mapping::generate_password};
    reconcile::RunOptions run;
    run.mode = "reset-password";
    run.source = "cli";
    run.scope = std::set<std::string>{member_id};
    run.reset_passwords = {member_id};
    auto report = reconcile::reconcile(env, cfg, *snap, run, {});
    if (!report) {
        return fail(report.error());
    }
    for (const auto& d : report->decisions) {
        if (d.member_id != member_id) {
            continue;
        }
        if (d.new_password.empty() || !d.account) {
            std::cerr << "error: member " << member_id
                      << " has no access, so no password: " << d.reason << "\n";
            return kExitFailure;
        }
        std::cout << "username: " << d.account->username << "\n"
                  << "password: " << d.new_password << "\n"
                  << "(shown once: radsync keeps only its hash; the old password no longer "
                     "works)\n";
        return kExitOk;
    }
    std::cerr << "error: member " << member_id << " is not in the stored snapshot\n";
    return kExitFailure;
}

}  // namespace

int run(int argc, char** argv) {
    Options opt;
    CLI::App app{"radsync: keeps FreeRADIUS users in step with OfficeRnD", "radsync"};
    app.set_version_flag("--version", "radsync " RADSYNC_VERSION);
    app.add_option("-c,--config", opt.config_file, "main configuration file")
        ->capture_default_str();
    app.require_subcommand(1);

    auto* serve = app.add_subcommand("serve", "run the daemon (webhooks, health and metrics)");
    serve
        ->add_flag("--no-processing-for-test", opt.no_processing,
                   "acknowledge and store webhooks without processing them (tests only)")
        ->group("");  // hidden: crash-recovery tests use it to kill between ack and apply
    auto* check = app.add_subcommand("check-config", "validate configuration and exit");
    auto* migrate_cmd = app.add_subcommand("migrate", "create or upgrade the database schema");
    auto* reconcile = app.add_subcommand("reconcile", "map OfficeRnD data to FreeRADIUS rows");
    reconcile->add_option("--from-file", opt.snapshot_file,
                          "snapshot JSON file instead of OfficeRnD's API");
    reconcile->add_flag("--dry-run", opt.dry_run, "print the plan with reasons, write nothing");
    reconcile->add_flag("--allow-mass-removal", opt.allow_mass_removal,
                        "apply removals the deletion guard would hold back (exit code 3 = held)");
    reconcile->add_flag("--standalone", opt.standalone,
                        "do not ask a running daemon; fetch and write directly");
    reconcile->add_flag("-v,--verbose", opt.verbose, "print every change, not just the summary");
    auto* status_cmd =
        app.add_subcommand("status", "sync health: daemon, runs, webhooks, accounts");
    auto* accounts = app.add_subcommand("accounts", "inspect WiFi accounts, reset a password");
    accounts->require_subcommand(1);
    auto* list = accounts->add_subcommand("list", "list every account");
    list->add_flag("--json", opt.json, "machine-readable output");
    auto* show = accounts->add_subcommand("show", "explain one member's access");
    show->add_option("key", opt.account_key, "username, e-mail or OfficeRnD member id")->required();
    auto* reset = accounts->add_subcommand(
        "reset-password", "generate a new password for a member and print it once");
    reset->add_option("key", opt.account_key, "username, e-mail or OfficeRnD member id")
        ->required();
    auto* inbox = app.add_subcommand("inbox", "webhooks set aside after failing repeatedly");
    inbox->require_subcommand(1);
    auto* parked_cmd = inbox->add_subcommand("parked", "list parked webhooks with their errors");
    auto* requeue = inbox->add_subcommand("requeue", "make parked webhooks pending again");
    requeue->add_option("event", opt.event_id, "event id of one parked webhook");
    requeue->add_flag("--all", opt.all, "every parked webhook");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }

    try {
        if (serve->parsed()) {
            return service::serve({opt.config_file, !opt.no_processing});
        }
        if (check->parsed()) {
            return check_config(opt);
        }
        if (migrate_cmd->parsed()) {
            return migrate(opt);
        }
        if (reconcile->parsed()) {
            return opt.snapshot_file.empty() ? reconcile_from_officernd(opt)
                                             : reconcile_from_file(opt);
        }
        if (status_cmd->parsed()) {
            return status(opt);
        }
        if (list->parsed()) {
            return accounts_list(opt);
        }
        if (show->parsed()) {
            return accounts_show(opt);
        }
        if (reset->parsed()) {
            return accounts_reset_password(opt);
        }
        if (parked_cmd->parsed()) {
            return inbox_parked(opt);
        }
        if (requeue->parsed()) {
            return inbox_requeue(opt);
        }
    } catch (const std::exception& e) {
        // Only bugs get here: expected failures are values.
        std::cerr << "internal error: " << e.what() << "\n";
        return kExitFailure;
    }
    return kExitFailure;
}

}  // namespace radsync::cli
