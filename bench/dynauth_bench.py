#!/usr/bin/env python3
"""Revoke → Disconnect-ACK latency (issue 13; goal: p95 under 10 s).

    python3 bench/dynauth_bench.py --radsync build/release/src/radsync [--members 200]

``radsync serve`` with a ``sessions`` section naming a stand-in access point (a CoA virtual
server of a private FreeRADIUS, tests/e2e/freeradius_harness.py), ``--members`` members with an
open accounting session each. Two rounds, each revoking half of them by signed
membership.removed webhooks:

* one at a time: the next webhook goes out once the previous member's Disconnect arrived;
* a burst: every webhook of the round posted back to back, as a bulk cancellation would.

For each member the time from the webhook's 200 to the access point receiving the
Disconnect-Request (it ACKs at once) is taken; the rounds print count, p50, p95 and max, and the
daemon's own radsync_dynauth_ack_seconds (from the change being applied to the ACK). It measures;
it never fails on a number. Exit status 1 only when something broke (a Disconnect never came).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(SOURCE_DIR / "tests/e2e"))

import freeradius_harness as h  # noqa: E402
import radsync_testlib as tl  # noqa: E402
from radsync_testlib import (DOMAIN, LOC_DOWNTOWN, PLAN_HOT, Daemon, Radsync, envelope, member,  # noqa: E402
                             membership, metric, now_instant, object_id)

SECRET = "whsec-bench-dynauth"
T0 = 1_600_000_000


def people(count: int) -> list[tuple[str, str, str]]:
    return [(object_id(T0 + i, i), object_id(T0 + i, i, machine=0xbeef), f"bench{i:05d}@{DOMAIN}")
            for i in range(count)]


def fixture(everyone) -> dict:
    return {**tl.locations_and_plans(), "companies": [], "passes": [], "bookings": [],
            "members": [member(mid, f"Bench {u}", u, LOC_DOWNTOWN, f"pw-{mid}") for mid, _, u in everyone],
            "memberships": [membership(msid, PLAN_HOT, "Hot Desk", LOC_DOWNTOWN, member_id=mid)
                            for mid, msid, _ in everyone]}


def removed(mid: str, msid: str) -> bytes:
    return envelope("membership.removed", membership(msid, PLAN_HOT, "Hot Desk", LOC_DOWNTOWN,
                                                     member_id=mid, modified=now_instant()))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def report(label: str, latencies: list[float]) -> None:
    print(f"{label}: n={len(latencies)} p50={statistics.median(latencies) * 1000:.0f} ms "
          f"p95={pct(latencies, 0.95) * 1000:.0f} ms max={max(latencies) * 1000:.0f} ms", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--radsync", required=True)
    ap.add_argument("--members", type=int, default=200)
    args = ap.parse_args()
    h.install_signal_handlers()
    work = h.temp_workdir("radsync-dynauth-bench-")
    rs = Radsync(Path(args.radsync).resolve(), work, log_level="warn")
    secret_file = work / "webhook-secret"
    secret_file.write_text(SECRET + "\n")
    secret_file.chmod(0o600)
    nas_secret = work / "nas-secret"
    nas_secret.write_text(h.SECRET + "\n")
    nas_secret.chmod(0o600)
    everyone = people(args.members)
    fr = h.FreeRadius(rs.db, work / "fr", nas=True)
    d = Daemon(rs, [secret_file], tls=False, name="radsync")
    try:
        d.write_config()
        rs.run("migrate")
        rs.write_fixture(fixture(everyone))
        rs.reconcile()
        fr.start()
        d.extra_config = ("sessions:\n  nas:\n    - name: stand-in\n      address: 127.0.0.1\n"
                          f"      coa_port: {fr.coa_port}\n      secret_file: {nas_secret}\n")
        d.start()
        starts = work / "starts.txt"
        starts.write_text("\n".join(f'User-Name = "{u}"\nAcct-Status-Type = Start\nAcct-Session-Id = "s-{i}"\n'
                                    "NAS-IP-Address = 127.0.0.1\n" for i, (_, _, u) in enumerate(everyone)))
        subprocess.run([h.tool("radclient"), "-f", str(starts), "-p", "32", "-q", "-r", "3", "-t", "5",
                        f"127.0.0.1:{fr.acct_port}", "acct", h.SECRET], check=True, timeout=120)
        fr.wait_accounting_stored(timeout=60)  # answered is not yet stored (buffered accounting)
        half = len(everyone) // 2

        def arrivals(mark: int) -> dict[str, float]:
            return {r["attrs"].get("User-Name", ""): time.monotonic() for r in fr.coa_requests(mark)}

        # One at a time.
        single: list[float] = []
        for mid, msid, user in everyone[:half]:
            mark = fr.log_mark()
            posted = d.post_event(removed(mid, msid), SECRET)
            t = time.monotonic()
            assert posted.status == 200, posted
            tl.wait_until(lambda: user in arrivals(mark) or None, 30, f"Disconnect for {user}", interval=0.002)
            single.append(time.monotonic() - t)
        report(f"one at a time ({half} members)", single)

        # A burst.
        mark = fr.log_mark()
        sent: dict[str, float] = {}
        seen: dict[str, float] = {}
        for mid, msid, user in everyone[half:]:
            assert d.post_event(removed(mid, msid), SECRET).status == 200
            sent[user] = time.monotonic()
            for u, at in arrivals(mark).items():
                seen.setdefault(u, at)
        deadline = time.monotonic() + 60
        while len(seen) < len(sent) and time.monotonic() < deadline:
            for u, at in arrivals(mark).items():
                seen.setdefault(u, at)
            time.sleep(0.005)
        if len(seen) < len(sent):
            print(f"only {len(seen)} of {len(sent)} Disconnects arrived", file=sys.stderr)
            return 1
        report(f"burst ({len(sent)} webhooks back to back, posted in "
               f"{(max(sent.values()) - min(sent.values())) * 1000:.0f} ms)",
               [seen[u] - sent[u] for u in sent])
        samples = d.metrics()
        acks = metric(samples, "radsync_dynauth_requests_total", request="disconnect", result="ack")
        print(f"radsync: {acks:.0f} disconnects acknowledged, "
              f"{metric(samples, 'radsync_dynauth_requests_total', request='disconnect', result='timeout'):.0f} "
              f"timed out; radsync_dynauth_ack_seconds sum/count = "
              f"{metric(samples, 'radsync_dynauth_ack_seconds_sum') / max(acks, 1) * 1000:.1f} ms mean", flush=True)
        return 0
    finally:
        tl.stop_all_daemons()
        h._stop_all()
        h.remove_workdir(work)


if __name__ == "__main__":
    sys.exit(main())
