#!/usr/bin/env python3
"""End to end: sessions. FreeRADIUS accounting → radsync's session worker → RFC 5176 requests to
a stand-in access point (a second virtual server of the same FreeRADIUS, freeradius.md §8).

    python3 tests/e2e/test_sessions.py --radsync build/dev/src/radsync --source-dir .

1. radsync with a `sessions` section naming the stand-in NAS (127.0.0.1, its CoA port, the
   shared secret in a file), members made by signed webhooks, FreeRADIUS writing accounting into
   the accounting database;
2. a revoked member's open session gets a Disconnect-Request with the right attributes and the
   right secret, ACKed (time from the webhook's 200 to the NAS's log printed);
3. the NAS NAKs one member: the NAK and its Error-Cause are recorded;
4. a plan change (Hot Desk → Dedicated Desk) sends a CoA-Request with the new limits;
5. a session that hears no interim update is closed as stale and counted;
6. a wrong secret: the NAS drops every request, radsync resends and reports a timeout;
7. `sessions list`, `accounts show` and `sessions disconnect` show and act on what is open.

Prints one line per check, then "N passed, M failed"; exit status 1 on any failure.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import freeradius_harness as h  # noqa: E402
from freeradius_harness import expect_eq, expect_reply, expect_true  # noqa: E402
import radsync_testlib as tl  # noqa: E402  (on sys.path through freeradius_harness)
from radsync_testlib import (DOMAIN, LOC_DOWNTOWN, PLAN_DEDICATED, PLAN_HOT, Daemon,  # noqa: E402
                             Radsync, envelope, member, membership, metric, new_id, now_instant,
                             wait_until)

SECRET = "whsec-e2e-sessions-0b1e4d7a"
WAIT = 15.0


class Person:
    def __init__(self, name: str):
        self.mid, self.msid = new_id(), new_id()
        self.user = f"{name}@{DOMAIN}"
        self.password = f"{name.capitalize()}-wifi-{len(name) * 1111}"
        self.name = name.capitalize()

    def created(self) -> list[bytes]:
        return [envelope("member.created", member(self.mid, self.name, self.user, LOC_DOWNTOWN,
                                                  self.password, modified=now_instant())),
                envelope("membership.created", membership(self.msid, PLAN_HOT, "Hot Desk", LOC_DOWNTOWN,
                                                          member_id=self.mid, start=-1,
                                                          modified=now_instant()))]

    def removed(self) -> bytes:
        return envelope("membership.removed", membership(self.msid, PLAN_HOT, "Hot Desk", LOC_DOWNTOWN,
                                                         member_id=self.mid, start=-1,
                                                         modified=now_instant()))


WANDA, NADIA, CARL, ERIN, FRANK = (Person(n) for n in ("wanda", "nadia", "carl", "erin", "frank"))


def sessions_yaml(coa_port: int, secret_file: Path) -> str:
    return ("sessions:\n  interim_interval: 60s\n  stale_after_intervals: 2\n  sweep_interval: 1s\n"
            "  request_timeout: 300ms\n  attempts: 3\n  nas:\n"
            f"    - name: stand-in\n      address: 127.0.0.1\n      coa_port: {coa_port}\n"
            f"      secret_file: {secret_file}\n"
            "      identify: [User-Name, Acct-Session-Id, Calling-Station-Id, NAS-IP-Address]\n")


def device(n: int) -> dict:
    return {"Calling-Station-Id": f"AA-BB-CC-DD-EE-{n:02X}", "Framed-IP-Address": f"10.20.0.{n}"}


def open_sessions(fr: h.FreeRadius, user: str) -> list[tuple]:
    return fr.accounting_query("SELECT acctsessionid, acctterminatecause FROM radacct WHERE username = ? "
                               "AND acctstoptime IS NULL", user)


def main() -> int:
    ap = argparse.ArgumentParser(description="sessions: accounting, Disconnect and CoA end-to-end test")
    ap.add_argument("--radsync", required=True, help="path of the radsync binary")
    ap.add_argument("--source-dir", default=str(h.SOURCE_DIR), help="repository root")
    args = ap.parse_args()
    h.install_signal_handlers()
    started = time.monotonic()
    binary = Path(args.radsync).resolve()
    source = Path(args.source_dir).resolve()
    work = h.temp_workdir("radsync-sessions-e2e-")
    checks = h.Checks()
    c = checks.check
    rs = Radsync(binary, work, log_level="info")
    secret_file = work / "webhook-secret"
    secret_file.write_text(SECRET + "\n")
    secret_file.chmod(0o600)
    nas_secret = work / "nas-secret"
    nas_secret.write_text(h.SECRET + "\n")
    nas_secret.chmod(0o600)
    timings: dict[str, float] = {}
    fr = h.FreeRadius(rs.db, work / "freeradius", source_dir=source, nas=True, nak_user=NADIA.user)
    d = Daemon(rs, [secret_file], tls=False, name="radsync")
    try:
        def post(body: bytes) -> float:
            r = d.post_event(body, SECRET)
            expect_eq(r.status, 200, f"status ({r!r})")
            return time.monotonic()

        def online(p: Person, session: str, n: int) -> None:
            for body in p.created():
                post(body)
            wait_until(lambda: fr.pap(p.user, p.password, "downtown")[0] == "Access-Accept", WAIT,
                       f"{p.user} accepted")
            expect_eq(fr.acct(p.user, "Start", session, "downtown", device(n)), "Accounting-Response",
                      "accounting Start")

        def setup():
            d.write_config()
            rs.run("migrate")
            rs.write_fixture(tl.seed_snapshot())
            rs.reconcile()
            fr.start()
            d.extra_config = sessions_yaml(fr.coa_port, nas_secret)
            d.start()

        if not c("migrate creates the accounting database; FreeRADIUS (also the stand-in NAS) and "
                 "radsync serve with a sessions section start", setup):
            return checks.summary()
        checks.server = fr
        checks.sources = [d]

        c("wanda, nadia, carl, erin and frank get online (webhooks, PAP, accounting Start)",
          lambda: [online(p, f"s-{p.name}", i + 1) for i, p in enumerate((WANDA, NADIA, CARL, ERIN, FRANK))])

        def listed():
            out = rs.run("sessions", "list").stdout
            for p in (WANDA, NADIA, CARL, ERIN, FRANK):
                expect_true(f"{p.user}:" in out and f"s-{p.name} at 127.0.0.1" in out, f"{p.user} in:\n{out}")
            out = rs.run("accounts", "show", WANDA.user).stdout
            expect_true(re.search(r"sessions:\n  s-Wanda at 127\.0\.0\.1 device AA-BB-CC-DD-EE-01 address "
                                  r"10\.20\.0\.1 since ", out) is not None, f"accounts show:\n{out}")

        c("sessions list shows every open session; accounts show lists wanda's with device and address",
          listed)

        def revoked_gets_disconnect():
            mark = fr.log_mark()
            acked = post(WANDA.removed())
            requests = wait_until(lambda: fr.coa_requests(mark) or None, WAIT, "a Disconnect-Request")
            timings["revoke 200 → Disconnect-Request at the NAS"] = time.monotonic() - acked
            expect_eq(len(requests), 1, f"requests ({requests})")
            expect_eq(requests[0]["code"], "Disconnect-Request", "code")
            attrs = {k: v for k, v in requests[0]["attrs"].items() if k != "Message-Authenticator"}
            expect_eq(attrs, {"User-Name": WANDA.user, "Acct-Session-Id": "s-Wanda",
                              "Calling-Station-Id": "AA-BB-CC-DD-EE-01", "NAS-IP-Address": "127.0.0.1"},
                      "attributes")
            expect_true("Message-Authenticator" in requests[0]["attrs"], "Message-Authenticator sent")
            wait_until(lambda: metric(d.metrics(), "radsync_dynauth_requests_total",
                                      request="disconnect", result="ack") == 1, WAIT, "ack counted")
            timings["revoke 200 → ACK counted"] = time.monotonic() - acked
            expect_reply(fr.pap(WANDA.user, WANDA.password, "downtown"), False)
            log = d.stderr_since_start()
            expect_true(re.search(rf"disconnect acknowledged nas=stand-in user={re.escape(WANDA.user)} "
                                  r"session=s-Wanda attempts=1", log) is not None, "ack logged")

        c("revoked wanda: Disconnect-Request with User-Name, Acct-Session-Id, Calling-Station-Id, "
          "NAS-IP-Address and Message-Authenticator, ACKed by the NAS", revoked_gets_disconnect)

        def nak_recorded():
            post(NADIA.removed())
            wait_until(lambda: metric(d.metrics(), "radsync_dynauth_requests_total",
                                      request="disconnect", result="nak") == 1, WAIT, "nak counted")
            log = d.stderr_since_start()
            expect_true(re.search(rf"disconnect nak nas=stand-in user={re.escape(NADIA.user)} session=s-Nadia "
                                  r"attempts=1 Session-Context-Not-Found \(503\)", log) is not None,
                        "nak with Error-Cause logged")

        c("the NAS NAKs nadia's Disconnect: recorded with its Error-Cause", nak_recorded)

        def plan_change_coa():
            mark = fr.log_mark()
            pro = new_id()
            post(envelope("membership.created", membership(pro, PLAN_DEDICATED, "Dedicated Desk", LOC_DOWNTOWN,
                                                           member_id=CARL.mid, start=-1, modified=now_instant())))
            requests = wait_until(lambda: fr.coa_requests(mark) or None, WAIT, "a CoA-Request")
            expect_eq(requests[0]["code"], "CoA-Request", "code")
            attrs = requests[0]["attrs"]
            for name, value in {"User-Name": CARL.user, "Acct-Session-Id": "s-Carl", "Session-Timeout": "28800",
                                "WISPr-Bandwidth-Max-Down": "50000000", "WISPr-Bandwidth-Max-Up": "10000000",
                                "Mikrotik-Rate-Limit": "10M/50M", "Acct-Interim-Interval": "60"}.items():
                expect_eq(attrs.get(name), value, name)
            wait_until(lambda: metric(d.metrics(), "radsync_dynauth_requests_total",
                                      request="coa", result="ack") == 1, WAIT, "CoA ack counted")

        c("carl moves up to Dedicated Desk: CoA-Request with the new Session-Timeout, bandwidth and "
          "interim interval, ACKed", plan_change_coa)

        def plan_limits_reloaded():
            mapping = work / "mapping.yaml"
            mapping.write_text(mapping.read_text().replace("bandwidth: {down: 50M, up: 10M}",
                                                           "bandwidth: {down: 100M, up: 10M}", 1))
            mark, fr_mark = d.log_mark(), fr.log_mark()
            os.kill(d.pid, signal.SIGHUP)
            wait_until(lambda: "configuration reloaded" in d.log_from(mark) or None, WAIT, "reload")
            requests = wait_until(lambda: fr.coa_requests(fr_mark) or None, WAIT, "a CoA-Request")
            expect_eq([(r["code"], r["attrs"].get("User-Name")) for r in requests],
                      [("CoA-Request", CARL.user)], "requests")
            expect_eq(requests[0]["attrs"].get("WISPr-Bandwidth-Max-Down"), "100000000", "new bandwidth")
            expect_eq(requests[0]["attrs"].get("Mikrotik-Rate-Limit"), "10M/100M", "new rate limit")

        c("the pro plan gets 100M in the mapping and radsync reloads: its member carl's session gets "
          "a CoA-Request with the new bandwidth", plan_limits_reloaded)

        def stale_closed():
            old = int(time.time()) - 1000
            expect_eq(fr.acct(ERIN.user, "Start", "s-Erin-old", "downtown", {**device(40), "Event-Timestamp": old}),
                      "Accounting-Response", "backdated Start")
            wait_until(lambda: ("s-Erin-old", "") not in open_sessions(fr, ERIN.user) or None,
                       WAIT, "the stale session to be closed")
            expect_eq(open_sessions(fr, ERIN.user), [("s-Erin", "")], "erin's live session kept")
            cause = fr.accounting_query("SELECT acctterminatecause FROM radacct WHERE acctsessionid = 's-Erin-old'"
                                        )[0][0]
            expect_eq(cause, "Stale-Session", "terminate cause")
            # Closed (committed) before it is counted.
            wait_until(lambda: metric(d.metrics(), "radsync_sessions_stale_closed_total") >= 1, 5,
                       "the stale session to be counted")

        c("a session with no update for 2 × 60 s is closed as Stale-Session, the live one kept", stale_closed)

        def wrong_secret():
            nas_secret.write_text("not-the-secret\n")
            mark = d.log_mark()
            os.kill(d.pid, signal.SIGHUP)
            wait_until(lambda: "configuration reloaded" in d.log_from(mark) or None, WAIT, "reload")
            fr_mark = fr.log_mark()
            proc = rs.run("sessions", "disconnect", FRANK.user, check=False, timeout=30)
            expect_eq(proc.returncode, 1, f"exit status ({proc.stdout}{proc.stderr})")
            expect_true("session s-Frank at stand-in: timeout (no valid answer after 3 sends) after 3 send(s)"
                        in proc.stdout, f"output: {proc.stdout}")
            # Each send reached the NAS: dropped for its secret, or (a resend within the NAS's
            # cleanup delay) ignored as a duplicate of the one it dropped.
            expect_eq(fr.coa_arrivals(fr_mark), 3, "datagrams that reached the NAS")
            expect_true(fr.log_from(fr_mark).count("(Shared secret is incorrect.)") >= 1,
                        "dropped for the secret")
            expect_eq(fr.coa_requests(fr_mark), [], "requests the NAS accepted")

        c("a wrong secret: radsync sends three times, the NAS drops them, sessions disconnect "
          "reports the timeout (exit 1)", wrong_secret)

        def right_secret_again():
            nas_secret.write_text(h.SECRET + "\n")
            mark = d.log_mark()
            os.kill(d.pid, signal.SIGHUP)
            wait_until(lambda: "configuration reloaded" in d.log_from(mark) or None, WAIT, "reload")
            proc = rs.run("sessions", "disconnect", FRANK.user.capitalize(), check=False, timeout=30)
            expect_eq(proc.returncode, 0, f"exit status ({proc.stdout}{proc.stderr})")
            expect_true("session s-Frank at stand-in: ack after 1 send(s)" in proc.stdout, proc.stdout)
            proc = rs.run("sessions", "disconnect", f"nobody@{DOMAIN}", check=False)
            expect_eq(proc.returncode, 1, "no session")
            expect_true("no open session" in proc.stderr, proc.stderr)

        c("sessions disconnect through the daemon: ACK with the right secret; exit 1 for a user with "
          "no session", right_secret_again)

        def stop_while_waiting():
            # Frank again, at a NAS that drops everything (wrong secret): the request is still
            # being resent when the daemon is told to stop.
            expect_eq(fr.acct(FRANK.user, "Start", "s-Frank-2", "downtown", device(5)),
                      "Accounting-Response", "accounting Start")
            nas_secret.write_text("not-the-secret\n")
            mark = d.log_mark()
            os.kill(d.pid, signal.SIGHUP)
            wait_until(lambda: "configuration reloaded" in d.log_from(mark) or None, WAIT, "reload")
            waiting = subprocess.Popen([str(rs.binary), "-c", str(rs.main), "sessions", "disconnect", FRANK.user],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=work)
            try:
                wait_until(lambda: "resending disconnect to nas=stand-in user=" + FRANK.user in d.log_from(mark)
                           or None, WAIT, "the first resend")
                t0 = time.monotonic()
                expect_eq(d.stop(timeout=5), 0, "exit status")
                expect_true(time.monotonic() - t0 < 3, f"stopping took {time.monotonic() - t0:.2f}s")
                out, err = waiting.communicate(timeout=10)
            finally:
                if waiting.poll() is None:
                    waiting.kill()
            expect_eq(waiting.returncode, 1, f"sessions disconnect exit status ({out}{err})")
            expect_true("session s-Frank-2 at stand-in: error (shutting down)" in out, f"output: {out}{err}")

        c("SIGTERM while a Disconnect is still being resent: the daemon exits 0 within 3 s and the "
          "waiting sessions disconnect is answered 'shutting down'", stop_while_waiting)
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
