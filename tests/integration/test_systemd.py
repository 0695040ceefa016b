#!/usr/bin/env python3
"""``radsync serve`` as systemd sees it, with a notify socket of the test's own (the protocol of
sd_notify(3): datagrams on the AF_UNIX socket named by NOTIFY_SOCKET) and WATCHDOG_USEC set:

* READY=1 once the listeners are bound, with no OfficeRnD anywhere (the configured API
  address refuses connections), then STATUS= with the last sync and the inbox depth;
* WATCHDOG=1 at half the watchdog interval, and none while the store worker is stuck on
  purpose (``--stall-store-worker-for-test``), then again once it moves;
* RELOADING=1 then READY=1 around SIGHUP, STOPPING=1 at SIGTERM;
* journal priorities ("<3>" for errors) when JOURNAL_STREAM is set, and per-module log levels
  (log_modules) changed by a reload.

    python3 tests/integration/test_systemd.py --radsync build/dev/src/radsync --source-dir .

Prints one line per check, then "N passed, M failed"; exit status 1 on any failure.
"""

from __future__ import annotations

import argparse
import re
import signal
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))

import radsync_testlib as tl  # noqa: E402
from radsync_testlib import Daemon, expect_eq, expect_true, wait_until  # noqa: E402

SECRET = "whsec-systemd-7d1f0c2a9b8e4f6a5c3d2e1f0a9b8c7d"
WATCHDOG_USEC = 2_000_000  # WatchdogSec=2: a ping every second
WAIT = 20.0


class NotifySocket:
    """The receiving end of sd_notify: every datagram, with the time it arrived."""

    def __init__(self, path: Path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.05)
        self.messages: list[tuple[float, str]] = []

    def drain(self) -> None:
        while True:
            try:
                data = self.sock.recv(4096)
            except (socket.timeout, BlockingIOError):
                return
            self.messages.append((time.monotonic(), data.decode()))

    def lines(self, since: float = 0.0) -> list[str]:
        self.drain()
        return [line for t, m in self.messages if t >= since for line in m.splitlines()]

    def wait_for(self, wanted: str, since: float = 0.0, timeout: float = WAIT) -> str:
        def found():
            return next((line for line in self.lines(since) if line.startswith(wanted)), None)
        return wait_until(found, timeout, f"{wanted!r} on the notify socket")

    def close(self) -> None:
        self.sock.close()


def unreachable_officernd(work: Path) -> str:
    """An officernd section whose API refuses connections: READY must not wait for it."""
    secret = work / "officernd-secret"
    secret.write_text("client-secret\n")
    secret.chmod(0o600)
    [port] = tl.free_tcp_ports(1)
    return (f"officernd:\n  org_slug: acme\n  client_id: cid\n"
            f"  client_secret_file: {secret}\n"
            f"  base_url: http://127.0.0.1:{port}/api/v2/organizations\n"
            f"  token_url: http://127.0.0.1:{port}/oauth/token\n  request_timeout: 2s\n")


def main() -> int:
    ap = argparse.ArgumentParser(description="systemd notify, watchdog and journal tests")
    ap.add_argument("--radsync", required=True)
    ap.add_argument("--source-dir", default=".")
    args = ap.parse_args()
    tl.install_signal_handlers()
    work = tl.temp_workdir("radsync-systemd-")
    checks = tl.Checks()
    c = checks.check
    rs = tl.Radsync(Path(args.radsync).resolve(), work)
    secret = work / "webhook-secret"
    secret.write_text(SECRET + "\n")
    secret.chmod(0o600)
    d = Daemon(rs, [secret], tls=False, name="radsync")
    notify = NotifySocket(work / "notify.sock")
    # JOURNAL_STREAM names stderr's device and inode, as systemd sets it: the daemon's log file.
    d.logfile.touch()
    log = d.logfile.stat()
    d.extra_env = {"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": str(WATCHDOG_USEC),
                   "JOURNAL_STREAM": f"{log.st_dev}:{log.st_ino}"}
    d.extra_config = unreachable_officernd(work)
    try:
        def ready_and_status():
            started = time.monotonic()
            d.start("--stall-store-worker-for-test", "9000")
            notify.wait_for("READY=1", started)
            status = notify.wait_for("STATUS=", started)
            expect_true(re.search(r"inbox \d+ pending", status), status)
            expect_true("initial import running" in status or "failed in a row" in status
                        or "no sync yet" in status, status)
            # Ready although OfficeRnD never answered: the check and the poll run after it.
            expect_true("OfficeRnD organization found" not in d.stderr_since_start(), "no answer")

        if not c("READY=1 after bind, without waiting for an unreachable OfficeRnD; STATUS= "
                 "with the sync state and the inbox depth", ready_and_status):
            return checks.summary()
        checks.sources = [d]

        def watchdog_pings():
            notify.drain()
            since = time.monotonic()
            wait_until(lambda: notify.lines(since).count("WATCHDOG=1") >= 2, WAIT, "two pings")
            times = [t for t, m in notify.messages if t >= since and "WATCHDOG=1" in m]
            # Each within WatchdogSec of the one before, or systemd would restart radsync.
            gaps = [b - a for a, b in zip(times, times[1:])]
            expect_true(all(g < WATCHDOG_USEC / 1e6 for g in gaps), f"gaps {gaps}")

        c("WATCHDOG=1 at half WatchdogSec while every thread makes progress", watchdog_pings)

        def stuck_worker_stops_watchdog():
            wait_until(lambda: "watchdog: no progress: store worker" in d.stderr_since_start(),
                       WAIT, "the stall to be noticed")
            notify.drain()  # the pings sent before the stall was noticed
            stalled_at = time.monotonic()
            # No ping may arrive for a whole watchdog interval: systemd would restart radsync.
            # (Absence can only be seen over a window; it is WatchdogSec itself.)
            window_end = stalled_at + WATCHDOG_USEC / 1e6
            while time.monotonic() < window_end:
                notify.drain()
                time.sleep(0.05)
            pings = [t for t, m in notify.messages if stalled_at <= t and "WATCHDOG=1" in m]
            expect_eq(pings, [], "pings while the store worker is stuck")
            log = d.stderr_since_start()
            line = next(l for l in log.splitlines() if "watchdog: no progress" in l)
            expect_true(line.startswith("<3>[service] error"), f"an error for journald: {line}")
            # The stall ends (9 s); the pings come back without a restart.
            wait_until(lambda: "every thread makes progress again" in d.stderr_since_start(),
                       WAIT, "the worker to move again")
            resumed = time.monotonic()
            wait_until(lambda: "WATCHDOG=1" in notify.lines(resumed), WAIT, "pings again")

        c("a store worker stuck on purpose stops WATCHDOG=1 (logged at priority 3); it comes "
          "back when the worker moves", stuck_worker_stops_watchdog)

        def reload_notifies_and_sets_levels():
            body = tl.envelope("member.updated", {"_id": tl.new_id(), "name": "Ann"})
            expect_eq(d.post_event(body, SECRET).status, 200, "webhook at info")
            before = d.stderr_since_start()
            expect_true("webhook accepted" not in before, "no debug line at info")
            expect_true(re.search(r"^<6>\[service\] info ", before, re.M), "info lines are <6>")
            since = time.monotonic()
            d.extra_config = unreachable_officernd(work) + "log_modules:\n  webhook: debug\n"
            d.write_config()
            d.proc.send_signal(signal.SIGHUP)
            reloading = notify.wait_for("RELOADING=1", since)
            expect_eq(reloading, "RELOADING=1", "reloading")
            lines = notify.lines(since)
            expect_true(any(l.startswith("MONOTONIC_USEC=") for l in lines), lines)
            wait_until(lambda: "READY=1" in notify.lines(since)[lines.index("RELOADING=1"):],
                       WAIT, "READY=1 after the reload")
            wait_until(lambda: "configuration reloaded" in d.stderr_since_start(), WAIT, "reload")
            body = tl.envelope("member.updated", {"_id": tl.new_id(), "name": "Bob"})
            expect_eq(d.post_event(body, SECRET).status, 200, "webhook at debug")
            wait_until(lambda: re.search(r"^<7>\[webhook\] debug webhook accepted",
                                         d.stderr_since_start(), re.M), WAIT, "a debug line")
            expect_true(not re.search(r"^<7>\[service\]", d.stderr_since_start(), re.M),
                        "other modules stay at info")

        c("SIGHUP: RELOADING=1 (with MONOTONIC_USEC) then READY=1; log_modules turns one "
          "module's debug lines on; journal priorities <6> and <7>", reload_notifies_and_sets_levels)

        def stopping():
            since = time.monotonic()
            d.proc.send_signal(signal.SIGTERM)
            notify.wait_for("STOPPING=1", since)
            d.proc.wait(timeout=WAIT)
            expect_eq(d.stop(), 0, "clean exit")

        c("SIGTERM: STOPPING=1, then a clean exit", stopping)
    finally:
        tl.stop_all_daemons()
        notify.close()
        tl.remove_workdir(work)
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
