#!/usr/bin/env python3
"""End to end: time-limited access and private offices against a real FreeRADIUS 3.2.

    python3 tests/e2e/test_time_limited.py --radsync build/dev/src/radsync --source-dir .

The OfficeRnD simulator serves a day-pass holder, a company on a private-office plan, a
meeting room with two bookings and their visitors; ``radsync serve`` polls it once at start
(its next poll is an hour away) and a private FreeRADIUS reads the database. Then, with no
poll and no webhook:

1. the guest of a booking under way is accepted at the booking's location only, not at the
   other one, and rejected when the booking ends; the guest of a booking that starts a few
   seconds later has no account until it starts and is accepted from then on (the schedule
   woke);
2. the day-pass holder (a contact, not an active member) is accepted with a Session-Timeout no
   longer than the time left on the pass, and rejected once the pass ends;
3. two members of the private-office company get different addresses from the company's pool
   and the company's VLAN instead of the location's;
4. radsync restarted under a shifted clock (faketime: 8 s before midnight in Berlin) with a
   member whose membership starts "tomorrow": rejected, then accepted at local midnight, and
   the simulator saw no second poll.

Prints one line per check, then "N passed, M failed"; exit status 1 on any failure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import freeradius_harness as h  # noqa: E402
from freeradius_harness import expect_eq, expect_reply, expect_true  # noqa: E402
import radsync_testlib as tl  # noqa: E402  (on sys.path through freeradius_harness)
from radsync_testlib import (BERLIN, CO_ACME, CREATED, DOMAIN, LOC_DOWNTOWN, LOC_UPTOWN,  # noqa: E402
                             PLAN_DEDICATED, PLAN_HOT, VLAN100, Radsync, Simulator, member,
                             membership, new_id, wait_until)

EXTRA_MAPPING = """\
groups:
  - name: day-pass
    rank: 5
    bandwidth: {down: 5M}
    session_timeout: 4h
  - name: guest
    rank: 1
    bandwidth: {down: 2M}
    session_timeout: 2h
passes:
  group: day-pass
guests:
  group: guest
  grace_before: 0s
  grace_after: 0s
companies:
  - match: {name: Acme}
    vlan: 310
    ip_pool: 10.20.30.0/29
"""

GUEST_SECONDS = 12     # the booking under way ends this long after the start of the test
LATER_START = 8        # the second booking starts then...
LATER_SECONDS = 60     # ...and ends then
PASS_SECONDS = 22      # the day pass ends then (checked after the guests)
WAIT = 30.0

DANA, DANA_PW, DANA_MID = f"dana@{DOMAIN}", "Dana-pass-4711", new_id()
ALICE, ALICE_PW, ALICE_MID = f"alice@{DOMAIN}", "Alice-office-1", new_id()
BOB, BOB_PW, BOB_MID = f"bob@{DOMAIN}", "Bob-office-2", new_id()
HANK, HANK_MID = f"hank@{DOMAIN}", new_id()
TOM, TOM_PW, TOM_MID = f"tom@{DOMAIN}", "Tom-tomorrow-3", new_id()
ROOM, ROOM_TYPE = new_id(), new_id()
B_NOW, B_LATER = new_id(), new_id()
V_NOW, V_LATER = new_id(), new_id()


def iso(when: dt.datetime) -> str:
    return tl.instant(when)


def fixture(t0: dt.datetime) -> dict:
    s = lambda seconds: iso(t0 + dt.timedelta(seconds=seconds))  # noqa: E731
    acme = {"_id": CO_ACME, "name": "Acme", "location": LOC_DOWNTOWN, "status": "active",
            "createdAt": CREATED, "modifiedAt": CREATED}
    return {
        **tl.locations_and_plans(),
        "companies": [acme],
        "members": [
            member(DANA_MID, "Dana Daypass", DANA, LOC_DOWNTOWN, DANA_PW, status="contact"),
            member(ALICE_MID, "Alice Acme", ALICE, LOC_DOWNTOWN, ALICE_PW, company=CO_ACME),
            member(BOB_MID, "Bob Acme", BOB, LOC_DOWNTOWN, BOB_PW, company=CO_ACME),
            member(HANK_MID, "Hank Host", HANK, LOC_UPTOWN, "Hank-host-5"),
        ],
        "memberships": [
            membership(new_id(), PLAN_DEDICATED, "Private Office", LOC_DOWNTOWN, company=CO_ACME),
            membership(new_id(), PLAN_HOT, "Hot Desk", LOC_UPTOWN, member_id=HANK_MID),
        ],
        "passes": [{"_id": new_id(), "member": DANA_MID, "isPersonal": True, "status": "valid",
                    "count": 1, "usedCount": 0, "validFrom": s(-3600), "validTo": s(PASS_SECONDS),
                    "resourceType": "hotdesk", "createdAt": CREATED, "modifiedAt": CREATED}],
        "resources": [{"_id": ROOM, "name": "Board room", "type": ROOM_TYPE, "location": LOC_UPTOWN,
                       "createdAt": CREATED, "modifiedAt": CREATED}],
        "resource-types": [{"_id": ROOM_TYPE, "title": "Meeting room", "type": "meeting_room",
                            "createdAt": CREATED, "modifiedAt": CREATED}],
        "visitors": [{"_id": V_NOW, "name": "Vera Visitor", "email": "vera@example.test", "member": HANK_MID,
                      "createdAt": CREATED, "modifiedAt": CREATED},
                     {"_id": V_LATER, "name": "Lars Later", "email": "lars@example.test", "member": HANK_MID,
                      "createdAt": CREATED, "modifiedAt": CREATED}],
        "bookings": [
            {"_id": B_NOW, "member": HANK_MID, "location": LOC_UPTOWN, "resource": ROOM,
             "timezone": "Europe/Berlin", "start": s(-60), "end": s(GUEST_SECONDS), "isCancelled": False,
             "isTentative": False, "visitors": [V_NOW], "createdAt": CREATED, "modifiedAt": CREATED},
            {"_id": B_LATER, "member": HANK_MID, "location": LOC_UPTOWN, "resource": ROOM,
             "timezone": "Europe/Berlin", "start": s(LATER_START), "end": s(LATER_SECONDS),
             "isCancelled": False, "isTentative": False, "visitors": [V_LATER], "createdAt": CREATED,
             "modifiedAt": CREATED},
        ],
    }


def guest_username(rs: Radsync, booking: str, visitor: str) -> str:
    return rs.scalar("SELECT username FROM radsync_accounts WHERE member_id = ?", f"guest:{booking}:{visitor}")


def guest_code(rs: Radsync, username: str) -> str:
    return tl.printed_password(rs.run("accounts", "reset-password", username), username)


def members_polls(sim: Simulator) -> int:
    return sum(1 for r in sim.requests() if r.get("path", "").split("?")[0].endswith("/members"))


def main() -> int:
    ap = argparse.ArgumentParser(description="time-limited access + private offices end-to-end test")
    ap.add_argument("--radsync", required=True)
    ap.add_argument("--source-dir", default=str(h.SOURCE_DIR))
    args = ap.parse_args()
    h.install_signal_handlers()
    binary = Path(args.radsync).resolve()
    source = Path(args.source_dir).resolve()
    work = h.temp_workdir("radsync-time-limited-")
    checks = h.Checks()
    c = checks.check
    rs = Radsync(binary, work, log_level="debug")
    rs.extra_mapping = EXTRA_MAPPING
    t0 = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    sim = Simulator(work, fixture(t0))
    d = tl.PollingDaemon(rs, [], name="radsync")
    try:
        def setup():
            sim.start()
            secret = sim.write_client_secret(work / "officernd-secret")
            d.extra_config = sim.officernd_yaml(secret) + tl.sync_yaml(interval="1h")
            d.write_config()
            rs.run("check-config")
            d.start()
            wait_until(lambda: rs.scalar("SELECT count(*) FROM radsync_accounts WHERE state = 'active'") == 5,
                       WAIT, "the initial import: dana, alice, bob, hank and the guest under way")

        if not c("radsync serve polls the simulator once: a pass holder, a private office, a booking "
                 "under way and one about to start", setup):
            return checks.summary()

        fr = h.FreeRadius(rs.db, work / "freeradius", source_dir=source)
        with fr:
            checks.server = fr
            checks.sources = [d, sim]
            polls_at_start = members_polls(sim)

            def guests():
                now_user = guest_username(rs, B_NOW, V_NOW)
                expect_true(now_user and now_user.startswith("guest-"), f"guest user name {now_user!r}")
                expect_eq(guest_username(rs, B_LATER, V_LATER), None, "no account before the booking starts")
                now_code = guest_code(rs, now_user)
                expect_reply(fr.pap(now_user, now_code, "uptown"), True,
                             {"WISPr-Bandwidth-Max-Down": "2000000"})
                expect_reply(fr.peap(now_user, now_code, "uptown"), True)
                show = rs.run("accounts", "show", now_user).stdout
                expect_true("kind:      guest" in show and "guest access of booking" in show and
                            "Vera Visitor" in show, f"accounts show:\n{show}")
                status = rs.run("status").stdout
                expect_true("schedule:  next " in status, f"status:\n{status}")
                expect_reply(fr.pap(now_user, now_code, "downtown"), False)
                wait_until(lambda: guest_username(rs, B_LATER, V_LATER) is not None, WAIT,
                           "the later booking's guest account, when it starts")
                started = (dt.datetime.now(dt.timezone.utc) - t0).total_seconds()
                expect_true(started >= LATER_START - 1, f"the account came {started:.1f}s in, before the start")
                later_user = guest_username(rs, B_LATER, V_LATER)
                later_code = guest_code(rs, later_user)
                expect_reply(fr.pap(later_user, later_code, "uptown"), True)
                wait_until(lambda: fr.pap(now_user, now_code, "uptown")[0] == "Access-Reject", WAIT,
                           "the first guest to be rejected once the booking ends")
                # FreeRADIUS refuses at Expiration on its own; radsync's transition follows
                # within a second and removes the account (guests have no retention).
                wait_until(lambda: guest_username(rs, B_NOW, V_NOW) is None, WAIT,
                           "the ended booking's guest account to be removed")

            c("guests: accepted only at the booking's location and only inside the window; a booking "
              "starting later gives access when it starts", guests)

            def day_pass():
                code, reply = fr.pap(DANA, DANA_PW, "downtown")
                expect_eq(code, "Access-Accept", f"dana with a valid pass ({reply})")
                left = (t0 + dt.timedelta(seconds=PASS_SECONDS) - dt.datetime.now(dt.timezone.utc)).total_seconds()
                timeout = int(reply.get("Session-Timeout", "0"))
                expect_true(0 < timeout <= left + 1, f"Session-Timeout {timeout} vs {left:.0f}s left on the pass")
                expect_eq(reply.get("WISPr-Bandwidth-Max-Down"), "5000000", "the pass group's bandwidth")
                expect_true(rs.scalar("SELECT value FROM radcheck WHERE username = ? AND attribute = 'Expiration'",
                                      DANA) is not None, "an Expiration row")
                wait_until(lambda: fr.pap(DANA, DANA_PW, "downtown")[0] == "Access-Reject", WAIT,
                           "dana to be rejected once the pass ends")
                wait_until(lambda: rs.scalar("SELECT state FROM radsync_accounts WHERE member_id = ?",
                                             DANA_MID) in ("revoked", None),
                           WAIT, "radsync to apply the pass's end by itself")

            c("day pass: accepted with Session-Timeout no longer than the time left, rejected after it ends",
              day_pass)

            def private_office():
                addresses = []
                for user, pw in ((ALICE, ALICE_PW), (BOB, BOB_PW)):
                    code, reply = fr.pap(user, pw, "downtown")
                    expect_eq(code, "Access-Accept", f"{user} ({reply})")
                    expect_eq(reply.get("Tunnel-Private-Group-Id"), "310", f"{user}: the company's VLAN, not 100")
                    addresses.append(reply.get("Framed-IP-Address"))
                expect_true(len(set(addresses)) == 2 and all(a and a.startswith("10.20.30.") for a in addresses),
                            f"two different addresses from 10.20.30.0/29: {addresses}")
                expect_reply(fr.pap(HANK, "Hank-host-5", "uptown"), True, {"Tunnel-Private-Group-Id": "200"})
                print(f"     alice {addresses[0]}, bob {addresses[1]}", flush=True)

            c("private office: two members get different addresses from the company's pool and its VLAN",
              private_office)

            def no_poll():
                expect_eq(members_polls(sim), polls_at_start, "member list requests since the start")

            c("all of the above happened with no poll (the schedule woke radsync)", no_poll)

            def midnight():
                faketime = shutil.which("faketime")
                expect_true(faketime is not None, "faketime (Debian package faketime) is installed")
                expect_eq(d.stop(), 0, "the first daemon's exit status")
                berlin_now = dt.datetime.now(BERLIN)
                midnight_berlin = (berlin_now + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0,
                                                                                microsecond=0)
                fake_start = midnight_berlin.astimezone(dt.timezone.utc) - dt.timedelta(seconds=8)
                tomorrow = midnight_berlin.date().isoformat() + "T00:00:00.000Z"
                tom = member(TOM_MID, "Tom Tomorrow", TOM, LOC_DOWNTOWN, TOM_PW)
                sim.put_entity("members", tom)
                sim.put_entity("memberships", {**membership(new_id(), PLAN_HOT, "Hot Desk", LOC_DOWNTOWN,
                                                            member_id=TOM_MID), "startDate": tomorrow,
                                               "calculatedStatus": "not_started"})
                sim.clear_requests()
                d.command_prefix = [faketime, "-f", "@" + fake_start.strftime("%Y-%m-%d %H:%M:%S")]
                d.extra_env = {"TZ": "UTC", "DONT_FAKE_MONOTONIC": "1"}
                d.start()
                wait_until(lambda: members_polls(sim) >= 1 and
                           rs.scalar("SELECT count(*) FROM radsync_schedule WHERE subject = ?", TOM_MID) == 1,
                           WAIT, "the start's poll, with tom's start scheduled")
                expect_reply(fr.pap(TOM, TOM_PW, "downtown"), False)
                wait_until(lambda: fr.pap(TOM, TOM_PW, "downtown")[0] == "Access-Accept", WAIT,
                           "tom to be accepted at midnight in Berlin")
                expect_reply(fr.pap(TOM, TOM_PW, "downtown"), True, VLAN100)
                expect_eq(members_polls(sim), 1, "member list requests (the start's poll only)")
                # Logged after the state commit that follows the RADIUS rows: wait, do not race it.
                wait_until(lambda: "scheduled transitions applied" in d.stderr_since_start(), 5,
                           "the transition to be logged")

            c("a membership starting tomorrow gives access at local midnight with no poll (radsync under "
              "faketime, 8 s before midnight in Berlin)", midnight)
    finally:
        tl.stop_all_daemons()
        h.remove_workdir(work)
    return checks.summary()


if __name__ == "__main__":
    started = time.monotonic()
    rc = main()
    print(f"     {time.monotonic() - started:.1f}s", flush=True)
    sys.exit(rc)
