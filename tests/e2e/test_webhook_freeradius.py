#!/usr/bin/env python3
"""End to end: signed OfficeRnD webhooks → ``radsync serve`` → a real FreeRADIUS 3.2.

    python3 tests/e2e/test_webhook_freeradius.py --radsync build/dev/src/radsync --source-dir .

1. radsync's config (plain-HTTP webhook listener on loopback, one secret file), ``migrate``,
   and a seed snapshot with only the locations and plans (OfficeRnD sends no webhooks for
   those; the initial import brings them);
2. a private FreeRADIUS (tests/e2e/freeradius_harness.py) on the same database, and
   ``radsync serve``;
3. member A, v2 field names (location/company/status): signed member.created, then
   membership.created for Hot Desk → PAP and PEAP-MSCHAPv2 accept with VLAN 100, the plan's
   bandwidth and Session-Timeout; the time from the 200 to the first Accept is printed;
4. member B, v1 field names (office/team/calculatedStatus): company.created, member.created,
   and a company membership for Dedicated Desk (roaming all) → accepted at both locations;
5. B logs in with his user name in mixed case (Bob.V1@Cowork.TEST) over PAP and PEAP;
   member C, also of B's company, with a personal Hot Desk membership; a signed
   company.removed ends the company's access: B is rejected, C keeps Hot Desk (basic);
6. an unsigned membership.removed for B is refused and changes nothing; a signed
   membership.removed for A → PAP and PEAP reject A (time from 200 to Reject printed), B
   unaffected; SIGTERM stops radsync with exit status 0.

Prints one line per check, then "N passed, M failed"; exit status 1 on any failure.
Everything lives in a temp dir (kept with RADSYNC_E2E_KEEP=1); both servers are always stopped.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import freeradius_harness as h  # noqa: E402
from freeradius_harness import expect_eq, expect_reply, expect_true  # noqa: E402
import radsync_testlib as tl  # noqa: E402  (on sys.path through freeradius_harness)
from radsync_testlib import (BASIC, CREATED, DOMAIN, LOC_DOWNTOWN, LOC_UPTOWN,  # noqa: E402
                             PLAN_DEDICATED, PLAN_HOT, PRO, VLAN100, VLAN200, Daemon, Radsync, day,
                             envelope, event_id_of, member, membership, new_id, now_instant,
                             wait_until)

SECRET = "whsec-e2e-5f4dcc3b5aa765d61d8327deb882cf99"

A_MID, A_MSID = new_id(), new_id()
A_USER, A_PW = f"wanda@{DOMAIN}", "Wanda-wifi-1001"
B_MID, B_MSID, B_CO = new_id(), new_id(), new_id()
B_USER, B_PW = f"bob.v1@{DOMAIN}", "Bob-wifi-2002"
# Carl works at B's company too, and also holds a personal Hot Desk membership.
C_MID, C_MSID = new_id(), new_id()
C_USER, C_PW = f"carl@{DOMAIN}", "Carl-wifi-3003"

LATENCY_TIMEOUT = 10.0


def v1_company() -> dict:
    return {"_id": B_CO, "name": "Initech", "office": LOC_UPTOWN, "calculatedStatus": "active",
            "createdAt": CREATED, "modifiedAt": now_instant()}


def v1_member() -> dict:
    """v1 field names only: office, team, calculatedStatus (no location/company/status)."""
    return {"_id": B_MID, "name": "Bob Vone", "email": B_USER, "office": LOC_UPTOWN, "team": B_CO,
            "calculatedStatus": "active", "properties": {"wifi_password": B_PW},
            "createdAt": CREATED, "modifiedAt": now_instant()}


def v1_company_membership() -> dict:
    return {"_id": B_MSID, "name": "Dedicated Desk", "plan": PLAN_DEDICATED, "office": LOC_UPTOWN,
            "team": B_CO, "isPersonal": False, "status": "approved", "calculatedStatus": "active",
            "startDate": day(-30), "createdAt": CREATED, "modifiedAt": now_instant()}


def main() -> int:
    ap = argparse.ArgumentParser(description="webhook → radsync serve → FreeRADIUS end-to-end test")
    ap.add_argument("--radsync", required=True, help="path of the radsync binary")
    ap.add_argument("--source-dir", default=str(h.SOURCE_DIR), help="repository root")
    args = ap.parse_args()
    h.install_signal_handlers()
    started = time.monotonic()
    binary = Path(args.radsync).resolve()
    source = Path(args.source_dir).resolve()
    work = h.temp_workdir("radsync-webhook-e2e-")
    checks = h.Checks()
    c = checks.check
    rs = Radsync(binary, work, log_level="debug")
    secret_file = work / "webhook-secret"
    secret_file.write_text(SECRET + "\n")
    secret_file.chmod(0o600)
    d = Daemon(rs, [secret_file], tls=False, name="radsync")
    timings: dict[str, float] = {}
    try:
        if not c("radsync binary exists and is executable",
                 lambda: expect_true(os.access(binary, os.X_OK), f"{binary} is missing or not executable")):
            return checks.summary()

        def config_and_seed():
            d.write_config()
            rs.run("check-config")
            rs.run("migrate")
            rs.write_fixture(tl.seed_snapshot())
            rs.reconcile()

        if not c("check-config, migrate, seed locations and plans (reconcile --from-file)", config_and_seed):
            return checks.summary()

        fr = h.FreeRadius(rs.db, work / "freeradius", source_dir=source)
        with fr:
            checks.server = fr
            if not c("radsync serve (plain HTTP on loopback) starts; GET /readyz answers 200", d.start):
                return checks.summary()
            checks.sources = [d]

            def post(body: bytes) -> float:
                r = d.post_event(body, SECRET)
                acked = time.monotonic()
                expect_eq(r.status, 200, f"status ({r!r})")
                return acked

            def wait_pap(user, pw, nas, accepted: bool, since: float, key: str, event: bytes):
                # First the inbox (cheap to poll), then FreeRADIUS: two latencies.
                eid = event_id_of(event)
                wait_until(lambda: rs.scalar("SELECT processed_at FROM radsync_inbox WHERE event_id=?", eid),
                           LATENCY_TIMEOUT, f"event {eid} to be processed", interval=0.002)
                processed = time.monotonic() - since
                polls = [0]

                def probe():
                    polls[0] += 1
                    code, _ = fr.pap(user, pw, nas)
                    return (code == "Access-Accept") == accepted and code is not None

                wait_until(probe, LATENCY_TIMEOUT, f"PAP {user}@{nas} to be {'accepted' if accepted else 'rejected'}",
                           interval=0.005)
                timings[f"{key} ack→processed"] = processed
                timings[f"{key} ack→{'Accept' if accepted else 'Reject'}"] = time.monotonic() - since
                print(f"     {key}: 200 → inbox row processed {processed * 1000:.0f} ms → "
                      f"{'Access-Accept' if accepted else 'Access-Reject'} {(time.monotonic() - since) * 1000:.0f} ms "
                      f"({polls[0]} PAP requests)", flush=True)

            # --- member A, v2 field names --------------------------------------------------
            c("pap wanda rejected before any webhook (unknown user)",
              lambda: expect_reply(fr.pap(A_USER, A_PW, "downtown"), False))

            a_member = envelope("member.created", member(A_MID, "Wanda Webhook", A_USER, LOC_DOWNTOWN, A_PW,
                                                         modified=now_instant()))
            a_ms = envelope("membership.created", membership(A_MSID, PLAN_HOT, "Hot Desk", LOC_DOWNTOWN,
                                                             member_id=A_MID, start=-1, modified=now_instant()))
            c("signed member.created for wanda (v2: location, status, properties.wifi_password): 200",
              lambda: post(a_member))
            acked = {}
            c("signed membership.created for wanda (Hot Desk, Downtown): 200",
              lambda: acked.setdefault("a", post(a_ms)))
            if "a" in acked:
                c("wanda is accepted within 10 s of the 200 (ack→Accept latency)",
                  lambda: wait_pap(A_USER, A_PW, "downtown", True, acked["a"], "wanda",
                                         a_ms))
            c("both events processed: inbox results 'applied'",
              lambda: expect_eq(rs.wait_processed([event_id_of(a_member), event_id_of(a_ms)]),
                                {event_id_of(a_member): "applied", event_id_of(a_ms): "applied"}, "results"))
            c("pap wanda@downtown accepted: basic bandwidth, Session-Timeout 4h, VLAN 100",
              lambda: expect_reply(fr.pap(A_USER, A_PW, "downtown"), True, {**BASIC, **VLAN100}))
            c("peap wanda@downtown accepted: basic bandwidth, Session-Timeout 4h, VLAN 100",
              lambda: expect_reply(fr.peap(A_USER, A_PW, "downtown"), True, {**BASIC, **VLAN100}))
            c("pap wanda carries Mikrotik-Rate-Limit 2M/10M",
              lambda: expect_reply(fr.pap(A_USER, A_PW, "downtown"), True, {"Mikrotik-Rate-Limit": "2M/10M"}))
            c("pap wanda wrong password rejected",
              lambda: expect_reply(fr.pap(A_USER, "wrong-password", "downtown"), False))
            c("pap wanda@uptown rejected (Hot Desk: home location only)",
              lambda: expect_reply(fr.pap(A_USER, A_PW, "uptown"), False))

            # --- member B, v1 field names ---------------------------------------------------
            b_events = [envelope("company.created", v1_company()),
                        envelope("member.created", v1_member()),
                        envelope("membership.created", v1_company_membership())]

            def post_b():
                for body in b_events:
                    acked["b"] = post(body)

            c("signed company.created, member.created, membership.created for bob with v1 names "
              "(office, team, calculatedStatus): 200s", post_b)
            if "b" in acked:
                c("bob is accepted at uptown within 10 s of the last 200",
                  lambda: wait_pap(B_USER, B_PW, "uptown", True, acked["b"], "bob (v1)",
                                         b_events[-1]))
            c("bob's events processed: inbox results 'applied'",
              lambda: expect_eq(sorted(rs.wait_processed([event_id_of(b) for b in b_events]).values()),
                                ["applied"] * 3, "results"))
            c("radsync_members holds bob's v1 fields as location/company/status",
              lambda: expect_eq(rs.query("SELECT location, company, status FROM radsync_members WHERE id=?", B_MID),
                                [(LOC_UPTOWN, B_CO, "active")], "(location, company, status)"))
            c("pap bob@uptown accepted via the company membership: pro, VLAN 200",
              lambda: expect_reply(fr.pap(B_USER, B_PW, "uptown"), True, {**PRO, **VLAN200}))
            c("peap bob@uptown accepted: pro, VLAN 200",
              lambda: expect_reply(fr.peap(B_USER, B_PW, "uptown"), True, {**PRO, **VLAN200}))
            c("pap bob@downtown accepted (Dedicated Desk roams): VLAN 100",
              lambda: expect_reply(fr.pap(B_USER, B_PW, "downtown"), True, {**PRO, **VLAN100}))

            # --- user names in any case (trust issue, item 4) --------------------------------
            # FreeRADIUS used to look the name up as typed; configure-freeradius now lower-cases
            # it (ASCII, as radsync does) when accounts.username.case is lower (the default).
            mixed = "Bob.V1@Cowork.TEST"
            c(f"pap {mixed} (mixed case) accepted at uptown: pro, VLAN 200",
              lambda: expect_reply(fr.pap(mixed, B_PW, "uptown"), True, {**PRO, **VLAN200}))
            c(f"peap {mixed} (mixed case) accepted at uptown: pro, VLAN 200",
              lambda: expect_reply(fr.peap(mixed, B_PW, "uptown"), True, {**PRO, **VLAN200}))
            c(f"pap {mixed} with a wrong password rejected",
              lambda: expect_reply(fr.pap(mixed, "wrong-password", "uptown"), False))

            # --- company.removed (trust issue, item 2) -------------------------------------
            c_events = [envelope("member.created",
                                 member(C_MID, "Carl Company", C_USER, LOC_DOWNTOWN, C_PW,
                                        company=B_CO, modified=now_instant())),
                        envelope("membership.created",
                                 membership(C_MSID, PLAN_HOT, "Hot Desk", LOC_DOWNTOWN,
                                            member_id=C_MID, start=-1, modified=now_instant()))]

            def post_carl():
                for body in c_events:
                    acked["c"] = post(body)

            c("signed member.created (company = bob's) and a personal Hot Desk membership for "
              "carl: 200s", post_carl)
            if "c" in acked:
                c("carl is accepted at uptown through the company's Dedicated Desk (roams)",
                  lambda: wait_pap(C_USER, C_PW, "uptown", True, acked["c"], "carl", c_events[-1]))
            company_removed = envelope("company.removed",
                                       {**v1_company(), "modifiedAt": now_instant()})
            c("signed company.removed for bob's company (newer modifiedAt): 200",
              lambda: acked.setdefault("co", post(company_removed)))
            if "co" in acked:
                c("bob, a member only through the company, is rejected within 10 s",
                  lambda: wait_pap(B_USER, B_PW, "uptown", False, acked["co"], "company removed",
                                   company_removed))
            c("peap bob@uptown rejected after company.removed",
              lambda: expect_reply(fr.peap(B_USER, B_PW, "uptown"), False))
            c("carl keeps his personal Hot Desk: accepted at downtown with basic and VLAN 100",
              lambda: expect_reply(fr.pap(C_USER, C_PW, "downtown"), True, {**BASIC, **VLAN100}))
            c("carl is no longer accepted at uptown (the company's roaming plan is gone)",
              lambda: expect_reply(fr.pap(C_USER, C_PW, "uptown"), False))

            # --- removals -------------------------------------------------------------------
            def unsigned_removal():
                body = envelope("membership.removed", {**v1_company_membership(), "modifiedAt": now_instant()})
                before = rs.inbox_count()
                r = d.post(body, {})
                expect_eq(r.status, 401, "unsigned membership.removed")
                r = d.post(body, {"officernd-signature": tl.signature_header("wrong-secret", body)})
                expect_eq(r.status, 401, "membership.removed signed with a wrong secret")
                expect_eq(rs.inbox_count(), before, "radsync_inbox rows")
                expect_reply(fr.pap(C_USER, C_PW, "downtown"), True)

            c("unsigned / wrongly signed membership.removed for bob: 401, nothing stored, carl "
              "still accepted", unsigned_removal)

            a_removed = envelope("membership.removed",
                                 membership(A_MSID, PLAN_HOT, "Hot Desk", LOC_DOWNTOWN, member_id=A_MID,
                                            start=-1, modified=now_instant()))
            c("signed membership.removed for wanda: 200", lambda: acked.setdefault("removed", post(a_removed)))
            if "removed" in acked:
                c("wanda is rejected within 10 s of the 200 (ack→Reject latency)",
                  lambda: wait_pap(A_USER, A_PW, "downtown", False, acked["removed"],
                                         "wanda removed", a_removed))
            c("membership.removed processed: inbox result 'applied'",
              lambda: expect_eq(rs.wait_processed(event_id_of(a_removed)),
                                {event_id_of(a_removed): "applied"}, "result"))
            c("pap wanda@downtown rejected after membership.removed",
              lambda: expect_reply(fr.pap(A_USER, A_PW, "downtown"), False))
            c("peap wanda@downtown rejected after membership.removed",
              lambda: expect_reply(fr.peap(A_USER, A_PW, "downtown"), False))
            c("pap carl@downtown still accepted (unaffected)",
              lambda: expect_reply(fr.pap(C_USER, C_PW, "downtown"), True, {**BASIC, **VLAN100}))

            def sigterm():
                t0 = time.monotonic()
                rc = d.stop(timeout=5)
                expect_eq(rc, 0, "exit status")
                expect_true(time.monotonic() - t0 < 3, f"took {time.monotonic() - t0:.2f}s")

            c("radsync serve: SIGTERM exits 0 in < 3 s", sigterm)
            c("accounts survive radsync stopping: pap carl@downtown still accepted",
              lambda: expect_reply(fr.pap(C_USER, C_PW, "downtown"), True))
            checks.sources = []
            checks.server = None
    finally:
        tl.stop_all_daemons()
        h._stop_all()
        h.remove_workdir(work)
    if timings:
        print("timings: " + "; ".join(f"{k} {v * 1000:.0f} ms" for k, v in timings.items()))
    print(f"e2e runtime {time.monotonic() - started:.1f}s")
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
