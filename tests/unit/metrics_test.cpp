#include <gtest/gtest.h>

#include "radsync/metrics/registry.hpp"

namespace radsync::metrics {
namespace {

TEST(Metrics, CountersGaugesAndExposition) {
    Registry r;
    r.add("radsync_webhooks_total", {{"result", "accepted"}});
    r.add("radsync_webhooks_total", {{"result", "accepted"}});
    r.add("radsync_webhooks_total", {{"result", "bad_signature"}});
    r.set("radsync_inbox_depth", {}, 3);
    r.add("radsync_not_in_catalog");  // refused: every metric is declared once
    EXPECT_EQ(r.value("radsync_webhooks_total", {{"result", "accepted"}}), 2);
    const std::string text = r.exposition();
    EXPECT_NE(text.find("# TYPE radsync_webhooks_total counter\n"), std::string::npos);
    EXPECT_NE(text.find("radsync_webhooks_total{result=\"accepted\"} 2\n"), std::string::npos)
        << text;
    EXPECT_NE(text.find("radsync_webhooks_total{result=\"bad_signature\"} 1\n"), std::string::npos);
    EXPECT_NE(text.find("radsync_inbox_depth 3\n"), std::string::npos);
    EXPECT_EQ(text.find("radsync_not_in_catalog"), std::string::npos);
}

// Regression (trust issue, item 15): counters first appeared unlabelled ("name 0") and that
// series vanished once a labelled one existed. Every documented series now exists from the
// start, at 0, and no unlabelled phantom is ever printed for a labelled metric.
TEST(Metrics, EverySeriesExistsFromTheStartAndNoneVanishes) {
    Registry r;
    const std::string before = r.exposition();
    EXPECT_NE(before.find("radsync_webhooks_total{result=\"bad_signature\"} 0\n"),
              std::string::npos);
    EXPECT_NE(before.find("radsync_reconcile_runs_total{mode=\"full\",result=\"failure\"} 0\n"),
              std::string::npos)
        << before;
    EXPECT_NE(before.find("radsync_reconcile_last_success_timestamp_seconds{mode=\"full\"} 0\n"),
              std::string::npos);
    EXPECT_NE(before.find("radsync_http_connections_rejected_total{server=\"webhook\"} 0\n"),
              std::string::npos);
    // What the alert rules (deploy/prometheus/alerts.yml) select, from the first scrape.
    EXPECT_NE(before.find("radsync_inbox_parked 0\n"), std::string::npos);
    EXPECT_NE(before.find("radsync_reconcile_consecutive_failures 0\n"), std::string::npos);
    EXPECT_NE(before.find("radsync_reconcile_changes_total{mode=\"full\",op=\"insert\"} 0\n"),
              std::string::npos);
    EXPECT_NE(before.find("radsync_reconcile_changes_total{mode=\"schedule\",op=\"delete\"} 0\n"),
              std::string::npos);
    EXPECT_EQ(before.find("radsync_reconcile_changes_total{op="), std::string::npos);
    for (const char* error : {"api_unauthorized", "api_unavailable", "api_rate_limited",
                              "incomplete", "malformed_payload", "config_invalid"}) {
        EXPECT_NE(before.find(std::string("radsync_officernd_fetch_failures_total{error=\"") +
                              error + "\"} 0\n"),
                  std::string::npos)
            << error;
    }
    EXPECT_EQ(before.find("radsync_webhooks_total 0"), std::string::npos);
    EXPECT_NE(before.find("radsync_build_info{version=\"" RADSYNC_VERSION "\"} 1\n"),
              std::string::npos);
    r.add("radsync_webhooks_total", {{"result", "accepted"}});
    const std::string after = r.exposition();
    EXPECT_NE(after.find("radsync_webhooks_total{result=\"bad_signature\"} 0\n"),
              std::string::npos);
    EXPECT_NE(after.find("radsync_webhooks_total{result=\"accepted\"} 1\n"), std::string::npos);
}

TEST(Metrics, HistogramBucketsAndQuantiles) {
    Registry r;
    for (int i = 0; i < 98; ++i) {
        r.observe("radsync_webhook_ack_seconds", 0.002);
    }
    r.observe("radsync_webhook_ack_seconds", 0.2);
    r.observe("radsync_webhook_ack_seconds", 0.2);
    EXPECT_DOUBLE_EQ(r.quantile("radsync_webhook_ack_seconds", 0.5), 0.0025);
    EXPECT_DOUBLE_EQ(r.quantile("radsync_webhook_ack_seconds", 0.99), 0.25);
    const std::string text = r.exposition();
    EXPECT_NE(text.find("radsync_webhook_ack_seconds_bucket{le=\"0.0025\"} 98\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("radsync_webhook_ack_seconds_bucket{le=\"+Inf\"} 100\n"),
              std::string::npos);
    EXPECT_NE(text.find("radsync_webhook_ack_seconds_count 100\n"), std::string::npos);
}

TEST(Metrics, CountersNeverGoDown) {
    Registry r;
    r.add("radsync_webhooks_total", {{"result", "accepted"}}, 5);
    r.add("radsync_webhooks_total", {{"result", "accepted"}}, -3);
    EXPECT_EQ(r.value("radsync_webhooks_total", {{"result", "accepted"}}), 5);
    r.add("radsync_inbox_depth", {}, 4);
    r.add("radsync_inbox_depth", {}, -1);
    EXPECT_EQ(r.value("radsync_inbox_depth"), 3);
}

}  // namespace
}  // namespace radsync::metrics
