#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace radsync::metrics {

enum class Type { kCounter, kGauge, kHistogram };

/// One metric, declared once in the catalog below (style.md c.6).
struct Info {
    std::string_view name;
    Type type;
    std::string_view help;
};

/// Every metric radsync exposes. Adding one means adding a line here; the registry refuses
/// names that are not listed. The label values each one starts with (at 0, so dashboards and
/// alerts see every series from the first scrape) are listed in registry.cpp.
inline constexpr Info kCatalog[] = {
    {"radsync_build_info", Type::kGauge, "Always 1; the labels say which radsync this is."},
    {"radsync_webhooks_total", Type::kCounter, "Webhook requests by result."},
    {"radsync_webhook_ack_seconds", Type::kHistogram,
     "Time from request received to acknowledgement (inbox commit)."},
    {"radsync_webhook_processing_seconds", Type::kHistogram,
     "Time from acknowledgement to the change being applied to the RADIUS tables."},
    {"radsync_inbox_depth", Type::kGauge, "Acknowledged webhook events not yet processed."},
    {"radsync_inbox_parked", Type::kGauge,
     "Webhook events parked right now (failed too often; wait for `radsync inbox requeue`)."},
    {"radsync_inbox_events_total", Type::kCounter, "Processed inbox events by result."},
    {"radsync_reconcile_runs_total", Type::kCounter,
     "Reconcile runs by mode (full = a poll of OfficeRnD, webhook, reload) and result."},
    {"radsync_reconcile_changes_total", Type::kCounter,
     "RADIUS row changes applied, by mode (as radsync_reconcile_runs_total: full = a poll of "
     "OfficeRnD) and op."},
    {"radsync_reconcile_consecutive_failures", Type::kGauge,
     "Full reconciles (polls of OfficeRnD) that failed in a row since the last one that "
     "succeeded; dry runs do not count."},
    {"radsync_reconcile_last_success_timestamp_seconds", Type::kGauge,
     "Unix time of the last successful run, by mode: mode=\"full\" is the last complete poll of "
     "OfficeRnD, so alert on it to learn that polling fails; webhooks never refresh it."},
    {"radsync_store_errors_total", Type::kCounter, "Store operations that failed, by kind."},
    {"radsync_deletion_guard_tripped", Type::kGauge,
     "1 while the last full run held back removals (approve with reconcile --allow-mass-removal)."},
    {"radsync_officernd_fetch_failures_total", Type::kCounter,
     "Full polls of OfficeRnD that failed, by error."},
    {"radsync_officernd_requests_total", Type::kCounter,
     "Requests sent to OfficeRnD, by endpoint (api, token); retries included."},
    {"radsync_officernd_retries_total", Type::kCounter,
     "Requests to OfficeRnD sent again after a retryable failure (429, 5xx, timeouts)."},
    {"radsync_officernd_vanished_total", Type::kCounter,
     "Entities missing from a complete poll's lists, by how each was settled."},
    {"radsync_next_reconcile_timestamp_seconds", Type::kGauge,
     "Unix time the next scheduled full reconcile is due."},
    {"radsync_next_transition_timestamp_seconds", Type::kGauge,
     "Unix time of the next scheduled access transition (a membership, pass or booking window "
     "starting or ending); 0 when none is scheduled."},
    {"radsync_transitions_total", Type::kCounter,
     "Scheduled access transitions applied when they fell due, by result."},
    {"radsync_radius_users", Type::kGauge, "Accounts by state, after every run."},
    {"radsync_outbox_messages", Type::kGauge,
     "E-mails in the outbox by status; parked ones wait for `radsync outbox requeue`."},
    {"radsync_outbox_deliveries_total", Type::kCounter,
     "Attempts to hand an e-mail to the relay, by result (sent, retried, parked)."},
    {"radsync_outbox_send_seconds", Type::kHistogram,
     "Time to hand one e-mail to the relay, connection included."},
    {"radsync_outbox_record_seconds", Type::kHistogram,
     "Time from the relay's 250 to its record in the state database: a crash inside it sends "
     "that e-mail once more."},
    {"radsync_sessions_open", Type::kGauge,
     "Sessions open in FreeRADIUS's accounting database (a Start, no Stop yet)."},
    {"radsync_sessions_stale_closed_total", Type::kCounter,
     "Open sessions radsync closed because no accounting update came for "
     "sessions.stale_after_intervals interim intervals (a NAS that rebooted without a Stop)."},
    {"radsync_dynauth_requests_total", Type::kCounter,
     "RFC 5176 requests to access points, by request (disconnect, coa) and result (ack, nak, "
     "timeout, error; no_nas: the session's NAS is not in sessions.nas)."},
    {"radsync_dynauth_ack_seconds", Type::kHistogram,
     "Time from the change of access being applied to the access point's ACK."},
    {"radsync_checkins_total", Type::kCounter,
     "OfficeRnD check-ins from presence (sessions.checkins), by action (checkin, checkout) and "
     "result (created, adopted: OfficeRnD already had one that day; retried; failed)."},
    {"radsync_members_refused", Type::kGauge,
     "Members entitled to access who get no working account, by reason, as of the last full "
     "run."},
    {"radsync_http_connections_rejected_total", Type::kCounter,
     "Connections refused at the connection limit while every connection was handling a "
     "request."},
    {"radsync_http_connections_evicted_total", Type::kCounter,
     "Connections closed at the connection limit to make room for a new one, by what they were "
     "doing (idle: nothing sent yet or keep-alive; reading: a request not yet complete)."},
    {"radsync_http_requests_refused_total", Type::kCounter,
     "Requests answered without reaching a handler, by reason (bad_request includes unsafe "
     "framing, too_large, timeout)."},
    {"radsync_unhandled_exceptions_total", Type::kCounter,
     "Exceptions that escaped a task (bugs)."},
};

/// Label names to values, e.g. {{"result", "bad_signature"}}.
using Labels = std::map<std::string, std::string>;

/// Counters, gauges and histograms, safe to update from any thread: a thin facade over
/// prometheus-cpp's core registry and text serializer (Debian's prometheus-cpp-dev), which own
/// the storage, the atomics and the exposition format.
class Registry {
public:
    Registry();
    ~Registry();
    Registry(const Registry&) = delete;
    Registry& operator=(const Registry&) = delete;

    /// Adds to a counter (or gauge). A negative amount is ignored for counters.
    void add(std::string_view name, const Labels& labels = {}, double value = 1);
    /// Sets a gauge.
    void set(std::string_view name, const Labels& labels, double value);
    /// Records one observation in a histogram (seconds).
    void observe(std::string_view name, double seconds);

    /// Prometheus text exposition format 0.0.4.
    [[nodiscard]] std::string exposition() const;

    /// Current value of a counter/gauge series; 0 when the series does not exist (tests, status).
    [[nodiscard]] double value(std::string_view name, const Labels& labels = {}) const;
    /// Upper bound of the histogram bucket holding quantile q (0..1); 0 when empty.
    [[nodiscard]] double quantile(std::string_view name, double q) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace radsync::metrics
