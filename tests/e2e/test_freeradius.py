#!/usr/bin/env python3
"""End to end: radsync writes the database, a real FreeRADIUS 3.2 authenticates from it.

    python3 tests/e2e/test_freeradius.py --radsync build/dev/src/radsync --source-dir .

1. writes radsync's config (main file + mapping) and an OfficeRnD snapshot fixture into a
   temp dir (dates relative to today in Europe/Berlin);
2. ``radsync migrate`` creates the database; an operator's own radcheck row
   (``staff-laptop``) is added by hand;
3. ``radsync reconcile --from-file`` fills the FreeRADIUS tables;
4. a private FreeRADIUS (tests/e2e/freeradius_harness.py, built with the operator's
   deploy/freeradius/configure-freeradius) answers radclient (PAP) and eapol_test
   (PEAP-MSCHAPv2): accepts, rejects, VLAN, bandwidth, Session-Timeout, roaming rules;
5. the fixture changes (ada's membership ended, dave demoted to a home-only plan), a dry run
   changes nothing, a real reconcile does, and the same FreeRADIUS process sees it;
6. a third reconcile of the same fixture changes zero rows;
7. the operator's row survives every run and still authenticates.

Prints one line per check, then "N passed, M failed"; exit status 1 on any failure.
Everything lives in a temp dir (kept with RADSYNC_E2E_KEEP=1); the server is always stopped.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import freeradius_harness as h  # noqa: E402
from freeradius_harness import expect_eq, expect_reply, expect_true  # noqa: E402
# Configuration, fixture builders and the CLI wrapper are shared with the webhook tests.
from radsync_testlib import (BASIC, CO_ACME, CREATED, DOMAIN, LOC_DOWNTOWN,  # noqa: E402
                             LOC_UPTOWN, PLAN_DEDICATED, PLAN_HOT, PLAN_VIRTUAL, PRO, UPTOWN_SSID,
                             VLAN100, VLAN200, Radsync, day, instant, locations_and_plans, member,
                             membership)

M_ADA, M_DAVE, M_VIC, M_FRED, M_YARA, M_CORA, M_JO, M_MAX = (
    f"64d0000000000000000000{i:02x}" for i in range(1, 9))
MS_ADA, MS_DAVE, MS_VIC, MS_FRED, MS_YARA, MS_ACME, MS_JO, MS_MAX = (
    f"64e0000000000000000000{i:02x}" for i in range(1, 9))

PASSWORDS = {
    "ada": "Ada-wifi-1815",
    "dave": "Dave-wifi-2001",
    "vic": "Vic-wifi-3003",
    "fred": "Fred-wifi-4004",
    "yara": "Yara-wifi-5005",
    "cora": "Cora-wifi-6006",
    "jo": "Jo-wifi-7007",
    "max": "Max-wifi-8008",
}
STAFF_USER, STAFF_PASSWORD = "staff-laptop", "x"


# --------------------------------------------------------------------------------------
# Fixture (radsync_testlib.MAPPING_YAML: Hot Desk = basic, Dedicated Desk = pro + roaming all,
# Virtual Office = access none; Downtown = VLAN 100, Uptown = VLAN 200 + SSID CoWork-Uptown)
# --------------------------------------------------------------------------------------

def fixture_v1() -> dict:
    return {
        **locations_and_plans(),
        "companies": [
            {"_id": CO_ACME, "name": "Acme", "status": "active", "location": LOC_UPTOWN,
             "createdAt": CREATED, "modifiedAt": CREATED},
        ],
        "members": [
            member(M_ADA, "Ada Lovelace", f"ada@{DOMAIN}", LOC_DOWNTOWN, PASSWORDS["ada"]),
            member(M_DAVE, "Dave Roamer", f"dave@{DOMAIN}", LOC_DOWNTOWN, PASSWORDS["dave"]),
            member(M_VIC, "Vic Virtual", f"vic@{DOMAIN}", LOC_DOWNTOWN, PASSWORDS["vic"]),
            member(M_FRED, "Fred Former", f"fred@{DOMAIN}", LOC_DOWNTOWN, PASSWORDS["fred"],
                   status="former"),
            member(M_YARA, "Yara Yesterday", f"yara@{DOMAIN}", LOC_DOWNTOWN, PASSWORDS["yara"]),
            member(M_CORA, "Cora Company", f"cora@{DOMAIN}", LOC_UPTOWN, PASSWORDS["cora"],
                   company=CO_ACME),
            member(M_JO, "Jo Plus", f"jo+wifi@{DOMAIN}", LOC_DOWNTOWN, PASSWORDS["jo"]),
            member(M_MAX, "Max Mixedcase", f"Max.Mixedcase@CoWork.Test", LOC_DOWNTOWN, PASSWORDS["max"]),
        ],
        "memberships": [
            membership(MS_ADA, PLAN_HOT, "Hot Desk", LOC_DOWNTOWN, member_id=M_ADA),
            membership(MS_DAVE, PLAN_DEDICATED, "Dedicated Desk", LOC_DOWNTOWN, member_id=M_DAVE),
            membership(MS_VIC, PLAN_VIRTUAL, "Virtual Office", LOC_DOWNTOWN, member_id=M_VIC),
            membership(MS_FRED, PLAN_HOT, "Hot Desk", LOC_DOWNTOWN, member_id=M_FRED,
                       start=-400, end=-40, calculated="expired"),
            # Ended yesterday (Berlin), but OfficeRnD's calculated status is stale.
            membership(MS_YARA, PLAN_HOT, "Hot Desk", LOC_DOWNTOWN, member_id=M_YARA,
                       start=-60, end=-1, calculated="active"),
            # Company membership: no member field, not personal.
            membership(MS_ACME, PLAN_DEDICATED, "Dedicated Desk", LOC_UPTOWN, company=CO_ACME),
            membership(MS_JO, PLAN_HOT, "Hot Desk", LOC_DOWNTOWN, member_id=M_JO),
            membership(MS_MAX, PLAN_HOT, "Hot Desk", LOC_DOWNTOWN, member_id=M_MAX),
        ],
        "passes": [],
        "bookings": [],
    }


def fixture_v2() -> dict:
    """ada's membership ended yesterday; dave moved to Hot Desk (home location only)."""
    fx = fixture_v1()
    now = instant(dt.datetime.now(dt.timezone.utc))
    for ms in fx["memberships"]:
        if ms["_id"] == MS_ADA:
            ms["endDate"] = day(-1)
            ms["calculatedStatus"] = "expired"
            ms["modifiedAt"] = now
        if ms["_id"] == MS_DAVE:
            ms["plan"] = PLAN_HOT
            ms["name"] = "Hot Desk"
            ms["modifiedAt"] = now
    return fx


# --------------------------------------------------------------------------------------
# The test
# --------------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description="radsync + FreeRADIUS end-to-end test")
    ap.add_argument("--radsync", required=True, help="path of the radsync binary")
    ap.add_argument("--source-dir", default=str(h.SOURCE_DIR), help="repository root")
    args = ap.parse_args()
    h.install_signal_handlers()
    started = time.monotonic()
    binary = Path(args.radsync).resolve()
    source = Path(args.source_dir).resolve()
    work = h.temp_workdir("radsync-e2e-")
    checks = h.Checks()
    c = checks.check
    rs = Radsync(binary, work)
    try:
        if not c("radsync binary exists and is executable",
                 lambda: expect_true(os.access(binary, os.X_OK), f"{binary} is missing or not executable")):
            return checks.summary()
        rs.write_config()
        rs.write_fixture(fixture_v1())
        if not c("radsync check-config accepts the test configuration",
                 lambda: rs.run("check-config")):
            return checks.summary()
        if not c("radsync migrate creates the database", lambda: rs.run("migrate") and expect_true(rs.db.exists(), f"{rs.db} was not created")):
            return checks.summary()

        def operator_row():
            con = sqlite3.connect(rs.db)
            with con:
                con.execute("INSERT INTO radcheck(username,attribute,op,value) VALUES (?,?,?,?)",
                            (STAFF_USER, "Cleartext-Password", ":=", STAFF_PASSWORD))
            con.close()
            return True

        if not c("operator adds a hand-made radcheck row (staff-laptop)", operator_row):
            return checks.summary()
        staff_rows = rs.query("SELECT id, username, attribute, op, value FROM radcheck WHERE username=?",
                              STAFF_USER)

        def staff_row_intact():
            expect_eq(rs.query("SELECT id, username, attribute, op, value FROM radcheck WHERE username=?",
                               STAFF_USER), staff_rows, "staff-laptop radcheck rows")

        def first_reconcile():
            ins, upd, dele = rs.reconcile()
            if ins == 0:
                raise AssertionError(f"first reconcile inserted no rows:\n{rs.last_output}")
            return True

        if not c("reconcile #1 from the fixture exits 0 and inserts rows", first_reconcile):
            return checks.summary()
        c("staff-laptop row untouched by reconcile #1", staff_row_intact)
        c("database is in WAL mode", lambda: expect_eq(rs.query("PRAGMA journal_mode")[0][0], "wal"))
        # Shared with FreeRADIUS through the group (deploy/freeradius/README.md, Permissions):
        # SQLite itself creates 0644 minus umask, and -wal/-shm copy the database's mode.
        c("database file mode is 0660 (group-writable for FreeRADIUS)",
          lambda: expect_eq(oct(rs.db.stat().st_mode & 0o777), oct(0o660), "mode of radsync.db"))
        c("plus-address username stored in FreeRADIUS's escaped form (jo=2Bwifi@...)",
          lambda: expect_true(rs.query("SELECT 1 FROM radcheck WHERE username=?", f"jo=2Bwifi@{DOMAIN}"),
                              f"no radcheck row for jo=2Bwifi@{DOMAIN}"))
        c("no clear-text password stored (storage: nt_hash)",
          lambda: expect_eq(rs.query("SELECT username FROM radcheck WHERE attribute='Cleartext-Password' "
                                     "AND username != ?", STAFF_USER), [], "Cleartext-Password rows"))

        fr = h.FreeRadius(rs.db, work / "freeradius", source_dir=source)
        with fr:
            checks.server = fr
            pid = fr.pid
            pw = PASSWORDS
            ada, dave, cora = f"ada@{DOMAIN}", f"dave@{DOMAIN}", f"cora@{DOMAIN}"

            # --- step 4: the first fixture ---------------------------------------------------
            c("pap ada@downtown accepted: basic bandwidth, 4h, VLAN 100",
              lambda: expect_reply(fr.pap(ada, pw["ada"], "downtown"), True, {**BASIC, **VLAN100}))
            c("peap ada@downtown accepted: basic bandwidth, 4h, VLAN 100",
              lambda: expect_reply(fr.peap(ada, pw["ada"], "downtown"), True, {**BASIC, **VLAN100}))
            c("pap ada carries Mikrotik-Rate-Limit 2M/10M (rx/tx as the router sees it = up/down)",
              lambda: expect_reply(fr.pap(ada, pw["ada"], "downtown"), True, {"Mikrotik-Rate-Limit": "2M/10M"}))
            c("pap ada wrong password rejected",
              lambda: expect_reply(fr.pap(ada, "wrong-password", "downtown"), False))
            c("peap ada wrong password rejected",
              lambda: expect_reply(fr.peap(ada, "wrong-password", "downtown"), False))
            c("pap ada@uptown rejected (home location only)",
              lambda: expect_reply(fr.pap(ada, pw["ada"], "uptown"), False))
            c("peap ada@uptown rejected (home location only)",
              lambda: expect_reply(fr.peap(ada, pw["ada"], "uptown"), False))
            c("pap ada via the Uptown SSID rejected",
              lambda: expect_reply(fr.pap(ada, pw["ada"], called_station_id=UPTOWN_SSID), False))

            c("pap dave@downtown accepted: pro, VLAN 100",
              lambda: expect_reply(fr.pap(dave, pw["dave"], "downtown"), True, {**PRO, **VLAN100}))
            c("pap dave@uptown accepted: pro, VLAN 200 (roaming all)",
              lambda: expect_reply(fr.pap(dave, pw["dave"], "uptown"), True, {**PRO, **VLAN200}))
            c("pap dave via SSID CoWork-Uptown accepted: VLAN 200",
              lambda: expect_reply(fr.pap(dave, pw["dave"], called_station_id=UPTOWN_SSID), True, VLAN200))
            c("peap dave@downtown accepted: VLAN 100",
              lambda: expect_reply(fr.peap(dave, pw["dave"], "downtown"), True, {**PRO, **VLAN100}))
            c("peap dave@uptown accepted: VLAN 200",
              lambda: expect_reply(fr.peap(dave, pw["dave"], "uptown"), True, {**PRO, **VLAN200}))
            c("peap dave via SSID CoWork-Uptown accepted: VLAN 200",
              lambda: expect_reply(fr.peap(dave, pw["dave"], called_station_id=UPTOWN_SSID), True, VLAN200))

            for who, why in (("vic", "Virtual Office: access none"), ("fred", "status former"),
                             ("yara", "membership ended yesterday, status stale")):
                user = f"{who}@{DOMAIN}"
                c(f"pap {who} rejected ({why})",
                  lambda user=user, who=who: expect_reply(fr.pap(user, pw[who], "downtown"), False))
                c(f"peap {who} rejected ({why})",
                  lambda user=user, who=who: expect_reply(fr.peap(user, pw[who], "downtown"), False))

            c("pap cora@uptown accepted via company membership: pro, VLAN 200",
              lambda: expect_reply(fr.pap(cora, pw["cora"], "uptown"), True, {**PRO, **VLAN200}))
            c("pap cora@downtown accepted (Dedicated Desk roams): VLAN 100",
              lambda: expect_reply(fr.pap(cora, pw["cora"], "downtown"), True, {**PRO, **VLAN100}))
            c("peap cora@uptown accepted: VLAN 200",
              lambda: expect_reply(fr.peap(cora, pw["cora"], "uptown"), True, {**PRO, **VLAN200}))
            c("peap cora@downtown accepted: VLAN 100",
              lambda: expect_reply(fr.peap(cora, pw["cora"], "downtown"), True, {**PRO, **VLAN100}))

            c("pap jo+wifi@cowork.test@downtown accepted (username escaping)",
              lambda: expect_reply(fr.pap(f"jo+wifi@{DOMAIN}", pw["jo"], "downtown"), True, {**BASIC, **VLAN100}))
            c("pap Max.Mixedcase@CoWork.Test logs in as max.mixedcase@cowork.test (case: lower)",
              lambda: expect_reply(fr.pap(f"max.mixedcase@{DOMAIN}", pw["max"], "downtown"), True, VLAN100))
            c("pap staff-laptop (operator row) accepted",
              lambda: expect_reply(fr.pap(STAFF_USER, STAFF_PASSWORD, "downtown"), True))

            # --- step 5: the fixture changes, FreeRADIUS keeps running ------------------------
            rs.write_fixture(fixture_v2())

            def dry_run():
                ins, upd, dele = rs.reconcile(dry_run=True)
                if ins + upd + dele == 0:
                    raise AssertionError(f"dry run planned no row changes:\n{rs.last_output}")
                expect_reply(fr.pap(ada, pw["ada"], "downtown"), True)  # nothing written
                expect_reply(fr.pap(dave, pw["dave"], "uptown"), True)

            c("reconcile --dry-run of the changed fixture plans changes but writes none", dry_run)

            def second_reconcile():
                ins, upd, dele = rs.reconcile()
                if ins + upd + dele == 0:
                    raise AssertionError(f"reconcile #2 changed no rows:\n{rs.last_output}")
                return True

            if c("reconcile #2 (ada ended, dave demoted) exits 0 and changes rows", second_reconcile):
                c("same FreeRADIUS process still running (no restart)",
                  lambda: expect_eq((fr.running, fr.pid), (True, pid), "(running, pid)"))
                c("pap ada rejected after her membership ended",
                  lambda: expect_reply(fr.pap(ada, pw["ada"], "downtown"), False))
                c("peap ada rejected after her membership ended",
                  lambda: expect_reply(fr.peap(ada, pw["ada"], "downtown"), False))
                c("pap dave@uptown rejected after the move to Hot Desk (home only)",
                  lambda: expect_reply(fr.pap(dave, pw["dave"], "uptown"), False))
                c("pap dave via SSID CoWork-Uptown rejected after the move",
                  lambda: expect_reply(fr.pap(dave, pw["dave"], called_station_id=UPTOWN_SSID), False))
                c("peap dave@uptown rejected after the move",
                  lambda: expect_reply(fr.peap(dave, pw["dave"], "uptown"), False))
                c("pap dave@downtown still accepted, now basic bandwidth, VLAN 100",
                  lambda: expect_reply(fr.pap(dave, pw["dave"], "downtown"), True, {**BASIC, **VLAN100}))
                c("peap dave@downtown still accepted, now basic bandwidth, VLAN 100",
                  lambda: expect_reply(fr.peap(dave, pw["dave"], "downtown"), True, {**BASIC, **VLAN100}))
                c("pap cora unaffected: still accepted at uptown",
                  lambda: expect_reply(fr.pap(cora, pw["cora"], "uptown"), True, VLAN200))
                c("staff-laptop row untouched by reconcile #2", staff_row_intact)

                # --- step 6: idempotence ---------------------------------------------------
                c("reconcile #3 of the unchanged fixture: rows inserted=0 updated=0 deleted=0",
                  lambda: expect_eq(rs.reconcile(), (0, 0, 0), "(inserted, updated, deleted)"))
                c("staff-laptop row untouched by reconcile #3", staff_row_intact)

            # --- step 7: the operator's row still works ------------------------------------------
            c("pap staff-laptop still accepted after all runs",
              lambda: expect_reply(fr.pap(STAFF_USER, STAFF_PASSWORD, "downtown"), True))
            c("FreeRADIUS wrote nothing into radsync's database (radpostauth, radacct empty)",
              lambda: expect_eq(rs.query("SELECT (SELECT count(*) FROM radpostauth), "
                                         "(SELECT count(*) FROM radacct)")[0], (0, 0), "(radpostauth, radacct)"))
            checks.server = None
    finally:
        h._stop_all()
        h.remove_workdir(work)
    print(f"e2e runtime {time.monotonic() - started:.1f}s")
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
