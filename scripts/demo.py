#!/usr/bin/env python3
"""The radsync demo (started by scripts/run).

Starts, all on 127.0.0.1:
  * the bundled OfficeRnD simulator (scripts/officernd_sim.py) serving config/demo-fixture.json
    on port 18900, sending signed webhooks to radsync;
  * a private FreeRADIUS built from /etc/freeradius/3.0 plus deploy/freeradius (the same
    harness the end-to-end tests use), reading radsync's database;
  * `radsync serve` with config/demo.yaml (webhooks on 18901, /metrics, /healthz and /readyz on 18902),
    which imports every member at start.
Then prints how to log in as a demo member and how to change her membership in the simulator
and watch access change. Ctrl-C stops everything it started.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
sys.path.insert(0, str(ROOT / "tests" / "support"))

from freeradius_harness import FreeRadius  # noqa: E402

SIM_PORT = 18900
WEBHOOK_PORT = 18901
OPS_PORT = 18902
DEMO_USER = "ada@demo-cowork.test"
STARTUP_TIMEOUT_S = 30


def wait_until(probe, what: str, timeout: float = STARTUP_TIMEOUT_S):
    """Polls `probe` (bounded) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    raise SystemExit(f"demo: timed out waiting for {what}")


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def account_of(state_db: Path, username: str):
    try:
        con = sqlite3.connect(f"file:{state_db}?mode=ro", uri=True, timeout=1)
        try:
            row = con.execute("SELECT state FROM radsync_accounts WHERE username = ?",
                              (username,)).fetchone()
        finally:
            con.close()
        return row[0] if row else None
    except sqlite3.Error:
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--radsync", required=True, help="path to the radsync binary")
    args = parser.parse_args()
    radsync = Path(args.radsync).resolve()
    config = ROOT / "config" / "demo.yaml"
    fixture = ROOT / "config" / "demo-fixture.json"
    workdir = ROOT / "build" / "demo"
    db = workdir / "radsync.db"

    # A clean demo every time: the database is rebuilt from the simulator's fixture.
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    # Secrets are 0600 (radsync warns otherwise); git keeps no such mode.
    for secret in (ROOT / "config" / "demo-secrets").glob("*-secret"):
        secret.chmod(0o600)

    children: list[subprocess.Popen] = []
    radius = None

    def stop_everything(*_):
        for child in reversed(children):
            if child.poll() is None:
                child.terminate()
        for child in reversed(children):
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        if radius is not None:
            radius.stop()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        sim_log = open(workdir / "simulator.log", "w")
        children.append(subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "officernd_sim.py"),
             "--fixture", str(fixture), "--listen", f"127.0.0.1:{SIM_PORT}",
             "--org", "demo-cowork", "--client-id", "demo-client",
             "--client-secret", "demo-officernd-secret",
             "--webhook-url", f"http://127.0.0.1:{WEBHOOK_PORT}/officernd/webhook",
             "--webhook-secret-file", str(ROOT / "config" / "demo-secrets" / "webhook-secret")],
            stdout=sim_log, stderr=subprocess.STDOUT))
        wait_until(lambda: children[0].poll() is not None or http_ok(
            f"http://127.0.0.1:{SIM_PORT}/_sim/stats"), "the OfficeRnD simulator")
        if children[0].poll() is not None:
            raise SystemExit(f"demo: the simulator exited; see {workdir / 'simulator.log'}")

        # The schema first, so FreeRADIUS finds its tables; then FreeRADIUS; then the daemon.
        subprocess.run([str(radsync), "-c", str(config), "migrate"], check=True,
                       stdout=subprocess.DEVNULL)
        radius = FreeRadius(db, workdir / "freeradius", source_dir=ROOT)
        radius.start()

        daemon_log = open(workdir / "radsync.log", "w")
        children.append(subprocess.Popen([str(radsync), "-c", str(config), "serve"],
                                         stdout=daemon_log, stderr=subprocess.STDOUT))
        wait_until(lambda: children[-1].poll() is not None or http_ok(
            f"http://127.0.0.1:{OPS_PORT}/readyz"), "radsync to start")
        if children[-1].poll() is not None:
            raise SystemExit(f"demo: radsync exited; see {workdir / 'radsync.log'}")
        wait_until(lambda: account_of(workdir / "state.db", DEMO_USER) == "active",
                   "the initial import")

        memberships = json.loads(fixture.read_text()).get("memberships", [])
        members = json.loads(fixture.read_text()).get("members", [])
        ada = next(m for m in members if m.get("email") == DEMO_USER)
        ada_ms = next(ms for ms in memberships if ms.get("member") == ada["_id"])
        password = ada.get("properties", {}).get("wifi_password", "")
        port = radius.auth_port
        print(f"""
radsync demo is running (logs in {workdir}):
  OfficeRnD simulator  http://127.0.0.1:{SIM_PORT}   (admin API under /_sim)
  radsync webhooks     http://127.0.0.1:{WEBHOOK_PORT}/officernd/webhook
  radsync ops          http://127.0.0.1:{OPS_PORT}/metrics  /healthz  /readyz
  FreeRADIUS           127.0.0.1:{port} (secret testing123)

Log in as {ada['name']} (Hot Desk, home Downtown -> VLAN 100):
  radtest {DEMO_USER} {password} 127.0.0.1:{port} 0 testing123 0 127.0.0.1

End her membership in "OfficeRnD" (the simulator sends radsync a signed webhook) and try again:
  curl -X DELETE http://127.0.0.1:{SIM_PORT}/_sim/entities/memberships/{ada_ms['_id']}

Give it back:
  curl -X PUT -H 'Content-Type: application/json' http://127.0.0.1:{SIM_PORT}/_sim/entities/memberships \\
       -d '{json.dumps(ada_ms)}'

Why she has (or lacks) access, and sync health:
  {radsync} -c {config} accounts show {DEMO_USER}
  {radsync} -c {config} status

Ctrl-C stops the simulator, FreeRADIUS and radsync.""", flush=True)
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        print("demo: a process exited unexpectedly; see the logs in", workdir)
        return 1
    except KeyboardInterrupt:
        print("\ndemo: stopping")
        return 0
    finally:
        stop_everything()


if __name__ == "__main__":
    sys.exit(main())
