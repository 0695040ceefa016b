#!/usr/bin/env python3
"""Integration: the control channel, start-up modes, secret rotation and secrets at rest.

    python3 tests/integration/test_control.py --radsync build/dev/src/radsync --source-dir .

With a webhook-only daemon (plain HTTP on loopback):

* the metrics listener serves GET /metrics, /healthz, /readyz and nothing else: POST
  /reconcile?allow_mass_removal=1 is 404 and changes nothing, POST /metrics 405;
* ``reconcile --from-file`` while the daemon runs goes through the daemon, whose own copy of the
  snapshot follows the file: a webhook redelivered afterwards is applied, not "stale";
* ``reconcile --standalone`` and ``migrate`` refuse to write behind the running daemon;
* a starting daemon waits for the lock a command holds;
* rotating the webhook secret by reload: events signed with the old secret keep being accepted
  during the reload (none lost), both during the overlap, only the new one after;
* read-only commands work with the daemon stopped and the secret files unreadable;

then against the OfficeRnD simulator:

* polling only (no webhook section): the daemon starts and imports;
* a wrong org slug fails the start with exit status 78; an unreachable OfficeRnD does not;
* ``check-config --online``;
* every file radsync wrote (both databases, their -wal files, its logs) holds none of the
  passwords members had in webhooks and polls.

Prints one line per check, then "N passed, M failed"; exit status 1 on any failure.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))

import radsync_testlib as tl  # noqa: E402
from radsync_testlib import (DOMAIN, LOC_DOWNTOWN, PLAN_HOT, Checks, Daemon, Radsync,  # noqa: E402
                             Simulator, envelope, expect_eq, expect_true, member, membership,
                             now_instant, object_id, wait_until)

ORG = "test-cowork"
OLD_SECRET = "control-test-webhook-secret-old"
NEW_SECRET = "control-test-webhook-secret-new"
EXIT_CONFIG = 78


def mid(i: int) -> str:
    return object_id(1_700_100_000 + i, i, machine=0xC7)


def password(i: int) -> str:
    return f"Known-Wifi-Pw-{i:03d}-x7"


def door(i: int) -> str:
    return f"Known-Door-Pw-{i:03d}-q4"


def a_member(i: int, modified: str | None = None) -> dict:
    m = member(mid(i), f"Control Member {i}", f"control-{i}@{DOMAIN}", LOC_DOWNTOWN, password(i),
               modified=modified or tl.CREATED)
    m["properties"]["door_password"] = door(i)
    return m


def a_membership(i: int) -> dict:
    return membership(object_id(1_700_200_000 + i, i, machine=0xC8), PLAN_HOT, "Hot Desk", LOC_DOWNTOWN,
                      member_id=mid(i))


def snapshot_of(members: list[int], memberships: list[int]) -> dict:
    return {**tl.locations_and_plans(), "companies": [], "members": [a_member(i) for i in members],
            "memberships": [a_membership(i) for i in memberships], "passes": [], "bookings": []}


# Copies of radsync's files taken while a daemon runs (its -wal files are emptied when it
# stops), scanned for passwords at the end with the files as they are then.
CAPTURED: list[tuple[str, bytes, list[int]]] = []


def capture(rs: Radsync, members: list[int]) -> None:
    for f in sorted(rs.work.iterdir()):
        if f.is_file() and f.name.startswith(("radsync.db", "state.db")):
            CAPTURED.append((f"{rs.work.name}/{f.name} (daemon running)", f.read_bytes(), members))


def account_state(rs: Radsync, i: int):
    return rs.scalar("SELECT state FROM radsync_accounts WHERE member_id=?", mid(i))


def webhook_checks(c, rs: Radsync, d: Daemon, work: Path) -> None:
    old_file, new_file = work / "webhook-secret", work / "webhook-secret.next"

    def post(i: int, secret: str, event_id: str | None = None, modified: str | None = None):
        body = envelope("member.updated", a_member(i, modified=modified or now_instant()), event_id=event_id)
        return d.post_event(body, secret), tl.event_id_of(body), body

    def metrics_only():
        before = rs.digest(["radcheck", "radreply", "radusergroup"])
        expect_eq(d.get_ops("/metrics").status, 200, "GET /metrics")
        for method, path, status in [("POST", "/reconcile?allow_mass_removal=1", 404),
                                     ("POST", "/reconcile", 404), ("GET", "/status", 404),
                                     ("GET", "/reconcile", 404), ("POST", "/metrics", 405),
                                     ("DELETE", "/healthz", 405), ("PUT", "/readyz", 405)]:
            r = tl.http_request(d.metrics_port, method, path, timeout=5)
            expect_eq(r.status, status, f"{method} {path}")
            if status == 405:
                expect_true("GET" in r.headers.get("allow", ""), f"{method} {path}: Allow {r.headers}")
        expect_eq(rs.digest(["radcheck", "radreply", "radusergroup"]), before, "RADIUS rows")

    c("the metrics listener serves only GET /metrics, /healthz, /readyz: POST /reconcile"
      "?allow_mass_removal=1 is 404 and changes nothing, other methods 405", metrics_only)

    def webhooks_apply():
        for i in range(3):
            r, eid, _ = post(i, OLD_SECRET)
            expect_eq(r.status, 200, f"member {i}")
            expect_eq(rs.wait_processed(eid), {eid: "applied"}, f"member {i}")
        for i in range(3):
            expect_eq(account_state(rs, i), "active", f"member {i}")

    c("signed member webhooks give three members access", webhooks_apply)

    def from_file_through_daemon():
        # Member 0 delivered once more with the modification time the daemon already holds:
        # stale. Then a file without member 0, applied by the daemon, then the same redelivery:
        # the daemon's own copy follows the file, so it is applied again, not "stale" (before,
        # the command wrote behind the daemon and only a restart cured the daemon's memory).
        stamp = now_instant()
        r, eid, _ = post(0, OLD_SECRET, modified=stamp)
        expect_eq(rs.wait_processed(eid), {eid: "applied"}, "member 0 at a fixed time")
        r, eid, _ = post(0, OLD_SECRET, modified=stamp)
        expect_eq(rs.wait_processed(eid), {eid: "stale"}, "the same modification again")

        rs.write_fixture(snapshot_of([1, 2], [0, 1, 2]))
        proc = rs.run("reconcile", "--from-file", str(rs.fixture), "--verbose")
        expect_true("(done by the radsync daemon, through" in proc.stderr, proc.stdout + proc.stderr)
        expect_eq(account_state(rs, 0), "revoked", "member 0 after the file")
        expect_eq(rs.scalar("SELECT result FROM radsync_runs ORDER BY id DESC LIMIT 1"), "ok", "run")

        r, eid, _ = post(0, OLD_SECRET, modified=stamp)
        expect_eq(rs.wait_processed(eid), {eid: "applied"}, "redelivery after the file")
        expect_eq(account_state(rs, 0), "active", "member 0 after the redelivery")

    c("`reconcile --from-file` while serve runs is applied by the daemon; a later redelivery is "
      "applied, not 'stale'", from_file_through_daemon)

    def no_write_behind():
        proc = rs.run("reconcile", "--from-file", str(rs.fixture), "--standalone", check=False)
        expect_eq(proc.returncode, 1, "reconcile --standalone behind the daemon")
        expect_true("holds the lock" in proc.stderr, proc.stderr)
        proc = rs.run("migrate", check=False)
        expect_eq(proc.returncode, 1, "migrate behind the daemon")
        expect_true("daemon is running" in proc.stderr, proc.stderr)
        proc = rs.run("inbox", "requeue", "--all", check=False)
        expect_true("(done by the radsync daemon, through" in proc.stderr, proc.stderr)
        expect_eq(proc.returncode, 1, "requeue with nothing parked")
        expect_true("no parked webhooks" in proc.stderr, proc.stderr)
        proc = rs.run("accounts", "reset-password", f"control-1@{DOMAIN}", check=False)
        expect_eq(proc.returncode, 1, "reset-password with property passwords")
        expect_true("custom property" in proc.stderr, proc.stderr)
        status = rs.run("status").stdout
        expect_true("daemon:    running" in status, status)

    c("behind a running daemon: `reconcile --standalone` and `migrate` refuse, requeue and "
      "reset-password go through it, status asks it", no_write_behind)

    def rotation():
        new_file.write_text(NEW_SECRET + "\n")
        new_file.chmod(0o600)
        r, _, _ = post(1, NEW_SECRET)
        expect_eq(r.status, 401, "the new secret before the reload")
        # Old-secret deliveries go on throughout the reload: none may be refused.
        results, stop = [], threading.Event()

        def sender():
            n = 0
            while not stop.is_set() or n < 20:
                r, eid, _ = post(1 + n % 2, OLD_SECRET)
                results.append((r.status, eid))
                n += 1

        t = threading.Thread(target=sender)
        t.start()
        try:
            wait_until(lambda: len(results) >= 5, 10, "deliveries before the reload")
            mark = d.log_mark()
            d.secret_files = [old_file, new_file]
            rs.write_config(d.config_text())
            os.kill(d.pid, signal.SIGHUP)
            wait_until(lambda: "webhook secrets reloaded count=2" in d.log_from(mark), 10, "reload logged")
        finally:
            stop.set()
            t.join(30)
        refused = [s for s, _ in results if s != 200]
        expect_eq(refused, [], f"old-secret deliveries refused during the reload (of {len(results)})")
        done = rs.wait_processed([eid for _, eid in results], timeout=20)
        expect_eq(sorted(set(done.values())), ["applied"], "results")
        print(f"     {len(results)} deliveries signed with the old secret during the reload, all 200 "
              f"and applied", flush=True)
        for secret in (OLD_SECRET, NEW_SECRET):
            r, eid, _ = post(2, secret)
            expect_eq(r.status, 200, "during the overlap")
            expect_eq(rs.wait_processed(eid), {eid: "applied"}, "during the overlap")
        mark = d.log_mark()
        d.secret_files = [new_file]
        rs.write_config(d.config_text())
        os.kill(d.pid, signal.SIGHUP)
        wait_until(lambda: "webhook secrets reloaded count=1" in d.log_from(mark), 10, "second reload")
        expect_eq(post(2, OLD_SECRET)[0].status, 401, "the old secret after the rotation")
        r, eid, _ = post(2, NEW_SECRET)
        expect_eq(r.status, 200, "the new secret after the rotation")
        expect_eq(rs.wait_processed(eid), {eid: "applied"}, "after the rotation")
        capture(rs, [0, 1, 2])

    c("secret rotation by reload (README steps): no old-secret delivery refused while reloading; "
      "both accepted during the overlap; only the new one after", rotation)

    def start_waits_for_the_lock():
        d.stop()
        holder = os.open(rs.state_db.parent, os.O_RDONLY | os.O_DIRECTORY)
        started = {}
        try:
            fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
            mark = d.log_mark() if d.logfile.exists() else 0
            t = threading.Thread(target=lambda: started.update(ok=d.start(timeout=30)))
            t.start()
            wait_until(lambda: "waiting:" in d.log_from(mark), 10, "the daemon says it waits")
            expect_true(d.running, "the daemon is alive while waiting")
            with contextlib.suppress(OSError, tl.HttpError):
                r = tl.http_request(d.metrics_port, "GET", "/readyz", timeout=1)
                raise AssertionError(f"ready while the lock is held: {r.status}")
            expect_true(not rs.control_socket.exists(), "control socket while waiting")
        finally:
            fcntl.flock(holder, fcntl.LOCK_UN)
            os.close(holder)
        t.join(30)
        expect_true(started.get("ok"), "ready once the lock was released")

    c("a starting daemon waits for the lock a command holds, then starts", start_waits_for_the_lock)


def offline_checks(c, rs: Radsync, d: Daemon, work: Path) -> None:
    def read_only_without_secrets():
        d.stop()
        hidden = []
        for f in d.secret_files:
            f.chmod(0)
            hidden.append(f)
        try:
            if os.geteuid() == 0:  # root reads anything: make the files absent instead
                for f in hidden:
                    f.rename(f.with_suffix(".away"))
            for args in (["status"], ["accounts", "list"], ["accounts", "show", f"control-1@{DOMAIN}"],
                         ["inbox", "parked"]):
                proc = rs.run(*args, check=False)
                expect_eq(proc.returncode, 0, f"{' '.join(args)}: {proc.stderr}")
            status = rs.run("status").stdout
            expect_true("daemon:    not running" in status, status)
            proc = rs.run("check-config", check=False)
            expect_eq(proc.returncode, 1, "check-config without the secret")
            expect_true("cannot read" in proc.stderr, proc.stderr)
        finally:
            for f in hidden:
                away = f.with_suffix(".away")
                if away.exists():
                    away.rename(f)
                f.chmod(0o600)

    c("with the daemon stopped and its secret files gone: status, accounts list|show, inbox "
      "parked exit 0; check-config names the missing file", read_only_without_secrets)


def polling_checks(c, binary: Path, work: Path, sim: Simulator, client_secret: Path) -> Radsync:
    rs = Radsync(binary, work / "poll", log_level="debug")
    rs.work.mkdir()
    d = tl.PollingDaemon(rs, [], tls=False, name="radsync-polling-only",
                      extra_config=sim.officernd_yaml(client_secret) + tl.sync_yaml(interval="10m"))

    def polling_only():
        d.start()
        wait_until(lambda: all(account_state(rs, i) == "active" for i in range(10, 15)), 15,
                   "the initial import")
        log = d.stderr_since_start()
        expect_true("no webhook section: polling only" in log, log)
        expect_true("OfficeRnD organization found" in log, log)
        capture(rs, list(range(10, 15)))
        expect_eq(d.stop(), 0, "exit status")

    c("polling only (no webhook section): serve starts, imports, exits 0", polling_only)

    def wrong_org():
        rs.write_config(tl.metrics_yaml(tl.free_tcp_ports(1)[0]) + sim.officernd_yaml(client_secret, org="no-such-org"))
        proc = rs.run("serve", check=False, timeout=60)
        expect_eq(proc.returncode, EXIT_CONFIG, "exit status of serve")
        expect_true("not found" in proc.stderr, proc.stderr)
        proc = rs.run("check-config", "--online", check=False)
        expect_eq(proc.returncode, 1, "check-config --online")
        expect_true("no-such-org" in proc.stderr and "not found" in proc.stderr, proc.stderr)

    c("a wrong org slug: serve exits 78 at once (no restart loop), check-config --online fails", wrong_org)

    def unreachable():
        dead_port = tl.free_tcp_ports(1)[0]
        offline = tl.PollingDaemon(rs, [], tls=False, name="radsync-offline",
                                extra_config=tl.officernd_yaml(dead_port, ORG, sim.client_id, client_secret,
                                                               request_timeout="1s"))
        # Ready without waiting for OfficeRnD; the check gives up after READY and serving goes on.
        offline.start(timeout=10)
        expect_eq(account_state(rs, 10), "active", "accounts kept")
        wait_until(lambda: "OfficeRnD not checked at start" in offline.stderr_since_start(), 40,
                   "the start check to give up")
        expect_true(offline.running, "still serving")
        expect_eq(offline.stop(), 0, "exit status")
        rs.write_config(tl.metrics_yaml(tl.free_tcp_ports(1)[0]) +
                        tl.officernd_yaml(dead_port, ORG, sim.client_id, client_secret, request_timeout="1s"))
        proc = rs.run("check-config", "--online", check=False, timeout=60)
        expect_eq(proc.returncode, 1, "check-config --online, OfficeRnD unreachable")
        rs.write_config(tl.metrics_yaml(tl.free_tcp_ports(1)[0]) + sim.officernd_yaml(client_secret))
        proc = rs.run("check-config", "--online", check=False)
        expect_eq(proc.returncode, 0, proc.stderr)
        expect_true(f"OfficeRnD organization {ORG} found" in proc.stdout, proc.stdout)

    c("OfficeRnD unreachable at start: serve is ready at once on the rows it has; check-config --online "
      "fails then, passes against the simulator", unreachable)
    return rs


def secrets_at_rest(c, instances: list[tuple[Radsync, list[int]]], sim: Simulator) -> None:
    def scan():
        # The needles are right: the simulator's own fixture holds them.
        expect_true(password(10).encode() in sim.fixture_file.read_bytes(), "needle not in the fixture")
        files = list(CAPTURED)
        for rs, members in instances:
            for f in sorted(rs.work.iterdir()):
                if f.is_file() and (f.name.startswith(("radsync.db", "state.db")) or f.suffix == ".log"):
                    files.append((f"{rs.work.name}/{f.name}", f.read_bytes(), members))
        found = [f"{name}: {s}" for name, data, members in files
                 for i in members for s in (password(i), door(i)) if s.encode() in data]
        wal = [name for name, data, _ in files if name.split(" ")[0].endswith("-wal") and data]
        expect_true(wal, "no non-empty -wal file was scanned")
        expect_true(any(name.endswith(".log") for name, _, _ in files), "no log scanned")
        expect_eq(found, [], "passwords found at rest")
        print("     scanned " + ", ".join(f"{name} {len(data)} B" for name, data, _ in files), flush=True)

    c("no password from a webhook or a poll (wifi_password, door_password) in any file radsync "
      "wrote: both databases and their -wal files (while running and after), logs", scan)


def main() -> int:
    ap = argparse.ArgumentParser(description="radsync control channel integration test")
    ap.add_argument("--radsync", required=True)
    ap.add_argument("--source-dir", default=str(tl.SOURCE_DIR))
    args = ap.parse_args()
    tl.install_signal_handlers()
    binary = Path(args.radsync).resolve()
    source = Path(args.source_dir).resolve()
    work = tl.temp_workdir("radsync-control-")
    checks = Checks()
    c = checks.check
    try:
        rs = Radsync(binary, work / "hooks", log_level="debug")
        rs.work.mkdir()
        old_file = rs.work / "webhook-secret"
        old_file.write_text(OLD_SECRET + "\n")
        old_file.chmod(0o600)
        d = Daemon(rs, [old_file], tls=False, name="radsync-webhooks")

        def start():
            d.write_config()
            rs.write_fixture(snapshot_of([], [0, 1, 2]))
            rs.reconcile()  # no daemon: runs here, under the lock
            d.start()
            expect_true("no officernd section: webhooks only" in d.stderr_since_start(), d.stderr_since_start())

        if c("webhooks only (no officernd section): seeded by a local reconcile, serve starts with "
             "its warning", start):
            checks.sources = [d]
            webhook_checks(c, rs, d, rs.work)
            offline_checks(c, rs, d, rs.work)
        d.stop()

        sim = Simulator(work, snapshot_of(list(range(10, 15)), list(range(10, 15))), org=ORG,
                        script=source / "scripts/officernd_sim.py", extra_args=("--token-rate-limit", "0"))
        if c("simulator starts", sim.start):
            checks.sources = [sim]
            client_secret = sim.write_client_secret(work / "officernd-client-secret")
            polled = polling_checks(c, binary, work, sim, client_secret)
            secrets_at_rest(c, [(rs, [0, 1, 2]), (polled, list(range(10, 15)))], sim)
        checks.sources = []
    finally:
        tl.stop_all_daemons()
        tl.remove_workdir(work)
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
