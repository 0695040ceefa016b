#pragma once

#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace radsync::metrics {

enum class Type { kCounter, kGauge, kHistogram };

/// One metric, declared once in the catalog below (style.md c.6).
struct Info {
    std::string_view name;
    Type type;
    std::string_view help;
};

/// Every metric radsync exposes. Adding one means adding a line here; the registry refuses
/// names that are not listed.
inline constexpr Info kCatalog[] = {
    {"radsync_webhooks_total", Type::kCounter, "Webhook requests by result."},
    {"radsync_webhook_ack_seconds", Type::kHistogram,
     "Time from request received to acknowledgement (inbox commit)."},
    {"radsync_webhook_processing_seconds", Type::kHistogram,
     "Time from acknowledgement to the change being applied to the RADIUS tables."},
    {"radsync_inbox_depth", Type::kGauge, "Acknowledged webhook events not yet processed."},
    {"radsync_inbox_events_total", Type::kCounter, "Processed inbox events by result."},
    {"radsync_reconcile_runs_total", Type::kCounter, "Reconcile runs by mode and result."},
    {"radsync_reconcile_changes_total", Type::kCounter, "RADIUS row changes applied, by op."},
    {"radsync_reconcile_last_success_timestamp_seconds", Type::kGauge,
     "Unix time of the last successful reconcile run."},
    {"radsync_store_errors_total", Type::kCounter, "Store operations that failed, by kind."},
    {"radsync_deletion_guard_tripped", Type::kGauge,
     "1 while the last full run held back removals (approve with reconcile --allow-mass-removal)."},
    {"radsync_officernd_fetch_failures_total", Type::kCounter,
     "Full polls of OfficeRnD that failed, by error."},
    {"radsync_officernd_vanished_total", Type::kCounter,
     "Entities missing from a complete poll's lists, by how each was settled."},
    {"radsync_next_reconcile_timestamp_seconds", Type::kGauge,
     "Unix time the next scheduled full reconcile is due."},
    {"radsync_radius_users", Type::kGauge, "Accounts by state."},
    {"radsync_http_connections_rejected_total", Type::kCounter,
     "Connections closed because the server was at its connection limit."},
    {"radsync_unhandled_exceptions_total", Type::kCounter,
     "Exceptions that escaped a task (bugs)."},
};

/// Label set, e.g. {{"result", "bad_signature"}}; kept sorted for a stable exposition.
using Labels = std::vector<std::pair<std::string, std::string>>;

/// Counters, gauges and histograms, safe to update from any thread.
class Registry {
public:
    /// Adds to a counter (or gauge).
    void add(std::string_view name, const Labels& labels = {}, double value = 1);
    /// Sets a gauge.
    void set(std::string_view name, const Labels& labels, double value);
    /// Records one observation in a histogram (seconds).
    void observe(std::string_view name, double seconds);

    /// Prometheus text exposition format 0.0.4.
    [[nodiscard]] std::string exposition() const;

    /// Current value of a counter/gauge series (tests, status).
    [[nodiscard]] double value(std::string_view name, const Labels& labels = {}) const;
    /// Quantile (0..1) estimated from a histogram's buckets; 0 when empty.
    [[nodiscard]] double quantile(std::string_view name, double q) const;

private:
    struct Histogram {
        std::vector<std::uint64_t> counts;  // per bucket, non-cumulative
        std::uint64_t total = 0;
        double sum = 0;
    };
    static const Info* find(std::string_view name);

    mutable std::mutex mu_;
    std::map<std::string, std::map<Labels, double>> series_;
    std::map<std::string, Histogram> histograms_;
};

}  // namespace radsync::metrics
