#!/usr/bin/env python3
"""Authentication under accounting load (issue 13: accounting in its own database).

    python3 bench/accounting_bench.py [--users 500] [--auths 4000] [--peap 40]
        [--acct-rate 200,1000] [--same-file]

A private, threaded FreeRADIUS (tests/e2e/freeradius_harness.py, built by
deploy/freeradius/configure-freeradius) reads ``--users`` members shaped as radsync writes them
(NT-Password, plan group with Fall-Through, site group, deny group) and writes accounting into
the accounting database through the sql_accounting instance. In one run it measures:

1. idle: ``--auths`` PAP requests (radclient, 32 in flight) and ``--peap`` PEAP-MSCHAPv2 logins
   (eapol_test, 4 at a time): requests per second, accepts, rejects;
2. the same while radclient sends Accounting-Requests (Start, Interim-Update, Stop over
   ``--users`` sessions) at each ``--acct-rate`` per second, 32 in flight: the auth rates again, the
   ratio to idle, the accounting rate achieved and the radacct rows written;
3. with ``--same-file``: step 2 again with accounting written into the RADIUS database itself
   (the setup freeradius.md §7 warns about), for comparison.

Everything shares this machine's cores, so the load generator's own CPU is in the figures. It
measures; it never fails on a number. Exit status 1 only when something broke (a server did not
start, a valid user was rejected is reported, not fatal).
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(SOURCE_DIR / "tests/e2e"))

import freeradius_harness as h  # noqa: E402

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


def user(i: int) -> tuple[str, str]:
    return f"member{i:05d}@cowork.test", f"pw-{i:05d}-bench"


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


def packets(path: Path, blocks: list[list[str]]) -> None:
    path.write_text("\n".join("\n".join(b) + "\n" for b in blocks))


def pap_file(path: Path, users: int, count: int) -> None:
    blocks = []
    for n in range(count):
        name, pw = user(n % users)
        blocks.append([f'User-Name = "{name}"', f'User-Password = "{pw}"', "NAS-IP-Address = 127.0.0.1",
                       'NAS-Identifier = "downtown"'])
    packets(path, blocks)


def acct_file(path: Path, users: int, count: int) -> None:
    blocks = []
    for n in range(count):
        i = n % users
        status = ("Start", "Interim-Update", "Interim-Update", "Stop")[(n // users) % 4]
        name, _ = user(i)
        blocks.append([f'User-Name = "{name}"', f"Acct-Status-Type = {status}",
                       f'Acct-Session-Id = "bench-{i}-{n // (users * 4)}"', "NAS-IP-Address = 127.0.0.1",
                       'NAS-Identifier = "downtown"', f'Calling-Station-Id = "AA-BB-CC-{i % 256:02X}-00-01"',
                       f"Acct-Input-Octets = {n}"])
    packets(path, blocks)


SUMMARY = re.compile(r"Accepted\s*:\s*(\d+).*?Rejected\s*:\s*(\d+).*?Lost\s*:\s*(\d+)", re.S)


def run_pap(fr: h.FreeRadius, file: Path) -> dict:
    t0 = time.monotonic()
    proc = subprocess.run([h.tool("radclient"), "-f", str(file), "-p", "32", "-s", "-q", "-r", "3", "-t", "5",
                           f"127.0.0.1:{fr.auth_port}", "auth", h.SECRET],
                          capture_output=True, text=True, check=False, timeout=600)
    seconds = time.monotonic() - t0
    m = SUMMARY.search(proc.stdout + proc.stderr)
    accepted, rejected, lost = (int(x) for x in m.groups()) if m else (0, 0, 0)
    return {"rate": (accepted + rejected) / seconds, "accepted": accepted, "rejected": rejected, "lost": lost}


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


def measure(fr: h.FreeRadius, args, work: Path, label: str, idle: dict | None, rate: int) -> dict:
    pap = work / "pap.txt"
    load = None
    if idle is not None:
        # Enough accounting to outlast the measurement (radclient reads its whole file first,
        # so the file is sized to the run, not made huge).
        expected = args.auths / idle["pap"]["rate"] + args.peap / idle["peap"]["rate"]
        count = int(rate * (expected * 3 + 3))
        acct = work / "acct.txt"
        acct_file(acct, args.users, count)
        load = subprocess.Popen([h.tool("radclient"), "-f", str(acct), "-p", "32", "-n", str(rate),
                                 "-s", "-r", "1", "-t", "5", f"127.0.0.1:{fr.acct_port}", "acct", h.SECRET],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        started = time.monotonic()
        wait_for_rows(fr.accounting_db)  # the load is running before the measurement starts
    pap_result = run_pap(fr, pap)
    peap_result = run_peap(fr, args.peap)
    out = {"pap": pap_result, "peap": peap_result}
    if load is not None:
        measured = time.monotonic() - started
        text, _ = load.communicate(timeout=600)
        m = SUMMARY.search(text)
        answered, lost = (int(m.group(1)), int(m.group(3))) if m else (0, 0)
        out["acct"] = {"answered": answered, "lost": lost, "rate": answered / (time.monotonic() - started),
                       "overlap": measured}
    print(f"{label}:", flush=True)
    for kind in ("pap", "peap"):
        r = out[kind]
        ratio = f", {r['rate'] / idle[kind]['rate']:.2f} x idle" if idle else ""
        print(f"  {kind.upper():4} {r['rate']:8.0f} auth/s{ratio}; accepted {r['accepted']}, "
              f"rejected {r['rejected']}" + (f", lost {r['lost']}" if "lost" in r else ""), flush=True)
    if load is not None:
        a = out["acct"]
        print(f"  accounting: {a['answered']} Accounting-Responses at {a['rate']:.0f}/s (offered "
              f"{rate}/s, {a['lost']} lost), running through all {a['overlap']:.1f} s of "
              f"the measurement; {radacct_rows(fr.accounting_db)} radacct rows", flush=True)
    return out


def wait_for_rows(path: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while radacct_rows(path) == 0:
        if time.monotonic() > deadline:
            raise h.HarnessError("no accounting row appeared")
        time.sleep(0.05)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=500)
    ap.add_argument("--auths", type=int, default=4000)
    ap.add_argument("--peap", type=int, default=40)
    ap.add_argument("--acct-rate", default="200,1000",
                    help="accounting requests per second, comma-separated for several runs")
    ap.add_argument("--same-file", action="store_true",
                    help="also measure accounting written into the RADIUS database itself")
    args = ap.parse_args()
    h.install_signal_handlers()
    work = h.temp_workdir("radsync-accounting-bench-")
    try:
        db = work / "radius.db"
        build_db(db, args.users)
        pap_file(work / "pap.txt", args.users, args.auths)
        fr = h.FreeRadius(db, work / "fr", debug=False)
        rates = [int(r) for r in str(args.acct_rate).split(",")]
        with fr:
            idle = measure(fr, args, work, "idle", None, 0)
            runs = [(rate, measure(fr, args, work, f"accounting at {rate}/s, own database", idle, rate))
                    for rate in rates]
        if args.same_file:
            module = fr.raddb / "mods-available/sql_accounting"
            text = module.read_text()
            module.write_text(text.replace(f'filename = "{fr.accounting_db}"', f'filename = "{db}"'))
            fr.accounting_db = db
            with fr:
                measure(fr, args, work, f"accounting at {rates[-1]}/s, in the RADIUS database", idle,
                        rates[-1])
        for rate, loaded in runs:
            rejected = loaded["pap"]["rejected"] + loaded["peap"]["rejected"] + loaded["pap"]["lost"]
            print(f"summary at {rate}/s: PAP {loaded['pap']['rate'] / idle['pap']['rate']:.2f} x idle, "
                  f"PEAP {loaded['peap']['rate'] / idle['peap']['rate']:.2f} x idle; accounting answered at "
                  f"{loaded['acct']['rate']:.0f}/s; {rejected} valid users rejected", flush=True)
        return 0
    except h.HarnessError as e:
        print(f"setup failed: {e}", file=sys.stderr)
        return 1
    finally:
        h._stop_all()
        h.remove_workdir(work)


if __name__ == "__main__":
    sys.exit(main())
