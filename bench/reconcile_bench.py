#!/usr/bin/env python3
"""Full-reconcile benchmark (issue: polling reconciler).

    python3 bench/reconcile_bench.py --radsync build/release/src/radsync \\
        [--members 20000] [--companies 2000] [--memberships 30000]

Generates a synthetic OfficeRnD organisation (ObjectId-shaped ids that sort in creation
order; about half personal and half company memberships over Hot Desk / Dedicated Desk /
Virtual Office at two locations, some ended or not yet started, a few former members), serves
it with scripts/officernd_sim.py, and runs ``radsync reconcile --standalone`` twice against
a fresh database. For each run it prints wall time, radsync's CPU time (user + sys) and peak
RSS from wait4(2), the rows inserted/updated/deleted and the simulator's request count. The
second run should write nothing; a line says whether it did.

It measures; it never fails on a number. Exit status 1 only when something broke (a run
exited non-zero, printed no summary, or the simulator did not start).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(SOURCE_DIR / "tests/support"))

import radsync_testlib as tl  # noqa: E402
from radsync_testlib import (DOMAIN, LOC_DOWNTOWN, LOC_UPTOWN, PLAN_DEDICATED, PLAN_HOT,  # noqa: E402
                             PLAN_VIRTUAL, Radsync, ReconcileRun, Simulator, company, member,
                             membership, object_id)

T0 = 1_600_000_000  # creation time of the first generated entity
PLANS = [(PLAN_HOT, "Hot Desk")] * 9 + [(PLAN_DEDICATED, "Dedicated Desk")] * 9 + \
        [(PLAN_VIRTUAL, "Virtual Office")] * 2


def generate(members: int, companies: int, memberships: int) -> dict:
    """The snapshot; every entity's id carries a creation second one after the previous one's."""
    seq = 0

    def next_id(machine: int) -> str:
        nonlocal seq
        seq += 1
        return object_id(T0 + seq, seq, machine=machine)

    locs = [LOC_DOWNTOWN, LOC_UPTOWN]
    cos = [company(next_id(0xC0), f"Company {k:05d}", locs[k % 2]) for k in range(companies)]
    solo = max(members - members // 2, 1) if companies else members  # members 0..solo-1 have no company
    ms = []
    for i in range(members):
        co = cos[i % companies]["_id"] if companies and i >= solo else None
        status = "former" if i % 37 == 5 else "active"
        ms.append(member(next_id(0xA0), f"Member {i:06d}", f"member{i:06d}@{DOMAIN}", locs[i % 2],
                         f"Wifi-{i:06d}", status=status, company=co))
    mss = []
    personal = memberships - memberships // 2 if companies else memberships
    for j in range(memberships):
        plan, name = PLANS[j % len(PLANS)]
        start, end, calculated = -60, None, "active"
        if j % 20 == 7:
            end, calculated = -10, "expired"
        elif j % 33 == 3:
            start, calculated = 10, "not_started"
        if j < personal:
            owner = ms[j % solo]
            mss.append(membership(next_id(0xB0), plan, name, owner["location"], member_id=owner["_id"],
                                  start=start, end=end, calculated=calculated))
        else:
            co = cos[(j - personal) % companies]
            mss.append(membership(next_id(0xB1), plan, name, co["location"], company=co["_id"],
                                  start=start, end=end, calculated=calculated))
    return {**tl.locations_and_plans(), "companies": cos, "members": ms, "memberships": mss,
            "passes": [], "bookings": []}


def timed_run(rs: Radsync, sim: Simulator, label: str, timeout: float) -> ReconcileRun:
    """``reconcile --standalone`` with wait4(2) for its resource usage."""
    out, err = rs.work / f"{label}.stdout", rs.work / f"{label}.stderr"
    stats0 = sim.stats()
    args = [str(rs.binary), "-c", str(rs.main), "reconcile", "--standalone"]
    with open(out, "wb") as fo, open(err, "wb") as fe:
        started = time.monotonic()
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=fo, stderr=fe, cwd=rs.work,
                                preexec_fn=tl.child_setup)
        killer = threading.Timer(timeout, lambda: proc.kill())
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    stats1 = sim.stats()
    run = ReconcileRun(subprocess.CompletedProcess(args, proc.returncode, out.read_text(), err.read_text()), wall)
    requests = (stats1["api_requests"] - stats0["api_requests"],
                stats1["token_requests"] - stats0["token_requests"])
    rows = "inserted=%d updated=%d deleted=%d" % run.rows if run.rows else "(no rows line)"
    print(f"{label}: exit {run.rc}, wall {wall:.2f} s, radsync cpu {usage.ru_utime + usage.ru_stime:.2f} s "
          f"(user {usage.ru_utime:.2f} + sys {usage.ru_stime:.2f}), peak rss {usage.ru_maxrss / 1024:.1f} MB, "
          f"rows {rows}, accounts changed={run.accounts_changed}; simulator: {requests[0]} API + "
          f"{requests[1]} token requests", flush=True)
    return run


def main() -> int:
    ap = argparse.ArgumentParser(description="full reconcile benchmark against the OfficeRnD simulator")
    ap.add_argument("--radsync", required=True, help="path of the radsync binary")
    ap.add_argument("--source-dir", default=str(SOURCE_DIR), help="repository root")
    ap.add_argument("--members", type=int, default=20000)
    ap.add_argument("--companies", type=int, default=2000)
    ap.add_argument("--memberships", type=int, default=30000)
    ap.add_argument("--timeout", type=float, default=900, help="seconds allowed per run")
    ap.add_argument("--one-file", action="store_true",
                    help="configure one `database:` (for a binary from before the state database)")
    args = ap.parse_args()
    if args.members < 1 or args.companies < 0 or args.memberships < 0:
        ap.error("--members must be positive, --companies and --memberships not negative")
    tl.install_signal_handlers()
    binary = Path(args.radsync).resolve()
    if not os.access(binary, os.X_OK):
        print(f"error: {binary} is missing or not executable", file=sys.stderr)
        return 1
    work = tl.temp_workdir("radsync-reconcile-bench-")
    failed = False
    try:
        t = time.monotonic()
        fixture = generate(args.members, args.companies, args.memberships)
        print(f"fixture: {len(fixture['members'])} members, {len(fixture['companies'])} companies, "
              f"{len(fixture['memberships'])} memberships "
              f"({sum(1 for m in fixture['memberships'] if 'member' in m)} personal), "
              f"generated in {time.monotonic() - t:.2f} s", flush=True)
        sim = Simulator(work, fixture, script=Path(args.source_dir).resolve() / "scripts/officernd_sim.py")
        try:
            sim.start(timeout=60)
        except tl.SetupError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        secret = sim.write_client_secret(work / "officernd-client-secret")
        rs = Radsync(binary, work, log_level="info", one_file=args.one_file)
        rs.write_config(sim.officernd_yaml(secret, request_timeout="30s") + tl.sync_yaml() +
                        tl.metrics_yaml(tl.free_tcp_ports(1)[0]))
        rs.run("migrate")
        runs = []
        for label in ("run 1 (initial import)", "run 2 (nothing changed)"):
            run = timed_run(rs, sim, label.split(" (")[0].replace(" ", ""), args.timeout)
            runs.append(run)
            if run.rc != 0 or run.rows is None:
                print(f"error: {label} failed\n{run.output()}", file=sys.stderr)
                failed = True
                break
        if len(runs) == 2 and not failed:
            accounts = rs.scalar("SELECT count(*) FROM radsync_accounts WHERE state='active'")
            print(f"accounts active after run 1: {accounts}", flush=True)
            written = sum(runs[1].rows)
            if written == 0 and runs[1].accounts_changed == 0:
                print("second run: 0 rows written (as expected)", flush=True)
            else:
                print(f"second run: WROTE {written} rows {runs[1].rows}, accounts changed="
                      f"{runs[1].accounts_changed} (expected 0)", flush=True)
        total = sim.stats()
        print(f"simulator total: {total.get('api_requests')} API requests, {total.get('token_requests')} "
              "token requests", flush=True)
        sim.stop()
    finally:
        tl.stop_all_daemons()
        tl.remove_workdir(work)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
