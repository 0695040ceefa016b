#include "radsync/metrics/registry.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <cmath>
#include <initializer_list>
#include <vector>

namespace radsync::metrics {

namespace {

// Upper bounds in seconds: fine resolution where the 50 ms acknowledgement target lives.
const prometheus::Histogram::BucketBoundaries kBuckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

// Every combination of the label values `dimensions` lists, e.g. {{"mode", {"full", ...}},
// {"result", {...}}} -> one Labels per (mode, result) pair.
using Dimension = std::pair<const char*, std::vector<const char*>>;
std::vector<Labels> combinations(const std::vector<Dimension>& dimensions) {
    std::vector<Labels> out = {Labels{}};
    for (const auto& [label, values] : dimensions) {
        std::vector<Labels> next;
        for (const auto& partial : out) {
            for (const char* v : values) {
                Labels l = partial;
                l.emplace(label, v);
                next.push_back(std::move(l));
            }
        }
        out = std::move(next);
    }
    return out;
}

// The series every metric starts with, at 0: a series that first appears when something goes
// wrong is invisible to rate() and to alerts until then.
struct InitialSeries {
    const char* name;
    std::vector<Dimension> dimensions;
};
const std::vector<InitialSeries>& initial_series() {
    // The modes a successful run records (StoreWorker::record_success): full is a poll of
    // OfficeRnD, file an operator's snapshot, reload and repair remaps, schedule timed
    // transitions.
    static const std::vector<const char*> kRunModes = {"full",   "webhook", "reload",
                                                       "repair", "file",    "schedule"};
    static const std::vector<InitialSeries> kSeries = {
        {"radsync_webhooks_total",
         {{"result",
           {"accepted", "duplicate", "ignored", "malformed", "store_unavailable",
            "missing_signature", "malformed_signature", "stale_timestamp", "bad_signature"}}}},
        {"radsync_inbox_depth", {}},
        {"radsync_inbox_parked", {}},
        {"radsync_inbox_events_total",
         {{"result", {"applied", "stale", "ignored", "malformed", "parked"}}}},
        {"radsync_reconcile_runs_total",
         {{"mode", {"full", "reload", "repair", "file"}},
          {"result", {"success", "failure", "guarded"}}}},
        {"radsync_reconcile_runs_total",
         {{"mode", {"webhook", "schedule"}}, {"result", {"success", "failure"}}}},
        {"radsync_reconcile_changes_total",
         {{"mode", kRunModes}, {"op", {"insert", "update", "delete"}}}},
        {"radsync_reconcile_last_success_timestamp_seconds", {{"mode", kRunModes}}},
        {"radsync_reconcile_consecutive_failures", {}},
        {"radsync_store_errors_total",
         {{"kind", {"inbox_append", "inbox_read", "apply", "full_run", "schedule_read"}}}},
        {"radsync_deletion_guard_tripped", {}},
        // The errors a poll fails with (Poller::run_once): OfficeRnD's answers, pages that do
        // not add up, an organization or CA file that is wrong.
        {"radsync_officernd_fetch_failures_total",
         {{"error",
           {"api_unauthorized", "api_unavailable", "api_rate_limited", "incomplete",
            "malformed_payload", "config_invalid"}}}},
        {"radsync_officernd_requests_total", {{"endpoint", {"api", "token"}}}},
        {"radsync_officernd_retries_total", {}},
        {"radsync_officernd_vanished_total", {{"outcome", {"gone", "listed_late", "kept"}}}},
        {"radsync_next_reconcile_timestamp_seconds", {}},
        {"radsync_next_transition_timestamp_seconds", {}},
        {"radsync_transitions_total", {{"result", {"applied", "failed"}}}},
        {"radsync_outbox_messages", {{"status", {"pending", "sending", "parked"}}}},
        {"radsync_outbox_deliveries_total", {{"result", {"sent", "retried", "parked"}}}},
        {"radsync_radius_users", {{"state", {"active", "revoked"}}}},
        {"radsync_sessions_open", {}},
        {"radsync_sessions_stale_closed_total", {}},
        {"radsync_dynauth_requests_total",
         {{"request", {"disconnect", "coa"}},
          {"result", {"ack", "nak", "timeout", "error", "no_nas"}}}},
        {"radsync_checkins_total",
         {{"action", {"checkin", "checkout"}},
          {"result", {"created", "adopted", "retried", "failed"}}}},
        {"radsync_members_refused",
         {{"reason", {"conflict", "username", "password", "unmapped", "address"}}}},
        {"radsync_http_connections_rejected_total", {{"server", {"webhook", "metrics"}}}},
        {"radsync_http_connections_evicted_total",
         {{"server", {"webhook", "metrics"}}, {"phase", {"idle", "reading"}}}},
        {"radsync_http_requests_refused_total",
         {{"server", {"webhook", "metrics"}}, {"reason", {"bad_request", "too_large", "timeout"}}}},
        {"radsync_unhandled_exceptions_total", {}},
    };
    return kSeries;
}

}  // namespace

struct Registry::Impl {
    prometheus::Registry registry;
    std::map<std::string_view, prometheus::Family<prometheus::Counter>*> counters;
    std::map<std::string_view, prometheus::Family<prometheus::Gauge>*> gauges;
    std::map<std::string_view, prometheus::Family<prometheus::Histogram>*> histograms;
};

Registry::Registry() : impl_(std::make_unique<Impl>()) {
    for (const auto& info : kCatalog) {
        const std::string name(info.name);
        const std::string help(info.help);
        switch (info.type) {
            case Type::kCounter:
                impl_->counters[info.name] =
                    &prometheus::BuildCounter().Name(name).Help(help).Register(impl_->registry);
                break;
            case Type::kGauge:
                impl_->gauges[info.name] =
                    &prometheus::BuildGauge().Name(name).Help(help).Register(impl_->registry);
                break;
            case Type::kHistogram:
                impl_->histograms[info.name] =
                    &prometheus::BuildHistogram().Name(name).Help(help).Register(impl_->registry);
                impl_->histograms[info.name]->Add({}, kBuckets);
                break;
        }
    }
    for (const auto& series : initial_series()) {
        for (const auto& labels : combinations(series.dimensions)) {
            add(series.name, labels, 0);
        }
    }
    set("radsync_build_info", {{"version", RADSYNC_VERSION}}, 1);
}

Registry::~Registry() = default;

void Registry::add(std::string_view name, const Labels& labels, double value) {
    if (auto it = impl_->counters.find(name); it != impl_->counters.end()) {
        if (value >= 0) {
            it->second->Add(labels).Increment(value);
        }
    } else if (auto g = impl_->gauges.find(name); g != impl_->gauges.end()) {
        g->second->Add(labels).Increment(value);
    }
    // Not in the catalog: a programming error, kept out of the exposition.
}

void Registry::set(std::string_view name, const Labels& labels, double value) {
    if (auto it = impl_->gauges.find(name); it != impl_->gauges.end()) {
        it->second->Add(labels).Set(value);
    }
}

void Registry::observe(std::string_view name, double seconds) {
    if (auto it = impl_->histograms.find(name); it != impl_->histograms.end()) {
        it->second->Add({}, kBuckets).Observe(seconds);
    }
}

std::string Registry::exposition() const {
    return prometheus::TextSerializer().Serialize(impl_->registry.Collect());
}

double Registry::value(std::string_view name, const Labels& labels) const {
    // Has() first: Add() would create the series as a side effect of looking.
    if (auto it = impl_->counters.find(name); it != impl_->counters.end()) {
        return it->second->Has(labels) ? it->second->Add(labels).Value() : 0;
    }
    if (auto it = impl_->gauges.find(name); it != impl_->gauges.end()) {
        return it->second->Has(labels) ? it->second->Add(labels).Value() : 0;
    }
    return 0;
}

double Registry::quantile(std::string_view name, double q) const {
    auto it = impl_->histograms.find(name);
    if (it == impl_->histograms.end()) {
        return 0;
    }
    const auto h = it->second->Add({}, kBuckets).Collect().histogram;
    if (h.sample_count == 0) {
        return 0;
    }
    const auto rank =
        static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(h.sample_count)));
    for (const auto& bucket : h.bucket) {
        if (bucket.cumulative_count >= rank) {
            return bucket.upper_bound;
        }
    }
    return INFINITY;
}

}  // namespace radsync::metrics
