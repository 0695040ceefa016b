#!/usr/bin/env python3
"""End to end: presence to OfficeRnD check-ins (sessions.checkins). FreeRADIUS accounting →
radsync's check-in worker → the OfficeRnD simulator's POST /checkins/{member} and
POST /checkins/checkout/{member}.

    python3 tests/e2e/test_checkins.py --radsync build/dev/src/radsync --source-dir .

radsync polls the simulator (members at Uptown, whose location rule names the SSID
CoWork-Uptown) and FreeRADIUS writes accounting into the accounting database. Checks:

1. hank's first session of the day creates one check-in at Uptown starting at the session's
   start; a second device, more sweeps and a restart of radsync create no other;
2. a check-in OfficeRnD already has for the day is adopted (someone else's: never checked out);
   one with the start radsync had recorded as pending (the answer to its POST was lost) is
   taken as radsync's own; neither gets a POST;
3. a POST answered 503 is not re-sent in place; the next sweep reads first, then creates it:
   one check-in in the end;
4. once hank's last session stops and checkout_after passes, he is checked out at that Stop;
   when the answer to that POST is lost (OfficeRnD carries it out after radsync stopped
   waiting), the next sweep reads it back instead of sending it again; coming back the same
   day checks him in no second time.

Prints one line per check, then "N passed, M failed"; exit status 1 on any failure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sqlite3
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))

import freeradius_harness as h  # noqa: E402
from freeradius_harness import expect_eq, expect_true  # noqa: E402
import radsync_testlib as tl  # noqa: E402  (on sys.path through freeradius_harness)
from radsync_testlib import (DOMAIN, LOC_UPTOWN, PLAN_HOT, Radsync, Simulator, member,  # noqa: E402
                             membership, metric, new_id, wait_until)

WAIT = 15.0
UPTOWN_AP = "AA-BB-CC-00-00-01:CoWork-Uptown"  # Called-Station-Id: access point MAC, SSID
BERLIN = ZoneInfo("Europe/Berlin")  # Uptown's zone in the fixture


class Person:
    def __init__(self, name: str):
        self.mid = new_id()
        self.user = f"{name}@{DOMAIN}"
        self.name = name.capitalize()

    def entities(self) -> tuple[dict, dict]:
        return (member(self.mid, self.name, self.user, LOC_UPTOWN, f"{self.name}-wifi-4242"),
                membership(new_id(), PLAN_HOT, "Hot Desk", LOC_UPTOWN, member_id=self.mid))


HANK, BOB, DANA, ERIN = (Person(n) for n in ("hank", "bob", "dana", "erin"))
PEOPLE = (HANK, BOB, DANA, ERIN)


def fixture() -> dict:
    return {**tl.locations_and_plans(),
            "members": [p.entities()[0] for p in PEOPLE],
            "memberships": [p.entities()[1] for p in PEOPLE]}


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def posts(sim: Simulator, path_tail: str) -> int:
    return sum(1 for r in sim.requests()
               if r.get("method") == "POST" and r.get("path", "").endswith(path_tail))


def checkins_of(sim: Simulator, p: Person) -> list[dict]:
    return [c for c in sim.entities("checkins") if c["member"] == p.mid]


def record(fr: h.FreeRadius, p: Person) -> tuple | None:
    rows = fr.accounting_query("SELECT state, checkin_id, attempts FROM radsync_checkins WHERE member_id = ?",
                               p.mid)
    return rows[0] if rows else None


def session_times(fr: h.FreeRadius, session_id: str) -> tuple[int, int | None]:
    return fr.accounting_query("SELECT acctstarttime, acctstoptime FROM radacct WHERE acctsessionid = ?",
                               session_id)[0]


def main() -> int:
    ap = argparse.ArgumentParser(description="presence to OfficeRnD check-ins end-to-end test")
    ap.add_argument("--radsync", required=True, help="path of the radsync binary")
    ap.add_argument("--source-dir", default=str(h.SOURCE_DIR), help="repository root")
    args = ap.parse_args()
    h.install_signal_handlers()
    binary = Path(args.radsync).resolve()
    source = Path(args.source_dir).resolve()
    work = h.temp_workdir("radsync-checkins-e2e-")
    checks = h.Checks()
    c = checks.check
    rs = Radsync(binary, work, log_level="debug")
    sim = Simulator(work, fixture())
    d = tl.PollingDaemon(rs, [], name="radsync")
    fr = h.FreeRadius(rs.db, work / "freeradius", source_dir=source)
    try:
        def acct(p: Person, status: str, session: str) -> None:
            expect_eq(fr.acct(p.user, status, session, "uptown", {"Called-Station-Id": UPTOWN_AP,
                                                                   "Calling-Station-Id": session}),
                      "Accounting-Response", f"accounting {status} of {session}")

        def sweeps(n: int = 2) -> None:
            """Waits until the worker has begun `n` more sweeps and finished all but the last."""
            mark = d.log_mark()
            wait_until(lambda: d.log_from(mark).count("check-in sweep ") >= n or None, WAIT,
                       f"{n} check-in sweeps")

        def setup():
            sim.start()
            secret = sim.write_client_secret(work / "officernd-secret")
            d.extra_config = (sim.officernd_yaml(secret) + tl.sync_yaml(interval="1h") +
                              "sessions:\n  sweep_interval: 1s\n"
                              "  checkins:\n    enabled: true\n    checkout_after: 2s\n")
            d.write_config()
            rs.run("check-config")
            rs.run("migrate")
            fr.start()
            d.start()
            wait_until(lambda: rs.scalar("SELECT count(*) FROM radsync_accounts WHERE state = 'active'")
                       == len(PEOPLE), WAIT, "the initial import")

        if not c("radsync serve polls the simulator (four members at Uptown) with check-ins on; "
                 "FreeRADIUS writes accounting", setup):
            return checks.summary()
        checks.server = fr
        checks.sources = [d, sim]

        def first_session_checks_in():
            acct(HANK, "Start", "h-1")
            wait_until(lambda: record(fr, HANK) and record(fr, HANK)[0] == "open",
                       WAIT, "hank's check-in recorded open")
            found = checkins_of(sim, HANK)
            expect_eq(len(found), 1, f"hank's check-ins ({found})")
            start, _ = session_times(fr, "h-1")
            expect_eq(found[0]["location"], LOC_UPTOWN, "location")
            expect_eq(found[0]["start"], iso(dt.datetime.fromtimestamp(start, dt.timezone.utc)),
                      "start = the session's start")
            expect_eq(found[0]["end"], None, "still checked in")
            expect_eq(record(fr, HANK)[1], found[0]["_id"], "OfficeRnD's id recorded")
            # The record commits first, then the count, then the log line: wait for the last.
            wait_until(lambda: f"checkin created member={HANK.mid} location={LOC_UPTOWN}" in d.stderr_since_start(),
                       5, "the check-in to be logged")
            expect_eq(metric(d.metrics(), "radsync_checkins_total", action="checkin", result="created"), 1,
                      "counted")
            # The organisation check, the poller and the check-in worker share one token.
            expect_eq(sim.stats()["token_requests"], 1, "token requests")

        c("hank's first session of the day at Uptown (SSID in Called-Station-Id): one check-in, "
          "starting at the session's start; one OfficeRnD token for the whole daemon",
          first_session_checks_in)

        def no_second_checkin():
            acct(HANK, "Start", "h-2")  # a second device
            sweeps()
            d.stop()
            d.start()
            sweeps()
            expect_eq(posts(sim, f"/checkins/{HANK.mid}"), 1, "POST /checkins/hank")
            expect_eq(len(checkins_of(sim, HANK)), 1, "hank's check-ins")

        c("a second device, more sweeps and a restart of radsync: still one check-in", no_second_checkin)

        def adopted_and_own():
            now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
            reception = sim.put_entity("checkins", {"member": BOB.mid, "location": LOC_UPTOWN,
                                                    "start": iso(now - dt.timedelta(seconds=90)), "end": None})
            # dana: radsync had recorded a check-in as pending and its POST had gone through.
            mine = now - dt.timedelta(seconds=30)
            con = sqlite3.connect(fr.accounting_db, timeout=5)
            with con:
                con.execute("INSERT INTO radsync_checkins (member_id, location_id, day, state, starts_at, "
                            "updated_at) VALUES (?, ?, ?, 'pending', ?, ?)",
                            (DANA.mid, LOC_UPTOWN, now.astimezone(BERLIN).date().isoformat(),
                             int(mine.timestamp()), int(now.timestamp())))
            con.close()
            lost = sim.put_entity("checkins", {"member": DANA.mid, "location": LOC_UPTOWN, "start": iso(mine),
                                               "end": None})
            acct(BOB, "Start", "b-1")
            acct(DANA, "Start", "d-1")
            wait_until(lambda: (record(fr, BOB) or ("",))[0] == "adopted" and
                       record(fr, DANA)[0] == "open" or None, WAIT, "both settled")
            expect_eq(record(fr, BOB)[1], reception["entity"]["_id"], "bob's adopted id")
            expect_eq(record(fr, DANA)[1], lost["entity"]["_id"], "dana's own id")
            expect_eq(posts(sim, f"/checkins/{BOB.mid}") + posts(sim, f"/checkins/{DANA.mid}"), 0, "POSTs")
            wait_until(lambda: metric(d.metrics(), "radsync_checkins_total", action="checkin",
                                      result="adopted") == 1, 5, "the adoption to be counted")

        c("a check-in OfficeRnD already has (reception's) is adopted; one with the start radsync "
          "recorded as pending is its own; no POST for either", adopted_and_own)

        def failed_post_read_then_retried():
            sim.fault(f"/checkins/{ERIN.mid}", "503")
            acct(ERIN, "Start", "e-1")
            wait_until(lambda: (record(fr, ERIN) or ("",))[0] == "open" or None, WAIT,
                       "erin's check-in")
            expect_eq(posts(sim, f"/checkins/{ERIN.mid}"), 2, "POSTs (the 503, then the next sweep's)")
            expect_eq(len(checkins_of(sim, ERIN)), 1, "erin's check-ins")
            expect_eq(metric(d.metrics(), "radsync_checkins_total", action="checkin", result="retried"), 1,
                      "retried counted")
            expect_true("not re-sent: it may have been carried out" in d.stderr_since_start(),
                        "the failure says why it was not re-sent")

        c("a POST answered 503 is not re-sent in place; the next sweep reads, finds none and creates "
          "it: one check-in", failed_post_read_then_retried)

        def checked_out_at_last_stop():
            # The check-out's answer is lost: OfficeRnD carries it out after radsync gave up
            # waiting (5 s). The next sweep must read that, not check out a second time.
            sim.fault(f"/checkins/checkout/{HANK.mid}", "slow", delay_ms=6000)
            acct(HANK, "Stop", "h-1")
            acct(HANK, "Stop", "h-2")
            acct(BOB, "Stop", "b-1")
            _, stopped = session_times(fr, "h-2")
            wait_until(lambda: record(fr, HANK)[0] == "closed" or None, WAIT + 10,
                       "hank checked out")
            found = checkins_of(sim, HANK)
            expect_eq(len(found), 1, "hank's check-ins")
            expect_eq(found[0]["end"], iso(dt.datetime.fromtimestamp(stopped, dt.timezone.utc)),
                      "end = the last Stop")
            expect_eq(posts(sim, f"/checkins/checkout/{HANK.mid}"), 1, "checkout POSTs (none re-sent)")
            expect_true("POST /checkins/checkout" in d.stderr_since_start() and
                        "again at the next sweep" in d.stderr_since_start(), "the lost answer logged")
            acct(HANK, "Start", "h-3")  # back the same day
            sweeps()
            expect_eq(posts(sim, f"/checkins/{HANK.mid}"), 1, "no second check-in the same day")
            expect_eq(posts(sim, f"/checkins/checkout/{BOB.mid}"), 0, "bob's adopted check-in left alone")

        c("hank's last session stops: checked out at that Stop after checkout_after, the lost "
          "answer to that POST read back instead of sending it again; back the same day, no second "
          "check-in; bob's adopted one is not checked out", checked_out_at_last_stop)
        return checks.summary()
    finally:
        d.stop()
        fr.stop()
        sim.stop()
        h.remove_workdir(work)


if __name__ == "__main__":
    sys.exit(main())
