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
    EXPECT_NE(text.find("radsync_webhooks_total{result=\"accepted\"} 2\n"), std::string::npos);
    EXPECT_NE(text.find("radsync_webhooks_total{result=\"bad_signature\"} 1\n"), std::string::npos);
    EXPECT_NE(text.find("radsync_inbox_depth 3\n"), std::string::npos);
    EXPECT_EQ(text.find("radsync_not_in_catalog"), std::string::npos);
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
              std::string::npos);
    EXPECT_NE(text.find("radsync_webhook_ack_seconds_bucket{le=\"+Inf\"} 100\n"),
              std::string::npos);
    EXPECT_NE(text.find("radsync_webhook_ack_seconds_count 100\n"), std::string::npos);
}

}  // namespace
}  // namespace radsync::metrics
