#!/usr/bin/env python3
"""Bulk-import e-mail benchmark (issue: handing out credentials).

    python3 bench/outbox_bench.py --radsync build/release/src/radsync \\
        [--members 2000] [--rate 6000] [--connections 2] [--unpaced-rate 100000]

``radsync serve`` with a ``notify`` section mailing through a real relay on loopback
(tests/support/smtp_sink.py, python3-aiosmtpd); one reconcile adds ``--members`` new members,
whose welcome e-mails the outbox then sends. Two rounds: at ``--rate`` per minute (the pacing
an operator configures), and at ``--unpaced-rate`` (effectively unlimited: what the outbox,
the store thread and the relay manage on their own). For each it prints

* how long queueing took (the reconcile, which writes accounts and messages together),
* how long until the relay had every message, the throughput, and the configured ceiling,
* the most messages the relay received in any 1 s and any 60 s window (the minute never above
  the rate; a second can show one more, as the relay stamps arrivals after a variable delay),
* the duplicate-window: radsync_outbox_record_seconds, the time from the relay's 250 to its
  record in the state database, as quantile upper bounds from the histogram.

It measures; it never fails on a number. Exit status 1 only when something broke (a message
was lost or arrived twice, radsync did not start).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(SOURCE_DIR / "tests/support"))

import radsync_testlib as tl  # noqa: E402
from radsync_testlib import DOMAIN, LOC_DOWNTOWN, PLAN_HOT, Daemon, member, membership, object_id  # noqa: E402
from smtp_sink import SmtpSink  # noqa: E402

T0 = 1_600_000_000


def fixture(first: int, count: int) -> dict:
    ids = [object_id(T0 + i, i) for i in range(first, first + count)]
    return {**tl.locations_and_plans(), "companies": [], "passes": [], "bookings": [],
            "members": [member(mid, f"Bulk {i}", f"bulk{i}@{DOMAIN}", LOC_DOWNTOWN, "unused")
                        for i, mid in zip(range(first, first + count), ids)],
            "memberships": [membership(object_id(T0 + i, i, machine=0xbeef), PLAN_HOT, "Hot Desk",
                                       LOC_DOWNTOWN, member_id=mid)
                            for i, mid in zip(range(first, first + count), ids)]}


def histogram_quantiles(metrics: str, name: str, qs=(0.5, 0.99, 1.0)) -> dict[float, str]:
    buckets = [(float("inf") if m.group(1) == "+Inf" else float(m.group(1)), float(m.group(2)))
               for m in re.finditer(rf'^{name}_bucket{{le="([^"]+)"}} (\S+)$', metrics, re.M)]
    total = buckets[-1][1] if buckets else 0
    out = {}
    for q in qs:
        rank = q * total
        out[q] = next((f"<= {le * 1000:g} ms" for le, n in buckets if n >= rank and total), "n/a")
    return out


def densest(times: list[float], width: float) -> int:
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - width:
            j += 1
        best = max(best, i - j + 1)
    return best


def round_(rs, d: Daemon, sink: SmtpSink, first: int, count: int, rate: int, connections: int) -> bool:
    d.extra_config = tl.notify_yaml(sink.port, Path("/dev/null"), starttls=False, rate=rate,
                                    connections=connections)
    d.start()
    before = len(sink.messages())
    rs.write_fixture(fixture(0, first + count))
    t_start = time.time()  # the relay stamps arrivals with time.time() too
    rs.reconcile()
    t_queued = time.time()
    deadline = time.monotonic() + max(120.0, count * 60.0 / rate * 2)
    log = sink.dir / "log.jsonl"  # one line per accepted message: cheap to count
    while (len(log.read_text().splitlines()) < before + count and
           time.monotonic() < deadline):
        time.sleep(0.05)
    got = sink.messages()[before:]
    metrics = tl.http_request(d.metrics_port, "GET", "/metrics").body.decode()
    d.stop()
    addresses = [m["rcpt_tos"][0] for m in got]
    expected = {f"bulk{i}@{DOMAIN}" for i in range(first, first + count)}
    times = sorted(m["received_at"] for m in got)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    t_done = times[-1] if times else time.time()
    q = histogram_quantiles(metrics, "radsync_outbox_record_seconds")
    print(f"rate {rate}/min, {connections} connection(s), {count} new members:")
    print(f"  queued with the accounts in  {t_queued - t_start:7.2f} s (one reconcile)")
    print(f"  first at the relay after     {(times[0] if times else t_queued) - t_queued:7.2f} s")
    print(f"  all at the relay after       {t_done - t_queued:7.2f} s "
          f"({len(got) / max(t_done - t_queued, 1e-9):.1f}/s; ceiling {rate / 60:.1f}/s)")
    print(f"  first to last arrival        {span:7.2f} s")
    print(f"  densest 1 s window           {densest(times, 1.0):7d} (rate allows {rate / 60:.1f})")
    print(f"  densest 60 s window          {densest(times, 60.0):7d} (rate allows {rate})")
    print(f"  250 -> record (duplicate window): p50 {q[0.5]}, p99 {q[0.99]}, max {q[1.0]}")
    ok = sorted(addresses) == sorted(expected)
    if not ok:
        missing = len(expected - set(addresses))
        print(f"  BROKEN: {len(addresses)} arrived for {len(expected)} expected, {missing} missing, "
              f"{len(addresses) - len(set(addresses))} twice")
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description="bulk-import e-mail benchmark")
    ap.add_argument("--radsync", required=True)
    ap.add_argument("--members", type=int, default=2000)
    ap.add_argument("--rate", type=int, default=6000)
    ap.add_argument("--unpaced-rate", type=int, default=100_000)
    ap.add_argument("--connections", type=int, default=2)
    args = ap.parse_args()
    tl.install_signal_handlers()
    work = tl.temp_workdir("radsync-outbox-bench-")
    rs = tl.GeneratedRadsync(Path(args.radsync).resolve(), work, log_level="info")
    secret = work / "webhook-secret"
    secret.write_text("whsec-bench-outbox-0123456789abcdef0123456789abcdef\n")
    secret.chmod(0o600)
    d = Daemon(rs, [secret], tls=False, name="radsync")
    sink = SmtpSink(work / "smtp")
    try:
        sink.start()
        ok = round_(rs, d, sink, 0, args.members, args.rate, args.connections)
        ok = round_(rs, d, sink, args.members, args.members, args.unpaced_rate,
                    args.connections) and ok
        return 0 if ok else 1
    finally:
        tl.stop_all_daemons()
        sink.stop()
        tl.remove_workdir(work)


if __name__ == "__main__":
    sys.exit(main())
