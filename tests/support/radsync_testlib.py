"""Shared helpers for radsync's Python test programs (standard library only).

Used by tests/e2e/*.py and tests/integration/*.py:

* ``Checks``: named checks, one line each, then ``N passed, M failed``; a failed check shows
  the lines its log sources (FreeRADIUS, the radsync daemon) wrote while it ran;
* ``expect_true`` / ``expect_eq`` / ``wait_until``;
* process hygiene: ``install_signal_handlers``, ``child_setup`` (PR_SET_PDEATHSIG),
  ``temp_workdir`` / ``remove_workdir`` (kept with RADSYNC_E2E_KEEP=1);
* the test configuration (``MAIN_YAML``, ``MAPPING_YAML``, ``webhook_yaml``) and OfficeRnD
  fixture builders (``member``, ``membership``, ``day``, ``instant``...);
* ``Radsync``: the CLI (``migrate``, ``reconcile --from-file``) and read-only queries;
* ``Daemon``: ``radsync serve`` on free loopback ports, ready when GET /readyz answers 200,
  stopped with SIGTERM, then SIGKILL after a bounded wait;
* ``Simulator``: the OfficeRnD simulator (scripts/officernd_sim.py) on a free loopback port,
  its /_sim admin interface, and the ``officernd:`` section pointing radsync at it;
* webhook signing (officernd-api.md section 1.3) and a small raw HTTP/1.1 client (plain or
  TLS) that can send exactly the bytes a test wants.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import datetime as dt
import hashlib
import hmac
import json
import os
import re
import select
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from zoneinfo import ZoneInfo

SOURCE_DIR = Path(__file__).resolve().parents[2]
TLS_CERT = SOURCE_DIR / "tests/fixtures/tls/test-cert.pem"
TLS_KEY = SOURCE_DIR / "tests/fixtures/tls/test-key.pem"
WEBHOOK_PATH = "/officernd/webhook"


class SetupError(RuntimeError):
    """The test environment could not be built or started (not a failure of the code under test)."""


# --------------------------------------------------------------------------------------
# Process hygiene
# --------------------------------------------------------------------------------------

def install_signal_handlers() -> None:
    """Turn SIGTERM/SIGHUP/SIGINT into SystemExit so that finally blocks and atexit run."""

    def handler(signum, _frame):
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, handler)


def child_setup() -> None:  # runs in the child between fork and exec
    # If the test process dies hard (SIGKILL, e.g. a ctest timeout), take the child with it.
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def temp_workdir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


def remove_workdir(path: Path) -> None:
    if os.environ.get("RADSYNC_E2E_KEEP"):
        print(f"keeping {path} (RADSYNC_E2E_KEEP is set)", file=sys.stderr)
        return
    shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------------------
# A tiny test runner: named checks, a summary line "N passed, M failed", exit status.
# --------------------------------------------------------------------------------------

class Checks:
    """Runs named checks. Log sources (``server`` and ``sources``) are objects with ``running``,
    ``log_mark()``, ``log_from(mark)``, and optionally ``log_label`` and ``log_filter`` (a
    compiled regex selecting the lines worth showing)."""

    def __init__(self, verbose: bool = True):
        self.passed = 0
        self.failed: list[str] = []
        self.verbose = verbose
        self.server = None  # FreeRADIUS (tests/e2e); its log is shown for failed checks
        self.sources: list = []  # more log sources, e.g. a radsync Daemon
        self.last_result = None

    def _sources(self) -> list:
        return [s for s in (self.server, *self.sources) if s is not None]

    def check(self, name: str, fn, *args, **kwargs):
        """Run fn; an exception (AssertionError or other) fails the check. True if it passed."""
        marks = [(s, s.log_mark()) for s in self._sources() if s.running]
        started = time.monotonic()
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - every failure is reported, then we go on
            self.failed.append(name)
            print(f"FAIL {name}: {type(exc).__name__}: {exc}", flush=True)
            if not isinstance(exc, SetupError):
                for source, mark in marks:
                    lines = source.log_from(mark).splitlines()
                    pattern = getattr(source, "log_filter", None)
                    if pattern is not None:
                        lines = [l for l in lines if pattern.search(l)]
                    if lines:
                        label = getattr(source, "log_label", "log")
                        print(f"     {label}:\n       " + "\n       ".join(lines[-25:]), flush=True)
            return False
        self.passed += 1
        self.last_result = result
        if self.verbose:
            print(f"ok   {name} ({time.monotonic() - started:.2f}s)", flush=True)
        return True

    def summary(self) -> int:
        if self.failed:
            print("failed checks:\n  " + "\n  ".join(self.failed))
        print(f"{self.passed} passed, {len(self.failed)} failed", flush=True)
        return 0 if not self.failed else 1


def expect_true(condition, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def expect_eq(actual, expected, what: str = "") -> None:
    if actual != expected:
        raise AssertionError(f"{what + ': ' if what else ''}expected {expected!r}, got {actual!r}")


def wait_until(probe, timeout: float, what: str, interval: float = 0.02):
    """Poll ``probe()`` until it returns something truthy (returned); AssertionError after
    ``timeout`` seconds, naming ``what`` and the last value seen."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = probe()
        except sqlite3.OperationalError as exc:  # e.g. "database is locked": try again
            last = exc
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


SEALED_PREFIX = "radsync-sealed:v1:"


def unseal(key_file: Path, text) -> bytes:
    """What store::AtRestKey::open does: AES-256-GCM under HMAC-SHA256(key, "radsync seal v1"),
    nonce (12 bytes) + ciphertext + tag (16 bytes), base64 after SEALED_PREFIX. Text that is not
    sealed comes back as it is."""
    import base64
    import hashlib
    import hmac
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # python3-cryptography

    raw = text.encode() if isinstance(text, str) else bytes(text)
    if not raw.startswith(SEALED_PREFIX.encode()):
        return raw
    sealed = base64.b64decode(raw[len(SEALED_PREFIX):])
    key = hmac.new(key_file.read_bytes(), b"radsync seal v1", hashlib.sha256).digest()
    return AESGCM(key).decrypt(sealed[:12], sealed[12:], None)


def nt_hash(password: str) -> str:
    """NT hash (hex MD4 of UTF-16LE) via OpenSSL 3's legacy provider; MD4 is not in hashlib."""
    openssl = shutil.which("openssl")
    if not openssl:
        raise SetupError("openssl not found (apt-get install openssl)")
    proc = subprocess.run(
        [openssl, "dgst", "-provider", "legacy", "-provider", "default", "-md4", "-r"],
        input=password.encode("utf-16-le"), capture_output=True, check=False)
    if proc.returncode != 0:
        raise SetupError(f"openssl md4 failed: {proc.stderr.decode(errors='replace')}")
    return proc.stdout.split()[0].decode().lower()


# --------------------------------------------------------------------------------------
# Configuration and OfficeRnD fixtures
# --------------------------------------------------------------------------------------

BERLIN = ZoneInfo("Europe/Berlin")
DOMAIN = "cowork.test"
CREATED = "2024-01-15T09:00:00.000Z"

# Ids (24 hex digits, as OfficeRnD's).
LOC_DOWNTOWN = "64a000000000000000000001"
LOC_UPTOWN = "64a000000000000000000002"
PLAN_HOT = "64b000000000000000000001"
PLAN_DEDICATED = "64b000000000000000000002"
PLAN_VIRTUAL = "64b000000000000000000003"
CO_ACME = "64c000000000000000000001"

# Expected replies (MAPPING_YAML below): basic = Hot Desk, pro = Dedicated Desk.
BASIC = {"WISPr-Bandwidth-Max-Down": "10000000", "WISPr-Bandwidth-Max-Up": "2000000",
         "Session-Timeout": "14400"}
PRO = {"WISPr-Bandwidth-Max-Down": "50000000", "WISPr-Bandwidth-Max-Up": "10000000",
       "Session-Timeout": "28800"}
VLAN100 = {"Tunnel-Private-Group-Id": "100", "Tunnel-Type": "VLAN", "Tunnel-Medium-Type": "IEEE-802"}
VLAN200 = {"Tunnel-Private-Group-Id": "200", "Tunnel-Type": "VLAN", "Tunnel-Medium-Type": "IEEE-802"}
UPTOWN_SSID = "AA-BB-CC-DD-EE-FF:CoWork-Uptown"

MAIN_YAML = """\
# radsync test configuration (written by tests/support/radsync_testlib.py)
{database_lines}
default_timezone: Europe/Berlin
log_level: {log_level}
accounts:
  username:
    format: email
    case: lower
  password:
    source: property
    property: wifi_password
    storage: nt_hash
radius:
  dictionary: /usr/share/freeradius/dictionary
  bandwidth_attributes: [wispr, mikrotik]
mapping_files: [mapping.yaml]
"""

MAPPING_YAML = """\
roaming: home
member_statuses: [active]
groups:
  - name: pro
    rank: 20
    bandwidth: {down: 50M, up: 10M}
    session_timeout: 8h
  - name: basic
    rank: 10
    bandwidth: {down: 10M, up: 2M}
    session_timeout: 4h
  - name: virtual-office
    access: none
plans:
  - match: {name: "Hot Desk"}
    group: basic
  - match: {name: "Dedicated Desk"}
    group: pro
    roaming: all
  - match: {name: "Virtual Office"}
    group: virtual-office
locations:
  - match: {name: Downtown}
    key: downtown
    vlan: 100
    nas_identifiers: [downtown]
  - match: {name: Uptown}
    key: uptown
    vlan: 200
    nas_identifiers: [uptown]
    ssids: [CoWork-Uptown]
"""


def _duration(seconds: float) -> str:
    return f"{int(seconds)}s"


def webhook_yaml(port: int, secret_files: list[Path], *, tls: bool = True,
                 past: str = "300s", future: str = "60s", max_body_bytes: str = "256KiB",
                 limits: dict | None = None) -> str:
    """The ``webhook:`` section (config spec) on 127.0.0.1:port."""
    lines = ["webhook:", f"  listen: 127.0.0.1:{port}"]
    if tls:
        lines += ["  tls:", f"    cert_file: {TLS_CERT}", f"    key_file: {TLS_KEY}"]
    else:
        lines.append("  plain_http: true")
    lines.append("  secret_files: [" + ", ".join(str(p) for p in secret_files) + "]")
    lines.append(f"  tolerance: {{past: {past}, future: {future}}}")
    lines.append(f"  max_body_bytes: {max_body_bytes}")
    if limits:
        lines.append("  limits:")
        lines += [f"    {k}: {v}" for k, v in limits.items()]
    return "\n".join(lines) + "\n"


def metrics_yaml(port: int) -> str:
    return f"metrics:\n  listen: 127.0.0.1:{port}\n"


def officernd_yaml(port: int, org: str, client_id: str, secret_file: Path,
                   request_timeout: str = "5s", ca_file: Path | None = None) -> str:
    """The ``officernd:`` section for an API (the simulator) on 127.0.0.1:port: plain http://,
    or https:// trusting ``ca_file`` when one is given."""
    scheme = "https" if ca_file else "http"
    return (f"officernd:\n  org_slug: {org}\n  client_id: {client_id}\n"
            f"  client_secret_file: {secret_file}\n"
            f"  base_url: {scheme}://127.0.0.1:{port}/api/v2/organizations\n"
            f"  token_url: {scheme}://127.0.0.1:{port}/oauth/token\n"
            + (f"  ca_file: {ca_file}\n" if ca_file else "") +
            f"  request_timeout: {request_timeout}\n")


def sync_yaml(interval: str = "15m", max_share: str = "10%", min_count: int = 5,
              revoked_retention: str = "30d") -> str:
    return (f"sync:\n  interval: {interval}\n"
            f"  deletion_guard: {{max_share: {max_share}, min_count: {min_count}}}\n"
            f"  revoked_retention: {revoked_retention}\n")


def notify_yaml(port: int, ca_file: Path, *, starttls: bool = True, rate: int = 600,
                connections: int = 2, extra: str = "") -> str:
    """A ``notify`` section sending through a loopback relay (tests/support/smtp_sink.py),
    STARTTLS verified against ``ca_file`` unless ``starttls`` is false."""
    security = "starttls" if starttls else "none"
    ca = f", ca_file: {ca_file}" if starttls else ""
    return (f"notify:\n  from: 'Cowork WiFi <wifi@{DOMAIN}>'\n  organisation: Cowork\n"
            f"  ssid: [Cowork]\n"
            f"  smtp: {{host: 127.0.0.1, port: {port}, security: {security}{ca}, "
            f"rate_per_minute: {rate}, max_connections: {connections}, timeout: 20s}}\n"
            f"  outbox: {{max_attempts: 6, retry_min: 1s, retry_max: 2s}}\n" + extra)


def mail_text(message) -> str:
    """The plain-text body of an e-mail the sink received (its email.message.EmailMessage)."""
    return message.get_body(preferencelist=("plain",)).get_content()


_MAILED_PASSWORD = re.compile(r"^\s*(?:Password|Code):\s*(\S+)\s*$", re.M)
_MAILED_USERNAME = re.compile(r"^\s*Username:\s*(\S+)\s*$", re.M)


def mailed_credentials(message) -> tuple[str, str]:
    """(username, password) from a credentials e-mail with radsync's default templates."""
    text = mail_text(message)
    user, password = _MAILED_USERNAME.search(text), _MAILED_PASSWORD.search(text)
    if not user or not password:
        raise AssertionError(f"no credentials in the e-mail:\n{text}")
    return user.group(1), password.group(1)


def berlin_today() -> dt.date:
    return dt.datetime.now(BERLIN).date()


def day(offset: int) -> str:
    """A calendar date relative to today in Berlin, in OfficeRnD's encoding."""
    return (berlin_today() + dt.timedelta(days=offset)).isoformat() + "T00:00:00.000Z"


def instant(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{when.microsecond // 1000:03d}Z"


def now_instant(offset_seconds: float = 0) -> str:
    return instant(dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=offset_seconds))


def member(mid: str, name: str, email: str, location: str, password: str, status: str = "active",
           company: str | None = None, modified: str = CREATED) -> dict:
    """A member with v2 field names (location, company, status)."""
    m = {"_id": mid, "name": name, "email": email, "status": status, "location": location,
         "properties": {"wifi_password": password}, "createdAt": CREATED, "modifiedAt": modified}
    if company:
        m["company"] = company
    return m


def membership(msid: str, plan: str, plan_name: str, location: str, *, member_id: str | None = None,
               company: str | None = None, start: int = -30, end: int | None = None,
               calculated: str = "active", modified: str = CREATED) -> dict:
    """A membership with v2 field names (location, company)."""
    ms = {"_id": msid, "name": plan_name, "plan": plan, "location": location,
          "isPersonal": member_id is not None, "status": "approved", "calculatedStatus": calculated,
          "startDate": day(start), "createdAt": CREATED, "modifiedAt": modified}
    if member_id is not None:
        ms["member"] = member_id
    if company is not None:
        ms["company"] = company
    if end is not None:
        ms["endDate"] = day(end)
    return ms


def company(cid: str, name: str, location: str, status: str = "active", modified: str = CREATED) -> dict:
    """A company with v2 field names."""
    return {"_id": cid, "name": name, "status": status, "location": location,
            "createdAt": CREATED, "modifiedAt": modified}


def object_id(created_unix: int, counter: int, machine: int = 0x5eed) -> str:
    """A MongoDB-ObjectId-shaped id (4-byte creation time, 5-byte machine/process, 3-byte
    counter, as OfficeRnD's): ids made with increasing (created_unix, counter) sort in
    creation order."""
    return f"{created_unix & 0xFFFFFFFF:08x}{machine & 0xFFFFFFFFFF:010x}{counter & 0xFFFFFF:06x}"


def locations_and_plans() -> dict:
    """The part of a snapshot OfficeRnD sends no webhooks for (the initial import brings it)."""
    return {
        "locations": [
            {"_id": LOC_DOWNTOWN, "name": "Downtown", "timezone": "Europe/Berlin",
             "createdAt": CREATED, "modifiedAt": CREATED},
            {"_id": LOC_UPTOWN, "name": "Uptown", "timezone": "Europe/Berlin",
             "createdAt": CREATED, "modifiedAt": CREATED},
        ],
        "plans": [
            {"_id": PLAN_HOT, "name": "Hot Desk", "code": "HD", "createdAt": CREATED, "modifiedAt": CREATED},
            {"_id": PLAN_DEDICATED, "name": "Dedicated Desk", "code": "DD", "createdAt": CREATED,
             "modifiedAt": CREATED},
            {"_id": PLAN_VIRTUAL, "name": "Virtual Office", "code": "VO", "createdAt": CREATED,
             "modifiedAt": CREATED},
        ],
    }


def seed_snapshot() -> dict:
    """Locations and plans only, every other list empty."""
    return {**locations_and_plans(), "companies": [], "members": [], "memberships": [],
            "passes": [], "bookings": []}


def new_id() -> str:
    """A fresh 24-hex-digit id (OfficeRnD ObjectId shape)."""
    return os.urandom(12).hex()


# --------------------------------------------------------------------------------------
# radsync's CLI and database
# --------------------------------------------------------------------------------------

class Radsync:
    """radsync's config files, CLI and database in ``work``."""

    def __init__(self, binary: Path, work: Path, log_level: str = "info", one_file: bool = False):
        """``one_file``: configure the single database of releases before the state database
        (``database:``), for benchmarks that compare with such a binary."""
        self.binary = binary
        self.one_file = one_file
        self.work = work
        self.db = work / "radsync.db"  # the RADIUS database, which FreeRADIUS reads
        self.state_db = work / "state.db"  # radsync's private state
        self.key_file = work / "state.db.key"  # its at-rest key (store::AtRestKey)
        self.control_socket = work / "control.sock"  # the daemon's control channel
        self.main = work / "radsync.yaml"
        self.fixture = work / "snapshot.json"
        self.log_level = log_level
        self.last_output = ""
        # A second mapping file (groups, passes, guests, companies...) next to mapping.yaml.
        self.extra_mapping = ""

    def write_config(self, extra: str = "") -> None:
        """The main file (plus ``extra`` sections, e.g. webhook_yaml()) and mapping.yaml."""
        main = MAIN_YAML.format(database_lines=self.database_lines(), log_level=self.log_level)
        if self.extra_mapping:
            (self.work / "mapping-extra.yaml").write_text(self.extra_mapping)
            main = main.replace("mapping_files: [mapping.yaml]",
                                "mapping_files: [mapping.yaml, mapping-extra.yaml]")
        self.main.write_text(main + extra)
        (self.work / "mapping.yaml").write_text(MAPPING_YAML)

    def database_lines(self) -> str:
        if self.one_file:
            return f"database: {self.db}"
        return (f"radius_database: {self.db}\nstate_database: {self.state_db}\n"
                f"control:\n  socket: {self.control_socket}")

    def write_fixture(self, fx: dict) -> None:
        self.fixture.write_text(json.dumps(fx, indent=2))

    def run(self, *args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(self.binary), "-c", str(self.main), *args], capture_output=True,
                              text=True, check=False, timeout=timeout, cwd=self.work)
        if check and proc.returncode != 0:
            raise AssertionError(f"radsync {' '.join(args)} exited {proc.returncode}\n"
                                 f"--- stdout ---\n{proc.stdout}--- stderr ---\n{proc.stderr}")
        return proc

    def reconcile(self, dry_run: bool = False) -> tuple[int, int, int]:
        args = ["reconcile", "--from-file", str(self.fixture)] + (["--dry-run"] if dry_run else [])
        proc = self.run(*args)
        run = ReconcileRun(proc, 0.0)
        if run.rows is None:
            raise AssertionError("no 'rows: inserted=N updated=N deleted=N' line in stdout:\n" + run.output())
        self.last_output = proc.stdout + proc.stderr
        return run.rows

    def reconcile_api(self, *flags: str, standalone: bool = True, timeout: float = 120) -> "ReconcileRun":
        """``reconcile`` without --from-file (OfficeRnD, or the running daemon); never raises on
        the exit status: the caller checks ``rc`` and the parsed summary."""
        args = ["reconcile", *(["--standalone"] if standalone else []), *flags]
        started = time.monotonic()
        proc = self.run(*args, timeout=timeout, check=False)
        run = ReconcileRun(proc, time.monotonic() - started)
        self.last_output = proc.stdout + proc.stderr
        return run

    def control(self, command: str, payload: bytes = b"", timeout: float = 30, **fields) -> dict:
        """One request on the daemon's control socket (src/control/protocol.cpp: a JSON header
        line, the payload, then the daemon's JSON answer): ``{exit_code, out, err}``."""
        header = {"command": command, "payload_bytes": len(payload), **fields}
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(self.control_socket))
            s.sendall(json.dumps(header).encode() + b"\n" + payload)
            s.shutdown(socket.SHUT_WR)
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
        return json.loads(answer)

    def daemon_status(self) -> dict:
        """The daemon's own status (JSON), asked over the control socket."""
        answer = self.control("status")
        if answer["exit_code"] != 0:
            raise AssertionError(f"control status: {answer}")
        return json.loads(answer["out"])

    def digest(self, tables) -> dict[str, list[tuple]]:
        """Every row of ``tables`` (for "nothing was written" comparisons)."""
        return {t: sorted(self.query(f"SELECT * FROM {t}"), key=repr) for t in tables}

    def query(self, sql: str, *params) -> list[tuple]:
        """Read-only query over both databases (WAL mode, so the daemon is never blocked): the
        state database, with the RADIUS one attached as ``radius``. Table names are unique
        across the two, so unqualified names find either."""
        if self.one_file:
            con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=2)
        else:
            con = sqlite3.connect(f"file:{self.state_db}?mode=ro", uri=True, timeout=2)
        try:
            if not self.one_file:
                con.execute("ATTACH DATABASE ? AS radius", (f"file:{self.db}?mode=ro",))
            return con.execute(sql, params).fetchall()
        finally:
            con.close()

    def scalar(self, sql: str, *params):
        rows = self.query(sql, *params)
        return rows[0][0] if rows else None

    # -- the webhook inbox ----------------------------------------------------------------------

    def inbox_count(self) -> int:
        return self.scalar("SELECT count(*) FROM radsync_inbox")

    def inbox_row(self, event_id: str) -> dict | None:
        rows = self.query("SELECT event_id, event_type, t, received_at, body, processed_at, result "
                          "FROM radsync_inbox WHERE event_id=?", event_id)
        if not rows:
            return None
        keys = ("event_id", "event_type", "t", "received_at", "body", "processed_at", "result")
        row = dict(zip(keys, rows[0]))
        stored = row["body"]  # as on disk: sealed while pending, empty once processed
        row["stored_body"] = stored.decode(errors="replace") if isinstance(stored, bytes) else stored
        row["body"] = unseal(self.key_file, row["body"]) if row["body"] else b""
        return row

    def wait_processed(self, event_ids, timeout: float = 10.0) -> dict[str, str]:
        """Poll until every event has processed_at set; {event_id: result}."""
        ids = [event_ids] if isinstance(event_ids, str) else list(event_ids)

        def probe():
            marks = ",".join("?" * len(ids))
            rows = self.query(f"SELECT event_id, result FROM radsync_inbox WHERE event_id IN ({marks}) "
                              "AND processed_at IS NOT NULL", *ids)
            return dict(rows) if len(rows) == len(ids) else None

        return wait_until(probe, timeout, f"inbox events {ids} to be processed")


_ROWS_LINE = re.compile(r"^rows: inserted=(\d+) updated=(\d+) deleted=(\d+)\s*$", re.M)
_ACCOUNTS_LINE = re.compile(r"^accounts: changed=(\d+) members=(\d+)\s*$", re.M)
_GUARD_LINE = re.compile(r"^deletion guard:.*$", re.M)


class GeneratedRadsync(Radsync):
    """The test configuration with ``accounts.password.source: generate`` (kept when the daemon
    rewrites the file with fresh ports)."""

    def write_config(self, extra: str = "") -> None:
        super().write_config(extra)
        text = self.main.read_text()
        generated = text.replace("    source: property\n    property: wifi_password\n",
                                 "    source: generate\n")
        if generated == text:
            raise AssertionError("the password section of the test config changed shape")
        self.main.write_text(generated)


class ReconcileRun:
    """One ``radsync reconcile`` process and its summary lines (None where a line is missing)."""

    def __init__(self, proc: subprocess.CompletedProcess, elapsed: float):
        self.proc = proc
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.elapsed = elapsed
        m = _ROWS_LINE.search(proc.stdout)
        self.rows = (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None
        m = _ACCOUNTS_LINE.search(proc.stdout)
        self.accounts_changed = int(m.group(1)) if m else None
        self.members = int(m.group(2)) if m else None
        m = _GUARD_LINE.search(proc.stdout)
        self.guard = m.group(0) if m else None

    def output(self) -> str:
        return f"--- exit {self.rc} after {self.elapsed:.2f}s ---\n--- stdout ---\n{self.stdout}" \
               f"--- stderr ---\n{self.stderr}"

    def expect(self, rc: int, what: str = "reconcile") -> "ReconcileRun":
        if self.rc != rc:
            raise AssertionError(f"{what}: expected exit {rc}, got {self.rc}\n{self.output()}")
        return self


# --------------------------------------------------------------------------------------
# radsync serve
# --------------------------------------------------------------------------------------

def free_ports(count: int, kind: int = socket.SOCK_STREAM) -> list[int]:
    """Distinct TCP (or UDP, kind=SOCK_DGRAM) ports on 127.0.0.1 that were free a moment ago
    (the kernel picks them; callers retry a start that loses the race)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, kind)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_tcp_ports(count: int) -> list[int]:
    return free_ports(count, socket.SOCK_STREAM)


def free_udp_ports(count: int) -> list[int]:
    return free_ports(count, socket.SOCK_DGRAM)


_DAEMONS: "set[Daemon]" = set()


def stop_all_daemons() -> None:
    for d in list(_DAEMONS):
        with contextlib.suppress(Exception):
            d.stop()


atexit.register(stop_all_daemons)

_SERVING = re.compile(r"serving webhook=(\S+) metrics=(\S+)")


class Daemon:
    """``radsync -c MAIN serve`` with a webhook and a metrics listener on free loopback ports.

    stderr goes to ``<work>/<name>.log`` (appended across restarts). ``start()`` rewrites the
    main config with fresh ports, spawns, and waits for GET /readyz == 200 (bounded); a port
    collision (the daemon exits with "in use") is retried with new ports.
    """

    log_filter = re.compile(r".")  # every line the daemon wrote during a failed check
    START_ATTEMPTS = 5

    def __init__(self, rs: Radsync, secret_files: list[Path], *, tls: bool = True, name: str = "radsync",
                 max_body_bytes: str = "256KiB", limits: dict | None = None,
                 past: str = "300s", future: str = "60s", extra_config: str = ""):
        self.rs = rs
        self.extra_config = extra_config  # more sections (officernd:, sync:), appended as is
        self.secret_files = secret_files
        self.tls = tls
        self.name = name
        self.log_label = f"{name} stderr"
        self.max_body_bytes = max_body_bytes
        self.limits = limits
        self.past, self.future = past, future
        self.logfile = rs.work / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self.webhook_port = 0
        self.metrics_port = 0
        self.serving_line = ""
        self.returncode: int | None = None
        self._log = None
        self._start_offset = 0
        # Run under another program (e.g. faketime) and with extra environment variables.
        self.command_prefix: list[str] = []
        self.extra_env: dict[str, str] = {}

    # -- config -----------------------------------------------------------------------------

    def config_text(self) -> str:
        return webhook_yaml(self.webhook_port, self.secret_files, tls=self.tls, past=self.past,
                            future=self.future, max_body_bytes=self.max_body_bytes,
                            limits=self.limits) + metrics_yaml(self.metrics_port) + self.extra_config

    def write_config(self) -> None:
        if not self.webhook_port:
            self.webhook_port, self.metrics_port = free_tcp_ports(2)
        self.rs.write_config(self.config_text())

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self, *extra_args: str, timeout: float = 15.0) -> "Daemon":
        if self.running:
            raise SetupError(f"{self.name} is already running")
        deadline = time.monotonic() + timeout
        last_error = ""
        for attempt in range(self.START_ATTEMPTS):
            if attempt or not self.webhook_port:
                self.webhook_port, self.metrics_port = free_tcp_ports(2)
            self.write_config()
            ok, last_error = self._spawn_and_wait(extra_args, deadline)
            if ok:
                return self
            if "in use" not in last_error.lower() or time.monotonic() >= deadline:
                break
        raise SetupError(f"radsync serve did not become ready:\n{last_error}")

    def _spawn_and_wait(self, extra_args, deadline: float) -> tuple[bool, str]:
        self._start_offset = self.logfile.stat().st_size if self.logfile.exists() else 0
        self._log = open(self.logfile, "ab")
        args = [*self.command_prefix, str(self.rs.binary), "-c", str(self.rs.main), "serve", *extra_args]
        self.returncode = None
        env = {**os.environ, **self.extra_env} if self.extra_env else None
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, cwd=self.rs.work, env=env,
                                     start_new_session=True, preexec_fn=child_setup)
        _DAEMONS.add(self)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._reap()
                return False, f"exited {self.returncode}:\n" + self.stderr_since_start()
            with contextlib.suppress(OSError, HttpError):
                if http_request(self.metrics_port, "GET", "/readyz", timeout=1).status == 200:
                    m = _SERVING.search(self.stderr_since_start())
                    self.serving_line = m.group(0) if m else ""
                    return True, ""
            time.sleep(0.02)
        self.stop()
        return False, "timed out waiting for GET /readyz == 200:\n" + self.stderr_since_start()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        """SIGTERM (or ``sig``), wait up to ``timeout``, then SIGKILL. Returns the exit status
        (negative signal number if killed by a signal)."""
        proc = self.proc
        if proc is None:
            return self.returncode
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, sig)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # anything left in its group
        self._reap()
        return self.returncode

    def kill9(self) -> int | None:
        return self.stop(signal.SIGKILL, timeout=5)

    def _reap(self) -> None:
        if self.proc is not None:
            self.returncode = self.proc.poll()
        _DAEMONS.discard(self)
        if self._log:
            self._log.close()
            self._log = None

    # -- logs --------------------------------------------------------------------------------

    def log_mark(self) -> int:
        return self.logfile.stat().st_size if self.logfile.exists() else 0

    def log_from(self, mark: int) -> str:
        if not self.logfile.exists():
            return ""
        with open(self.logfile, "rb") as f:
            f.seek(mark)
            return f.read().decode(errors="replace")

    def stderr_since_start(self) -> str:
        return self.log_from(self._start_offset)

    # -- clients -----------------------------------------------------------------------------

    def ssl_context(self) -> ssl.SSLContext | None:
        return client_tls_context() if self.tls else None

    def connect(self, timeout: float = 5.0) -> "HttpConnection":
        return HttpConnection(self.webhook_port, self.ssl_context(), timeout=timeout)

    def post(self, body: bytes, headers: dict | None = None, path: str = WEBHOOK_PATH,
             timeout: float = 5.0) -> "HttpResponse":
        return http_request(self.webhook_port, "POST", path, body, headers, tls=self.ssl_context(),
                            timeout=timeout)

    def post_event(self, body: bytes, secret: str, t: str | None = None, **kw) -> "HttpResponse":
        return self.post(body, {"officernd-signature": signature_header(secret, body, t)}, **kw)

    def get_ops(self, path: str) -> "HttpResponse":
        return http_request(self.metrics_port, "GET", path, timeout=5)

    def metrics(self) -> dict:
        r = self.get_ops("/metrics")
        if r.status != 200:
            raise AssertionError(f"GET /metrics answered {r.status}")
        return parse_metrics(r.body.decode())


# --------------------------------------------------------------------------------------
# The OfficeRnD simulator (scripts/officernd_sim.py; contract in its module docstring)
# --------------------------------------------------------------------------------------

SIM_SCRIPT = SOURCE_DIR / "scripts/officernd_sim.py"


class PollingDaemon(Daemon):
    """``serve`` with an officernd section (in ``extra_config``) and no webhook section."""

    def config_text(self) -> str:
        return metrics_yaml(self.metrics_port) + self.extra_config


_PRINTED_PASSWORD = re.compile(r"^password: (\S+)$", re.M)


def printed_password(proc: subprocess.CompletedProcess, username: str) -> str:
    """The password ``accounts reset-password`` printed for ``username`` (AssertionError if it
    printed none)."""
    m = _PRINTED_PASSWORD.search(proc.stdout)
    if not m or f"username: {username}" not in proc.stdout:
        raise AssertionError(f"no username/password printed:\n{proc.stdout}{proc.stderr}")
    return m.group(1)


class Simulator:
    """``scripts/officernd_sim.py`` on a free loopback port (plain HTTP), serving ``fixture``.

    stderr goes to ``<work>/<name>.log``; ready once it has written its port file (bounded).
    A log source for ``Checks``. The /_sim admin interface: ``set_fixture``, ``entities``, ``put_entity``,
    ``patch_entity``, ``delete_entity``, ``fault``, ``clear_faults``, ``requests``,
    ``clear_requests``, ``stats``, ``set_webhook_url``.
    """

    log_filter = re.compile(r".")

    def __init__(self, work: Path, fixture: dict, *, org: str = "test-cowork",
                 client_id: str = "radsync-test", client_secret: str = "sim-client-secret-0123",
                 webhook_url: str | None = None, webhook_secret_file: Path | None = None,
                 script: Path = SIM_SCRIPT, name: str = "officernd-sim", tls: bool = False,
                 extra_args: tuple[str, ...] = ()):
        self.work = work
        self.tls = tls  # HTTPS with the test certificate (tests/fixtures/tls)
        self.extra_args = tuple(extra_args)  # e.g. ("--verbose", "--token-rate-limit", "0")
        self.org = org
        self.client_id = client_id
        self.client_secret = client_secret
        self.webhook_url = webhook_url
        self.webhook_secret_file = webhook_secret_file
        self.script = script
        self.name = name
        self.log_label = f"{name} stderr"
        self.logfile = work / f"{name}.log"
        self.fixture_file = work / f"{name}-fixture.json"
        self.port_file = work / f"{name}.port"
        self.fixture_file.write_text(json.dumps(fixture))
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.returncode: int | None = None
        self._log = None

    # -- radsync's view of it ------------------------------------------------------------

    def write_client_secret(self, path: Path) -> Path:
        """The client secret as radsync reads it (a file; trailing newline as `echo` writes)."""
        path.write_text(self.client_secret + "\n")
        path.chmod(0o600)
        return path

    def officernd_yaml(self, secret_file: Path, org: str | None = None, request_timeout: str = "5s") -> str:
        return officernd_yaml(self.port, org or self.org, self.client_id, secret_file, request_timeout,
                              ca_file=TLS_CERT if self.tls else None)

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 10.0) -> "Simulator":
        if self.running:
            raise SetupError(f"{self.name} is already running")
        if not self.script.exists():
            raise SetupError(f"{self.script} does not exist")
        self.port_file.unlink(missing_ok=True)
        args = [sys.executable, str(self.script), "--fixture", str(self.fixture_file),
                "--listen", "127.0.0.1:0", "--port-file", str(self.port_file), "--org", self.org,
                "--client-id", self.client_id, "--client-secret", self.client_secret]
        if self.webhook_url:
            args += ["--webhook-url", self.webhook_url]
        if self.webhook_secret_file:
            args += ["--webhook-secret-file", str(self.webhook_secret_file)]
        if self.tls:
            args += ["--tls-cert", str(TLS_CERT), "--tls-key", str(TLS_KEY)]
        args += self.extra_args
        self._start_offset = self.log_mark()
        self._log = open(self.logfile, "ab")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, cwd=self.work,
                                     start_new_session=True, preexec_fn=child_setup)
        _DAEMONS.add(self)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._reap()
                raise SetupError(f"{self.name} exited {self.returncode}:\n" + self.log_from(self._start_offset))
            with contextlib.suppress(OSError, ValueError):
                text = self.port_file.read_text().strip()
                if text:
                    self.port = int(text)
                    return self
            time.sleep(0.02)
        self.stop()
        raise SetupError(f"{self.name} wrote no port file within {timeout:g}s:\n" +
                         self.log_from(self._start_offset))

    def stop(self, timeout: float = 5.0) -> int | None:
        proc = self.proc
        if proc is None:
            return self.returncode
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        self._reap()
        return self.returncode

    def _reap(self) -> None:
        if self.proc is not None:
            self.returncode = self.proc.poll()
        _DAEMONS.discard(self)
        if self._log:
            self._log.close()
            self._log = None

    def log_mark(self) -> int:
        return self.logfile.stat().st_size if self.logfile.exists() else 0

    def log_from(self, mark: int) -> str:
        if not self.logfile.exists():
            return ""
        with open(self.logfile, "rb") as f:
            f.seek(mark)
            return f.read().decode(errors="replace")

    # -- the /_sim admin interface ------------------------------------------------------------

    def admin(self, method: str, path: str, obj=None, timeout: float = 10.0):
        """A /_sim request; the parsed JSON answer (None if empty). AssertionError unless 2xx."""
        body = b"" if obj is None else json.dumps(obj).encode()
        r = http_request(self.port, method, "/_sim" + path, body, tls=self.ssl_context(), timeout=timeout)
        if not 200 <= r.status < 300:
            raise AssertionError(f"simulator {method} /_sim{path} answered {r.status}: {r.body[:500]!r}")
        return json.loads(r.body) if r.body.strip() else None

    def set_fixture(self, fixture: dict) -> None:
        self.admin("POST", "/fixture", fixture)

    def entities(self, kind: str) -> list[dict]:
        return self.admin("GET", f"/entities/{kind}")

    def put_entity(self, kind: str, obj: dict) -> dict:
        return self.admin("PUT", f"/entities/{kind}", obj)

    def patch_entity(self, kind: str, entity_id: str, fields: dict) -> dict:
        return self.admin("PATCH", f"/entities/{kind}/{entity_id}", fields)

    def delete_entity(self, kind: str, entity_id: str) -> dict:
        return self.admin("DELETE", f"/entities/{kind}/{entity_id}")

    def fault(self, match: str, kind: str, count: int = 1, **extra) -> None:
        self.admin("POST", "/faults", {"match": match, "kind": kind, "count": count, **extra})

    def clear_faults(self) -> None:
        self.admin("DELETE", "/faults")

    def requests(self) -> list[dict]:
        return self.admin("GET", "/requests")

    def clear_requests(self) -> None:
        self.admin("DELETE", "/requests")

    def stats(self) -> dict:
        return self.admin("GET", "/stats")

    def set_webhook_url(self, url: str | None) -> None:
        self.admin("PUT", "/config", {"webhook_url": url})

    # -- the OfficeRnD side, as a client sees it -----------------------------------------------

    def ssl_context(self) -> ssl.SSLContext | None:
        return client_tls_context() if self.tls else None

    def request(self, method: str, path: str, body: bytes = b"", headers: dict | None = None,
                timeout: float = 5.0) -> "HttpResponse":
        """One request on a fresh connection (TLS verified against the test certificate)."""
        return http_request(self.port, method, path, body, headers, tls=self.ssl_context(), timeout=timeout)

    def api_path(self, tail: str, org: str | None = None) -> str:
        """/api/v2/organizations/<org>/<tail>, e.g. api_path("members?$limit=50")."""
        return f"/api/v2/organizations/{org or self.org}/{tail}"

    def token_response(self, client_id: str | None = None, client_secret: str | None = None,
                       grant_type: str = "client_credentials",
                       scope: str = "flex.community.members.read") -> "HttpResponse":
        form = urllib.parse.urlencode({
            "client_id": self.client_id if client_id is None else client_id,
            "client_secret": self.client_secret if client_secret is None else client_secret,
            "grant_type": grant_type, "scope": scope}).encode()
        return self.request("POST", "/oauth/token", form,
                            {"Content-Type": "application/x-www-form-urlencoded"})

    def token(self) -> str:
        """A fresh access token (counts against the simulator's 5 token requests a minute)."""
        r = self.token_response()
        if r.status != 200:
            raise AssertionError(f"POST /oauth/token answered {r.status}: {r.body[:300]!r}")
        return json.loads(r.body)["access_token"]


def query_params(entry: dict) -> dict[str, list[str]]:
    """The query of a /_sim/requests entry as {name: [values]} (a string or an object)."""
    q = entry.get("query") or {}
    if isinstance(q, str):
        return urllib.parse.parse_qs(q.lstrip("?"), keep_blank_values=True)
    return {k: (v if isinstance(v, list) else [v]) for k, v in q.items()}


# --------------------------------------------------------------------------------------
# Webhook signing (officernd-api.md 1.3) and envelopes (1.8)
# --------------------------------------------------------------------------------------

def sign(secret: str, body: bytes, t: str) -> str:
    """lowercase hex HMAC-SHA256, keyed by the secret's UTF-8 bytes, over body + "." + t."""
    return hmac.new(secret.encode(), body + b"." + t.encode(), hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, t: str | int | None = None) -> str:
    t = str(int(time.time()) if t is None else t)
    return f"t={t},signature={sign(secret, body, t)}"


def envelope(event_type: str, obj: dict | None, event_id: str | None = None, **extra) -> bytes:
    """A webhook body: {"event", "eventType", "data": {"object"}, "createdAt"} as compact JSON."""
    env = {"event": event_id or new_id(), "eventType": event_type,
           "data": {"object": obj} if obj is not None else {}, "createdAt": now_instant()}
    env.update(extra)
    return json.dumps(env, separators=(",", ":")).encode()


def event_id_of(body: bytes) -> str:
    return json.loads(body)["event"]


# --------------------------------------------------------------------------------------
# A raw HTTP/1.1 client (plain or TLS), exact bytes in, parsed response out
# --------------------------------------------------------------------------------------

class HttpError(Exception):
    """The peer closed or sent something that is not an HTTP response."""


class HttpResponse:
    def __init__(self, status: int, reason: str, headers: dict[str, str], body: bytes, raw_head: str):
        self.status = status
        self.reason = reason
        self.headers = headers  # lower-case names
        self.body = body
        self.raw_head = raw_head

    def __repr__(self) -> str:
        return f"<HTTP {self.status} {self.reason} {self.headers} body={self.body[:200]!r}>"


def client_tls_context() -> ssl.SSLContext:
    """Verifies the server against the self-signed test certificate (SAN 127.0.0.1)."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(TLS_CERT))
    ctx.check_hostname = True
    return ctx


class HttpConnection:
    """One TCP (or TLS) connection to 127.0.0.1:port; several requests may use it."""

    def __init__(self, port: int, tls: ssl.SSLContext | None = None, timeout: float = 5.0):
        self.port = port
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self.sock = tls.wrap_socket(raw, server_hostname="127.0.0.1") if tls else raw
        except BaseException:
            raw.close()
            raise
        self.buf = b""

    def settimeout(self, timeout: float | None) -> None:
        self.sock.settimeout(timeout)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request_bytes(self, method: str, path: str, body: bytes = b"", headers: dict | None = None) -> bytes:
        h = {"Host": f"127.0.0.1:{self.port}"}
        if body or method in ("POST", "PUT"):
            h["Content-Type"] = "application/json"
            h["Content-Length"] = str(len(body))
        h.update(headers or {})
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
        return head.encode() + body

    def request(self, method: str, path: str, body: bytes = b"", headers: dict | None = None) -> HttpResponse:
        self.send(self.request_bytes(method, path, body, headers))
        return self.read_response(head_only=(method == "HEAD"))

    def _recv(self) -> bytes:
        try:
            data = self.sock.recv(65536)
        except ssl.SSLError as exc:
            # A TLS peer that closes without close_notify looks like this.
            if "EOF" in str(exc) or "UNEXPECTED_EOF" in str(exc):
                return b""
            raise
        return data

    def read_response(self, head_only: bool = False) -> HttpResponse:
        while b"\r\n\r\n" not in self.buf:
            data = self._recv()
            if not data:
                raise HttpError(f"connection closed before a response (got {self.buf[:200]!r})")
            self.buf += data
            if len(self.buf) > 1 << 20:
                raise HttpError("response head too large")
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("iso-8859-1").split("\r\n")
        m = re.match(r"HTTP/1\.[01] (\d{3}) ?(.*)$", lines[0])
        if not m:
            raise HttpError(f"bad status line {lines[0]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        status = int(m.group(1))
        if head_only or status in (204, 304) or 100 <= status < 200:
            body = b""
        elif "content-length" in headers:
            n = int(headers["content-length"])
            while len(self.buf) < n:
                data = self._recv()
                if not data:
                    raise HttpError("connection closed inside the body")
                self.buf += data
            body, self.buf = self.buf[:n], self.buf[n:]
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            raise HttpError("chunked responses are not supported by this test client")
        else:  # read to EOF
            while True:
                data = self._recv()
                if not data:
                    break
                self.buf += data
            body, self.buf = self.buf, b""
        return HttpResponse(status, m.group(2), headers, body, head.decode("iso-8859-1"))

    def closed_by_peer(self, timeout: float) -> bool:
        """True if the peer closes (EOF or reset) within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            why = self.wait_closed(max(deadline - time.monotonic(), 0))
            if why is None:
                return False
            if not why.startswith("server sent"):
                return True

    def wait_closed(self, duration: float) -> str | None:
        """Watch the connection for ``duration`` seconds without blocking on it. Returns why it
        ended ("EOF", "reset: ...", or "server sent ...") or None if it is still open. TLS 1.3
        session tickets make the socket readable without any application data: not an end."""
        deadline = time.monotonic() + duration
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if not (isinstance(self.sock, ssl.SSLSocket) and self.sock.pending()):
                readable, _, _ = select.select([self.sock], [], [], left)
                if not readable:
                    return None
            old = self.sock.gettimeout()
            self.sock.setblocking(False)
            try:
                data = self.sock.recv(65536)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                continue
            except ssl.SSLError as exc:
                return f"TLS error: {exc}"
            except OSError as exc:
                return f"reset: {exc}"
            finally:
                with contextlib.suppress(OSError):
                    self.sock.settimeout(old)
            if not data:
                return "EOF"
            self.buf += data
            return f"server sent {self.buf[:80]!r}"

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def __enter__(self) -> "HttpConnection":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def http_request(port: int, method: str, path: str, body: bytes = b"", headers: dict | None = None,
                 tls: ssl.SSLContext | None = None, timeout: float = 5.0) -> HttpResponse:
    with HttpConnection(port, tls, timeout) as c:
        return c.request(method, path, body, headers)


# --------------------------------------------------------------------------------------
# Prometheus text
# --------------------------------------------------------------------------------------

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> dict:
    """{(name, frozenset(labels.items())): value} for every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            continue
        labels = frozenset(_LABEL.findall(m.group(2) or ""))
        with contextlib.suppress(ValueError):
            out[(m.group(1), labels)] = float(m.group(3))
    return out


RADSYNC_VERSION = "0.1.0"  # CMakeLists.txt project(VERSION)


def metric(samples: dict, name: str, **labels) -> float:
    """One sample's value (0 if absent)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def metric_names(samples: dict) -> set[str]:
    return {name for name, _ in samples}
