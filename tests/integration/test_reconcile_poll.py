#!/usr/bin/env python3
"""Integration: the polling reconciler against the OfficeRnD simulator (no FreeRADIUS).

    python3 tests/integration/test_reconcile_poll.py --radsync build/dev/src/radsync --source-dir .

1. scripts/officernd_sim.py on a free loopback port with 130 members (so every list is paged
   at $limit=50): personal and company memberships, members without access;
2. ``radsync reconcile --standalone`` (no daemon): the initial import creates every expected
   account; the simulator's request log shows $limit=50, never both cursors, no $populate, one
   token; a second run writes nothing; --dry-run prints the change and writes nothing; a
   429 with Retry-After and a truncated response are retried; a malformed page makes the run
   fail and change nothing; the deletion guard holds back a mass removal (exit 3, run
   'guarded', everything else applied) and an empty member list, and --allow-mass-removal
   applies it (accounts revoked, radcheck Auth-Type := Reject); a wrong org slug fails with
   "not found"; without a daemon, ``reconcile`` falls back to running itself;
3. ``radsync serve`` with the officernd section (plain-HTTP webhook, the simulator posts to
   it): the initial import happens on its own; a webhook lost on purpose is repaired by
   SIGUSR1 and by ``radsync reconcile`` handed to the daemon; a delivered webhook is applied;
   the guard trips in the daemon (metric) and ``reconcile --allow-mass-removal`` through the
   daemon applies it; status over the control socket, /metrics and ``radsync status``; SIGTERM exits 0.

Prints one line per check, then "N passed, M failed"; exit status 1 on any failure.
Everything lives in a temp dir (kept with RADSYNC_E2E_KEEP=1); every process is stopped.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))

import radsync_testlib as tl  # noqa: E402
from radsync_testlib import (DOMAIN, LOC_DOWNTOWN, LOC_UPTOWN, PLAN_DEDICATED,  # noqa: E402
                             PLAN_HOT, PLAN_VIRTUAL, Checks, Daemon, Radsync, Simulator, company,
                             expect_eq, expect_true, member, membership, metric, object_id,
                             query_params, wait_until)

ORG = "test-cowork"
WEBHOOK_SECRET = "sim-webhook-secret-for-radsync-tests"
BASE_TS = 1_700_000_000  # creation time of the first fixture entity (ids sort in creation order)

N_PERSONAL = 80          # members 0..79: personal Hot Desk / Dedicated Desk membership
N_COMPANY = 40           # members 80..119: in one of the companies, company membership
N_NO_MEMBERSHIP = 5      # members 120..124: no membership at all
N_VIRTUAL = 5            # members 125..129: Virtual Office (access: none)
N_MEMBERS = N_PERSONAL + N_COMPANY + N_NO_MEMBERSHIP + N_VIRTUAL
N_ACCESS = N_PERSONAL + N_COMPANY
COMPANIES = 4
GUARD_REMOVED = range(0, 20)  # 20 > max(5, 10% of 120): the guard trips
LIMIT = 50

# The daemon tables a run writes (for "nothing was written" comparisons).
DATA_TABLES = ("radcheck", "radreply", "radusergroup", "radsync_accounts", "radsync_owned_rows",
               "radsync_members", "radsync_memberships", "radsync_companies")


# --------------------------------------------------------------------------------------
# The fixture
# --------------------------------------------------------------------------------------

def mid_of(i: int) -> str:
    return object_id(BASE_TS + i, i, machine=0xA1)


def email_of(i: int) -> str:
    return f"member{i:03d}@{DOMAIN}"


def password_of(i: int, version: int = 0) -> str:
    return f"Wifi-{i:03d}-v{version}"


class Model:
    """The simulator's data, kept here too so that a fixture can be rebuilt with changes."""

    def __init__(self):
        self.companies = [company(object_id(BASE_TS - 100 + k, k, machine=0xC0), f"Company {k}",
                                  LOC_DOWNTOWN if k % 2 == 0 else LOC_UPTOWN) for k in range(COMPANIES)]
        self.members: dict[int, dict] = {}
        self.memberships: list[dict] = []
        for i in range(N_MEMBERS):
            self.add_member(i)
        for k, co in enumerate(self.companies):
            self.memberships.append(membership(object_id(BASE_TS + 5000 + k, 5000 + k, machine=0xB2),
                                               PLAN_HOT, "Hot Desk", co["location"], company=co["_id"]))

    def add_member(self, i: int) -> dict:
        loc = LOC_DOWNTOWN if i % 2 == 0 else LOC_UPTOWN
        co = self.companies[i % COMPANIES]["_id"] if N_PERSONAL <= i < N_PERSONAL + N_COMPANY else None
        m = member(mid_of(i), f"Member {i:03d}", email_of(i), loc, password_of(i), company=co)
        self.members[i] = m
        msid = object_id(BASE_TS + 1000 + i, 1000 + i, machine=0xB1)
        if i < N_PERSONAL or i >= N_MEMBERS:  # >= N_MEMBERS: members added later by a test
            plan, name = (PLAN_HOT, "Hot Desk") if i % 2 == 0 else (PLAN_DEDICATED, "Dedicated Desk")
            self.memberships.append(membership(msid, plan, name, loc, member_id=m["_id"]))
        elif i >= N_PERSONAL + N_COMPANY + N_NO_MEMBERSHIP:
            self.memberships.append(membership(msid, PLAN_VIRTUAL, "Virtual Office", loc, member_id=m["_id"]))
        return m

    def snapshot(self, without: set[int] = frozenset(), no_members: bool = False) -> dict:
        members = [] if no_members else [m for i, m in sorted(self.members.items()) if i not in without]
        return {**tl.locations_and_plans(), "companies": list(self.companies), "members": members,
                "memberships": list(self.memberships), "passes": [], "bookings": []}

    def access(self, without: set[int] = frozenset()) -> set[str]:
        """Member ids expected to have an active account."""
        return {m["_id"] for i, m in self.members.items() if i not in without and m["status"] == "active"
                and (i < N_ACCESS or i >= N_MEMBERS)}


def patch_member(sim: Simulator, model: Model, i: int, fields: dict) -> dict:
    """PATCH a member in the simulator (a webhook goes wherever it points) and in the model."""
    answer = sim.patch_entity("members", model.members[i]["_id"], fields)
    model.members[i].update(fields)
    if isinstance(answer, dict) and isinstance(answer.get("entity"), dict):
        model.members[i] = answer["entity"]
    return answer or {}


# --------------------------------------------------------------------------------------
# Database probes
# --------------------------------------------------------------------------------------

def active_accounts(rs: Radsync) -> set[str]:
    return {r[0] for r in rs.query("SELECT member_id FROM radsync_accounts WHERE state='active'")}


def account_state(rs: Radsync, member_id: str):
    return rs.scalar("SELECT state FROM radsync_accounts WHERE member_id=?", member_id)


def nt_password(rs: Radsync, username: str) -> list[str]:
    return [v.lower().removeprefix("0x") for (v,) in
            rs.query("SELECT value FROM radcheck WHERE username=? AND attribute='NT-Password'", username)]


def auth_type(rs: Radsync, username: str) -> list[tuple]:
    return rs.query("SELECT op, value FROM radcheck WHERE username=? AND attribute='Auth-Type'", username)


def last_run(rs: Radsync) -> dict | None:
    rows = rs.query("SELECT id, mode, source, result, rows_inserted, rows_updated, rows_deleted, error "
                    "FROM radsync_runs ORDER BY id DESC LIMIT 1")
    keys = ("id", "mode", "source", "result", "inserted", "updated", "deleted", "error")
    return dict(zip(keys, rows[0])) if rows else None


def expect_accounts(rs: Radsync, expected: set[str], what: str = "active accounts") -> None:
    got = active_accounts(rs)
    missing, extra = expected - got, got - expected
    expect_true(not missing and not extra,
                f"{what}: {len(got)} active, expected {len(expected)}; missing {sorted(missing)[:5]}"
                f"{'...' if len(missing) > 5 else ''}, unexpected {sorted(extra)[:5]}")


def daemon_alive(d: Daemon) -> bool:
    """True while the daemon runs (AssertionError, ending a wait at once, when it has exited)."""
    if not d.running:
        raise AssertionError(f"the daemon exited ({d.proc.poll() if d.proc else None})")
    return True


def api_requests(sim: Simulator) -> list[dict]:
    return [r for r in sim.requests() if r.get("path", "").startswith("/api/")]


def kind_of(path: str) -> str:
    """members for /api/v2/organizations/ORG/members, '' for anything else."""
    parts = path.rstrip("/").split("/")
    return parts[5] if len(parts) == 6 else ""


# --------------------------------------------------------------------------------------
# Standalone CLI runs
# --------------------------------------------------------------------------------------

def cli_checks(c, sim: Simulator, rs: Radsync, model: Model, config: dict) -> None:
    expected = model.access()

    def initial_import():
        sim.clear_requests()
        config["stats0"] = sim.stats()
        run = rs.reconcile_api().expect(0, "initial import")
        expect_accounts(rs, expected)
        expect_true(run.rows is not None and run.rows[0] > 0, f"rows line {run.rows}\n{run.output()}")
        expect_eq(run.accounts_changed, len(expected), "accounts changed")
        expect_eq(run.guard, None, "deletion guard line")
        no_access = {model.members[i]["_id"] for i in range(N_ACCESS, N_MEMBERS)}
        expect_eq(no_access & {r[0] for r in rs.query("SELECT member_id FROM radsync_accounts")}, set(),
                  "accounts for members without access")
        for i in (0, 1, N_PERSONAL, N_ACCESS - 1):  # personal Hot / Dedicated, company members
            expect_eq(nt_password(rs, email_of(i)), [tl.nt_hash(password_of(i))], f"NT-Password of {email_of(i)}")
        r = last_run(rs)
        expect_eq((r["mode"], r["result"]), ("full", "ok"), "last radsync_runs row (mode, result)")
        print(f"     {len(expected)} accounts, rows {run.rows} in {run.elapsed:.2f}s", flush=True)

    if not c(f"initial import (reconcile --standalone, {N_MEMBERS} members): every expected account "
             f"active, none for the {N_MEMBERS - N_ACCESS} without access", initial_import):
        return

    def request_log():
        reqs = api_requests(sim)
        problems = []
        lists = [r for r in reqs if kind_of(r["path"])]
        expect_true(lists, f"no list requests in the simulator's log: {reqs[:5]}")
        for r in reqs:
            q = query_params(r)
            kind = kind_of(r["path"])
            limit = q.get("$limit", ["(none)"])[-1]
            if kind in ("members", "memberships", "companies") and limit != str(LIMIT) or \
                    kind and not (limit.isdigit() and 0 < int(limit) <= LIMIT):
                problems.append(f"$limit {limit} in {r['path']}?{r.get('query')}")
            if "$cursorNext" in q and "$cursorPrev" in q:
                problems.append(f"both cursors in {r['path']}")
            if any("populate" in k for k in q):
                problems.append(f"$populate in {r['path']}?{r.get('query')}")
            if r.get("status") != 200 or not r.get("authorized"):
                problems.append(f"{r['method']} {r['path']} answered {r.get('status')} "
                                f"(authorized {r.get('authorized')})")
        members = [r for r in lists if kind_of(r["path"]) == "members"]
        pages = math.ceil(N_MEMBERS / LIMIT)
        if len(members) != pages:
            problems.append(f"{len(members)} GET .../members requests, expected {pages} pages")
        elif not all("$cursorNext" in query_params(r) for r in members[1:]) or \
                "$cursorNext" in query_params(members[0]):
            problems.append("members pages 2.. do not follow $cursorNext: " +
                            ", ".join(str(r.get("query")) for r in members))
        memberships = [r for r in lists if kind_of(r["path"]) == "memberships"]
        if len(memberships) != math.ceil(len(model.memberships) / LIMIT):
            problems.append(f"{len(memberships)} GET .../memberships requests for {len(model.memberships)}")
        stats = sim.stats()
        tokens = stats["token_requests"] - config["stats0"]["token_requests"]
        if tokens != 1:
            problems.append(f"{tokens} token requests during the run (expected 1)")
        print(f"     {len(reqs)} API requests ({len(members)} member pages), {tokens} token request(s)",
              flush=True)
        expect_true(not problems, "; ".join(problems))

    c("simulator log: $limit=50 everywhere, members paged by $cursorNext, never both cursors, "
      "no $populate, all authorized, one token request", request_log)

    def second_run():
        before = rs.digest(DATA_TABLES)
        run = rs.reconcile_api().expect(0, "second run")
        expect_eq(run.rows, (0, 0, 0), "rows (inserted, updated, deleted)")
        expect_eq(run.accounts_changed, 0, "accounts changed")
        expect_eq(run.members, N_MEMBERS, "members evaluated")
        after = rs.digest(DATA_TABLES)
        changed = [t for t in DATA_TABLES if before[t] != after[t]]
        expect_eq(changed, [], "tables changed by a run with nothing to do")

    c("an immediate second run writes nothing (rows 0/0/0, accounts changed=0)", second_run)

    def no_daemon_fallback():
        run = rs.reconcile_api(standalone=False).expect(0, "reconcile without --standalone")
        expect_true("done by the radsync daemon" not in run.stderr, "claims a daemon ran it:\n" + run.output())
        expect_eq(run.rows, (0, 0, 0), "rows")

    c("without a daemon, `reconcile` (no --standalone) runs itself", no_daemon_fallback)

    # --- dry run ---------------------------------------------------------------------------
    changed_i = 40

    def dry_run():
        answer = patch_member(sim, model, changed_i, {"properties": {"wifi_password": password_of(changed_i, 1)}})
        expect_true(answer.get("webhook_status") is None, f"simulator sent a webhook: {answer}")
        before = rs.digest(DATA_TABLES + ("radsync_runs", "radsync_audit"))
        run = rs.reconcile_api("--dry-run").expect(0, "dry run")
        expect_true("dry run, nothing written" in run.stdout, "no 'dry run, nothing written':\n" + run.output())
        expect_true(email_of(changed_i) in run.stdout, f"the change of {email_of(changed_i)} is not listed:\n"
                    + run.output())
        expect_true(run.rows is not None and run.rows[1] >= 1, f"rows {run.rows} (expected an update)")
        after = rs.digest(DATA_TABLES + ("radsync_runs", "radsync_audit"))
        changed = [t for t in before if before[t] != after[t]]
        expect_eq(changed, [], "tables changed by --dry-run")

    c("--dry-run lists a pending change (password) and writes nothing, radsync_runs included", dry_run)

    def apply_change():
        run = rs.reconcile_api().expect(0, "run after the dry run")
        expect_true(run.rows is not None and run.rows[1] >= 1 and run.rows[2] == 0,
                    f"rows {run.rows}\n{run.output()}")
        expect_eq(nt_password(rs, email_of(changed_i)), [tl.nt_hash(password_of(changed_i, 1))], "NT-Password")

    c("the next run applies it (NT-Password updated)", apply_change)

    # --- transient faults: retried --------------------------------------------------------
    def retry_after():
        sim.clear_requests()
        sim.fault("/members", "429_retry_after", count=1, retry_after=1)
        run = rs.reconcile_api().expect(0, "run with a 429")
        expect_eq(run.rows, (0, 0, 0), "rows")
        statuses = [r["status"] for r in api_requests(sim) if kind_of(r["path"]) == "members"]
        expect_eq(statuses[:2], [429, 200], "first two GET .../members answers")
        expect_true(run.elapsed >= 0.9, f"took {run.elapsed:.2f}s: Retry-After: 1 not honoured")
        print(f"     {run.elapsed:.2f}s", flush=True)

    c("429 with Retry-After: 1 on /members, then success: the run succeeds after >= 1 s", retry_after)

    def truncated_once():
        sim.clear_requests()
        sim.fault("/members", "truncate", count=1)
        run = rs.reconcile_api().expect(0, "run with one truncated answer")
        expect_eq(run.rows, (0, 0, 0), "rows")
        print(f"     {run.elapsed:.2f}s", flush=True)

    c("one answer on /members truncated mid-body: retried, the run succeeds", truncated_once)

    # --- a failed fetch changes nothing ---------------------------------------------------
    def failed_fetch(kind: str, match: str, count: int, skip: int = 0, says: str = "error"):
        pending_i = 41  # a change the run would apply if it used a partial snapshot
        patch_member(sim, model, pending_i, {"properties": {"wifi_password": password_of(pending_i, 2)}})
        before = rs.digest(DATA_TABLES)
        last_id = rs.scalar("SELECT coalesce(max(id), 0) FROM radsync_runs")
        sim.fault(match, kind, count=count, skip=skip)
        try:
            run = rs.reconcile_api()
        finally:
            sim.clear_faults()
        expect_true(run.rc not in (0, 3), f"exit {run.rc}, expected a failure\n{run.output()}")
        expect_true("error" in run.stderr.lower() and says in run.stderr,
                    f"no error message with '{says}' on stderr:\n" + run.output())
        after = rs.digest(DATA_TABLES)
        changed = [t for t in DATA_TABLES if before[t] != after[t]]
        expect_eq(changed, [], "tables changed by a failed fetch")
        new_runs = rs.query("SELECT result FROM radsync_runs WHERE id > ?", last_id)
        expect_true(all(r[0] == "failed" for r in new_runs), f"runs recorded: {new_runs}")
        print(f"     exit {run.rc} after {run.elapsed:.2f}s: {run.stderr.strip().splitlines()[-1:]}", flush=True)

    c("a malformed page on /memberships (members already paged): exit non-zero, nothing written",
      lambda: failed_fetch("malformed", "/memberships", 7))

    # Regression (trust issue, item 1): pages that do not add up were taken as the whole list,
    # and a full run disabled the members it did not see.
    c("a skipped members page (rangeStart jumps 51 -> 101): exit 1, 'incomplete', nothing written",
      lambda: failed_fetch("skip_page", "/members", 1, skip=1, says="item 51 was next"))
    c("a members page that is empty while cursorNext goes on: exit 1, nothing written",
      lambda: failed_fetch("empty_page", "/members", 1, skip=1, says="the list would be incomplete"))

    def recovered():
        run = rs.reconcile_api().expect(0, "run after the failure")
        expect_eq(nt_password(rs, email_of(41)), [tl.nt_hash(password_of(41, 2))], "NT-Password")
        expect_accounts(rs, expected)

    c("the next run succeeds and applies the pending change", recovered)

    pages = math.ceil(N_MEMBERS / LIMIT)
    on_last_page = {model.members[i]["_id"] for i in range(LIMIT * (pages - 1), N_MEMBERS)}
    vanishing = on_last_page & {model.members[i]["_id"] for i in range(N_ACCESS)}

    def last_page_dropped(confirm_fault: str | None, outcome: str):
        before = rs.digest(DATA_TABLES)
        sim.clear_requests()
        # The second-to-last page ends the list: the last page's members are never listed.
        sim.fault("/members", "end_early", count=1, skip=pages - 2)
        if confirm_fault:
            sim.fault("/members/", confirm_fault, count=100)  # every GET by id goes wrong
        try:
            run = rs.reconcile_api().expect(0, "run with the last members page dropped")
        finally:
            sim.clear_faults()
        expect_true(f"vanished from the lists: {len(vanishing)} ({outcome})" in run.stdout,
                    "no vanished line:\n" + run.output())
        expect_accounts(rs, expected)
        after = rs.digest(DATA_TABLES)
        # Members without access on the lost page simply drop out of the stored snapshot until
        # a complete poll lists them again; nobody's RADIUS rows or account change.
        access_tables = [t for t in DATA_TABLES if not t.startswith("radsync_") or
                         t in ("radsync_accounts", "radsync_owned_rows")]
        expect_eq([t for t in access_tables if before[t] != after[t]], [], "tables changed")
        gets = {r["path"].rsplit("/", 1)[1] for r in api_requests(sim) if "/members/" in r["path"]}
        expect_eq(gets, vanishing, "members asked about by id")

    c(f"the last members page dropped ({len(vanishing)} active members unlisted): each is asked "
      "about by id, found, and keeps access; nothing written",
      lambda: last_page_dropped(None, f"0 gone, {len(vanishing)} listed late, 0 kept"))
    c("... and when the GET by id fails too, they keep their access until a later run can tell",
      lambda: last_page_dropped("malformed", f"0 gone, 0 listed late, {len(vanishing)} kept"))

    # Regression (trust issue, item 2): a company removed in OfficeRnD left its members online.
    def company_removed_by_poll():
        gone = model.companies[0]["_id"]
        staff = {m["_id"] for m in model.members.values() if m.get("company") == gone}
        expect_true(staff and staff <= active_accounts(rs), f"company staff {staff} not all active")
        fixture = model.snapshot()
        fixture["companies"] = [co for co in fixture["companies"] if co["_id"] != gone]
        sim.set_fixture(fixture)
        try:
            run = rs.reconcile_api().expect(0, "run without the company")
            expect_true("vanished from the lists: 1 (1 gone, 0 listed late, 0 kept)" in run.stdout,
                        "the company was not confirmed gone:\n" + run.output())
            expect_eq({mid: account_state(rs, mid) for mid in staff}, {mid: "revoked" for mid in staff},
                      "accounts of the company's members")
            expect_accounts(rs, expected - staff)
        finally:
            sim.set_fixture(model.snapshot())
        rs.reconcile_api().expect(0, "run with the company back")
        expect_accounts(rs, expected)

    c("a company no longer listed (GET by id: 404): its members' company access ends; back when it "
      "returns", company_removed_by_poll)

    # Regression (trust issue, item 5): a password outside the BMP was stored as an NT hash that
    # FreeRADIUS and eapol_test can never match; now the member is refused with a reason.
    def emoji_password():
        i = 42
        patch_member(sim, model, i, {"properties": {"wifi_password": "party\U0001F389time"}})
        try:
            run = rs.reconcile_api().expect(0, "run with an emoji password")
            expect_true("1 password" in run.stdout and f"password member={mid_of(i)}" in run.stdout
                        and "outside the Basic Multilingual Plane" in run.stdout,
                        "the refusal is not reported:\n" + run.output())
            expect_true("party" not in run.stdout + run.stderr, "the password was printed")
            expect_eq(account_state(rs, mid_of(i)), "revoked", "account state")
            shown = rs.run("accounts", "show", email_of(i)).stdout
            expect_true("outside the Basic Multilingual Plane" in shown, "accounts show:\n" + shown)
        finally:
            patch_member(sim, model, i, {"properties": {"wifi_password": password_of(i)}})
        rs.reconcile_api().expect(0, "run with the password fixed")
        expect_accounts(rs, expected)

    c("a password with an emoji: refused with the reason in reconcile output and accounts show, "
      "never printed; access back once it is changed", emoji_password)

    # --- the deletion guard ------------------------------------------------------------------
    removed = set(GUARD_REMOVED)
    newcomer = N_MEMBERS  # a member added in the same run: applied although the guard trips
    model.add_member(newcomer)

    def guarded():
        sim.set_fixture(model.snapshot(without=removed))
        run = rs.reconcile_api().expect(3, "run removing 20 of 120")
        expect_true(run.guard and f"{len(removed)} removal(s) held back" in run.guard and
                    "--allow-mass-removal" in run.guard, "guard line:\n" + run.output())
        expect_accounts(rs, expected | {model.members[newcomer]["_id"]}, "active accounts (held + newcomer)")
        for i in removed:
            expect_eq(auth_type(rs, email_of(i)), [], f"Auth-Type rows of {email_of(i)}")
        expect_eq(last_run(rs)["result"], "guarded", "radsync_runs.result")

    c(f"deletion guard: {len(removed)} of {N_ACCESS} members gone -> exit 3, accounts still active, "
      "run 'guarded', the new member applied anyway", guarded)

    def empty_list():
        sim.set_fixture(model.snapshot(no_members=True))
        before = active_accounts(rs)
        run = rs.reconcile_api().expect(3, "run with an empty member list")
        expect_true(run.guard, "no 'deletion guard:' line:\n" + run.output())
        expect_eq(active_accounts(rs), before, "active accounts")
        expect_eq(last_run(rs)["result"], "guarded", "radsync_runs.result")

    c("deletion guard: an empty member list while accounts exist -> exit 3, nothing disabled", empty_list)

    def approved():
        sim.set_fixture(model.snapshot(without=removed))
        run = rs.reconcile_api("--allow-mass-removal").expect(0, "--allow-mass-removal")
        expect_eq(run.guard, None, "guard line")
        expect_accounts(rs, model.access(without=removed), "active accounts")
        problems = []
        for i in removed:
            mid = model.members[i]["_id"]
            if account_state(rs, mid) != "revoked":
                problems.append(f"{mid} state {account_state(rs, mid)}")
            if auth_type(rs, email_of(i)) != [(":=", "Reject")]:
                problems.append(f"{email_of(i)} Auth-Type rows {auth_type(rs, email_of(i))}")
        expect_true(not problems, "; ".join(problems[:6]))
        expect_eq(last_run(rs)["result"], "ok", "radsync_runs.result")

    c("--allow-mass-removal applies it: accounts 'revoked', radcheck Auth-Type := Reject, run 'ok'", approved)

    # --- wrong organisation ---------------------------------------------------------------
    def wrong_slug():
        rs.write_config(config["text"].replace(f"org_slug: {ORG}", "org_slug: no-such-cowork"))
        try:
            before = rs.digest(DATA_TABLES)
            run = rs.reconcile_api(timeout=60).expect(1, "reconcile with a wrong org slug")
        finally:
            rs.write_config(config["text"])
        expect_true("not found" in run.stderr.lower(), "no 'not found' on stderr:\n" + run.output())
        expect_eq([t for t in DATA_TABLES if before[t] != rs.digest(DATA_TABLES)[t]], [], "tables changed")
        print(f"     {run.elapsed:.2f}s: {run.stderr.strip().splitlines()[-1:]}", flush=True)

    c("wrong org slug: exit 1 with 'not found', nothing written", wrong_slug)

    def parked_cli():
        # A parked webhook as the daemon leaves it (StoreWorker unit tests park real ones).
        con = sqlite3.connect(str(rs.state_db), timeout=5)
        try:
            con.execute("INSERT INTO radsync_inbox (event_id, event_type, t, received_at, body, "
                        "processed_at, result, attempts, last_error) VALUES ('ev-bad', "
                        "'member.updated', '1', 1764000000, '{}', 1764000100, "
                        "'parked: CHECK constraint failed', 5, 'CHECK constraint failed')")
            con.commit()
        finally:
            con.close()
        listed = rs.run("inbox", "parked").stdout
        expect_true("ev-bad member.updated after 5 attempts: CHECK constraint failed" in listed,
                    "inbox parked:\n" + listed)
        status = rs.run("status").stdout
        expect_true("1 parked" in status and "ev-bad" in status, "status:\n" + status)
        none = rs.run("inbox", "requeue", check=False)
        expect_eq(none.returncode, 1, "requeue with neither an id nor --all")
        missing = rs.run("inbox", "requeue", "ev-nope", check=False)
        expect_eq(missing.returncode, 1, "requeue of an unknown id")
        rs.run("inbox", "requeue", "ev-bad")
        expect_eq(rs.query("SELECT processed_at, result, attempts FROM radsync_inbox "
                           "WHERE event_id = 'ev-bad'"), [(None, "", 0)], "requeued row")
        expect_eq(rs.run("inbox", "parked").stdout.strip(), "no parked webhooks", "inbox parked")

    c("`inbox parked` lists a parked webhook with its error, `status` shows it, `inbox requeue` "
      "makes it pending again", parked_cli)


# --------------------------------------------------------------------------------------
# The daemon
# --------------------------------------------------------------------------------------

def daemon_checks(c, sim: Simulator, d: Daemon, rs: Radsync, model: Model) -> None:
    expected = model.access()
    webhook_url = f"http://127.0.0.1:{d.webhook_port}{tl.WEBHOOK_PATH}"
    dead_url = f"http://127.0.0.1:{tl.free_tcp_ports(1)[0]}{tl.WEBHOOK_PATH}"

    def initial():
        t0 = time.monotonic()
        wait_until(lambda: daemon_alive(d) and active_accounts(rs) == expected, 20,
                   f"{len(expected)} active accounts")
        print(f"     {len(expected)} accounts {time.monotonic() - t0:.2f}s after ready", flush=True)
        wait_until(lambda: last_run(rs) and last_run(rs)["result"] == "ok", 5, "a recorded 'ok' run")
        expect_eq(last_run(rs)["mode"], "full", "radsync_runs.mode")

    if not c("serve: the initial import happens on its own (every expected account active)", initial):
        return

    def status_json():
        def idle():
            j = rs.daemon_status()
            return not j.get("reconcile_running") and j
        j = wait_until(idle, 5, "control status with reconcile_running false")
        missing = [k for k in ("inbox_depth", "store_healthy", "webhooks", "polling", "reconcile_running",
                               "consecutive_failures", "last_error", "next_run") if k not in j]
        expect_eq(missing, [], f"keys missing in {j}")
        expect_eq(j["polling"], True, "polling")
        expect_true(j["next_run"], f"next_run {j['next_run']!r}")
        expect_eq(j["consecutive_failures"], 0, "consecutive_failures")
        print(f"     {json.dumps(j)}", flush=True)

    c("status over the control socket: polling true, a next_run, no failures", status_json)

    def metrics_after_import():
        m = d.metrics()
        ok = metric(m, "radsync_reconcile_runs_total", mode="full", result="success")
        nxt = metric(m, "radsync_next_reconcile_timestamp_seconds")
        expect_true(ok >= 1, f"radsync_reconcile_runs_total{{mode=full,result=success}} = {ok}")
        # interval 10m +- 10 %: the next run lies 9..11 minutes ahead.
        expect_true(time.time() + 500 < nxt < time.time() + 700, f"next reconcile at {nxt} (now {time.time():.0f})")
        expect_eq(metric(m, "radsync_deletion_guard_tripped"), 0.0, "radsync_deletion_guard_tripped")

    c("metrics: runs_total{full,success} >= 1, next reconcile 9-11 min ahead, guard not tripped",
      metrics_after_import)

    def lost_webhook(i: int, fields: dict, repaired, repair, what: str):
        sim.set_webhook_url(dead_url)
        answer = patch_member(sim, model, i, fields)
        expect_true(answer.get("webhook_status") in (None, 0) or answer.get("webhook_status") >= 500,
                    f"the webhook to a dead port was delivered? {answer.get('webhook_status')}")
        time.sleep(0.3)
        expect_true(not repaired(), f"{what} already applied without a webhook or a poll")
        t0 = time.monotonic()
        result = repair()
        wait_until(repaired, 10, what)
        print(f"     repaired {time.monotonic() - t0:.2f}s after the trigger", flush=True)
        return result

    def by_sigusr1():
        i = 50
        runs = metric(d.metrics(), "radsync_reconcile_runs_total", mode="full", result="success")
        lost_webhook(i, {"properties": {"wifi_password": password_of(i, 1)}},
                     lambda: nt_password(rs, email_of(i)) == [tl.nt_hash(password_of(i, 1))],
                     lambda: os.kill(d.pid, signal.SIGUSR1), f"new NT-Password of {email_of(i)}")
        wait_until(lambda: metric(d.metrics(), "radsync_reconcile_runs_total", mode="full", result="success")
                   > runs, 5, "runs_total{success} to grow")

    c("a webhook lost on purpose (password change) is repaired by the poll SIGUSR1 triggers", by_sigusr1)

    def by_cli():
        i = 51
        out = {}

        def repair():
            out["run"] = rs.reconcile_api(standalone=False).expect(0, "reconcile through the daemon")

        lost_webhook(i, {"status": "former"},
                     lambda: account_state(rs, model.members[i]["_id"]) == "revoked", repair,
                     f"{email_of(i)} revoked")
        run = out["run"]
        expect_true("(done by the radsync daemon, through" in run.stderr, "no '(done by the radsync daemon' line:\n" +
                    run.output())
        expect_true(run.rows is not None and sum(run.rows) >= 1, f"rows {run.rows}\n{run.output()}")
        expect_eq(auth_type(rs, email_of(i)), [(":=", "Reject")], f"Auth-Type rows of {email_of(i)}")

    c("a lost webhook (member -> former) is repaired by `radsync reconcile` run by the daemon "
      "(\"(done by the radsync daemon\" on stderr)", by_cli)

    def delivered():
        i = 52
        sim.set_webhook_url(webhook_url)
        t0 = time.monotonic()
        answer = patch_member(sim, model, i, {"properties": {"wifi_password": password_of(i, 3)}})
        expect_eq(answer.get("webhook_status"), 200, f"webhook status ({answer})")
        wait_until(lambda: nt_password(rs, email_of(i)) == [tl.nt_hash(password_of(i, 3))], 5,
                   f"new NT-Password of {email_of(i)}")
        print(f"     applied {time.monotonic() - t0:.2f}s after the PATCH", flush=True)

    c("a delivered webhook (PATCH via /_sim, signed, plain HTTP) is applied within 5 s", delivered)

    removed = set(GUARD_REMOVED)

    def guard_in_daemon():
        sim.set_webhook_url(None)
        before = active_accounts(rs)
        sim.set_fixture(model.snapshot(without=removed))
        os.kill(d.pid, signal.SIGUSR1)
        wait_until(lambda: metric(d.metrics(), "radsync_deletion_guard_tripped") == 1, 10,
                   "radsync_deletion_guard_tripped 1")
        expect_true(metric(d.metrics(), "radsync_reconcile_runs_total", mode="full", result="guarded") >= 1,
                    "radsync_reconcile_runs_total{result=guarded} is 0")
        expect_eq(last_run(rs)["result"], "guarded", "radsync_runs.result")
        expect_eq(active_accounts(rs), before, "active accounts")

    c(f"daemon: {len(removed)} members gone -> run 'guarded', radsync_deletion_guard_tripped 1, "
      "nothing disabled", guard_in_daemon)

    def approve_via_daemon():
        run = rs.reconcile_api("--allow-mass-removal", standalone=False).expect(0, "--allow-mass-removal")
        expect_true("(done by the radsync daemon, through" in run.stderr, "not run by the daemon:\n" + run.output())
        revoked = [i for i in removed if account_state(rs, model.members[i]["_id"]) == "revoked"]
        expect_eq(len(revoked), len(removed), "accounts revoked")
        expect_eq(last_run(rs)["result"], "ok", "radsync_runs.result")
        print(f"     radsync_deletion_guard_tripped now "
              f"{metric(d.metrics(), 'radsync_deletion_guard_tripped'):g}", flush=True)

    c("`reconcile --allow-mass-removal` through the daemon applies the held removals", approve_via_daemon)

    def status_cli():
        proc = rs.run("status", timeout=20)
        out = proc.stdout
        expect_true("running" in out and "not answering" not in out, "daemon line:\n" + out)
        expect_true("last runs:" in out, "no 'last runs:'\n" + out)
        expect_true(any(" full " in line for line in out.splitlines()), "no full run listed:\n" + out)
        expect_true("accounts:" in out, "no accounts line:\n" + out)
        print("     " + out.strip().replace("\n", "\n     "), flush=True)

    c("`radsync status`: daemon running with the next run, accounts, last runs", status_cli)

    def sighup_remaps():
        # A mapping change takes effect at SIGHUP, with no poll and no webhook: the held
        # snapshot is re-mapped, group rows included (basic: 4h -> 5h sessions).
        timeouts = "SELECT DISTINCT value FROM radgroupreply WHERE attribute = 'Session-Timeout'"
        expect_eq(sorted(v for (v,) in rs.query(timeouts)), ["14400", "28800"], "Session-Timeout values")
        reloads = metric(d.metrics(), "radsync_reconcile_runs_total", mode="reload", result="success")
        polls = metric(d.metrics(), "radsync_reconcile_runs_total", mode="full", result="success")
        mapping = rs.work / "mapping.yaml"
        mapping.write_text(tl.MAPPING_YAML.replace("session_timeout: 4h", "session_timeout: 5h"))
        try:
            os.kill(d.pid, signal.SIGHUP)
            wait_until(lambda: sorted(v for (v,) in rs.query(timeouts)) == ["18000", "28800"], 5,
                       "Session-Timeout 18000 for the basic group")
        finally:
            mapping.write_text(tl.MAPPING_YAML)
        # The rows commit before the run is counted: wait for the count, do not race it.
        wait_until(lambda: metric(d.metrics(), "radsync_reconcile_runs_total", mode="reload",
                                  result="success") > reloads, 5,
                   "radsync_reconcile_runs_total{mode=reload,result=success} to grow")
        expect_eq(metric(d.metrics(), "radsync_reconcile_runs_total", mode="full", result="success"), polls,
                  "full runs (the remap needed no poll)")

    c("SIGHUP with a changed mapping: group rows re-mapped from the held snapshot, no poll",
      sighup_remaps)

    def sigterm():
        t0 = time.monotonic()
        rc = d.stop(timeout=10)
        expect_eq(rc, 0, "exit status")
        print(f"     exit 0 {time.monotonic() - t0:.2f}s after SIGTERM", flush=True)

    c("SIGTERM: the daemon exits 0", sigterm)


# --------------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description="radsync polling reconciler integration test")
    ap.add_argument("--radsync", required=True, help="path of the radsync binary")
    ap.add_argument("--source-dir", default=str(tl.SOURCE_DIR), help="repository root")
    args = ap.parse_args()
    tl.install_signal_handlers()
    started = time.monotonic()
    binary = Path(args.radsync).resolve()
    source = Path(args.source_dir).resolve()
    work = tl.temp_workdir("radsync-poll-")
    checks = Checks()
    c = checks.check
    try:
        if not c("radsync binary exists and is executable",
                 lambda: expect_true(os.access(binary, os.X_OK), f"{binary} is missing or not executable")):
            return checks.summary()
        webhook_secret = work / "webhook-secret"
        webhook_secret.write_text(WEBHOOK_SECRET)  # no newline: the simulator reads it too
        webhook_secret.chmod(0o600)
        model = Model()
        # Every CLI run fetches its own token: lift OfficeRnD's 5 token requests a minute, or
        # radsync (rightly) waits for the window from the 6th run on.
        sim = Simulator(work, model.snapshot(), org=ORG, webhook_secret_file=webhook_secret,
                        script=source / "scripts/officernd_sim.py",
                        extra_args=("--token-rate-limit", "0"))
        if not c("simulator starts and writes its port file", sim.start):
            return checks.summary()
        checks.sources = [sim]
        client_secret = sim.write_client_secret(work / "officernd-client-secret")

        # --- standalone CLI ----------------------------------------------------------------
        (work / "cli").mkdir()
        rs = Radsync(binary, work / "cli", log_level="debug")
        config = {"text": sim.officernd_yaml(client_secret) + tl.sync_yaml(interval="10m") +
                  tl.metrics_yaml(tl.free_tcp_ports(1)[0])}  # nobody listens there: no daemon

        def setup_cli():
            rs.write_config(config["text"])
            rs.run("check-config")
            # Regression (trust issue, item 6): a dry run created and migrated the database.
            run = rs.reconcile_api("--dry-run").expect(0, "dry run against no database")
            expect_true("dry run, nothing written" in run.stdout, run.output())
            expect_true(run.rows is not None and run.rows[0] > 0, f"planned rows {run.rows}")
            left = sorted(p.name for p in rs.work.iterdir() if p.name.startswith((rs.db.name, rs.state_db.name)))
            expect_eq(left, [], "files a dry run left behind")
            rs.run("migrate")

        if c("[cli] check-config accepts officernd + sync sections; --dry-run before any database "
             "plans every row and creates no file; migrate", setup_cli):
            cli_checks(c, sim, rs, model, config)

        # --- the daemon ------------------------------------------------------------------
        (work / "daemon").mkdir()
        model = Model()
        sim.set_fixture(model.snapshot())
        sim.set_webhook_url(None)
        rs2 = Radsync(binary, work / "daemon", log_level="debug")
        d = Daemon(rs2, [webhook_secret], tls=False, name="radsync-poll",
                   extra_config=sim.officernd_yaml(client_secret) + tl.sync_yaml(interval="10m"))

        def start_daemon():
            rs2.write_config()
            rs2.run("migrate")
            d.start()

        if c("[daemon] migrate; serve (officernd section, plain-HTTP webhook) starts; /readyz 200", start_daemon):
            checks.sources = [sim, d]
            daemon_checks(c, sim, d, rs2, model)
        d.stop()
        checks.sources = []
    finally:
        tl.stop_all_daemons()
        tl.remove_workdir(work)
    print(f"integration runtime {time.monotonic() - started:.1f}s")
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
