#!/usr/bin/env bash
# Checks radsync's Prometheus alerting rules: the syntax of deploy/prometheus/alerts.yml
# (promtool check rules) and the unit tests in alerts.test.yml (promtool test rules), which
# make every alert fire once and stay silent at least once.
#
# Usage: tests/ops/check_alerts.sh SOURCE_DIR
# Exit status: 0 = both pass, 1 = a check failed, 2 = usage error or promtool missing.
# promtool comes with Debian's `prometheus` package.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 SOURCE_DIR" >&2
    exit 2
fi
dir="$1/deploy/prometheus"
for f in "$dir/alerts.yml" "$dir/alerts.test.yml"; do
    if [ ! -f "$f" ]; then
        echo "$0: $f not found" >&2
        exit 2
    fi
done
if ! command -v promtool >/dev/null 2>&1; then
    echo "$0: promtool not found (apt-get install prometheus)" >&2
    exit 2
fi

status=0
promtool check rules "$dir/alerts.yml" || status=1
# alerts.test.yml names its rule file relative to itself; promtool resolves it that way.
promtool test rules "$dir/alerts.test.yml" || status=1
exit "$status"
