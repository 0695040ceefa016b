#!/usr/bin/env python3
"""Authentication under accounting load (issue 13: accounting in its own database).

    python3 bench/accounting_bench.py [--users 500] [--auths 8000] [--peap 40] [--rounds 3]
        [--acct-rate 100,300] [--no-direct] [--tmpfs] [--same-file] [--sink] [--no-pin]

A private, threaded FreeRADIUS (tests/e2e/freeradius_harness.py, built by
deploy/freeradius/configure-freeradius) reads ``--users`` members shaped as radsync writes them
(NT-Password, plan group with Fall-Through and Simultaneous-Use, site group, deny group) and writes
accounting into the accounting database: buffered, as configure-freeradius sets it up (the
default server appends to a buffer file and answers, the radsync-accounting server stores it
with sql_accounting, one request at a time), and, unless ``--no-direct``, direct, as before
(the default server's worker threads call sql_accounting themselves). Each round measures every
layout, idle and then with accounting at each ``--acct-rate`` per second:

* PAP: ``--auths`` Access-Requests, 32 in flight (bench/radius_load.py pap): rate, accepts,
  rejects, losses, latency p50/p95;
* PEAP-MSCHAPv2: ``--peap`` logins, eapol_test 4 at a time: rate, accepts, rejects;
* accounting (bench/radius_load.py acct, Start, Interim-Update, Stop over ``--users`` sessions,
  running before and throughout the two): sent, answered, and how long the buffer took to be
  stored once the load stopped (the single writer's backlog);
* before that, five seconds of the same accounting alone: the CPU one request costs FreeRADIUS,
  answered, stored and freed (from a quiet FreeRADIUS until it is quiet again), and the ratio to
  idle that cost predicts (FreeRADIUS's cores less what the accounting takes of them). Every
  measurement starts once FreeRADIUS has been quiet for half a second, so that none is charged
  for freeing the requests of the one before (cleanup_delay, 5 s).

It prints, per condition, the ratio to idle three ways: paired (the median over the rounds of
each round against the idle run just before it on the same server), the medians, and the best
rounds (interference from the rest of the VM only ever lowers a round); and PAP logins per
second of FreeRADIUS's CPU, which time the hypervisor steals (printed per round) does not
lower. Alternating the conditions in rounds is what makes the ratio mean something on a shared
VM, where two runs of the same condition a minute apart differ by 20 %. ``--tmpfs`` adds rounds
with the accounting database in /dev/shm, where an fsync costs nothing (FreeRADIUS's sqlite driver commits every accounting write
with one, and cannot be told otherwise: its connect_query is prepared, never run), which separates
the disk's share from the rest. ``--same-file`` adds rounds with accounting written into the RADIUS
database itself (the setup freeradius.md §7 warns about), for comparison. ``--sink`` adds rounds
where the same accounting load goes to a responder that only answers (radius_load.py sink), with
FreeRADIUS buffered and serving only the authentication: what is left of the drop is the
benchmark's own generators competing for the cores, not FreeRADIUS's accounting.

The load generators are written to cost about a tenth of a millisecond of CPU per request (radclient
cost more than FreeRADIUS itself), yet on a 2-core machine they still compete with FreeRADIUS for
the cores: measured with ``--sink``, unpinned, accounting sent nowhere near FreeRADIUS lowered PAP by
5-6 % at 50-100/s and 13 % at 300/s (paired). So by default FreeRADIUS runs on the upper half of the CPUs
and the generators (and eapol_test) on the lower half, the nearest this machine comes to a load
generator on another host; ``--no-pin`` shares them as before. Pinned, "idle" is what FreeRADIUS
does with its half of the machine, and the ratio is the share of that capacity accounting leaves
to authentication.

It measures; it never fails on a number. Exit status 1 only when something broke (a server did
not start, a load failed); a valid user rejected, or a FreeRADIUS that never went quiet, is
reported, not fatal.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

SOURCE_DIR = Path(__file__).resolve().parents[1]
LOAD = Path(__file__).resolve().with_name("radius_load.py")
sys.path.insert(0, str(SOURCE_DIR / "tests/e2e"))
sys.path.insert(0, str(LOAD.parent))

import freeradius_harness as h  # noqa: E402
from radius_load import user  # noqa: E402 (the members the loads log in as)

GROUPS = """
INSERT INTO radgroupreply(groupname,attribute,op,value) VALUES
 ('radsync:plan:basic','WISPr-Bandwidth-Max-Down',':=','10000000'),
 ('radsync:plan:basic','Session-Timeout',':=','14400'),
 ('radsync:plan:basic','Acct-Interim-Interval',':=','600'),
 ('radsync:plan:basic','Fall-Through','=','Yes'),
 ('radsync:site:downtown:1','Tunnel-Type','=','VLAN'),
 ('radsync:site:downtown:1','Tunnel-Medium-Type','=','IEEE-802'),
 ('radsync:site:downtown:1','Tunnel-Private-Group-Id','=','100'),
 ('radsync:deny','Reply-Message',':=','Not allowed at this location');
INSERT INTO radgroupcheck(groupname,attribute,op,value) VALUES
 ('radsync:plan:basic','Simultaneous-Use',':=','1000'),
 ('radsync:site:downtown:1','NAS-Identifier','==','downtown'),
 ('radsync:deny','Auth-Type',':=','Reject');
"""


def build_db(db: Path, users: int) -> None:
    h.create_stock_db(db)
    con = sqlite3.connect(db)
    with con:
        con.executescript(GROUPS)
        for i in range(users):
            name, pw = user(i)
            con.execute("INSERT INTO radcheck(username,attribute,op,value) VALUES (?,?,?,?)",
                        (name, "NT-Password", ":=", h.nt_hash(pw)))
            con.executemany("INSERT INTO radusergroup(username,groupname,priority) VALUES (?,?,?)",
                            [(name, "radsync:plan:basic", 10), (name, "radsync:site:downtown:1", 100),
                             (name, "radsync:deny", 1000)])
    con.close()


def run_pap(fr: h.FreeRadius, args) -> dict:
    proc = subprocess.run([sys.executable, str(LOAD), "pap", str(fr.auth_port), h.SECRET, "--users",
                           str(args.users), "--count", str(args.auths), "--in-flight", "32"],
                          capture_output=True, text=True, check=False, timeout=600)
    if proc.returncode != 0:
        raise h.HarnessError(f"the PAP load failed (exit {proc.returncode}): {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def run_peap(fr: h.FreeRadius, count: int) -> dict:
    def one(n: int) -> bool:
        name, pw = user(n)
        return fr.peap(name, pw, "downtown")[0]

    t0 = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one, range(count)))
    seconds = time.monotonic() - t0
    return {"rate": count / seconds, "accepted": sum(results), "rejected": count - sum(results)}


def radacct_rows(path: Path) -> int:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute("SELECT count(*) FROM radacct").fetchone()[0]
    finally:
        con.close()


def wait_for_rows(path: Path, before: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while radacct_rows(path) <= before:
        if time.monotonic() > deadline:
            raise h.HarnessError("no accounting row appeared")
        time.sleep(0.05)


def accounting_load(port: int, args, count: int, rate: int, run: str) -> list[str]:
    """The command line of radius_load.py acct: ``count`` requests at ``rate``/s, session ids
    prefixed ``run`` (a new prefix makes every Start a new radacct row)."""
    return [sys.executable, str(LOAD), "acct", str(port), h.SECRET, "--users", str(args.users),
            "--count", str(count), "--rate", str(rate), "--run", run]


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process, all its threads (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def with_server_cpu(fr: h.FreeRadius, load) -> dict:
    """Runs ``load`` (the PAP run) and adds FreeRADIUS's CPU time meanwhile: ``per_cpu_s``, logins
    answered per second of FreeRADIUS's CPU, its accounting work included, is the rate a core of
    its own would reach. Time the hypervisor steals, and time the generators take, are not charged
    to it, so on a shared VM this is the steadier measure of what accounting leaves to
    authentication (while FreeRADIUS is saturated: ``busy``, its CPU over the wall time, says so).
    Only PAP saturates it; PEAP waits on eapol_test, so its logins per CPU-second would mostly
    count the accounting work done meanwhile."""
    cpu0, wall0 = process_cpu_seconds(fr.pid), time.monotonic()
    result = load()
    cpu, wall = process_cpu_seconds(fr.pid) - cpu0, time.monotonic() - wall0
    result["per_cpu_s"] = result["answered"] / cpu if cpu > 0 else 0.0
    result["busy"] = cpu / wall if wall > 0 else 0.0
    return result


def cpu_ticks() -> list[int]:
    """The machine's CPU time by kind (/proc/stat's "cpu" line: user nice system idle iowait irq
    softirq steal ...)."""
    return [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]


def steal_share(before: list[int], after: list[int]) -> float:
    """The share of the CPU time the hypervisor gave to other guests meanwhile: a measurement
    with much of it says more about the VM's neighbours than about FreeRADIUS."""
    delta = [b - a for a, b in zip(before, after)]
    return delta[7] / sum(delta) if len(delta) > 7 and sum(delta) else 0.0


def read_line(process: subprocess.Popen, what: str, timeout: float = 30.0) -> str:
    """The next line ``process`` prints, waited for at most ``timeout`` seconds."""
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    line = process.stdout.readline() if ready else ""
    if not line:
        raise h.HarnessError(f"the accounting sink printed nothing: {what}")
    return line


def start_sink() -> tuple[subprocess.Popen, int]:
    sink = subprocess.Popen([sys.executable, str(LOAD), "sink"], stdout=subprocess.PIPE, text=True)
    try:
        return sink, json.loads(read_line(sink, "it did not start"))["port"]
    except BaseException:
        sink.kill()
        sink.wait()
        raise


def stop(process: subprocess.Popen, what: str) -> dict:
    process.terminate()  # it stops, collects what is outstanding and reports
    text, _ = process.communicate(timeout=60)
    if process.returncode != 0:
        raise h.HarnessError(f"the {what} failed (exit {process.returncode})")
    return json.loads(text.strip().splitlines()[-1])


def wait_quiet(fr: h.FreeRadius, timeout: float = 20.0) -> None:
    """Returns once FreeRADIUS has used no CPU for half a second. It frees each request
    cleanup_delay (5 s) after answering it: measured, 4,000 PAP logins cost it 90 ms of CPU in
    the 6 s after they ended, which a measurement starting then would be charged for. After
    ``timeout`` it says so and goes on: the measurement is then charged for some of that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = process_cpu_seconds(fr.pid)
        time.sleep(0.5)  # the window, not a wait for an event: the event is "nothing happened"
        if process_cpu_seconds(fr.pid) == before:
            return
    print(f"  (FreeRADIUS was still busy after {timeout:.0f} s; measuring anyway)", flush=True)


def accounting_cost(fr: h.FreeRadius, args, rate: int) -> float:
    """Milliseconds of FreeRADIUS CPU one accounting request costs, answered, stored and freed:
    five seconds of accounting at ``rate`` and nothing else, from a quiet FreeRADIUS until it is
    quiet again."""
    count = max(200, rate * 5)
    wait_quiet(fr)
    cpu0 = process_cpu_seconds(fr.pid)
    load = subprocess.run(accounting_load(fr.acct_port, args, count, rate,
                                          f"c{radacct_rows(fr.accounting_db)}"),
                          capture_output=True, text=True, check=False, timeout=600)
    if load.returncode != 0:
        raise h.HarnessError(f"the accounting load failed (exit {load.returncode}): {load.stderr.strip()}")
    fr.wait_accounting_stored(timeout=600)
    wait_quiet(fr)
    return (process_cpu_seconds(fr.pid) - cpu0) * 1000 / count


def measure(fr: h.FreeRadius, args, rate: int, to_sink: bool) -> dict:
    """One PAP run and one PEAP run, with accounting at ``rate`` per second running throughout (0:
    idle), sent to FreeRADIUS or, ``to_sink``, to a responder that only answers. Accounting to
    FreeRADIUS is first measured alone (``cost_ms``)."""
    cost = accounting_cost(fr, args, rate) if rate and not to_sink else None
    wait_quiet(fr)  # idle and loaded runs alike start without the previous one's clean-up
    started: list[subprocess.Popen] = []
    try:
        if rate:
            rows_before = radacct_rows(fr.accounting_db)
            port = fr.acct_port
            if to_sink:
                sink, port = start_sink()
                started.append(sink)
            load = subprocess.Popen(accounting_load(port, args, rate * 3600, rate, f"r{rows_before}"),
                                    stdout=subprocess.PIPE, text=True)
            started.insert(0, load)
            # The load runs before the measurement starts: a row, or the sink's first answer.
            if to_sink:
                read_line(sink, "it never answered")
            else:
                wait_for_rows(fr.accounting_db, rows_before)
        before = cpu_ticks()
        out = {"pap": with_server_cpu(fr, lambda: run_pap(fr, args)), "peap": run_peap(fr, args.peap)}
        out["steal"] = steal_share(before, cpu_ticks())
        if cost is not None:
            out["cost_ms"] = cost
        if rate:
            out["acct"] = stop(started.pop(0), "accounting load")
            out["acct"]["drain_s"] = 0.0 if to_sink else fr.wait_accounting_stored(timeout=600)
            if to_sink:
                stop(started.pop(0), "accounting sink")
        return out
    finally:
        for process in started:  # only what an error left running
            process.kill()
            process.wait()


def predicted_ratio(rate: int, cost_ms: float, cores: int) -> float:
    """What an accounting request's cost alone predicts for authentication: the share of
    FreeRADIUS's ``cores`` that ``rate`` of them per second leaves."""
    return 1 - rate * cost_ms / 1000 / cores


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def report(label: str, runs: list[dict], idle: dict | None, idle_runs: list[dict] | None = None,
           rate: int = 0, server_cores: int = 0) -> dict:
    """Prints the medians over the rounds of one condition; returns them. With ``idle_runs`` (the
    same rounds, idle) also the paired ratio: the median over the rounds of each round's rate over
    the idle rate measured just before it on the same server, which a slow minute of the VM
    lowers on both sides. With ``cost_ms`` in the runs, also what the cost of one accounting request
    predicts: FreeRADIUS's ``server_cores`` less what ``rate`` of them takes, in PAP logins."""
    summary = {
        "pap": median([r["pap"]["rate"] for r in runs]),
        "peap": median([r["peap"]["rate"] for r in runs]),
        # The best round: what the machine can do when nothing else on the VM gets in the way.
        "pap_best": max(r["pap"]["rate"] for r in runs),
        "peap_best": max(r["peap"]["rate"] for r in runs),
        "pap_p50": median([r["pap"]["p50_ms"] for r in runs]),
        "pap_p95": median([r["pap"]["p95_ms"] for r in runs]),
        "rejected": sum(r["pap"]["rejected"] + r["pap"]["lost"] + r["peap"]["rejected"] for r in runs),
        "auths": sum(r["pap"]["sent"] + r["peap"]["accepted"] + r["peap"]["rejected"] for r in runs),
        "pap_per_cpu_s": median([r["pap"]["per_cpu_s"] for r in runs]),
    }
    ratio = (lambda k: f", {summary[k] / idle[k]:.2f} x idle") if idle else (lambda k: "")
    print(f"{label} (median of {len(runs)} rounds):", flush=True)
    print(f"  PAP  {summary['pap']:7.0f} auth/s{ratio('pap')}; latency p50 {summary['pap_p50']:.1f} ms, "
          f"p95 {summary['pap_p95']:.1f} ms (32 in flight)", flush=True)
    print(f"  PEAP {summary['peap']:7.1f} auth/s{ratio('peap')}", flush=True)
    pap_rounds = ", ".join(f"{r['pap']['rate']:.0f}" for r in runs)
    peap_rounds = ", ".join(f"{r['peap']['rate']:.1f}" for r in runs)
    steal_rounds = ", ".join(f"{r['steal'] * 100:.0f}" for r in runs)
    print(f"  per round: PAP {pap_rounds}; PEAP {peap_rounds}; CPU stolen by the hypervisor "
          f"{steal_rounds} %", flush=True)
    per_cpu = ", ".join(f"{r['pap']['per_cpu_s']:.0f} (busy {r['pap']['busy']:.2f})" for r in runs)
    print(f"  PAP per second of FreeRADIUS CPU: {per_cpu}", flush=True)
    if idle_runs:
        for key, kind, field in (("pap_paired", "pap", "rate"), ("peap_paired", "peap", "rate"),
                                 ("pap_per_cpu", "pap", "per_cpu_s")):
            summary[key] = median([r[kind][field] / i[kind][field] for r, i in zip(runs, idle_runs)])
        print(f"  paired: PAP {summary['pap_paired']:.2f} x idle, PEAP {summary['peap_paired']:.2f} x idle "
              "(median of each round against its own idle); PAP per second of FreeRADIUS CPU "
              f"{summary['pap_per_cpu']:.2f} x idle", flush=True)
    if idle and "cost_ms" in runs[0] and server_cores:
        cost = median([r["cost_ms"] for r in runs])
        summary["cost_ms"] = cost
        summary["predicted"] = predicted_ratio(rate, cost, server_cores)
        print(f"  one accounting request alone costs FreeRADIUS {cost:.2f} ms of CPU (rounds: "
              + ", ".join(f"{r['cost_ms']:.2f}" for r in runs)
              + f"), {cost * idle['pap_per_cpu_s'] / 1000:.1f} PAP logins' worth; {rate}/s of them "
              f"leave PAP {summary['predicted']:.2f} x idle on {server_cores} core(s)", flush=True)
    if idle:
        print(f"  best round: PAP {summary['pap_best'] / idle['pap_best']:.2f} x idle's best, PEAP "
              f"{summary['peap_best'] / idle['peap_best']:.2f} x idle's best", flush=True)
    if "acct" in runs[0]:
        sent = sum(r["acct"]["sent"] for r in runs)
        answered = sum(r["acct"]["answered"] for r in runs)
        seconds = sum(r["acct"]["seconds"] for r in runs)
        summary["acct_rate"] = answered / seconds
        drain = max(r["acct"]["drain_s"] for r in runs)
        summary["drain_s"] = drain
        print(f"  accounting: {answered} of {sent} answered, {answered / seconds:.0f}/s over the "
              f"{seconds:.1f} s of the measurements; all stored at most {drain:.1f} s after the load "
              "stopped", flush=True)
    print(f"  {summary['rejected']} of {summary['auths']} valid logins rejected or lost", flush=True)
    return summary


class Layouts:
    """Switches one prepared FreeRADIUS between the layouts (its next start reads them): where
    sql_accounting writes, and whether the default server buffers or writes itself."""

    def __init__(self, fr: h.FreeRadius):
        fr.prepare()
        self.fr = fr
        self.site = fr.raddb / "sites-available/default"
        self.module = fr.raddb / "mods-available/sql_accounting"
        self.reader = fr.raddb / "sites-enabled/radsync-accounting"
        self.site_text, self.module_text = self.site.read_text(), self.module.read_text()
        self.database = fr.accounting_db
        self.buffer_call = re.compile(r"^\tradsync_accounting_buffer\t#.*$", re.M)
        if len(self.buffer_call.findall(self.site_text)) != 1:
            raise h.HarnessError(f"{self.site}: no single radsync_accounting_buffer call to switch")

    def apply(self, direct: bool, database: Path) -> None:
        site = self.buffer_call.sub("\tsql_accounting\t# bench: direct", self.site_text) if direct \
            else self.site_text
        self.site.write_text(site)
        if direct:
            self.reader.unlink(missing_ok=True)
        elif not self.reader.is_symlink():
            self.reader.symlink_to("../sites-available/radsync-accounting")
        self.module.write_text(self.module_text.replace(f'filename = "{self.database}"',
                                                        f'filename = "{database}"'))
        self.fr.accounting_db = database


def split_cpus() -> tuple[set[int], set[int]] | None:
    """(FreeRADIUS's CPUs, the generators' CPUs): the upper and the lower half of those this process
    may use; None on a single CPU."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    half = len(cpus) // 2
    return set(cpus[half:]), set(cpus[:half])


def pin_server(pid: int, cpus: set[int]) -> None:
    """Moves every thread of FreeRADIUS onto ``cpus``; the main thread first, so that a thread it
    starts meanwhile inherits the new set, and twice, to catch one started during the first pass."""
    for _ in range(2):
        for tid in [pid] + [int(t) for t in os.listdir(f"/proc/{pid}/task") if int(t) != pid]:
            try:
                os.sched_setaffinity(tid, cpus)
            except ProcessLookupError:
                pass  # a thread that ended meanwhile


class Layout(NamedTuple):
    name: str
    direct: bool  # the default server's worker threads call sql_accounting themselves
    database: Path  # where sql_accounting writes
    to_sink: bool = False  # the accounting load goes to radius_load.py sink instead


def all_rounds(fr: h.FreeRadius, args, layouts: list[Layout], rates: list[int],
               server_cpus: set[int] | None) -> dict[str, dict[int, list[dict]]]:
    """Every round measures every layout, idle and at each rate, so that all of them see the
    same machine."""
    switch = Layouts(fr)
    runs = {layout.name: {0: [], **{rate: [] for rate in rates}} for layout in layouts}
    for _ in range(args.rounds):
        for layout in layouts:
            switch.apply(layout.direct, layout.database)
            with fr:
                if server_cpus:
                    pin_server(fr.pid, server_cpus)
                for rate, measured in runs[layout.name].items():
                    measured.append(measure(fr, args, rate, layout.to_sink))
    return runs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=500)
    ap.add_argument("--auths", type=int, default=8000, help="PAP requests per measurement")
    ap.add_argument("--peap", type=int, default=40, help="PEAP logins per measurement")
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds of idle then each rate, so the medians see the same machine")
    ap.add_argument("--acct-rate", default="100,300",
                    help="accounting requests per second, comma-separated for several runs")
    ap.add_argument("--no-direct", action="store_true",
                    help="do not measure the direct layout (the worker threads writing SQL, as before "
                         "buffered accounting)")
    ap.add_argument("--tmpfs", action="store_true",
                    help="also measure with the accounting database in /dev/shm, where an fsync costs "
                         "nothing: what is left is contention, not the disk")
    ap.add_argument("--same-file", action="store_true",
                    help="also measure accounting written into the RADIUS database itself")
    ap.add_argument("--sink", action="store_true",
                    help="also measure with the accounting load sent to a responder that only "
                         "answers: the generators' own share of the drop")
    ap.add_argument("--no-pin", action="store_true",
                    help="let FreeRADIUS and the generators share every CPU instead of giving each "
                         "half of them")
    args = ap.parse_args()
    h.install_signal_handlers()
    work = h.temp_workdir("radsync-accounting-bench-")
    shm = Path(tempfile.mkdtemp(prefix="radsync-accounting-bench-", dir="/dev/shm")) if args.tmpfs else None
    try:
        db = work / "radius.db"
        build_db(db, args.users)
        fr = h.FreeRadius(db, work / "fr", debug=False)
        rates = [int(r) for r in str(args.acct_rate).split(",")]
        own = fr.accounting_db
        layouts = [Layout("buffered, its own database", False, own)]
        if not args.no_direct:
            layouts.append(Layout("direct, its own database", True, own))
        if shm:
            h.create_accounting_db(shm / "accounting.db")
            layouts.append(Layout("buffered, its own database in /dev/shm", False, shm / "accounting.db"))
            if not args.no_direct:
                layouts.append(Layout("direct, its own database in /dev/shm", True, shm / "accounting.db"))
        if args.same_file:
            layouts.append(Layout("direct, the RADIUS database", True, db))
        if args.sink:
            layouts.append(Layout("sent to a sink, FreeRADIUS only authenticating", False, own, True))
        split = None if args.no_pin else split_cpus()
        if split:
            os.sched_setaffinity(0, split[1])  # the generators, eapol_test included, inherit it
            print(f"FreeRADIUS on CPUs {sorted(split[0])}, the load generators on {sorted(split[1])}",
                  flush=True)
        runs = all_rounds(fr, args, layouts, rates, split[0] if split else None)
        summaries = []
        for name in (layout.name for layout in layouts):
            idle = report(f"idle ({name})", runs[name][0], None)
            for rate in rates:
                loaded = report(f"accounting at {rate}/s, {name}", runs[name][rate], idle,
                                runs[name][0], rate, len(split[0]) if split else os.cpu_count())
                summaries.append((name, rate, idle, loaded))
        for name, rate, idle, s in summaries:
            print(f"summary at {rate}/s, {name}: PAP {s['pap_paired']:.2f} x idle, PEAP "
                  f"{s['peap_paired']:.2f} x idle paired, PAP per second of FreeRADIUS CPU "
                  f"{s['pap_per_cpu']:.2f} x idle (medians {s['pap'] / idle['pap']:.2f}, "
                  f"{s['peap'] / idle['peap']:.2f}; best rounds {s['pap_best'] / idle['pap_best']:.2f}, "
                  f"{s['peap_best'] / idle['peap_best']:.2f}"
                  + (f"; predicted from its cost {s['predicted']:.2f}" if "predicted" in s else "")
                  + f"); accounting answered at {s['acct_rate']:.0f}/s, "
                  f"stored within {s['drain_s']:.1f} s of the load's end; "
                  f"{s['rejected']} valid logins rejected or lost", flush=True)
        return 0
    except h.HarnessError as e:
        print(f"setup failed: {e}", file=sys.stderr)
        return 1
    finally:
        h._stop_all()
        h.remove_workdir(work)
        if shm:
            shutil.rmtree(shm, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
