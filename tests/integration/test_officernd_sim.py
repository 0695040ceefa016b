#!/usr/bin/env python3
"""Integration: the OfficeRnD simulator (scripts/officernd_sim.py) keeps its contract.

    python3 tests/integration/test_officernd_sim.py --source-dir .

Checks the simulator over real sockets against what officernd-api.md documents of OfficeRnD
(sections 1.3, 1.8, 3, 5, 6 and 7), since radsync's own tests trust it to behave that way:

1. plain HTTP, a 120-member fixture, webhooks to a small receiver in this test:
   tokens (ok, bad client 401, the 6th request in a minute 429), bearer checks (401), a wrong
   slug (500), paging 50/50/20 with the right ranges and cursors (and back with $cursorPrev),
   every validation error ($limit, unknown parameters, $populate, memberships' modifiedAt,
   both cursors 504, garbage cursors 500), single GETs and 404, filters, $select, $sort,
   every fault kind, admin PUT/PATCH/DELETE with correctly signed webhooks (HMAC-SHA256 over
   body + "." + t) and the envelope, the request log, fixture replacement, body limits, the
   bound address, and a quiet stderr;
2. HTTPS with the test certificate (tests/fixtures/tls), --verbose, a 1 s token TTL,
   --token-rate-limit 0 and webhooks to an HTTPS receiver with --webhook-insecure;
3. SIGTERM: both exit 0 promptly.

Prints one line per check, then "N passed, M failed"; exit status 1 on any failure.
Everything lives in a temp dir (kept with RADSYNC_E2E_KEEP=1); every process is stopped.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import re
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))

import radsync_testlib as tl  # noqa: E402
from radsync_testlib import (CREATED, LOC_DOWNTOWN, LOC_UPTOWN, PLAN_DEDICATED, PLAN_HOT,  # noqa: E402
                             Checks, HttpError, Simulator, expect_eq, expect_true, member,
                             membership, wait_until)

ORG = "sim-cowork"
SECRET = "whsec-sim-test-0123456789"
N_MEMBERS = 120
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
UNAUTHORIZED = {"statusCode": 401, "message": "Unauthorized access", "error": "Unauthorized"}
CO_A = "64c0000000000000000000a1"
CO_B = "64c0000000000000000000b2"


def mid(i: int) -> str:
    return f"65a{i:021x}"


def build_fixture() -> dict:
    """120 members (ids in _id order = index order); every 10th is former, every 4th in a company;
    members 100.. modified later; memberships for the first 30; a few passes and bookings."""
    members, memberships = [], []
    for i in range(N_MEMBERS):
        company = (CO_A if i % 8 == 0 else CO_B) if i % 4 == 0 else None
        m = member(mid(i), f"Member {i:03d}", f"m{i:03d}@cowork.test", LOC_DOWNTOWN if i % 2 else LOC_UPTOWN,
                   f"pw-{i}", status="former" if i % 10 == 9 else "active", company=company,
                   modified="2026-02-01T10:00:00.000Z" if i >= 100 else CREATED)
        members.append(m)
    for i in range(30):
        memberships.append(membership(f"66b{i:021x}", PLAN_HOT if i % 2 else PLAN_DEDICATED,
                                      "Hot Desk" if i % 2 else "Dedicated Desk", LOC_DOWNTOWN,
                                      member_id=mid(i)))
    memberships.append(membership("66b0000000000000000000ff", PLAN_DEDICATED, "Dedicated Desk", LOC_UPTOWN,
                                  company=CO_A))
    # Out of _id order on purpose: the simulator sorts.
    memberships.reverse()
    members.reverse()
    return {
        **tl.locations_and_plans(),
        "companies": {"results": [tl.company(CO_A, "Alpha GmbH", LOC_UPTOWN),
                                  tl.company(CO_B, "Beta AG", LOC_DOWNTOWN, status="former")]},
        "members": members,
        "memberships": memberships,
        "passes": [{"_id": f"67c{i:021x}", "member": mid(i), "count": 5, "usedCount": 1,
                    "status": "valid", "createdAt": CREATED, "modifiedAt": CREATED} for i in range(3)],
        "bookings": [{"_id": f"68d{i:021x}", "member": mid(i), "location": LOC_DOWNTOWN,
                      "start": f"2026-03-0{i + 1}T09:00:00.000Z", "end": f"2026-03-0{i + 1}T11:00:00.000Z",
                      "createdAt": CREATED, "modifiedAt": CREATED} for i in range(4)],
    }


# --------------------------------------------------------------------------------------
# A webhook receiver: records every POST, answers with a settable status
# --------------------------------------------------------------------------------------

class Receiver:
    def __init__(self, tls: bool = False):
        self.events: list[dict] = []
        self.status = 200
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n) if n else b""
                with receiver.lock:
                    receiver.events.append({"path": self.path, "headers": dict(self.headers.items()),
                                            "body": body, "at": time.time()})
                    status = receiver.status
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(str(tl.TLS_CERT), str(tl.TLS_KEY))
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.server.server_address[1]}{tl.WEBHOOK_PATH}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def count(self) -> int:
        with self.lock:
            return len(self.events)

    def last(self) -> dict:
        with self.lock:
            return self.events[-1]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def verify_signature(event: dict, secret: str) -> dict:
    """Checks officernd-signature as officernd-api.md 1.3 says; returns the parsed envelope."""
    header = {k.lower(): v for k, v in event["headers"].items()}.get("officernd-signature", "")
    m = re.fullmatch(r"t=(\d+),signature=([0-9a-f]{64})", header)
    expect_true(m, f"officernd-signature header {header!r}")
    t, sig = m.group(1), m.group(2)
    expected = hmac.new(secret.encode(), event["body"] + b"." + t.encode(), hashlib.sha256).hexdigest()
    expect_true(hmac.compare_digest(expected, sig), "signature is not HMAC-SHA256(secret, body + '.' + t)")
    stripe = hmac.new(secret.encode(), t.encode() + b"." + event["body"], hashlib.sha256).hexdigest()
    expect_true(stripe != sig, "signature verifies Stripe-style (t.body)")
    expect_true(abs(int(t) - event["at"]) <= 5, f"t={t} is not now ({event['at']:.0f})")
    return json.loads(event["body"])


def check_envelope(env: dict, event_type: str, obj: dict) -> None:
    expect_eq(sorted(set(env) - {"data"}), ["createdAt", "event", "eventType"], "envelope keys")
    expect_true(re.fullmatch(r"[0-9a-f]{24}", env["event"]), f"event id {env['event']!r}")
    expect_eq(env["eventType"], event_type, "eventType")
    expect_eq(env["data"]["object"], obj, "data.object")
    expect_true(ISO_MS.match(env["createdAt"]), f"createdAt {env['createdAt']!r}")


# --------------------------------------------------------------------------------------
# Client helpers
# --------------------------------------------------------------------------------------

class Api:
    def __init__(self, sim: Simulator):
        self.sim = sim
        self.token = ""

    def get(self, tail: str, token: str | None = None, org: str | None = None):
        headers = {"Authorization": f"Bearer {self.token if token is None else token}"}
        return self.sim.request("GET", self.sim.api_path(tail, org), headers=headers)

    def ok(self, tail: str):
        r = self.get(tail)
        expect_eq(r.status, 200, f"GET {tail} status (body {r.body[:200]!r})")
        return json.loads(r.body)

    def error(self, tail: str, status: int, body=None):
        r = self.get(tail)
        expect_eq(r.status, status, f"GET {tail} status (body {r.body[:200]!r})")
        if body is not None:
            expect_eq(json.loads(r.body), body, f"GET {tail} body")
        return r

    def walk(self, tail: str) -> list[dict]:
        """Every page of a list, following cursorNext; the pages."""
        pages, cursor = [], None
        sep = "&" if "?" in tail else "?"
        while True:
            page = self.ok(tail + (f"{sep}$cursorNext={cursor}" if cursor else ""))
            pages.append(page)
            cursor = page.get("cursorNext")
            if not cursor:
                return pages
            expect_true(len(pages) < 100, "paging does not end")


def ids(page: dict) -> list[str]:
    return [o["_id"] for o in page["results"]]


def admin_raw(sim: Simulator, method: str, path: str, body: bytes = b""):
    return sim.request(method, "/_sim" + path, body)


# --------------------------------------------------------------------------------------
# Checks on the plain-HTTP simulator
# --------------------------------------------------------------------------------------

def token_checks(c: Checks, sim: Simulator, api: Api) -> None:
    def token_ok():
        r = sim.token_response(scope="flex.community.members.read flex.community.memberships.read")
        expect_eq(r.status, 200, "status")
        doc = json.loads(r.body)
        expect_eq(doc["token_type"], "Bearer", "token_type")
        expect_eq(doc["expires_in"], 3599, "expires_in")
        expect_eq(doc["scope"], "flex.community.members.read flex.community.memberships.read", "scope")
        expect_true(isinstance(doc["access_token"], str) and len(doc["access_token"]) >= 20, "access_token")
        api.token = doc["access_token"]

    c.check("POST /oauth/token: 200 Bearer, expires_in 3599, scope as asked", token_ok)

    def bad_credentials():
        for kw in ({"client_secret": "wrong"}, {"client_id": "someone-else"}, {"grant_type": "password"}):
            r = sim.token_response(**kw)
            expect_eq((r.status, json.loads(r.body)), (401, {"error": "invalid_client"}), f"{kw}")

    c.check("bad secret, client id or grant_type: 401 invalid_client", bad_credentials)

    def rate_limited():
        r = sim.token_response()  # the 5th request this minute (failures count too)
        expect_eq(r.status, 200, "5th token request")
        for n in (6, 7):
            r = sim.token_response()
            expect_eq(r.status, 429, f"token request #{n}")
            expect_eq(r.body.decode(), "Too many requests, please try again later", "429 body")
        expect_eq(sim.stats()["token_requests"], 7, "stats token_requests")

    c.check("the 6th token request within a minute: 429 'Too many requests, please try again later'",
            rate_limited)

    def bearer():
        r = sim.request("GET", sim.api_path("members"))
        expect_eq((r.status, json.loads(r.body)), (401, UNAUTHORIZED), "no Authorization")
        for header in ("Bearer not-a-token", "Basic " + base64.b64encode(b"sim:secret").decode(),
                       f"Token {api.token}", "Bearer "):
            r = sim.request("GET", sim.api_path("members"), headers={"Authorization": header})
            expect_eq((r.status, json.loads(r.body)), (401, UNAUTHORIZED), f"Authorization: {header[:20]}")
        r = sim.request("GET", sim.api_path("members/" + mid(1)), headers={"Authorization": "Bearer nope"})
        expect_eq(r.status, 401, "single GET with a wrong token")

    c.check("bearer token missing, wrong or another scheme: 401 'Unauthorized access'", bearer)

    c.check("wrong organization slug: 500 'Organization not found'",
            lambda: [expect_eq((r.status, json.loads(r.body)),
                               (500, {"statusCode": 500, "message": "Organization not found"}), tail)
                     for tail in ("members", "members/" + mid(1))
                     for r in [api.get(tail, org="no-such-org")]])


def paging_checks(c: Checks, sim: Simulator, api: Api, fixture: dict) -> None:
    all_ids = sorted(m["_id"] for m in fixture["members"])

    def paging():
        pages = api.walk("members?$limit=50")
        expect_eq([len(p["results"]) for p in pages], [50, 50, 20], "page sizes")
        expect_eq([(p["rangeStart"], p["rangeEnd"]) for p in pages], [(1, 50), (51, 100), (101, 120)], "ranges")
        expect_eq(["cursorNext" in p for p in pages], [True, True, False], "cursorNext present")
        expect_eq(["cursorPrev" in p for p in pages], [False, True, True], "cursorPrev present")
        expect_eq([i for p in pages for i in ids(p)], all_ids, "every member once, in _id order")
        for p in pages:
            expect_eq(sorted(set(p) - {"results"}), sorted({"rangeStart", "rangeEnd"} |
                                                          ({"cursorNext"} if "cursorNext" in p else set()) |
                                                          ({"cursorPrev"} if "cursorPrev" in p else set())),
                      "envelope keys")
        cursor = json.loads(base64.urlsafe_b64decode(pages[0]["cursorNext"] + "=="))
        expect_eq(cursor, {"k": "_id", "p": 50, "v": all_ids[49]}, "cursor content (opaque, but as documented)")
        back = api.ok(f"members?$limit=50&$cursorPrev={pages[2]['cursorPrev']}")
        expect_eq((ids(back), back["rangeStart"], back["rangeEnd"]), (ids(pages[1]), 51, 100),
                  "$cursorPrev from page 3 gives page 2")
        first = api.ok(f"members?$limit=50&$cursorPrev={pages[1]['cursorPrev']}")
        expect_eq((ids(first), "cursorPrev" in first), (ids(pages[0]), False), "$cursorPrev back to page 1")

    c.check("120 members with $limit=50: 50/50/20, ranges 1-50/51-100/101-120, cursorNext absent on "
            "the last page, cursorPrev absent on the first; $cursorPrev walks back", paging)

    def defaults():
        p = api.ok("members")
        expect_eq((len(p["results"]), p["rangeStart"], p["rangeEnd"]), (50, 1, 50), "no $limit: 50")
        p = api.ok("members?$limit=7")
        expect_eq((len(p["results"]), p["rangeEnd"]), (7, 7), "$limit=7")
        p = api.ok("members?$limit=0")
        expect_eq(len(p["results"]), 50, "$limit=0 falls back to the default")
        p = api.ok("passes?member=nobody")
        expect_eq(p, {"results": [], "rangeStart": 0, "rangeEnd": 0}, "empty list")
        p = api.ok("companies")
        expect_eq((ids(p), "cursorNext" in p), ([CO_A, CO_B], False), "a fixture list given as an envelope")

    c.check("default $limit 50, $limit=7, $limit=0, empty list (ranges 0, no cursors)", defaults)

    def validation():
        api.error("members?$limit=51", 400, {"statusCode": 400, "message": "$limit must not be greater than 50",
                                             "error": "Bad Request"})
        api.error("members?$limit=abc", 400)
        for tail, name in (("members?foo=1", "foo"), ("members?$populate=company", "$populate"),
                           ("memberships?modifiedAt[$gte]=2026-01-01T00:00:00.000Z", "modifiedAt[$gte]"),
                           ("memberships?modifiedAt%5B%24gte%5D=2026-01-01T00:00:00.000Z", "modifiedAt[$gte]"),
                           ("memberships?$sort=name", "$sort"), ("companies?status[$in]=active", "status[$in]"),
                           ("members?$next=abc", "$next"), ("bookings?start[$gt]=2026-01-01", "start[$gt]")):
            r = api.error(tail, 400)
            doc = json.loads(r.body)
            expect_eq((doc["statusCode"], doc["error"]), (400, "Bad Request"), tail)
            expect_true(f"property {name} should not exist" in json.dumps(doc["message"]),
                        f"{tail}: message {doc['message']!r}")
        api.error("members?modifiedAt[$gte]=yesterday", 400)

    c.check("$limit=51 400 (exact body), unknown parameter / $populate / memberships modifiedAt 400 "
            "'property ... should not exist'", validation)

    def cursors():
        page = api.ok("members?$limit=10")
        nxt = page["cursorNext"]
        second = api.ok(f"members?$limit=10&$cursorNext={nxt}")
        api.error(f"members?$cursorNext={nxt}&$cursorPrev={second['cursorPrev']}", 504)
        internal = {"statusCode": 500, "message": "Internal server error"}
        junk = base64.urlsafe_b64encode(b'{"k":"name","v":"x"}').decode()
        for garbage in ("%21%21%21", "abc", junk, base64.urlsafe_b64encode(b"not json").decode(), ""):
            api.error(f"members?$cursorNext={garbage}", 500, internal)
            api.error(f"members?$cursorPrev={garbage}", 500, internal)

    c.check("both cursors: 504; garbage cursors: 500", cursors)

    def single():
        obj = next(m for m in fixture["members"] if m["_id"] == mid(5))
        expect_eq(api.ok(f"members/{mid(5)}"), obj, "bare object")
        expect_eq(api.ok(f"members/{mid(5)}?$select=name&whatever=1"), obj, "single GET ignores parameters")
        missing = "65a0000000000000deadbeef"
        api.error(f"members/{missing}", 404, {"statusCode": 404, "message": f"Item with Id ({missing}) not found",
                                              "error": "Not Found"})
        api.error(f"memberships/{mid(5)}", 404)
        r = api.get("widgets")
        expect_eq(r.status, 404, "unknown kind")
        r = sim.request("POST", sim.api_path("members"), b"{}", {"Authorization": f"Bearer {api.token}"})
        expect_eq(r.status, 404, "POST to a list")

    c.check("GET /members/{id}: the bare object; unknown id 404 'Item with Id (...) not found'", single)

    def filters():
        expect_eq(sum(len(p["results"]) for p in api.walk("members?status=former")), 12, "status=former")
        both = [i for p in api.walk("members?status[$in]=active,former") for i in ids(p)]
        expect_eq(both, all_ids, "status[$in]=active,former")
        encoded = api.ok("members?status%5B%24in%5D=former&$limit=50")
        expect_eq(len(encoded["results"]), 12, "percent-encoded status[$in]")
        co_a = [i for p in api.walk(f"members?company={CO_A}") for i in ids(p)]
        expect_eq(co_a, sorted(mid(i) for i in range(N_MEMBERS) if i % 8 == 0), "company=")
        up = api.ok(f"members?location={LOC_UPTOWN}&status=former&$limit=50")
        expect_eq(ids(up), sorted(mid(i) for i in range(N_MEMBERS) if i % 2 == 0 and i % 10 == 9), "and-ed")
        expect_eq(ids(api.ok("members?email=m007@cowork.test")), [mid(7)], "email=")
        later = api.ok("members?modifiedAt[$gte]=2026-01-01T00:00:00.000Z")
        expect_eq(ids(later), [mid(i) for i in range(100, N_MEMBERS)], "modifiedAt[$gte]")
        expect_eq(len(api.ok("members?modifiedAt[$gt]=2026-02-01T10:00:00Z")["results"]), 0, "modifiedAt[$gt]")
        expect_eq(len(api.ok("members?modifiedAt[$lte]=2026-02-01T10:00:00Z&$limit=50")["results"]), 50,
                  "modifiedAt[$lte]")
        expect_eq(ids(api.ok(f"memberships?member={mid(3)}")), [f"66b{3:021x}"], "memberships member=")
        expect_eq(ids(api.ok(f"memberships?company={CO_A}")), ["66b0000000000000000000ff"], "memberships company=")
        expect_eq(ids(api.ok("companies?status=former")), [CO_B], "companies status=")
        expect_eq(ids(api.ok("plans?name=Hot%20Desk")), [PLAN_HOT], "plans name= (encoded space)")
        expect_eq(ids(api.ok("locations?name=Uptown")), [LOC_UPTOWN], "locations name=")
        expect_eq(len(api.ok(f"passes?member={mid(1)}")["results"]), 1, "passes member=")
        expect_eq(len(api.ok("bookings?start[$gte]=2026-03-02T00:00:00.000Z&start[$lt]=2026-03-04")["results"]),
                  2, "bookings start[$gte]&start[$lt]")
        # A filtered listing pages like any other.
        pages = api.walk("members?status=active&$limit=50")
        expect_eq([(p["rangeStart"], p["rangeEnd"]) for p in pages], [(1, 50), (51, 100), (101, 108)],
                  "status=active ranges")

    c.check("filters filter: status, status[$in], company, location, email, modifiedAt[...], member, "
            "name, start[...]; a filtered list pages", filters)

    def select_and_sort():
        p = api.ok("members?$select=name,email&$limit=3")
        expect_eq([sorted(o) for o in p["results"]], [["_id", "email", "name"]] * 3, "$select")
        p = api.ok("members?$select=nosuchfield&$limit=2")
        expect_eq([sorted(o) for o in p["results"]], [["_id"]] * 2, "$select of unknown fields")
        for sort in ("$sort=-name", "$sort=%7B%22name%22%3A-1%7D", "$sort[name]=-1"):
            names = [o["name"] for p in api.walk(f"members?{sort}&$limit=50") for o in p["results"]]
            expect_eq(names, sorted((f"Member {i:03d}" for i in range(N_MEMBERS)), reverse=True), sort)
        api.error("members?$sort=wifi", 400)

    c.check("$select projects (unknown fields leave _id); $sort by name descending pages across cursors",
            select_and_sort)


def fault_checks(c: Checks, sim: Simulator, api: Api) -> None:
    members = "members?$limit=5"

    def retry_after():
        sim.fault("/members", "429")
        r = api.get(members)
        expect_eq((r.status, "retry-after" in r.headers), (429, False), "429 without retry_after")
        expect_eq(api.get(members).status, 200, "next request")
        sim.fault("/members", "429", retry_after=7)
        r = api.get(members)
        expect_eq((r.status, r.headers.get("retry-after")), (429, "7"), "429 with retry_after")
        sim.fault("/members", "429_retry_after", retry_after=3)
        r = api.get(members)
        expect_eq((r.status, r.headers.get("retry-after")), (429, "3"), "429_retry_after")
        sim.fault("/members", "429_retry_after")
        r = api.get(members)
        expect_eq((r.status, r.headers.get("retry-after")), (429, "1"), "429_retry_after without retry_after")

    c.check("fault 429: no Retry-After, or Retry-After: N with retry_after; 429_retry_after", retry_after)

    def statuses():
        for kind in ("500", "503", "504", "401"):
            sim.fault("/members", kind)
            r = api.get(members)
            expect_eq(r.status, int(kind), f"fault {kind}")
            expect_eq(api.get(members).status, 200, f"after fault {kind}")

    c.check("faults 500, 503, 504, 401 (with a valid token), one request each", statuses)

    def bodies():
        sim.fault("/members", "slow", delay_ms=300)
        t0 = time.monotonic()
        r = api.get(members)
        expect_true(r.status == 200 and time.monotonic() - t0 >= 0.3, f"slow: {r.status} in {time.monotonic() - t0:.2f}s")
        expect_eq(len(json.loads(r.body)["results"]), 5, "slow answers normally")
        sim.fault("/members", "malformed")
        r = api.get(members)
        expect_eq(r.status, 200, "malformed status")
        try:
            json.loads(r.body)
            raise AssertionError(f"malformed body parses: {r.body!r}")
        except ValueError:
            pass
        sim.fault("/members", "bad_json_page")
        r = api.get(members)
        doc = json.loads(r.body)
        expect_true(r.status == 200 and not all(isinstance(o, dict) for o in doc["results"])
                    and not isinstance(doc.get("cursorNext"), str), f"bad_json_page: {doc}")
        sim.fault("/members", "truncate")
        try:
            r = api.get(members)
            raise AssertionError(f"truncate: a whole answer arrived: {r}")
        except HttpError as exc:
            expect_true("inside the body" in str(exc), f"truncate: {exc}")
        expect_eq(api.get(members).status, 200, "after truncate")

    c.check("faults slow (delays, then answers), malformed (200, broken JSON), bad_json_page, "
            "truncate (closed mid-body)", bodies)

    def page_faults():
        first = json.loads(api.get(members).body)
        second = json.loads(api.get(members + "&$cursorNext=" + first["cursorNext"]).body)
        expect_eq((first["rangeStart"], first["rangeEnd"], second["rangeStart"]), (1, 5, 6),
                  "normal ranges")
        sim.fault("/members", "skip_page")
        skipped = json.loads(api.get(members).body)
        expect_eq((skipped["rangeStart"], skipped["rangeEnd"]), (6, 10), "skip_page serves page 2")
        expect_eq(skipped["results"], second["results"], "skip_page results")
        sim.fault("/members", "empty_page")
        empty = json.loads(api.get(members).body)
        expect_eq((empty["results"], empty["rangeStart"], empty["rangeEnd"]), ([], 0, 0), "empty_page")
        expect_eq(empty.get("cursorNext"), first["cursorNext"], "empty_page keeps the cursor")
        sim.fault("/members", "end_early", skip=1)
        expect_true("cursorNext" in json.loads(api.get(members).body), "skip=1 lets one through")
        early = json.loads(api.get(members).body)
        expect_true("cursorNext" not in early and early["rangeEnd"] == 5, f"end_early: {early}")
        expect_eq(api.get("members/" + first["results"][0]["_id"]).status, 200, "single GET unaffected")

    c.check("page faults skip_page (a range gap), empty_page (cursor goes on), end_early; skip=N",
            page_faults)

    def matching():
        sim.fault("/members", "500", count=2)
        expect_eq(api.get("companies").status, 200, "a path that does not match")
        expect_eq([api.get(members).status for _ in range(3)], [500, 500, 200], "count=2")
        sim.fault("/oauth/token", "503")
        expect_eq(sim.token_response().status, 503, "a fault on the token endpoint")
        sim.fault("/members", "500", count=5)
        expect_eq(len(sim.admin("GET", "/faults")), 1, "pending faults")
        sim.clear_faults()
        expect_eq(api.get(members).status, 200, "after DELETE /_sim/faults")
        r = admin_raw(sim, "POST", "/faults", json.dumps({"match": "/x", "kind": "teapot"}).encode())
        expect_eq(r.status, 400, "unknown fault kind")

    c.check("faults hit only matching paths, count times; the token endpoint; DELETE clears", matching)

    def hang_up():
        sim.fault("/members", "slow", delay_ms=500)
        try:
            api.sim.request("GET", sim.api_path(members), headers={"Authorization": f"Bearer {api.token}"},
                            timeout=0.1)
            raise AssertionError("answered within 0.1 s despite a 500 ms delay")
        except (TimeoutError, OSError, HttpError):
            pass
        time.sleep(0.6)  # the simulator finishes the abandoned request
        expect_eq(api.get(members).status, 200, "next request")
        expect_true("Traceback" not in sim.log_from(0), "traceback on stderr:\n" + sim.log_from(0))

    c.check("a client hanging up during a slow answer: no traceback, next request fine", hang_up)


def admin_checks(c: Checks, sim: Simulator, api: Api, rx: Receiver) -> None:
    new_id = "65a0000000000000000abcde"
    state: dict = {}

    def put_new():
        n = rx.count()
        body = member(new_id, "Newt New", "newt@cowork.test", LOC_DOWNTOWN, "pw-newt")
        body.pop("createdAt")
        body.pop("modifiedAt")
        t0 = time.time()
        answer = sim.put_entity("members", body)
        ent = answer["entity"]
        expect_eq(answer["webhook_status"], 200, "webhook_status")
        expect_true(ISO_MS.match(ent["modifiedAt"]) and ent["createdAt"] == ent["modifiedAt"],
                    f"createdAt/modifiedAt {ent.get('createdAt')} {ent.get('modifiedAt')}")
        when = dt.datetime.strptime(ent["modifiedAt"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
        expect_true(abs(when - t0) < 5, f"modifiedAt {ent['modifiedAt']} is not now")
        expect_eq(rx.count(), n + 1, "webhooks received")
        env = verify_signature(rx.last(), SECRET)
        check_envelope(env, "member.created", ent)
        expect_eq(rx.last()["path"], tl.WEBHOOK_PATH, "webhook path")
        expect_eq(api.ok(f"members/{new_id}"), ent, "the API serves it")
        expect_eq(sim.admin("GET", f"/entities/members/{new_id}"), ent, "GET /_sim/entities/members/{id}")
        all_ids = [i for p in api.walk("members?$limit=50") for i in ids(p)]
        expect_true(new_id in all_ids and all_ids == sorted(all_ids) and len(all_ids) == N_MEMBERS + 1,
                    "listed in _id order")
        state["ent"] = ent

    c.check("PUT /_sim/entities/members (new): createdAt = modifiedAt = now (ISO ms), signed "
            "member.created webhook (body + '.' + t), envelope; listed in _id order", put_new)

    def put_existing():
        old = state["ent"]
        answer = sim.put_entity("members", {**old, "status": "former"})
        ent = answer["entity"]
        expect_eq(ent["createdAt"], old["createdAt"], "createdAt kept")
        expect_true(ent["modifiedAt"] > old["modifiedAt"], f"modifiedAt {old['modifiedAt']} -> {ent['modifiedAt']}")
        env = verify_signature(rx.last(), SECRET)
        check_envelope(env, "member.updated", ent)
        expect_eq(env["data"]["previousAttributes"]["status"], "active", "previousAttributes.status")
        former = [i for p in api.walk("members?status=former") for i in ids(p)]
        expect_true(new_id in former and len(former) == 13, "filters (and their indexes) see the change")
        state["ent"] = ent

    c.check("PUT of an existing member: member.updated, createdAt kept, modifiedAt later, "
            "previousAttributes", put_existing)

    def patch():
        old = state["ent"]
        answer = sim.patch_entity("members", new_id, {"properties": {"wifi_password": "pw-2"}, "phone": "+49 30 1"})
        ent = answer["entity"]
        expect_eq((ent["properties"], ent["phone"], ent["email"], ent["status"]),
                  ({"wifi_password": "pw-2"}, "+49 30 1", "newt@cowork.test", "former"), "merged fields")
        expect_true(ent["modifiedAt"] > old["modifiedAt"], "modifiedAt later")
        check_envelope(verify_signature(rx.last(), SECRET), "member.updated", ent)
        ent = sim.patch_entity("members", new_id, {"phone": None})["entity"]
        expect_true("phone" not in ent, "null removes a field (JSON merge patch)")
        expect_eq(api.ok(f"members/{new_id}"), ent, "the API serves the patched member")
        state["ent"] = ent

    c.check("PATCH merges (JSON merge patch), member.updated", patch)

    def delete():
        last = state["ent"]
        answer = sim.delete_entity("members", new_id)
        expect_eq(answer["entity"], last, "answer")
        check_envelope(verify_signature(rx.last(), SECRET), "member.removed", last)
        api.error(f"members/{new_id}", 404)
        expect_eq(admin_raw(sim, "DELETE", f"/entities/members/{new_id}").status, 404, "second DELETE")
        expect_eq(admin_raw(sim, "PATCH", f"/entities/members/{new_id}", b'{"a":1}').status, 404, "PATCH missing")
        expect_eq(admin_raw(sim, "PUT", "/entities/widgets", b'{"_id":"x"}').status, 404, "unknown kind")
        expect_eq(admin_raw(sim, "PUT", "/entities/members", b"{nope").status, 400, "bad JSON")
        expect_eq(admin_raw(sim, "PUT", "/entities/members", b"[1]").status, 400, "not an object")

    c.check("DELETE: member.removed with the last state; then 404; admin errors 404/400", delete)

    def every_kind():
        for kind, singular in (("companies", "company"), ("memberships", "membership"), ("plans", "plan"),
                               ("locations", "location"), ("passes", "pass"), ("bookings", "booking"),
                               ("resources", "resource"), ("resource-types", "resource-type"),
                               ("visitors", "visitor")):
            oid = f"69e{len(kind):021x}"
            ent = sim.put_entity(kind, {"_id": oid, "name": kind})["entity"]
            check_envelope(verify_signature(rx.last(), SECRET), f"{singular}.created", ent)
            ent = sim.patch_entity(kind, oid, {"name": "x"})["entity"]
            check_envelope(verify_signature(rx.last(), SECRET), f"{singular}.updated", ent)
            sim.delete_entity(kind, oid)
            check_envelope(verify_signature(rx.last(), SECRET), f"{singular}.removed", ent)
        ent = sim.put_entity("passes", {"count": 1})["entity"]
        expect_true(re.fullmatch(r"[0-9a-f]{24}", ent["_id"]), f"generated _id {ent['_id']}")
        sim.delete_entity("passes", ent["_id"])

    c.check("event types for every kind: company/membership/plan/location/pass/booking/resource/"
            "resource-type/visitor .created/.updated/.removed; PUT without _id gets an ObjectId", every_kind)

    def v1_shape_and_slots():
        booking = {"_id": "69f000000000000000000b01", "location": "loc", "company": "co",
                   "resource": "room", "start": "2026-03-02T09:00:00.000Z", "end": "2026-03-02T11:00:00.000Z",
                   "isCancelled": False, "visitors": ["v1"]}
        sim.admin("PUT", "/config", {"webhook_shape": "v1"})
        try:
            sim.put_entity("bookings", booking)
            obj = verify_signature(rx.last(), SECRET)["data"]["object"]
            expect_eq((obj.get("office"), obj.get("team"), obj.get("resourceId"), obj.get("canceled"),
                       obj.get("start")), ("loc", "co", "room", False, {"dateTime": booking["start"]}),
                      "v1 names")
            expect_true("location" not in obj and "isCancelled" not in obj, f"no v2 names: {obj}")
        finally:
            sim.admin("PUT", "/config", {"webhook_shape": "v2"})
        answer = sim.admin("POST", "/occupancyslots/created", {"booking": booking["_id"],
                                                                "start": booking["start"], "end": booking["end"]})
        env = verify_signature(rx.last(), SECRET)
        expect_eq((env["eventType"], env["data"]["object"]["booking"]), ("occupancyslot.created", booking["_id"]),
                  "occupancy slot event")
        expect_true(re.fullmatch(r"[0-9a-f]{24}", answer["entity"]["_id"]), f"slot id {answer}")
        expect_eq(admin_raw(sim, "POST", "/occupancyslots/created", b'{"start": "x"}').status, 400,
                  "a slot without its booking")
        # The booking is listed like any other.
        listed = [o["_id"] for p in api.walk("bookings") for o in p["results"]]
        expect_eq(listed.count(booking["_id"]), 1, "bookings list")
        sim.delete_entity("bookings", booking["_id"])

    c.check("webhooks in v1 field names on request (office, team, resourceId, canceled, start.dateTime); "
            "occupancyslot.created with its booking; a slot without one is 400", v1_shape_and_slots)

    def webhook_status():
        rx.status = 503
        try:
            answer = sim.patch_entity("members", mid(0), {"phone": "1"})
            expect_eq(answer["webhook_status"], 503, "receiver answered 503")
        finally:
            rx.status = 200
        sim.set_webhook_url(None)
        n = rx.count()
        answer = sim.patch_entity("members", mid(0), {"phone": "2"})
        expect_eq((answer["webhook_status"], rx.count()), (None, n), "no webhook URL")
        dead = f"http://127.0.0.1:{tl.free_tcp_ports(1)[0]}/hook"
        sim.set_webhook_url(dead)
        answer = sim.patch_entity("members", mid(0), {"phone": "3"})
        expect_true(answer["webhook_status"] is None and answer.get("webhook_error"), f"dead target: {answer}")
        sim.set_webhook_url(rx.url)
        expect_eq(sim.patch_entity("members", mid(0), {"phone": None})["webhook_status"], 200, "restored")

    c.check("webhook_status is the receiver's status (503), null without a URL or when unreachable; "
            "PUT /_sim/config changes the target", webhook_status)


def log_and_fixture_checks(c: Checks, sim: Simulator, api: Api, rx: Receiver, fixture: dict) -> None:
    def request_log():
        sim.clear_requests()
        api.get("members?$limit=2&status=active")
        sim.request("GET", sim.api_path(f"members/{mid(1)}"))
        sim.stats()
        log = sim.requests()
        expect_eq(log, [
            {"method": "GET", "path": sim.api_path("members"), "query": "$limit=2&status=active",
             "status": 200, "authorized": True, "fault": None},
            {"method": "GET", "path": sim.api_path(f"members/{mid(1)}"), "query": "", "status": 401,
             "authorized": False, "fault": None}], "/_sim/requests")
        expect_eq(tl.query_params(log[0]), {"$limit": ["2"], "status": ["active"]}, "query_params()")
        stats = sim.stats()
        expect_true(isinstance(stats["api_requests"], int) and stats["api_requests"] > 50, f"stats {stats}")

    c.check("/_sim/requests: method, path, query, status, authorized since DELETE; /_sim/stats", request_log)

    def replace():
        n = rx.count()
        small = {**tl.locations_and_plans(), "members": [member(mid(500), "Solo", "solo@cowork.test",
                                                               LOC_DOWNTOWN, "pw")]}
        answer = sim.admin("POST", "/fixture", small)
        expect_eq(answer["loaded"]["members"], 1, "loaded")
        expect_eq(ids(api.ok("members")), [mid(500)], "members after the replace")
        expect_eq(api.ok("memberships")["results"], [], "lists missing from the fixture are empty")
        expect_eq(rx.count(), n, "webhooks sent by a fixture replace")
        expect_eq(admin_raw(sim, "POST", "/fixture", b'{"members": [{"name": "no id"}]}').status, 400, "bad fixture")
        sim.set_fixture(fixture)
        expect_eq(len([i for p in api.walk("members") for i in ids(p)]), N_MEMBERS, "restored")

    c.check("POST /_sim/fixture replaces everything, without webhooks", replace)

    def limits():
        big = b"client_id=" + b"x" * (64 * 1024)
        r = sim.request("POST", "/oauth/token", big, {"Content-Type": "application/x-www-form-urlencoded"})
        expect_eq(r.status, 413, "token form over 64 KiB")
        with tl.HttpConnection(sim.port) as conn:  # head only: the simulator must not wait for 16 MiB
            conn.send(b"PUT /_sim/entities/members HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 16777217\r\n\r\n")
            expect_eq(conn.read_response().status, 413, "admin body over 16 MiB")

    c.check("request bodies are bounded: token form 64 KiB, admin 16 MiB (413)", limits)

    def bound_address():
        try:
            socket.create_connection(("127.0.0.2", sim.port), timeout=2).close()
        except ConnectionRefusedError:
            return
        raise AssertionError(f"127.0.0.2:{sim.port} accepts connections; only 127.0.0.1 was asked for")

    c.check("binds only the address given (127.0.0.2 refused)", bound_address)

    def quiet():
        log = sim.log_from(0)
        lines = [l for l in log.splitlines() if l.strip()]
        expect_true(len(lines) == 1 and "serving http://127.0.0.1:" in lines[0], f"stderr without --verbose:\n{log}")

    c.check("stderr without --verbose: the start line only", quiet)


# --------------------------------------------------------------------------------------
# The TLS simulator
# --------------------------------------------------------------------------------------

def tls_checks(c: Checks, sim: Simulator, rx: Receiver) -> None:
    api = Api(sim)

    def over_tls():
        r = sim.token_response(scope="")
        expect_eq(r.status, 200, "token over TLS")
        doc = json.loads(r.body)
        expect_eq((doc["expires_in"], doc["scope"]), (1, ""), "expires_in from --token-ttl, empty scope")
        api.token = doc["access_token"]
        expect_eq(len(api.ok("members?$limit=50")["results"]), 50, "a page over TLS")
        expect_eq(api.ok(f"members/{mid(2)}")["_id"], mid(2), "single GET over TLS")

    c.check("HTTPS with the test certificate (verified, SAN 127.0.0.1): token, page, single GET", over_tls)

    def plain_to_tls():
        try:
            r = tl.http_request(sim.port, "GET", sim.api_path("members"), timeout=3)
        except (HttpError, OSError):
            return
        raise AssertionError(f"plain HTTP to the TLS port was answered: {r}")

    c.check("plain HTTP to the TLS port gets no HTTP answer", plain_to_tls)

    def webhook_tls():
        ent = sim.put_entity("members", member(mid(700), "Tess", "tess@cowork.test", LOC_DOWNTOWN, "pw"))["entity"]
        expect_eq(rx.count(), 1, "webhooks at the HTTPS receiver")
        check_envelope(verify_signature(rx.last(), SECRET), "member.created", ent)

    c.check("webhooks to an HTTPS target with --webhook-insecure, signed with --webhook-secret-file", webhook_tls)

    def expiry():
        time.sleep(1.1)
        api.error("members", 401, UNAUTHORIZED)

    c.check("a token past its expires_in (1 s): 401", expiry)

    def unlimited():
        expect_eq([sim.token_response().status for _ in range(7)], [200] * 7, "--token-rate-limit 0")

    c.check("--token-rate-limit 0: no 429 from the token endpoint", unlimited)

    def verbose():
        wait_until(lambda: "GET /api/v2/organizations/" in sim.log_from(0), 5, "request lines on stderr")
        lines = [l for l in sim.log_from(0).splitlines() if '"GET /api/' in l or '"POST /oauth/token' in l]
        expect_true(len(lines) >= 4, f"--verbose logged {len(lines)} request lines:\n{sim.log_from(0)}")
        expect_true(any(" 401 " in l for l in lines), "the 401 is logged")

    c.check("--verbose: one stderr line per request", verbose)


def stop_check(c: Checks, sim: Simulator, api: Api | None = None) -> None:
    def sigterm():
        if api is not None and api.token:  # a request in flight, delayed 10 s by a fault
            sim.fault("/members", "slow", delay_ms=10_000)

            def slow_get():
                with contextlib.suppress(OSError, HttpError):
                    api.get("members")

            threading.Thread(target=slow_get, daemon=True).start()
            wait_until(lambda: sim.admin("GET", "/faults") == [], 5, "the slow request to take the fault")
        t0 = time.monotonic()
        rc = sim.stop(timeout=5)
        expect_eq(rc, 0, "exit status after SIGTERM")
        expect_true(time.monotonic() - t0 < 3, f"took {time.monotonic() - t0:.2f}s to stop")
        expect_true("stopped" in sim.log_from(0), "no 'stopped' line")

    c.check(f"{sim.name}: SIGTERM stops it (exit 0, promptly{', a slow request in flight' if api else ''})",
            sigterm)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source-dir", default=str(tl.SOURCE_DIR), help="repository root")
    args = ap.parse_args()
    script = Path(args.source_dir).resolve() / "scripts/officernd_sim.py"
    tl.install_signal_handlers()
    c = Checks()
    work = tl.temp_workdir("radsync-sim-test-")
    secret_file = work / "webhook-secret"
    secret_file.write_text(SECRET + "\n")
    fixture = build_fixture()
    receivers: list[Receiver] = []
    sims: list[Simulator] = []
    try:
        rx = Receiver()
        receivers.append(rx)
        sim = Simulator(work, fixture, org=ORG, client_id="sim-client", client_secret="sim-secret",
                        webhook_url=rx.url, webhook_secret_file=secret_file, script=script, name="sim-plain")
        sims.append(sim)
        c.sources = [sim]
        if c.check("plain HTTP simulator starts (port file)", sim.start):
            api = Api(sim)
            token_checks(c, sim, api)
            if api.token:
                paging_checks(c, sim, api, fixture)
                fault_checks(c, sim, api)
                admin_checks(c, sim, api, rx)
                log_and_fixture_checks(c, sim, api, rx, fixture)
            stop_check(c, sim, api)

        rx_tls = Receiver(tls=True)
        receivers.append(rx_tls)
        tsim = Simulator(work, fixture, org=ORG, webhook_url=rx_tls.url, webhook_secret_file=secret_file,
                         script=script, name="sim-tls", tls=True,
                         extra_args=("--verbose", "--token-ttl", "1", "--webhook-insecure",
                                     "--token-rate-limit", "0"))
        sims.append(tsim)
        c.sources = [tsim]
        if c.check("HTTPS simulator starts (--tls-cert/--tls-key, --verbose)", tsim.start):
            tls_checks(c, tsim, rx_tls)
            stop_check(c, tsim)
    finally:
        for s in sims:
            s.stop()
        for r in receivers:
            r.stop()
        tl.remove_workdir(work)
    return c.summary()


if __name__ == "__main__":
    sys.exit(main())
