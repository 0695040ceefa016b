#include "radsync/metrics/registry.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <sstream>

namespace radsync::metrics {

namespace {

// Upper bounds in seconds: fine resolution where the 50 ms acknowledgement target lives.
constexpr std::array<double, 14> kBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                             0.25,  0.5,    1,     2.5,  5,     10,   30};

std::string escape_label(const std::string& v) {
    std::string out;
    for (char c : v) {
        if (c == '\\' || c == '"') {
            out.push_back('\\');
            out.push_back(c);
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out.push_back(c);
        }
    }
    return out;
}

std::string render_labels(const Labels& labels) {
    if (labels.empty()) {
        return {};
    }
    std::string out = "{";
    for (std::size_t i = 0; i < labels.size(); ++i) {
        out += (i ? "," : "") + labels[i].first + "=\"" + escape_label(labels[i].second) + "\"";
    }
    return out + "}";
}

std::string number(double v) {
    std::ostringstream s;
    s.precision(12);
    s << v;
    return s.str();
}

const char* type_name(Type t) {
    switch (t) {
        case Type::kCounter:
            return "counter";
        case Type::kGauge:
            return "gauge";
        case Type::kHistogram:
            return "histogram";
    }
    return "untyped";
}

}  // namespace

const Info* Registry::find(std::string_view name) {
    for (const auto& info : kCatalog) {
        if (info.name == name) {
            return &info;
        }
    }
    return nullptr;
}

void Registry::add(std::string_view name, const Labels& labels, double value) {
    if (find(name) == nullptr) {
        return;  // not in the catalog: a programming error, kept out of the exposition
    }
    Labels sorted = labels;
    std::sort(sorted.begin(), sorted.end());
    std::lock_guard lock(mu_);
    series_[std::string(name)][sorted] += value;
}

void Registry::set(std::string_view name, const Labels& labels, double value) {
    if (find(name) == nullptr) {
        return;
    }
    Labels sorted = labels;
    std::sort(sorted.begin(), sorted.end());
    std::lock_guard lock(mu_);
    series_[std::string(name)][sorted] = value;
}

void Registry::observe(std::string_view name, double seconds) {
    const Info* info = find(name);
    if (info == nullptr || info->type != Type::kHistogram) {
        return;
    }
    std::lock_guard lock(mu_);
    auto& h = histograms_[std::string(name)];
    if (h.counts.empty()) {
        h.counts.assign(kBuckets.size() + 1, 0);  // last = +Inf
    }
    const auto it = std::lower_bound(kBuckets.begin(), kBuckets.end(), seconds);
    ++h.counts[static_cast<std::size_t>(it - kBuckets.begin())];
    ++h.total;
    h.sum += seconds;
}

double Registry::value(std::string_view name, const Labels& labels) const {
    Labels sorted = labels;
    std::sort(sorted.begin(), sorted.end());
    std::lock_guard lock(mu_);
    auto s = series_.find(std::string(name));
    if (s == series_.end()) {
        return 0;
    }
    auto v = s->second.find(sorted);
    return v == s->second.end() ? 0 : v->second;
}

double Registry::quantile(std::string_view name, double q) const {
    std::lock_guard lock(mu_);
    auto it = histograms_.find(std::string(name));
    if (it == histograms_.end() || it->second.total == 0) {
        return 0;
    }
    const auto& h = it->second;
    const auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(h.total)));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < h.counts.size(); ++i) {
        seen += h.counts[i];
        if (seen >= rank) {
            return i < kBuckets.size() ? kBuckets[i] : INFINITY;
        }
    }
    return INFINITY;
}

std::string Registry::exposition() const {
    std::lock_guard lock(mu_);
    std::string out;
    for (const auto& info : kCatalog) {
        const std::string name(info.name);
        out += "# HELP " + name + " " + std::string(info.help) + "\n";
        out += "# TYPE " + name + " " + type_name(info.type) + "\n";
        if (info.type == Type::kHistogram) {
            auto it = histograms_.find(name);
            std::uint64_t cumulative = 0;
            for (std::size_t i = 0; i <= kBuckets.size(); ++i) {
                if (it != histograms_.end()) {
                    cumulative += it->second.counts[i];
                }
                const std::string le = i < kBuckets.size() ? number(kBuckets[i]) : "+Inf";
                out += name + "_bucket{le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
            }
            out += name + "_sum " + number(it == histograms_.end() ? 0 : it->second.sum) + "\n";
            out += name + "_count " + std::to_string(cumulative) + "\n";
            continue;
        }
        auto s = series_.find(name);
        if (s == series_.end()) {
            if (info.type == Type::kGauge || info.type == Type::kCounter) {
                out += name + " 0\n";
            }
            continue;
        }
        for (const auto& [labels, v] : s->second) {
            out += name + render_labels(labels) + " " + number(v) + "\n";
        }
    }
    return out;
}

}  // namespace radsync::metrics
