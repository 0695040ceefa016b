// Webhook ingest benchmark (issue: `radsync serve`). Starts the real daemon on a temporary
// database, sends N signed member.created events over TLS keep-alive from C connections and
// prints: accepted events/s, p50/p99 acknowledgement latency, p99 time from acknowledgement to
// the member's row being visible in radcheck; then the same unlimited load against a bare
// "verify nothing, answer 200" TLS endpoint built on the same HTTP server module, and the
// ratio. This machine is a VM whose neighbours take CPU at random moments (the bare endpoint
// alone has measured anywhere from 9k to 36k requests/s), so the two alternate for R rounds
// and the medians are reported. Then a rate-limited run gives acknowledgement latency and
// visibility at a steady rate.
//
//   radsync_bench_webhooks --radsync build/release/src/radsync --source-dir . \
//       [--events 20000] [--connections 16] [--rounds 5] [--rate 500] [--rate-events 5000]
//       [--layout split|one-file]
//
// It measures; it never fails on a number. Exit code 1 only when something broke.

#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>

#include "radsync/core/asio.hpp"
#include "radsync/http/server.hpp"
#include "radsync/webhook/verifier.hpp"
#include "support/https_client.hpp"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;
using radsync::test::HttpClient;
using radsync::test::HttpClientOptions;

constexpr const char* kSecret = "bench-secret";

struct Args {
    std::string radsync;
    std::string source_dir = ".";
    std::size_t events = 20000;
    std::size_t connections = 16;
    double rate = 500;
    std::size_t rate_events = 5000;
    std::size_t rounds = 5;
    /// "split" (RADIUS + state database, control socket) or "one-file" (releases before the
    /// state database: one `database:`), to compare with such a binary in the same run.
    std::string layout = "split";
};

double percentile(std::vector<double> v, double q) {
    if (v.empty()) {
        return 0;
    }
    std::sort(v.begin(), v.end());
    const auto i = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1));
    return v[i];
}

std::uint16_t free_port() {
    // Bind port 0, read it back, release it; the daemon binds it a moment later.
    radsync::net::io_context ioc;
    radsync::net::ip::tcp::acceptor a(ioc, {radsync::net::ip::make_address("127.0.0.1"), 0});
    return a.local_endpoint().port();
}

void write_file(const std::filesystem::path& p, const std::string& text) {
    std::ofstream(p) << text;
}

// OfficeRnD ids are Mongo ObjectIds: 24 hex digits starting with the creation time, so new
// entities sort after existing ones. Ids here keep that property (prefix, then a counter).
std::string object_id(std::size_t i, const char* prefix) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s%020zx", prefix, i);
    return buf;
}

std::string event_body(std::size_t i, const char* prefix) {
    const std::string id = object_id(i, prefix);
    return R"({"event":"ev-)" + id + R"(","eventType":"member.created","data":{"object":{"_id":")" +
           id + R"(","name":"Member )" + id + R"(","email":")" + id +
           R"(@bench.test","status":"active","company":"c1","location":"l1",)" +
           R"("properties":{"wifi_password":"pw-)" + id +
           R"("},"modifiedAt":"2026-11-22T08:00:00.000Z"}},"createdAt":"2026-11-22T08:00:00.000Z"})";
}

struct Sent {
    std::vector<double> ack_ms;                         // per event
    std::map<std::string, Clock::time_point> acked_at;  // username -> ack time
    double seconds = 0;
    std::size_t failures = 0;
};

double rate_of(const Sent& s) {
    return static_cast<double>(s.ack_ms.size()) / s.seconds;
}

// Sends events [0, n) from `connections` threads; rate 0 = as fast as possible.
Sent send_all(std::uint16_t port, std::size_t n, std::size_t connections, double rate,
              const char* prefix) {
    Sent out;
    std::mutex mu;
    std::atomic<std::size_t> next{0};
    const auto start = Clock::now();
    std::vector<std::thread> threads;
    for (std::size_t c = 0; c < connections; ++c) {
        threads.emplace_back([&] {
            HttpClient client(HttpClientOptions{"127.0.0.1", port, true});
            std::vector<double> local;
            std::vector<std::pair<std::string, Clock::time_point>> acks;
            std::size_t failures = 0;
            for (;;) {
                const std::size_t i = next++;
                if (i >= n) {
                    break;
                }
                if (rate > 0) {
                    // Pacing an open-loop load generator, not synchronising anything.
                    std::this_thread::sleep_until(
                        start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(static_cast<double>(i) / rate)));
                }
                const std::string body = event_body(i, prefix);
                const std::string t =
                    std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count());
                const std::string header =
                    "t=" + t + ",signature=" + radsync::webhook::sign(kSecret, body, t);
                const auto sent = Clock::now();
                try {
                    auto r = client.request(
                        "POST", "/officernd/webhook",
                        {{"officernd-signature", header}, {"content-type", "application/json"}},
                        body);
                    const auto done = Clock::now();
                    if (r.status != 200) {
                        ++failures;
                        continue;
                    }
                    local.push_back(std::chrono::duration<double, std::milli>(done - sent).count());
                    acks.emplace_back(object_id(i, prefix) + "@bench.test", done);
                } catch (const std::exception&) {
                    ++failures;
                }
            }
            std::lock_guard lock(mu);
            out.ack_ms.insert(out.ack_ms.end(), local.begin(), local.end());
            for (auto& [user, at] : acks) {
                out.acked_at.emplace(std::move(user), at);
            }
            out.failures += failures;
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return out;
}

// Watches radcheck for new rows and records when each username first appeared.
class Visibility {
public:
    explicit Visibility(const std::string& db) {
        sqlite3_open_v2(db.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr);
        sqlite3_busy_timeout(db_, 1000);
        thread_ = std::thread([this] { run(); });
    }
    ~Visibility() {
        stop_ = true;
        thread_.join();
        sqlite3_close(db_);
    }
    std::map<std::string, Clock::time_point> seen() {
        std::lock_guard lock(mu_);
        return seen_;
    }
    std::size_t count() {
        std::lock_guard lock(mu_);
        return seen_.size();
    }

private:
    void run() {
        sqlite3_stmt* st = nullptr;
        sqlite3_prepare_v2(db_, "SELECT id, username FROM radcheck WHERE id > ?1 ORDER BY id", -1,
                           &st, nullptr);
        sqlite3_int64 last = 0;
        while (!stop_) {
            sqlite3_bind_int64(st, 1, last);
            const auto now = Clock::now();
            int rc = SQLITE_OK;
            while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                last = sqlite3_column_int64(st, 0);
                const auto* name = reinterpret_cast<const char*>(sqlite3_column_text(st, 1));
                std::lock_guard lock(mu_);
                seen_.emplace(name, now);
            }
            if (rc != SQLITE_DONE && !error_reported_) {
                error_reported_ = true;
                std::fprintf(stderr, "visibility poller: %s\n", sqlite3_errmsg(db_));
            }
            sqlite3_reset(st);
            std::this_thread::sleep_for(std::chrono::milliseconds(2));  // polling interval
        }
        sqlite3_finalize(st);
    }

    sqlite3* db_ = nullptr;
    bool error_reported_ = false;
    std::atomic<bool> stop_{false};
    std::mutex mu_;
    std::map<std::string, Clock::time_point> seen_;
    std::thread thread_;
};

void report(const char* label, const Sent& s) {
    std::printf(
        "%-34s events=%zu failures=%zu wall=%.2fs rate=%.0f/s ack_p50=%.2fms ack_p99=%.2fms\n",
        label, s.ack_ms.size(), s.failures, s.seconds,
        static_cast<double>(s.ack_ms.size()) / s.seconds, percentile(s.ack_ms, 0.5),
        percentile(s.ack_ms, 0.99));
}

double visibility_p99(const Sent& s, Visibility& vis, std::size_t expected) {
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (vis.count() < expected && Clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const auto seen = vis.seen();
    std::vector<double> ms;
    for (const auto& [user, acked] : s.acked_at) {
        if (auto it = seen.find(user); it != seen.end()) {
            ms.push_back(std::max(
                0.0, std::chrono::duration<double, std::milli>(it->second - acked).count()));
        }
    }
    if (ms.empty() && !seen.empty() && !s.acked_at.empty()) {
        std::printf("  (no match: radcheck has e.g. '%s', acknowledged e.g. '%s')\n",
                    seen.begin()->first.c_str(), s.acked_at.begin()->first.c_str());
    }
    std::printf("%-34s visible=%zu/%zu p50=%.1fms p99=%.1fms\n", "  ack -> row in radcheck",
                ms.size(), s.acked_at.size(), percentile(ms, 0.5), percentile(ms, 0.99));
    return percentile(ms, 0.99);
}

}  // namespace

int main(int argc, char** argv) {
    Args args;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string k = argv[i];
        const std::string v = argv[i + 1];
        if (k == "--radsync")
            args.radsync = v;
        else if (k == "--source-dir")
            args.source_dir = v;
        else if (k == "--events")
            args.events = std::stoul(v);
        else if (k == "--connections")
            args.connections = std::stoul(v);
        else if (k == "--rate")
            args.rate = std::stod(v);
        else if (k == "--rate-events")
            args.rate_events = std::stoul(v);
        else if (k == "--layout")
            args.layout = v;
        else if (k == "--rounds")
            // 1..255: the round number is two hex digits of every id.
            args.rounds = std::clamp<std::size_t>(std::stoul(v), 1, 255);
    }
    if (args.radsync.empty()) {
        std::cerr << "usage: radsync_bench_webhooks --radsync BIN [--source-dir DIR] [--events N] "
                     "[--connections C] [--rounds R] [--rate R] [--rate-events M] [--layout "
                     "split|one-file]\n";
        return 2;
    }
    const auto dir =
        std::filesystem::temp_directory_path() / ("radsync-bench-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    const auto cert =
        std::filesystem::absolute(args.source_dir) / "tests/fixtures/tls/test-cert.pem";
    // Secrets 0600, as an operator keeps them (radsync warns about looser ones).
    const auto key = dir / "test-key.pem";
    std::filesystem::copy_file(
        std::filesystem::absolute(args.source_dir) / "tests/fixtures/tls/test-key.pem", key,
        std::filesystem::copy_options::overwrite_existing);
    std::filesystem::permissions(
        key, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    const std::uint16_t port = free_port();
    const std::uint16_t metrics_port = free_port();
    write_file(dir / "secret", kSecret);
    std::filesystem::permissions(
        dir / "secret", std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    const std::string databases =
        args.layout == "one-file"
            ? "database: " + (dir / "radsync.db").string() + "\n"
            : "radius_database: " + (dir / "radsync.db").string() +
                  "\nstate_database: " + (dir / "state.db").string() +
                  "\ncontrol:\n  socket: " + (dir / "control.sock").string() + "\n";
    write_file(dir / "radsync.yaml",
               databases + "log_level: warn\n" +
                   "webhook:\n  listen: 127.0.0.1:" + std::to_string(port) +
                   "\n  tls: {cert_file: " + cert.string() + ", key_file: " + key.string() +
                   "}\n  secret_files: [secret]\n  limits: {max_connections: 1024}\n" +
                   "metrics:\n  listen: 127.0.0.1:" + std::to_string(metrics_port) +
                   "\naccounts:\n  password: {source: property, property: wifi_password}\n" +
                   "mapping_files: [mapping.yaml]\n");
    write_file(dir / "mapping.yaml",
               "groups:\n  - {name: basic, rank: 10, bandwidth: {down: 10M, up: 2M}}\n"
               "plans:\n  - {match: {name: Team}, group: basic}\n"
               "locations:\n  - {match: {name: HQ}, key: hq, vlan: 100, nas_identifiers: [hq]}\n");
    write_file(dir / "base.json",
               R"({"plans":[{"_id":"p1","name":"Team"}],"locations":[{"_id":"l1","name":"HQ"}],)"
               R"("companies":[{"_id":"c1","name":"Acme","status":"active"}],)"
               R"("memberships":[{"_id":"ms1","company":"c1","plan":"p1","location":"l1",)"
               R"("startDate":"2026-01-01","calculatedStatus":"active"}]})");

    const std::string config = (dir / "radsync.yaml").string();
    if (std::system((args.radsync + " -c " + config + " reconcile --from-file " +
                     (dir / "base.json").string() + " > /dev/null")
                        .c_str()) != 0) {
        std::cerr << "seeding the database failed\n";
        return 1;
    }
    pid_t pid = 0;
    std::vector<std::string> argv_s = {args.radsync, "-c", config, "serve"};
    std::vector<char*> av;
    for (auto& s : argv_s)
        av.push_back(s.data());
    av.push_back(nullptr);
    if (posix_spawn(&pid, args.radsync.c_str(), nullptr, nullptr, av.data(), environ) != 0) {
        std::cerr << "cannot start radsync\n";
        return 1;
    }
    // Ready when /readyz answers (bounded).
    bool ready = false;
    for (int i = 0; i < 200 && !ready; ++i) {
        try {
            HttpClient probe(HttpClientOptions{"127.0.0.1", metrics_port, false,
                                               std::chrono::milliseconds(200)});
            ready = probe.request("GET", "/readyz").status == 200;
        } catch (const std::exception&) {
            std::this_thread::sleep_for(std::chrono::milliseconds(25));
        }
    }
    int rc = 0;
    if (!ready) {
        std::cerr << "radsync did not become ready\n";
        rc = 1;
    } else {
        std::printf(
            "radsync webhook benchmark: %zu events x %zu rounds, %zu connections, TLS keep-alive\n",
            args.events, args.rounds, args.connections);
        // The bare endpoint: the same HTTP server module, answering 200 to everything.
        radsync::net::io_context ioc{1};
        radsync::http::ServerOptions opts;
        opts.name = "bare";
        opts.address = "127.0.0.1";
        opts.tls = radsync::http::TlsFiles{cert.string(), key.string()};
        opts.limits.max_connections = 1024;
        auto bare = radsync::http::Server::create(
            ioc, opts, [](radsync::http::Request) -> radsync::Task<radsync::http::Response> {
                co_return radsync::http::Response{};
            });
        if (!bare) {
            std::cerr << "bare server: " << bare.error().message << "\n";
            rc = 1;
        } else {
            (*bare)->start();
            std::thread io([&] { ioc.run(); });
            Visibility vis((dir / "radsync.db").string());
            std::vector<double> radsync_rates;
            std::vector<double> bare_rates;
            std::vector<double> ratios;
            std::size_t sent = 0;
            std::size_t failures = 0;
            for (std::size_t r = 0; r < args.rounds; ++r) {
                // Distinct ids per round, in ascending order (OfficeRnD ids start with a time).
                char prefix[8];
                std::snprintf(prefix, sizeof prefix, "6a%02zx", r);
                const Sent burst = send_all(port, args.events, args.connections, 0, prefix);
                char label[64];
                std::snprintf(label, sizeof label, "round %zu radsync, unlimited rate", r + 1);
                report(label, burst);
                sent += args.events;
                // Waits until every member is applied, so the next round measures acceptance
                // alone, not acceptance competing with the previous round's processing.
                visibility_p99(burst, vis, sent);
                std::snprintf(prefix, sizeof prefix, "6c%02zx", r);
                const Sent baseline =
                    send_all((*bare)->port(), args.events, args.connections, 0, prefix);
                std::snprintf(label, sizeof label, "round %zu bare TLS endpoint", r + 1);
                report(label, baseline);
                radsync_rates.push_back(rate_of(burst));
                bare_rates.push_back(rate_of(baseline));
                ratios.push_back(rate_of(burst) / rate_of(baseline));
                failures += burst.failures + baseline.failures;
            }
            std::printf("%-34s radsync=%.0f/s bare=%.0f/s\n", "median accepted rate",
                        percentile(radsync_rates, 0.5), percentile(bare_rates, 0.5));
            std::printf("%-34s median=%.2f min=%.2f max=%.2f\n", "ratio radsync / bare",
                        percentile(ratios, 0.5), percentile(ratios, 0.0), percentile(ratios, 1.0));

            const Sent steady =
                send_all(port, args.rate_events, args.connections, args.rate, "6b00");
            char label[64];
            std::snprintf(label, sizeof label, "radsync, %.0f events/s", args.rate);
            report(label, steady);
            visibility_p99(steady, vis, sent + args.rate_events);
            rc = failures + steady.failures > 0 ? 1 : 0;
            ioc.stop();
            io.join();
        }
    }
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    std::printf("radsync exit status %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    if (std::getenv("RADSYNC_BENCH_KEEP") != nullptr) {
        std::printf("kept %s\n", dir.c_str());
    } else {
        std::filesystem::remove_all(dir);
    }
    return rc;
}
