// The control channel: its wire format and bounds, the socket's permissions and life cycle,
// and the instance lock that keeps commands from writing behind a daemon.

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "radsync/control/channel.hpp"
#include "radsync/control/instance_lock.hpp"
#include "radsync/control/protocol.hpp"
#include "radsync/snapshot/entities.hpp"
#include "support/temp_dir.hpp"

namespace radsync::control {
namespace {

TEST(ControlProtocol, RequestsRoundTrip) {
    Request r;
    r.command = Command::kReconcile;
    r.dry_run = true;
    r.allow_mass_removal = true;
    r.source = "/tmp/snapshot.json";
    r.payload_bytes = 1234;
    const std::string line = encode(r);
    ASSERT_EQ(line.back(), '\n');
    auto back = decode_request(line);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back->command, Command::kReconcile);
    EXPECT_TRUE(back->dry_run);
    EXPECT_TRUE(back->allow_mass_removal);
    EXPECT_EQ(back->source, "/tmp/snapshot.json");
    EXPECT_EQ(back->payload_bytes, 1234U);

    Request reset;
    reset.command = Command::kResetPassword;
    reset.member = "ada@cowork.test";
    back = decode_request(encode(reset));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->command, Command::kResetPassword);
    EXPECT_EQ(back->member, "ada@cowork.test");
    EXPECT_FALSE(back->dry_run);

    Answer a{3, "out\n", "err\n"};
    auto answer = decode_answer(encode(a));
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->exit_code, 3);
    EXPECT_EQ(answer->out, "out\n");
    EXPECT_EQ(answer->err, "err\n");
}

TEST(ControlProtocol, MalformedRequestsAreRefusedWithTheReason) {
    const auto refused = [](const std::string& header, const std::string& why) {
        auto r = decode_request(header);
        ASSERT_FALSE(r) << header;
        EXPECT_EQ(r.error().code, Errc::kMalformedPayload);
        EXPECT_NE(r.error().message.find(why), std::string::npos) << r.error().message;
    };
    refused("not json", "not a JSON object");
    refused("[1,2]", "not a JSON object");
    refused(R"({"command":"drop-tables"})", "unknown command 'drop-tables'");
    refused(R"({"command":"status","dry_run":"yes"})", "dry_run must be true or false");
    refused(R"({"command":"reconcile","payload_bytes":-1})",
            "payload_bytes must be a whole number");
    refused(R"({"command":"reconcile","payload_bytes":)" +
                std::to_string(snapshot::kMaxSnapshotBytes + 1) + "}",
            "payload_bytes out of range");
    // Only a reconcile carries a payload.
    refused(R"({"command":"reset-password","payload_bytes":10})", "payload_bytes out of range");
    refused(R"({"command":"reset-password","member":")" + std::string(5000, 'x') + "\"}",
            "member must be a string of at most 4096 bytes");
    refused(std::string(kMaxHeaderBytes + 1, ' '), "header larger than 64 KiB");
    refused(R"({"command":"status","x":[[[[[[1]]]]]]})", "not a JSON object");  // depth bound

    EXPECT_FALSE(decode_answer("{}"));
    EXPECT_FALSE(decode_answer(R"({"exit_code":"0"})"));
}

class ControlSocket : public ::testing::Test {
protected:
    config::Control cfg() const {
        config::Control c;
        c.socket = (dir_.path() / "control.sock").string();
        return c;
    }
    test::TempDir dir_;
};

TEST_F(ControlSocket, AnswersOneRequestPerConnectionWithThePayload) {
    std::mutex mu;
    std::vector<std::pair<Command, std::string>> seen;
    auto server = Server::open(cfg(), [&](const Request& r, std::string payload, const Peer& p) {
        std::lock_guard lock(mu);
        seen.emplace_back(r.command, payload);
        EXPECT_EQ(p.uid, ::getuid());
        return Answer{r.dry_run ? 7 : 0, "got " + std::to_string(payload.size()) + "\n", ""};
    });
    ASSERT_TRUE(server) << server.error().message;
    (*server)->start();

    Request r;
    r.command = Command::kReconcile;
    r.dry_run = true;
    const std::string payload(300 * 1024, 'x');  // more than one read
    auto answer = call(cfg().socket, r, payload, std::chrono::seconds{10});
    ASSERT_TRUE(answer) << answer.error().message;
    EXPECT_EQ(answer->exit_code, 7);
    EXPECT_EQ(answer->out, "got 307200\n");

    Request status;
    answer = call(cfg().socket, status, {}, std::chrono::seconds{10});
    ASSERT_TRUE(answer) << answer.error().message;
    EXPECT_EQ(answer->exit_code, 0);
    ASSERT_EQ(seen.size(), 2U);
    EXPECT_EQ(seen[0].first, Command::kReconcile);
    EXPECT_EQ(seen[0].second, payload);
    EXPECT_EQ(seen[1].first, Command::kStatus);
}

TEST_F(ControlSocket, HasTheConfiguredModeAndGoesAwayWhenStopped) {
    auto c = cfg();
    c.mode = 0660;
    auto server =
        Server::open(c, [](const Request&, std::string, const Peer&) { return Answer{}; });
    ASSERT_TRUE(server) << server.error().message;
    struct stat st {};
    ASSERT_EQ(::stat(c.socket.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0660U);
    // No temporary name is left behind.
    std::size_t entries = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir_.path())) {
        ++entries;
    }
    EXPECT_EQ(entries, 1U);

    (*server)->start();
    (*server)->stop_accepting();
    EXPECT_FALSE(std::filesystem::exists(c.socket));
    auto answer = call(c.socket, Request{}, {}, std::chrono::seconds{2});
    ASSERT_FALSE(answer);
    EXPECT_EQ(answer.error().kind, Unreached::kNoDaemon);
}

TEST_F(ControlSocket, NoDaemonWhenNothingListensAndAStaleSocketIsReplaced) {
    auto answer = call(cfg().socket, Request{}, {}, std::chrono::seconds{2});
    ASSERT_FALSE(answer);
    EXPECT_EQ(answer.error().kind, Unreached::kNoDaemon);

    // A socket left by a daemon killed with -9: nobody listens on it.
    const int stale = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", cfg().socket.c_str());
    ASSERT_EQ(::bind(stale, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(stale);
    answer = call(cfg().socket, Request{}, {}, std::chrono::seconds{2});
    ASSERT_FALSE(answer);
    EXPECT_EQ(answer.error().kind, Unreached::kNoDaemon) << answer.error().message;

    auto server = Server::open(cfg(), [](const Request&, std::string, const Peer&) {
        return Answer{0, "fresh", ""};
    });
    ASSERT_TRUE(server) << server.error().message;
    (*server)->start();
    answer = call(cfg().socket, Request{}, {}, std::chrono::seconds{2});
    ASSERT_TRUE(answer) << answer.error().message;
    EXPECT_EQ(answer->out, "fresh");
}

TEST_F(ControlSocket, AMissingDirectoryIsAClearError) {
    auto c = cfg();
    c.socket = (dir_.path() / "missing" / "control.sock").string();
    auto server =
        Server::open(c, [](const Request&, std::string, const Peer&) { return Answer{}; });
    ASSERT_FALSE(server);
    EXPECT_NE(server.error().message.find("No such file or directory"), std::string::npos)
        << server.error().message;
    c = cfg();
    c.group = "no-such-group-radsync-test";
    server = Server::open(c, [](const Request&, std::string, const Peer&) { return Answer{}; });
    ASSERT_FALSE(server);
    EXPECT_NE(server.error().message.find("no group named"), std::string::npos);
}

TEST_F(ControlSocket, GarbageGetsAnErrorAnswerAndTheServerGoesOn) {
    auto server = Server::open(cfg(), [](const Request&, std::string, const Peer&) {
        return Answer{0, "ok", ""};
    });
    ASSERT_TRUE(server);
    (*server)->start();
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", cfg().socket.c_str());
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    const std::string junk = "{\"command\":\"nope\"}\n";
    ASSERT_EQ(::write(fd, junk.data(), junk.size()), static_cast<ssize_t>(junk.size()));
    ::shutdown(fd, SHUT_WR);
    std::string text;
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) {
        text.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    auto answer = decode_answer(text);
    ASSERT_TRUE(answer) << text;
    EXPECT_EQ(answer->exit_code, 1);
    EXPECT_NE(answer->err.find("unknown command 'nope'"), std::string::npos) << answer->err;

    auto ok = call(cfg().socket, Request{}, {}, std::chrono::seconds{2});
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->out, "ok");
}

TEST_F(ControlSocket, MoreThanTheCapAtOnceAreToldBusy) {
    std::mutex mu;
    std::condition_variable cv;
    std::size_t inside = 0;
    bool release = false;
    auto server = Server::open(cfg(), [&](const Request&, std::string, const Peer&) {
        std::unique_lock lock(mu);
        ++inside;
        cv.notify_all();
        cv.wait(lock, [&] { return release; });
        return Answer{0, "done", ""};
    });
    ASSERT_TRUE(server);
    (*server)->start();
    std::vector<std::thread> callers;
    std::atomic<int> done{0};
    for (std::size_t i = 0; i < Server::kMaxConnections; ++i) {
        callers.emplace_back([&] {
            auto a = call(cfg().socket, Request{}, {}, std::chrono::seconds{20});
            EXPECT_TRUE(a && a->out == "done");
            ++done;
        });
    }
    {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return inside == Server::kMaxConnections; });
    }
    auto busy = call(cfg().socket, Request{}, {}, std::chrono::seconds{5});
    EXPECT_TRUE(busy) << busy.error().message;
    if (busy) {
        EXPECT_EQ(busy->exit_code, 1);
        EXPECT_NE(busy->err.find("busy"), std::string::npos) << busy->err;
    }
    {
        std::lock_guard lock(mu);
        release = true;
    }
    cv.notify_all();
    for (auto& t : callers) {
        t.join();
    }
    EXPECT_EQ(done.load(), static_cast<int>(Server::kMaxConnections));
}

TEST(InstanceLock, OneHolderAtATimeAndReleasedWithTheHolder) {
    test::TempDir dir;
    const std::string state = (dir.path() / "state.db").string();
    auto first = InstanceLock::try_acquire(state);
    ASSERT_TRUE(first) << first.error().message;
    auto second = InstanceLock::try_acquire(state);
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().code, Errc::kConflict);
    EXPECT_NE(second.error().message.find(dir.path().string()), std::string::npos)
        << second.error().message;

    // A blocking acquirer (a starting daemon) gets it once the holder lets go.
    std::atomic<bool> got{false};
    std::thread waiter([&] {
        auto lock = InstanceLock::acquire(state);
        got = lock.has_value();
    });
    { auto released = std::move(*first); }
    waiter.join();
    EXPECT_TRUE(got.load());
    EXPECT_TRUE(InstanceLock::try_acquire(state));

    auto missing = InstanceLock::try_acquire((dir.path() / "nope" / "state.db").string());
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code, Errc::kIoFailed);
}

}  // namespace
}  // namespace radsync::control
