#!/usr/bin/env bash
# The shipped systemd unit: systemd-analyze verify (with the binary under test in place of
# /usr/bin/radsync, which exists only once the package is installed), and an exposure score of
# systemd-analyze security --offline=true at most 1.0 (--threshold is in tenths).
#   tests/ops/check_unit.sh SOURCE_DIR RADSYNC_BINARY
set -euo pipefail
if [ $# -ne 2 ]; then
    echo "usage: $0 SOURCE_DIR RADSYNC_BINARY" >&2
    exit 2
fi
unit="$1/systemd/radsync.service"
binary=$(realpath "$2")
max_exposure_tenths=10

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed "s|/usr/bin/radsync|$binary|g" "$unit" >"$work/radsync.service"
# Only radsync's own lines count: verify also lints the units it pulls in (freeradius's).
if ! out=$(systemd-analyze verify "$work/radsync.service" 2>&1) ||
    grep -q "radsync.service" <<<"$out"; then
    echo "systemd-analyze verify failed:" >&2
    echo "$out" >&2
    exit 1
fi
echo "systemd-analyze verify: ok"

report=$(systemd-analyze security --offline=true "$unit" 2>&1 | tail -1)
echo "$report"
if ! systemd-analyze security --offline=true --threshold="$max_exposure_tenths" "$unit" \
    >/dev/null 2>&1; then
    echo "exposure above $((max_exposure_tenths / 10)).$((max_exposure_tenths % 10)):" >&2
    systemd-analyze security --offline=true "$unit" 2>&1 | grep "✗" >&2
    exit 1
fi
