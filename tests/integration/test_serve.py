#!/usr/bin/env python3
"""Integration: ``radsync serve`` over real sockets (TLS and plain HTTP), no FreeRADIUS.

    python3 tests/integration/test_serve.py --radsync build/dev/src/radsync --source-dir .

1. config with a ``webhook:`` section (test certificate, two secret files, max_body_bytes
   4KiB, short ``limits`` if the loader knows them), ``migrate``, and a seed snapshot with
   the locations and plans (OfficeRnD sends no webhooks for those);
2. ``serve`` over TLS: the client verifies the test certificate; /healthz /readyz /metrics;
   a signed event is answered 200 and committed to radsync_inbox; every rejection (401 for
   each way a signature can be wrong, 400, 404, 405, 413, 431) writes nothing; the second
   secret verifies; keep-alive; a slowloris client is cut off by read_timeout while a normal
   request is answered at once; duplicates are stored and processed once; an older update
   arriving after a newer one is 'stale'; ignored event types are acknowledged; the metrics
   count all of it; SIGTERM drains a request in flight and exits 0;
3. ``serve`` over plain HTTP with --no-processing-for-test: events acknowledged and stored but
   not processed; ``kill -9``; a restart without the flag processes them and writes the
   member's NT-Password row.

Prints one line per check, then "N passed, M failed"; exit status 1 on any failure.
Everything lives in a temp dir (kept with RADSYNC_E2E_KEEP=1); every daemon is stopped.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import sqlite3
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))

import radsync_testlib as tl  # noqa: E402
from radsync_testlib import (DOMAIN, LOC_DOWNTOWN, PLAN_HOT, Checks, Daemon, HttpError,  # noqa: E402
                             Radsync, envelope, event_id_of, expect_eq, expect_true, member,
                             membership, metric, new_id, now_instant, sign, signature_header,
                             wait_until)

SECRET1 = "whsec-one-0123456789abcdef"
SECRET2 = "whsec-two-fedcba9876543210"
MAX_BODY = 4096
LIMITS = {"handshake_timeout": "2s", "read_timeout": "1s", "write_timeout": "2s",
          "idle_timeout": "2s", "max_connections": 8}
DEFAULT_READ_TIMEOUT = 10.0

# officernd-api.md section 10, E1: the body and its test vector.
E1_SECRET = "whsec-test-0123456789abcdef"
E1_T = "1772352000"
E1_BODY = (b'{"event":"65f1c0ffee0000000000abcd","eventType":"membership.updated","data":{"object":'
           b'{"_id":"65f1c0ffee0000000000aaaa","calculatedStatus":"active"},"previousAttributes":'
           b'{"calculatedStatus":"not_started"}},"createdAt":"2026-03-01T08:00:00.000Z"}')
E1_SIGNATURE = "a22e11cdf1a09af0c68e8750884c98e9ed6575c8cceeaaa2d393c8e0b750c59f"
E1_STRIPE = "2fa0a6ef32d797892474f207e10126f6cbcb0a1e985c0b060412b41e6653e194"


def now_t(offset: int = 0) -> str:
    return str(int(time.time()) + offset)


def member_event(event_type: str = "member.updated", **fields) -> bytes:
    mid = fields.pop("mid", None) or new_id()
    obj = member(mid, "Test Member", f"m-{mid[-6:]}@{DOMAIN}", LOC_DOWNTOWN, "pw-" + mid[-6:],
                 modified=fields.pop("modified", now_instant()), **fields)
    return envelope(event_type, obj)


def padded_event(size: int) -> bytes:
    """A valid member.updated envelope of exactly ``size`` bytes (padding in data.object)."""
    base = json.loads(member_event())
    base["data"]["object"]["properties"]["pad"] = ""
    raw = json.dumps(base, separators=(",", ":")).encode()
    if len(raw) > size:
        raise ValueError(f"cannot pad to {size} bytes (minimum {len(raw)})")
    base["data"]["object"]["properties"]["pad"] = "x" * (size - len(raw))
    raw = json.dumps(base, separators=(",", ":")).encode()
    assert len(raw) == size, len(raw)
    return raw


class Scenario:
    """State shared by the checks: the daemon, the expected counters."""

    def __init__(self, d: Daemon, rs: Radsync):
        self.d = d
        self.rs = rs
        self.expected = collections.Counter()  # radsync_webhooks_total{result} we caused
        self.acks = 0                           # 200s (ack histogram observations)
        self.read_timeout = DEFAULT_READ_TIMEOUT
        self.limits = False

    # -- posting with bookkeeping ---------------------------------------------------------------

    def accepted(self, body: bytes, *, secret: str = SECRET1, t: str | None = None,
                 headers: dict | None = None, result: str = "accepted") -> dict:
        """POST a signed event; expect 200 and an inbox row; return the row."""
        h = {"officernd-signature": signature_header(secret, body, t)}
        h.update(headers or {})
        r = self.d.post(body, h)
        expect_eq(r.status, 200, f"status ({r!r})")
        self.expected[result] += 1
        self.acks += 1
        row = self.rs.inbox_row(event_id_of(body))
        expect_true(row is not None, "200 answered but no radsync_inbox row (acknowledged before commit?)")
        return row

    def rejected(self, status: int, body: bytes, headers: dict, *, result: str | None,
                 path: str = tl.WEBHOOK_PATH, method: str = "POST", empty_body: bool = True) -> None:
        """Expect ``status``, an empty body (401) and no new inbox row."""
        before = self.rs.inbox_count()
        with self.d.connect() as conn:
            r = conn.request(method, path, body, headers)
        expect_eq(r.status, status, f"status ({r!r})")
        if empty_body:
            expect_eq(r.body, b"", "response body")
        if result:
            self.expected[result] += 1
        expect_eq(self.rs.inbox_count(), before, "radsync_inbox rows (nothing may be stored)")


# --------------------------------------------------------------------------------------
# The TLS daemon
# --------------------------------------------------------------------------------------

def tls_checks(c, s: Scenario) -> None:
    d, rs = s.d, s.rs

    def serving_line():
        expect_true(d.serving_line, "no 'serving webhook=... metrics=...' line on stderr:\n" +
                    d.stderr_since_start())
        expect_eq(d.serving_line,
                  f"serving webhook=https://127.0.0.1:{d.webhook_port}/officernd/webhook "
                  f"metrics=http://127.0.0.1:{d.metrics_port}", "stderr")

    c("stderr announces webhook=https://127.0.0.1:PORT/officernd/webhook and metrics=http://...",
      serving_line)

    # --- ops listener ------------------------------------------------------------------------
    c("GET /healthz answers 200", lambda: expect_eq(d.get_ops("/healthz").status, 200))
    c("GET /readyz answers 200", lambda: expect_eq(d.get_ops("/readyz").status, 200))

    def metrics_page():
        r = d.get_ops("/metrics")
        expect_eq(r.status, 200, "status")
        expect_true(r.headers.get("content-type", "").startswith("text/plain"),
                    f"Content-Type {r.headers.get('content-type')!r}")
        expect_true(b"radsync_inbox_depth" in r.body, "radsync_inbox_depth missing:\n" + r.body.decode()[:2000])

    c("GET /metrics answers Prometheus text with radsync_inbox_depth", metrics_page)
    c("ops listener: unknown path answers 404", lambda: expect_eq(d.get_ops("/nope").status, 404))

    # --- TLS ---------------------------------------------------------------------------------
    def tls_verified():
        with d.connect() as conn:
            version = conn.sock.version()
            expect_true(version in ("TLSv1.2", "TLSv1.3"), f"TLS version {version}")
            cert = conn.sock.getpeercert()
            expect_true(cert, "no peer certificate")
            r = conn.request("GET", "/officernd/webhook")
            expect_eq(r.status, 405, "GET on the webhook route over verified TLS")

    c("TLS 1.2+ handshake verifies the test certificate (SAN 127.0.0.1)", tls_verified)

    def plain_to_tls_port():
        try:
            with tl.HttpConnection(d.webhook_port, None, timeout=3) as conn:
                r = conn.request("GET", "/healthz")
        except (HttpError, OSError):
            return  # closed: fine
        expect_true(r.status != 200, f"plain HTTP on the TLS port answered {r!r}")

    c("plain HTTP sent to the TLS port gets no 200", plain_to_tls_port)

    # --- an accepted event -------------------------------------------------------------------
    def e1_vector():
        expect_eq(sign(E1_SECRET, E1_BODY, E1_T), E1_SIGNATURE, "E1 signature")
        expect_eq(sign(E1_SECRET, E1_T.encode(), E1_BODY.decode()), E1_STRIPE, "E1 Stripe-order digest")

    c("test signer reproduces officernd-api.md E1 (and its Stripe-order negative)", e1_vector)

    e1 = {}

    def e1_accepted():
        t = now_t()
        row = s.accepted(E1_BODY, t=t)
        # On disk the body is sealed while pending and dropped once processed (which may
        # already have happened); never in clear. The exact bytes are checked on events
        # that stay pending (--no-processing-for-test, below).
        stored = row["stored_body"]
        expect_true(stored == "" or stored.startswith(tl.SEALED_PREFIX),
                    f"stored body is neither sealed nor dropped: {stored[:40]!r}")
        expect_true(row["body"] in (b"", E1_BODY), f"unsealed body {row['body'][:60]!r}")
        expect_eq((row["event_type"], row["t"]), ("membership.updated", t), "(event_type, t)")
        expect_true(abs(int(row["received_at"]) - time.time()) < 10, f"received_at {row['received_at']}")
        e1["id"] = row["event_id"]

    c("E1 body signed with secret 1 (TLS): 200, committed to radsync_inbox (body sealed) with t",
      e1_accepted)
    c("E1 event gets processed (processed_at and result set)",
      lambda: expect_true(rs.wait_processed(e1["id"])[e1["id"]], "empty result"))

    c("header name is case-insensitive (OfficeRnD-Signature): 200",
      lambda: _case_insensitive(s))

    # --- 401 ---------------------------------------------------------------------------------
    def bad(header_fn, result):
        body = member_event()
        headers = {} if header_fn is None else {"officernd-signature": header_fn(body)}
        s.rejected(401, body, headers, result=result)

    t_ok = now_t
    c("no officernd-signature header: 401, empty body, nothing stored",
      lambda: bad(None, "missing_signature"))
    c("garbled header 'garbage': 401, nothing stored",
      lambda: bad(lambda b: "garbage", "malformed_signature"))
    c("header with t= only: 401, nothing stored",
      lambda: bad(lambda b: f"t={t_ok()}", "malformed_signature"))
    c("signature not 64 hex digits: 401, nothing stored",
      lambda: bad(lambda b: f"t={t_ok()},signature={'z' * 64}", "malformed_signature"))
    c("non-numeric t: 401, nothing stored",
      lambda: bad(lambda b: f"t=yesterday,signature={sign(SECRET1, b, 'yesterday')}", "malformed_signature"))
    c("signed with a wrong secret: 401, nothing stored",
      lambda: bad(lambda b: signature_header("not-the-secret", b), "bad_signature"))

    def stripe(b: bytes) -> str:
        t = t_ok()
        return f"t={t},signature={sign(SECRET1, t.encode(), b.decode())}"  # t + "." + body

    c("Stripe order (t + '.' + body): 401, nothing stored", lambda: bad(stripe, "bad_signature"))
    c("secret file's trailing newline is not part of the key (secret + '\\n' gives 401)",
      lambda: bad(lambda b: signature_header(SECRET1 + "\n", b), "bad_signature"))

    def tampered():
        body = member_event()
        header = signature_header(SECRET1, body)
        s.rejected(401, body.replace(b"Test Member", b"Test Membor"), {"officernd-signature": header},
                   result="bad_signature")

    c("body changed after signing: 401, nothing stored", tampered)
    c("stale t (400 s old, tolerance 300 s): 401, nothing stored",
      lambda: bad(lambda b: signature_header(SECRET1, b, now_t(-400)), "stale_timestamp"))
    c("future t (+120 s, tolerance 60 s): 401, nothing stored",
      lambda: bad(lambda b: signature_header(SECRET1, b, now_t(120)), "stale_timestamp"))
    c("t 290 s old (inside 300 s): 200", lambda: s.accepted(member_event(), t=now_t(-290)))
    c("t 50 s ahead (inside 60 s): 200", lambda: s.accepted(member_event(), t=now_t(50)))

    # --- 400 ---------------------------------------------------------------------------------
    def malformed(body: bytes):
        s.rejected(400, body, {"officernd-signature": signature_header(SECRET1, body)},
                   result="malformed", empty_body=False)

    c("malformed JSON with a valid signature: 400, nothing stored",
      lambda: malformed(b'{"event":"' + new_id().encode() + b'","eventType":"member.updated","data":{'))
    c("JSON array with a valid signature: 400, nothing stored", lambda: malformed(b"[1,2,3]"))
    c("envelope without eventType: 400, nothing stored",
      lambda: malformed(json.dumps({"event": new_id(), "data": {"object": {"_id": new_id()}}}).encode()))
    c("member.updated without data.object: 400, nothing stored",
      lambda: malformed(json.dumps({"event": new_id(), "eventType": "member.updated", "data": {}}).encode()))

    # --- second secret -----------------------------------------------------------------------
    c("event signed with secret 2 (second secret file): 200 and stored",
      lambda: s.accepted(member_event(), secret=SECRET2))

    # --- routing -----------------------------------------------------------------------------
    def signed(body):
        return {"officernd-signature": signature_header(SECRET1, body)}

    b404 = member_event()
    c("signed POST to /officernd/other: 404, nothing stored",
      lambda: s.rejected(404, b404, signed(b404), result=None, path="/officernd/other", empty_body=False))
    c("signed POST to /officernd/webhook/extra: 404, nothing stored",
      lambda: s.rejected(404, b404, signed(b404), result=None, path="/officernd/webhook/extra",
                         empty_body=False))

    def get_405():
        with d.connect() as conn:
            r = conn.request("GET", tl.WEBHOOK_PATH)
        expect_eq(r.status, 405, f"status ({r!r})")
        expect_eq(r.headers.get("allow"), "POST", "Allow header")

    c("GET /officernd/webhook: 405 with Allow: POST", get_405)
    c("PUT /officernd/webhook (signed): 405, nothing stored",
      lambda: s.rejected(405, b404, signed(b404), result=None, method="PUT", empty_body=False))

    # --- size limits -------------------------------------------------------------------------
    c(f"body of exactly max_body_bytes ({MAX_BODY}): 200", lambda: s.accepted(padded_event(MAX_BODY)))

    def too_large_declared():
        body = padded_event(MAX_BODY + 1)
        before = rs.inbox_count()
        with d.connect() as conn:
            raw = conn.request_bytes("POST", tl.WEBHOOK_PATH, body, signed(body))
            head = raw[:raw.index(b"\r\n\r\n") + 4]
            conn.send(head)  # the declared length alone must be enough to refuse
            r = conn.read_response()
        expect_eq(r.status, 413, f"status ({r!r})")
        expect_eq(rs.inbox_count(), before, "radsync_inbox rows")

    c(f"Content-Length {MAX_BODY + 1} (> max_body_bytes): 413 before the body is sent, nothing stored",
      too_large_declared)

    def too_large_chunked():
        body = padded_event(MAX_BODY + 1000)
        before = rs.inbox_count()
        with d.connect() as conn:
            head = (f"POST {tl.WEBHOOK_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    f"Transfer-Encoding: chunked\r\nofficernd-signature: {signed(body)['officernd-signature']}"
                    "\r\n\r\n").encode()
            chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 1024]), body[i:i + 1024])
                              for i in range(0, len(body), 1024)) + b"0\r\n\r\n"
            conn.send(head + chunks)
            r = conn.read_response()
        expect_eq(r.status, 413, f"status ({r!r})")
        expect_eq(rs.inbox_count(), before, "radsync_inbox rows")

    c("chunked body growing past max_body_bytes: 413, nothing stored", too_large_chunked)

    def header_too_large():
        body = member_event()
        h = signed(body)
        h["X-Padding"] = "p" * 9000
        before = rs.inbox_count()
        with d.connect() as conn:
            r = conn.request("POST", tl.WEBHOOK_PATH, body, h)
        expect_eq(r.status, 431, f"status ({r!r})")
        expect_eq(rs.inbox_count(), before, "radsync_inbox rows")

    c("request header over 8 KiB: 431, nothing stored", header_too_large)

    # --- keep-alive --------------------------------------------------------------------------
    def keep_alive():
        bodies = [member_event() for _ in range(4)]
        with d.connect() as conn:
            statuses = []
            for i, body in enumerate(bodies):
                r = conn.request("POST", tl.WEBHOOK_PATH, body, signed(body))
                statuses.append(r.status)
                expect_true(r.headers.get("connection", "").lower() != "close",
                            f"request {i + 1} answered with Connection: close")
                if i == 1:
                    statuses.append(conn.request("GET", tl.WEBHOOK_PATH).status)
            s.expected["accepted"] += 4
            s.acks += 4
        expect_eq(statuses, [200, 200, 405, 200, 200], "statuses on one connection")
        for body in bodies:
            expect_true(rs.inbox_row(event_id_of(body)), "event missing from the inbox")

    c("keep-alive: 4 events and a GET on one TLS connection, all answered, all stored", keep_alive)

    # --- slowloris ---------------------------------------------------------------------------
    def slowloris():
        rt = s.read_timeout
        idle = None
        if s.limits:
            idle = d.connect()  # an idle keep-alive connection, checked against idle_timeout below
            expect_eq(idle.request("GET", tl.WEBHOOK_PATH).status, 405, "idle connection's request")
            idle_since = time.monotonic()
        slow = d.connect()
        data = b"POST /officernd/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 400
        started = time.monotonic()
        closed_at = None
        normal_latency = None
        what = ""
        for i, byte in enumerate(data):
            try:
                slow.send(bytes([byte]))
            except OSError as exc:
                closed_at, what = time.monotonic(), f"send failed: {exc}"
                break
            if i == 3:  # meanwhile, a normal request on another connection
                body = member_event()
                t0 = time.monotonic()
                r = d.post_event(body, SECRET1)
                normal_latency = time.monotonic() - t0
                expect_eq(r.status, 200, "normal request during the slowloris")
                s.expected["accepted"] += 1
                s.acks += 1
            # 200 ms between bytes, but notice at once when the server gives up.
            gone = slow.wait_closed(0.2)
            if gone:
                closed_at, what = time.monotonic(), gone
                break
            if time.monotonic() - started > rt + 5:
                break
        slow.close()
        expect_true(normal_latency is not None and normal_latency < 0.5,
                    f"normal request took {normal_latency}s while the slow client dribbled")
        expect_true(closed_at is not None,
                    f"slow client still connected after {time.monotonic() - started:.1f}s (read_timeout {rt}s)")
        elapsed = closed_at - started
        print(f"     slowloris cut off after {elapsed:.2f}s (read_timeout {rt:g}s; {what}); "
              f"normal request meanwhile {normal_latency * 1000:.0f} ms", flush=True)
        expect_true(rt - 0.5 <= elapsed <= rt + 2,
                    f"cut off after {elapsed:.2f}s, expected about read_timeout={rt}s")
        if idle is not None:
            try:
                left = 2.0 + 2 - (time.monotonic() - idle_since)
                expect_true(idle.closed_by_peer(max(left, 0.1)),
                            "idle keep-alive connection not closed within idle_timeout (2s) + 2s")
            finally:
                idle.close()

    c(f"slowloris (1 header byte / 200 ms) cut off by read_timeout; a normal request meanwhile is "
      f"answered in < 0.5 s{'; an idle keep-alive is closed by idle_timeout' if s.limits else ''}",
      slowloris)

    # --- max_connections ---------------------------------------------------------------------
    if s.limits:
        def max_connections():
            limit = LIMITS["max_connections"]
            # Connections from earlier checks may still be winding down.
            wait_until(lambda: d.get_ops("/healthz").status == 200, 2, "healthz")
            conns = []
            try:
                for i in range(limit):
                    conn = d.connect(timeout=3)
                    conns.append(conn)
                    expect_eq(conn.request("GET", tl.WEBHOOK_PATH).status, 405, f"connection {i + 1}")
                # Every slot now holds an idle keep-alive connection. A newcomer is served at
                # once: it takes the slot of the connection idle the longest.
                started = time.monotonic()
                newcomer = d.connect(timeout=3)
                conns.append(newcomer)
                expect_eq(newcomer.request("GET", tl.WEBHOOK_PATH).status, 405, "the newcomer")
                expect_true(time.monotonic() - started < 1.0, "the newcomer waited for a slot")
                try:
                    conns[0].request("GET", tl.WEBHOOK_PATH)
                    raise AssertionError("the oldest idle connection was not evicted")
                except (HttpError, OSError):
                    pass
                expect_eq(conns[1].request("GET", tl.WEBHOOK_PATH).status, 405,
                          "the second-oldest connection")
            finally:
                for conn in conns:
                    conn.close()
            wait_until(lambda: _try_get(d) == 405, 5, "a new connection to be served after closing")

        c(f"max_connections {LIMITS['max_connections']}: at the cap a newcomer is served and the "
          "longest-idle connection makes room", max_connections)

    # --- duplicates --------------------------------------------------------------------------
    def all_processed():
        return rs.scalar("SELECT count(*) FROM radsync_inbox WHERE processed_at IS NULL") == 0

    def duplicates():
        wait_until(all_processed, 10, "earlier events to be processed")
        wait_until(lambda: metric(d.metrics(), "radsync_inbox_depth") == 0, 5, "radsync_inbox_depth 0")
        before = d.metrics()
        body = member_event("member.created")
        eid = event_id_of(body)
        header = signature_header(SECRET1, body)
        r1 = d.post(body, {"officernd-signature": header})
        r2 = d.post(body, {"officernd-signature": header})
        r3 = d.post_event(body, SECRET1, t=now_t(1))  # a redelivery, signed again
        expect_eq([r1.status, r2.status, r3.status], [200, 200, 200], "statuses")
        s.expected["accepted"] += 1
        s.expected["duplicate"] += 2
        s.acks += 3
        expect_eq(rs.scalar("SELECT count(*) FROM radsync_inbox WHERE event_id=?", eid), 1, "inbox rows")
        expect_eq(rs.wait_processed(eid)[eid], "applied", "result")
        after = d.metrics()
        for result, n in (("accepted", 1), ("duplicate", 2)):
            delta = metric(after, "radsync_webhooks_total", result=result) - \
                metric(before, "radsync_webhooks_total", result=result)
            expect_eq(delta, n, f"radsync_webhooks_total{{result={result!r}}} increase")
        def processed_delta():
            now = d.metrics()
            return sum(v for (name, _), v in now.items() if name == "radsync_inbox_events_total") - \
                sum(v for (name, _), v in before.items() if name == "radsync_inbox_events_total")

        wait_until(lambda: processed_delta() >= 1, 5, "radsync_inbox_events_total to count the event")
        expect_eq(processed_delta(), 1, "radsync_inbox_events_total increase (events processed)")

    c("same event 3 times (twice identical, once re-signed): all 200, one inbox row, processed once",
      duplicates)

    # --- out of order ------------------------------------------------------------------------
    def out_of_order():
        mid, msid = new_id(), new_id()
        email = f"ooo-{mid[-6:]}@{DOMAIN}"
        password = "Ooo-wifi-" + mid[-4:]
        t1 = now_instant(-60)
        t2 = now_instant()
        ms = envelope("membership.created",
                      membership(msid, PLAN_HOT, "Hot Desk", LOC_DOWNTOWN, member_id=mid))
        newer = envelope("member.updated", member(mid, "Ooo", email, LOC_DOWNTOWN, password,
                                                  status="active", modified=t2))
        older = envelope("member.updated", member(mid, "Ooo", email, LOC_DOWNTOWN, password,
                                                  status="former", modified=t1))
        for body in (ms, newer, older):
            s.accepted(body)
        results = rs.wait_processed([event_id_of(b) for b in (ms, newer, older)])
        expect_eq((results[event_id_of(newer)], results[event_id_of(older)]), ("applied", "stale"),
                  "(result of the T2 update, result of the T1 update)")
        row = rs.query("SELECT status, raw FROM radsync_members WHERE id=?", mid)
        expect_true(row, "member missing from radsync_members")
        expect_eq(row[0][0], "active", "radsync_members.status")
        expect_eq(json.loads(row[0][1]).get("modifiedAt"), t2, "stored modifiedAt")
        expect_eq(rs.query("SELECT state FROM radsync_accounts WHERE member_id=?", mid), [("active",)],
                  "radsync_accounts.state")
        nt = rs.query("SELECT value FROM radcheck WHERE username=? AND attribute='NT-Password'", email)
        expect_eq([v.lower().removeprefix("0x") for (v,) in nt], [tl.nt_hash(password)], "NT-Password rows")

    c("out of order: update T2 (active) then T1 (former): T1 is 'stale', member stays active with "
      "its NT-Password row", out_of_order)

    def removed_then_older_update():
        mid, msid = new_id(), new_id()
        email = f"gone-{mid[-6:]}@{DOMAIN}"
        t0, t1, t2 = now_instant(-120), now_instant(-60), now_instant()
        created = envelope("member.created", member(mid, "Gone", email, LOC_DOWNTOWN, "Gone-pw-1", modified=t0))
        ms = envelope("membership.created",
                      membership(msid, PLAN_HOT, "Hot Desk", LOC_DOWNTOWN, member_id=mid))
        for body in (created, ms):
            s.accepted(body)
        rs.wait_processed([event_id_of(created), event_id_of(ms)])
        expect_eq(rs.query("SELECT state FROM radsync_accounts WHERE member_id=?", mid), [("active",)],
                  "account before the removal")
        removed = envelope("member.removed", member(mid, "Gone", email, LOC_DOWNTOWN, "Gone-pw-1", modified=t2))
        late = envelope("member.updated", member(mid, "Gone", email, LOC_DOWNTOWN, "Gone-pw-1", modified=t1))
        for body in (removed, late):
            s.accepted(body)
        results = rs.wait_processed([event_id_of(removed), event_id_of(late)])
        expect_eq((results[event_id_of(removed)], results[event_id_of(late)]), ("applied", "stale"),
                  "(member.removed, older member.updated)")
        state = rs.query("SELECT state FROM radsync_accounts WHERE member_id=?", mid)
        expect_true(state in ([], [("revoked",)]), f"account after removal: {state}")
        nt = rs.scalar("SELECT count(*) FROM radcheck WHERE username=? AND attribute='NT-Password'", email)
        reject = rs.scalar("SELECT count(*) FROM radcheck WHERE username=? AND attribute='Auth-Type' "
                           "AND value='Reject'", email)
        expect_true(nt == 0 or reject > 0,
                    f"removed member can still log in ({nt} NT-Password rows, {reject} Auth-Type Reject rows)")

    c("member.removed (T2) then an older member.updated (T1): the update is 'stale', no access",
      removed_then_older_update)

    # --- ignored types -----------------------------------------------------------------------
    def ignored():
        body = envelope("invoice.created", {"_id": new_id(), "number": "INV-1", "total": 100})
        row = s.accepted(body, result="ignored")
        expect_eq(row["event_type"], "invoice.created", "event_type")
        expect_eq(rs.wait_processed(row["event_id"])[row["event_id"]], "ignored", "result")

    c("invoice.created (a type radsync ignores): 200, stored, result 'ignored'", ignored)

    # --- 503: the inbox commit fails ------------------------------------------------------------
    def store_unavailable():
        wait_until(all_processed, 10, "earlier events to be processed")
        body = member_event()
        eid = event_id_of(body)
        header = signature_header(SECRET1, body)
        result: dict = {}
        blocker = sqlite3.connect(rs.state_db, timeout=5, isolation_level=None)  # the inbox's
        try:
            blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock past busy_timeout
            thread = threading.Thread(target=lambda: result.update(
                r=_post_quietly(d, body, {"officernd-signature": header}, timeout=30)))
            t0 = time.monotonic()
            thread.start()
            h0 = time.monotonic()
            health = d.get_ops("/healthz").status
            health_ms = (time.monotonic() - h0) * 1000
            thread.join(30)
            waited = time.monotonic() - t0
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        r = result.get("r")
        print(f"     503 after {waited:.1f}s (busy_timeout); /healthz meanwhile {health} in {health_ms:.0f} ms",
              flush=True)
        expect_true(isinstance(r, tl.HttpResponse), f"no response: {r!r}")
        expect_eq(r.status, 503, f"status while the database is write-locked ({r!r})")
        s.expected["store_unavailable"] += 1
        expect_true(health == 200 and health_ms < 500, f"/healthz {health} took {health_ms:.0f} ms while the "
                    "store was blocked (the io thread must not wait on SQLite)")
        expect_true(rs.inbox_row(eid) is None, "the refused event is in the inbox")
        r2 = d.post(body, {"officernd-signature": header})  # OfficeRnD's redelivery
        expect_eq(r2.status, 200, f"redelivery after the lock is released ({r2!r})")
        s.expected["accepted"] += 1
        s.acks += 1
        expect_eq(rs.wait_processed(eid)[eid], "applied", "result of the redelivered event")
        wait_until(lambda: d.get_ops("/readyz").status == 200, 5, "/readyz 200 again")

    c("database write-locked by another process past busy_timeout: 503, nothing stored, /healthz "
      "still prompt; the redelivery afterwards is 200 and processed", store_unavailable)

    # --- metrics -----------------------------------------------------------------------------
    def metrics_count_everything():
        wait_until(all_processed, 10, "every inbox row to be processed")
        m = wait_until(lambda: (lambda m: m if metric(m, "radsync_inbox_depth") == 0 else None)(d.metrics()),
                       5, "radsync_inbox_depth == 0")
        problems = []
        for result, n in sorted(s.expected.items()):
            got = metric(m, "radsync_webhooks_total", result=result)
            if got != n:
                problems.append(f"radsync_webhooks_total{{result={result!r}}} = {got:g}, expected {n}")
        ack = metric(m, "radsync_webhook_ack_seconds_count")
        if ack != s.acks:
            problems.append(f"radsync_webhook_ack_seconds_count = {ack:g}, expected {s.acks} (one per 200)")
        if metric(m, "radsync_webhook_processing_seconds_count") < 1:
            problems.append("radsync_webhook_processing_seconds_count is 0")
        if metric(m, "radsync_reconcile_changes_total", mode="webhook", op="insert") < 1:
            problems.append("radsync_reconcile_changes_total{mode=\"webhook\",op=\"insert\"} is 0")
        for name in ("radsync_webhook_ack_seconds_bucket", "radsync_webhook_processing_seconds_bucket"):
            if name not in tl.metric_names(m):
                problems.append(f"{name} missing")
        expect_true(not problems, "; ".join(problems))

    c("metrics: radsync_webhooks_total per result, ack/processing histograms, changes, inbox depth 0",
      metrics_count_everything)

    # --- the trust issue's signed corpus: input that must not crash, smuggle or double-apply ---
    def nothing_stored_for(eid: str, what: str):
        expect_eq(rs.scalar("SELECT count(*) FROM radsync_inbox WHERE event_id=?", eid), 0,
                  f"inbox rows for {what}")

    def deep_nesting():
        obj = json.loads(member_event("member.created"))
        raw = json.dumps(obj, separators=(",", ":")).encode()
        deep = raw.replace(b'"properties":{', b'"x":' + b"[" * 1800 + b"]" * 1800 + b',"properties":{', 1)
        r = d.post_event(deep, SECRET1)
        expect_eq(r.status, 400, f"signed body with 1,800 nested arrays ({len(deep)} bytes)")
        nothing_stored_for(obj["event"], "the deep body")
        expect_eq(d.get_ops("/healthz").status, 200, "/healthz after it (the daemon is alive)")

    c("item 7: a validly signed body nested 1,800 deep (the body limit here is 4 KiB; the unit tests go to 100,000): 400, nothing stored, daemon alive",
      deep_nesting)

    def trailing_bytes():
        body = member_event("member.created")
        for tail in (b"\0garbage", b"\0", b"{}"):
            r = d.post_event(body + tail, SECRET1)
            expect_eq(r.status, 400, f"signed envelope followed by {tail!r}")
        nothing_stored_for(event_id_of(body), "the envelope with trailing bytes")

    c("item 8: a signed envelope followed by NUL and garbage (or a second document): 400, nothing "
      "stored", trailing_bytes)

    def smuggling():
        inner = member_event("member.created")
        smuggled = d.connect().request_bytes("POST", tl.WEBHOOK_PATH, inner, signed(inner))
        for te in ("xchunked", "gzip", "identity", "chunked, gzip"):
            conn = d.connect()
            outer = b"0\r\n\r\n" + smuggled
            head = f"POST {tl.WEBHOOK_PATH} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: {te}\r\n\r\n"
            conn.send(head.encode() + outer)
            r = conn.read_response()
            expect_eq(r.status, 400, f"Transfer-Encoding: {te}")
            try:
                extra = conn.read_response()
                raise AssertionError(f"Transfer-Encoding: {te}: a second response {extra.status} came")
            except (HttpError, OSError):
                pass
            conn.close()
        nothing_stored_for(event_id_of(inner), "the smuggled request")

    c("item 9: a signed request smuggled behind Transfer-Encoding xchunked/gzip/identity/'chunked, "
      "gzip': 400, connection closed, nothing applied", smuggling)

    def candidates():
        t = now_t()
        for make in (lambda body: f"t={t},signature={'0' * 64},signature={sign(SECRET1, body, t)}",
                     lambda body: f"t={t},signature={'0' * 64},v1={sign(SECRET1, body, t)}",
                     lambda body: f"t={t},signature={sign(SECRET2, body, t)},signature={sign('old', body, t)}"):
            body = member_event("member.created")
            r = d.post(body, {"officernd-signature": make(body)})
            expect_eq(r.status, 200, f"header {make(body)[:40]}...")
            s.expected["accepted"] += 1
            s.acks += 1

    c("item 10: every signature/v1 candidate is checked (wrong then right, v1 after signature, a pair "
      "during rotation): 200", candidates)

    def no_event_id():
        obj = json.loads(member_event("member.created"))
        del obj["event"]
        body = json.dumps(obj, separators=(",", ":")).encode()
        before = rs.scalar("SELECT count(*) FROM radsync_inbox")
        r1 = d.post_event(body, SECRET1, t=now_t())
        r2 = d.post_event(body, SECRET1, t=now_t(1))  # the same event, signed again
        expect_eq([r1.status, r2.status], [200, 200], "statuses")
        s.expected["accepted"] += 1
        s.expected["duplicate"] += 1
        s.acks += 2
        expect_eq(rs.scalar("SELECT count(*) FROM radsync_inbox") - before, 1, "new inbox rows")

    c("item 11: an event without id re-signed with a new t: one inbox row, the second a duplicate",
      no_event_id)

    # Regression (trust issue, item 15): radsync_radius_users counted only the last scoped run's
    # decisions (0 active while status said 5), webhooks refreshed the poll's success timestamp,
    # /status printed counts as floats, and nothing counted refused connections.
    def metrics_tell_the_truth():
        # The last scoped run decides one member without access: the gauge must still count all.
        body = member_event("member.created", status="lead")
        expect_eq(d.post_event(body, SECRET1).status, 200, "member.created for a lead")
        s.expected["accepted"] += 1
        s.acks += 1
        rs.wait_processed(event_id_of(body))
        wait_until(lambda: metric(d.metrics(), "radsync_inbox_depth") == 0, 5, "inbox depth 0")
        m = d.metrics()
        active = rs.scalar("SELECT count(*) FROM radsync_accounts WHERE state='active'")
        revoked = rs.scalar("SELECT count(*) FROM radsync_accounts WHERE state='revoked'")
        expect_true(active >= 1, f"{active} active accounts")
        expect_eq((metric(m, "radsync_radius_users", state="active"),
                   metric(m, "radsync_radius_users", state="revoked")), (active, revoked),
                  "radsync_radius_users (active, revoked) against radsync_accounts")
        expect_true(metric(m, "radsync_reconcile_last_success_timestamp_seconds", mode="webhook") > 0,
                    "no webhook success timestamp")
        expect_eq(metric(m, "radsync_reconcile_last_success_timestamp_seconds", mode="full"), 0,
                  "the poll's success timestamp (no poll ran; webhooks must not set it)")
        if s.limits:
            evicted = metric(m, "radsync_http_connections_evicted_total", server="webhook", phase="idle")
            expect_true(evicted >= 1, f"radsync_http_connections_evicted_total{{idle}} = {evicted}")
            expect_true(metric(m, "radsync_http_requests_refused_total", server="webhook",
                               reason="too_large") >= 1, "no too_large refusal counted")
        expect_eq(metric(m, "radsync_build_info", version=tl.RADSYNC_VERSION), 1, "radsync_build_info")
        answer = rs.control("status")
        expect_eq(answer["exit_code"], 0, f"control status: {answer}")
        body = answer["out"]
        status = json.loads(body)
        expect_true(isinstance(status["webhooks"]["accepted"], int), f"status counts: {body}")
        expect_true('"accepted":' in body and ".0" not in body.split('"webhooks"')[1][:80],
                    f"status prints floats: {body}")
        expect_eq(status["accounts"]["active"], active, "status accounts.active")

    c("metrics tell the truth: radius_users = radsync_accounts after webhooks, the poll timestamp "
      "untouched by them, refusals counted, build_info, integer counts in status", metrics_tell_the_truth)

    # --- graceful SIGTERM --------------------------------------------------------------------
    def sigterm_drains():
        body = member_event()
        eid = event_id_of(body)
        idle = d.connect()
        expect_eq(idle.request("GET", tl.WEBHOOK_PATH).status, 405, "idle connection's request")
        conn = d.connect()
        raw = conn.request_bytes("POST", tl.WEBHOOK_PATH, body, signed(body))
        split = len(raw) - len(body) // 2
        conn.send(raw[:split])  # headers and half the body: a request in progress
        # Make sure the daemon has read those bytes before the signal: its one io thread answers
        # this GET only after handling the webhook socket, which became readable first.
        expect_eq(d.get_ops("/healthz").status, 200, "/healthz")
        mark = d.log_mark()
        t0 = time.monotonic()
        os.kill(d.pid, signal.SIGTERM)
        wait_until(lambda: "signal received" in d.log_from(mark), 2, "'signal received' on stderr")
        conn.send(raw[split:])
        r = conn.read_response()
        conn.close()
        expect_eq(r.status, 200, f"in-flight request ({r!r})")
        expect_eq(r.headers.get("connection", "").lower(), "close", "Connection header while draining")
        idle_closed = idle.closed_by_peer(2)
        idle.close()
        try:
            rc = d.proc.wait(timeout=5)
        except Exception:  # noqa: BLE001
            rc = None
        elapsed = time.monotonic() - t0
        d.stop()
        print(f"     exit {rc} {elapsed:.2f}s after SIGTERM", flush=True)
        expect_eq(rc, 0, "exit status after SIGTERM")
        expect_true(elapsed < 3, f"took {elapsed:.2f}s to exit")
        expect_true(idle_closed, "idle keep-alive connection was not closed by the drain")
        expect_true(rs.inbox_row(eid), "the in-flight event is not in the inbox after exit")
        expect_true("stopped" in d.log_from(mark), "no 'stopped' line on stderr")

    c("SIGTERM: idle connection closed, in-flight request answered 200 and committed, exit 0 in < 3 s",
      sigterm_drains)


def _case_insensitive(s: Scenario) -> None:
    body = member_event()
    r = s.d.post(body, {"OfficeRnD-Signature": signature_header(SECRET1, body)})
    expect_eq(r.status, 200, f"status ({r!r})")
    s.expected["accepted"] += 1
    s.acks += 1
    expect_true(s.rs.inbox_row(event_id_of(body)), "not stored")


def _post_quietly(d: Daemon, body: bytes, headers: dict, timeout: float):
    try:
        return d.post(body, headers, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - reported by the caller
        return exc


def _try_get(d: Daemon):
    try:
        with d.connect(timeout=2) as conn:
            return conn.request("GET", tl.WEBHOOK_PATH).status
    except (HttpError, OSError):
        return None


# --------------------------------------------------------------------------------------
# The plain-HTTP daemon: acknowledge without processing, kill -9, restart
# --------------------------------------------------------------------------------------

def crash_checks(c, d: Daemon, rs: Radsync) -> None:
    mid, msid = new_id(), new_id()
    email = f"crash-{mid[-6:]}@{DOMAIN}"
    password = "Crash-wifi-" + mid[-4:]
    created = envelope("member.created", member(mid, "Crash Test", email, LOC_DOWNTOWN, password,
                                                modified=now_instant()))
    ms = envelope("membership.created", membership(msid, PLAN_HOT, "Hot Desk", LOC_DOWNTOWN, member_id=mid))
    ids = [event_id_of(created), event_id_of(ms)]

    def serving_plain():
        expect_eq(d.serving_line,
                  f"serving webhook=http://127.0.0.1:{d.webhook_port}/officernd/webhook "
                  f"metrics=http://127.0.0.1:{d.metrics_port}", "stderr")

    c("plain_http: stderr announces webhook=http://127.0.0.1:PORT/officernd/webhook", serving_plain)

    def post_both():
        for body in (created, ms):
            r = d.post_event(body, SECRET1)
            expect_eq(r.status, 200, f"status ({r!r})")

    c("plain HTTP: member.created and membership.created (Hot Desk) answered 200", post_both)

    def unprocessed(observe: float):
        # Stays unprocessed for `observe` seconds (a negative can only be observed for a while).
        deadline = time.monotonic() + observe
        while True:
            rows = rs.query("SELECT event_id, processed_at, result FROM radsync_inbox ORDER BY seq")
            expect_eq(sorted(r[0] for r in rows), sorted(ids), "inbox event ids")
            expect_eq([(r[1], r[2]) for r in rows], [(None, "")] * 2, "(processed_at, result)")
            expect_eq(rs.scalar("SELECT count(*) FROM radcheck WHERE username=?", email), 0, "radcheck rows")
            for body in (created, ms):
                row = rs.inbox_row(event_id_of(body))
                expect_true(row["stored_body"].startswith(tl.SEALED_PREFIX), "body not sealed")
                expect_eq(row["body"], body, "unsealed body (must be the exact bytes verified)")
            if time.monotonic() >= deadline:
                return
            time.sleep(0.05)

    c("--no-processing-for-test: both events in the inbox, unprocessed for 0.5 s, no radcheck rows",
      lambda: unprocessed(0.5))
    c("--no-processing-for-test: radsync_inbox_depth is 2",
      lambda: expect_eq(metric(d.metrics(), "radsync_inbox_depth"), 2.0, "radsync_inbox_depth"))
    c("kill -9 after the 200s", lambda: expect_eq(d.kill9(), -signal.SIGKILL, "exit status"))
    c("after kill -9: inbox rows still there, unprocessed, no radcheck rows", lambda: unprocessed(0))

    timing = {}

    def restart():
        t0 = time.monotonic()
        d.start()
        timing["ready"] = time.monotonic() - t0

    if not c("restart without --no-processing-for-test: ready", restart):
        return

    def processed_after_restart():
        t0 = time.monotonic()
        results = rs.wait_processed(ids, timeout=10)
        nt = wait_until(lambda: rs.query("SELECT value FROM radcheck WHERE username=? AND "
                                         "attribute='NT-Password'", email), 10, f"NT-Password row for {email}")
        print(f"     ready {timing['ready']:.2f}s after restart; inbox processed "
              f"{time.monotonic() - t0:.2f}s after ready", flush=True)
        expect_eq([results[i] for i in ids], ["applied", "applied"], "results")
        expect_eq([v.lower().removeprefix("0x") for (v,) in nt], [tl.nt_hash(password)], "NT-Password")

    c("after restart: both events processed ('applied') and the member's NT-Password row written",
      processed_after_restart)
    c("after restart: radsync_inbox_depth is 0",
      lambda: wait_until(lambda: metric(d.metrics(), "radsync_inbox_depth") == 0, 5, "depth 0"))

    def sigterm():
        t0 = time.monotonic()
        rc = d.stop(timeout=5)
        expect_eq(rc, 0, "exit status")
        expect_true(time.monotonic() - t0 < 3, f"took {time.monotonic() - t0:.2f}s")

    c("plain daemon: SIGTERM exits 0 in < 3 s", sigterm)


# --------------------------------------------------------------------------------------

def setup(c, rs: Radsync, d: Daemon, s: Scenario | None) -> bool:
    def config_ok():
        d.write_config()
        proc = rs.run("check-config", check=False)
        if proc.returncode != 0 and d.limits and "limits" in proc.stdout + proc.stderr:
            print("NOTE: the loader rejects webhook.limits; using the defaults (read_timeout 10s), "
                  "skipping the idle_timeout and max_connections checks:\n     " +
                  (proc.stdout + proc.stderr).strip().replace("\n", "\n     "), flush=True)
            d.limits = None
            d.write_config()
            rs.run("check-config")
        elif proc.returncode != 0:
            raise AssertionError(f"check-config exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
        if s is not None:
            s.limits = d.limits is not None
            s.read_timeout = 1.0 if s.limits else DEFAULT_READ_TIMEOUT

    def seed():
        rs.run("migrate")
        rs.write_fixture(tl.seed_snapshot())
        rs.reconcile()

    return (c(f"[{d.name}] check-config accepts the webhook configuration", config_ok) and
            c(f"[{d.name}] migrate, and seed locations and plans (reconcile --from-file)", seed))


def main() -> int:
    ap = argparse.ArgumentParser(description="radsync serve integration test")
    ap.add_argument("--radsync", required=True, help="path of the radsync binary")
    ap.add_argument("--source-dir", default=str(tl.SOURCE_DIR), help="repository root")
    args = ap.parse_args()
    tl.install_signal_handlers()
    started = time.monotonic()
    binary = Path(args.radsync).resolve()
    work = tl.temp_workdir("radsync-serve-")
    checks = Checks()
    c = checks.check
    try:
        if not c("radsync binary exists and is executable",
                 lambda: expect_true(os.access(binary, os.X_OK), f"{binary} is missing or not executable")):
            return checks.summary()
        secret1, secret2 = work / "webhook-secret-1", work / "webhook-secret-2"
        secret1.write_text(SECRET1 + "\n")  # as `echo` writes it: the newline is not part of it
        secret2.write_text(SECRET2)
        for f in (secret1, secret2):
            f.chmod(0o600)

        # --- TLS ------------------------------------------------------------------------------
        (work / "tls").mkdir()
        rs = Radsync(binary, work / "tls", log_level="debug")
        d = Daemon(rs, [secret1, secret2], tls=True, name="radsync-tls", max_body_bytes="4KiB",
                   limits=dict(LIMITS))
        s = Scenario(d, rs)
        if setup(c, rs, d, s) and c("[radsync-tls] serve starts; GET /readyz answers 200", d.start):
            checks.sources = [d]
            tls_checks(c, s)
        d.stop()

        # --- plain HTTP, crash and restart --------------------------------------------------
        (work / "plain").mkdir()
        rs2 = Radsync(binary, work / "plain", log_level="debug")
        d2 = Daemon(rs2, [secret1], tls=False, name="radsync-plain", max_body_bytes="4KiB",
                    limits=dict(LIMITS) if s.limits else None)
        if setup(c, rs2, d2, None) and \
                c("[radsync-plain] serve --no-processing-for-test starts; GET /readyz answers 200",
                  lambda: d2.start("--no-processing-for-test")):
            checks.sources = [d2]
            crash_checks(c, d2, rs2)
        d2.stop()
        checks.sources = []
    finally:
        tl.stop_all_daemons()
        tl.remove_workdir(work)
    print(f"integration runtime {time.monotonic() - started:.1f}s")
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
