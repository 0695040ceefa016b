"""A private FreeRADIUS 3.2 instance for end-to-end tests (Python 3 standard library only).

The instance is built the way an operator builds theirs, plus only what a test needs:

1. ``cp -a /etc/freeradius/3.0 <tmp>/raddb`` (Debian's stock configuration);
2. ``deploy/freeradius/configure-freeradius --raddb <tmp>/raddb --db <db> --accounting-db
   <accounting db>``: exactly the operator's deploy script, so the tests exercise it (the
   accounting database is created from radsync's own migration if it does not exist yet);
3. test-instance changes only (freeradius.md section 2): logdir/run_dir in the temp dir,
   no user/group switch, proxy_requests = no, reject_delay = 0, the default site's listen
   blocks replaced by 127.0.0.1 auth/acct listeners on ports chosen at run time, the
   inner-tunnel's own 127.0.0.1:18120 listener removed, own EAP certificates (openssl) and a
   one-client clients.conf (127.0.0.1, secret testing123).

Usage::

    with FreeRadius(db_path, workdir) as fr:      # checks the config (-XC), starts, waits
        code, attrs = fr.pap("carol", "pw", nas_identifier="downtown")
        ok, attrs = fr.peap("carol", "pw", nas_identifier="downtown")
    # stopped (killpg) here, pass or fail

``pap`` returns ``("Access-Accept" | "Access-Reject" | None, {name: value})`` and ``peap``
returns ``(success, {name: value})``. Values are strings as radclient prints them, without
quotes and tags: ``{"Session-Timeout": "14400", "Tunnel-Type": "VLAN",
"Tunnel-Private-Group-Id": "100", "WISPr-Bandwidth-Max-Down": "10000000"}``. An attribute
that occurs more than once maps to a list of strings.

Accounting is buffered as configure-freeradius sets it up: ``acct`` returns once the request is
in radacct (about a second after its answer); ``acct(..., stored=False)`` does not wait, and
``wait_accounting_stored`` waits for whatever was sent.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))

# Shared with the other Python test programs (re-exported: tests import them from here too).
from radsync_testlib import (Checks, SetupError, child_setup, expect_eq,  # noqa: E402,F401
                             expect_true, free_udp_ports, install_signal_handlers, nt_hash,
                             remove_workdir, temp_workdir)

STOCK_RADDB = Path("/etc/freeradius/3.0")
STOCK_SCHEMA = STOCK_RADDB / "mods-config/sql/main/sqlite/schema.sql"
DICTIONARY_DIR = Path("/usr/share/freeradius")
SECRET = "testing123"
SOURCE_DIR = Path(__file__).resolve().parents[2]
ACCOUNTING_SCHEMA = SOURCE_DIR / "migrations/accounting/0001_accounting_schema.sql"

READY_LINE = "Ready to process requests"
START_ATTEMPTS = 5


class HarnessError(SetupError):
    """The harness could not build, check or start the instance (not a test failure)."""


def tool(name: str, *fallbacks: str) -> str:
    for candidate in (name, *fallbacks):
        found = shutil.which(candidate)
        if found:
            return found
        if os.path.isabs(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise HarnessError(f"required program '{name}' not found (apt-get install freeradius "
                       "freeradius-utils eapoltest sqlite3 openssl)")


# --------------------------------------------------------------------------------------
# Process hygiene: every server we start is killed on exit, even if the caller forgets.
# --------------------------------------------------------------------------------------

_RUNNING: "set[FreeRadius]" = set()


def _stop_all() -> None:
    for server in list(_RUNNING):
        with contextlib.suppress(Exception):
            server.stop()


atexit.register(_stop_all)


_child_setup = child_setup  # PR_SET_PDEATHSIG: the server dies with the test process


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------

def smbencrypt_nt_hash(password: str) -> str:
    """NT hash as FreeRADIUS's own smbencrypt computes it (used to cross-check nt_hash)."""
    proc = subprocess.run([tool("smbencrypt"), password], capture_output=True, text=True,
                          check=True)
    return proc.stdout.strip().splitlines()[-1].split()[-1].lower()


def create_stock_db(path: Path) -> None:
    """An empty database with FreeRADIUS's stock SQLite schema, switched to WAL."""
    con = sqlite3.connect(path)
    try:
        con.executescript(STOCK_SCHEMA.read_text())
        con.execute("PRAGMA journal_mode=WAL")
        con.commit()
    finally:
        con.close()


def create_accounting_db(path: Path) -> None:
    """The accounting database as ``radsync migrate`` leaves it: radsync's migration 1, WAL."""
    con = sqlite3.connect(path)
    try:
        con.executescript(ACCOUNTING_SCHEMA.read_text())
        con.execute("PRAGMA user_version = 1")
        con.execute("PRAGMA journal_mode = WAL")
        con.commit()
    finally:
        con.close()


def _radius_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _live(line: str) -> str:
    """A config line without comments and quoted strings (to count braces)."""
    out, quote, i = [], "", 0
    while i < len(line):
        c = line[i]
        if quote:
            if c == "\\":
                i += 2
                continue
            if c == quote:
                quote = ""
            i += 1
            continue
        if c in "\"'`":
            quote = c
        elif c == "#":
            break
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _replace_blocks(text: str, header: re.Pattern, depth: int, replacement: str | None,
                    path: Path, expect: int) -> str:
    """Replace every section whose header matches ``header`` at brace depth ``depth``.

    The first one becomes ``replacement`` (if given), the others are dropped. Raises if the
    number of matching sections differs from ``expect``.
    """
    out: list[str] = []
    level = 0
    skipping = False
    found = 0
    for line in text.splitlines(keepends=True):
        live = _live(line)
        if not skipping and level == depth and header.match(live):
            found += 1
            skipping = True
            start_level = level
            if found == 1 and replacement is not None:
                out.append(replacement)
        if not skipping:
            out.append(line)
        level += live.count("{") - live.count("}")
        if skipping and level == start_level and "}" in live:
            skipping = False
    if found != expect:
        raise HarnessError(f"{path}: expected {expect} section(s) matching {header.pattern!r} "
                           f"at depth {depth}, found {found}")
    return "".join(out)


def _sub_line(text: str, pattern: str, repl: str, path: Path, count: int = 1) -> str:
    new, n = re.subn(pattern, repl, text, flags=re.M)
    if n != count:
        raise HarnessError(f"{path}: expected {count} line(s) matching {pattern!r}, found {n}")
    return new


# --------------------------------------------------------------------------------------
# RADIUS dictionary (just enough to decode eapol_test's raw attribute dump)
# --------------------------------------------------------------------------------------

class Dictionary:
    FILES = ("dictionary.rfc2865", "dictionary.rfc2866", "dictionary.rfc2868",
             "dictionary.rfc2869", "dictionary.rfc3580", "dictionary.wispr",
             "dictionary.mikrotik", "dictionary.microsoft")

    def __init__(self, directory: Path = DICTIONARY_DIR):
        self.attrs: dict[tuple[int, int], tuple[str, str, bool]] = {}  # (vendor, n) -> name,type,tag
        self.values: dict[tuple[str, int], str] = {}
        for name in self.FILES:
            path = directory / name
            if path.exists():
                self._load(path)

    def _load(self, path: Path) -> None:
        vendors: dict[str, int] = {}
        vendor = 0
        for raw in path.read_text(errors="replace").splitlines():
            f = raw.split("#", 1)[0].split()
            if not f:
                continue
            if f[0] == "VENDOR" and len(f) >= 3:
                vendors[f[1]] = int(f[2], 0)
            elif f[0] == "BEGIN-VENDOR":
                vendor = vendors.get(f[1], 0)
            elif f[0] == "END-VENDOR":
                vendor = 0
            elif f[0] == "ATTRIBUTE" and len(f) >= 4 and f[2].isdigit():
                flags = f[4] if len(f) > 4 else ""
                self.attrs[(vendor, int(f[2]))] = (f[1], f[3], "has_tag" in flags)
            elif f[0] == "VALUE" and len(f) >= 4:
                with contextlib.suppress(ValueError):
                    self.values[(f[1], int(f[3], 0))] = f[2]

    def decode(self, vendor: int, number: int, data: bytes) -> tuple[str, str]:
        name, typ, tagged = self.attrs.get(
            (vendor, number),
            (f"Attr-{number}" if not vendor else f"Vendor-{vendor}-Attr-{number}", "octets", False))
        if typ == "integer" and len(data) == 4:
            n = int.from_bytes(data[1:] if tagged else data, "big")
            return name, self.values.get((name, n), str(n))
        if typ == "string":
            if tagged and data and data[0] <= 0x1F:
                data = data[1:]
            return name, data.decode("utf-8", errors="replace")
        if typ == "ipaddr" and len(data) == 4:
            return name, socket.inet_ntoa(data)
        return name, "0x" + data.hex()


_DICTIONARY: Dictionary | None = None


def dictionary() -> Dictionary:
    global _DICTIONARY
    if _DICTIONARY is None:
        _DICTIONARY = Dictionary()
    return _DICTIONARY


def _add(attrs: dict, name: str, value: str) -> None:
    if name in attrs:
        prev = attrs[name]
        attrs[name] = (prev if isinstance(prev, list) else [prev]) + [value]
    else:
        attrs[name] = value


def decode_eapol_attributes(block: list[tuple[int, bytes | None]]) -> dict:
    """Decode (type, value) pairs; Vendor-Specific (26) is split into its sub-attributes."""
    d = dictionary()
    attrs: dict = {}
    for number, data in block:
        if data is None:
            name = d.attrs.get((0, number), (f"Attr-{number}",))[0]
            _add(attrs, name, "<value not shown by eapol_test>")
            continue
        if number == 26 and len(data) >= 6:
            vendor = int.from_bytes(data[:4], "big")
            rest = data[4:]
            while len(rest) >= 2 and rest[1] >= 2:
                sub, length = rest[0], rest[1]
                name, value = d.decode(vendor, sub, rest[2:length])
                _add(attrs, name, value)
                rest = rest[length:]
        else:
            name, value = d.decode(0, number, data)
            _add(attrs, name, value)
    return attrs


_EAPOL_MSG = re.compile(r"RADIUS message: code=(\d+) \(([^)]*)\)")
_EAPOL_ATTR = re.compile(r"^\s+Attribute (\d+) \(([^)]*)\) length=(\d+)\s*$")
_EAPOL_VALUE = re.compile(r"^\s+Value: ?(.*?)\s*$")
# Attributes that eapol_test (hostap src/radius/radius.c, radius_attrs[]) prints as decimal
# INT32. Others are printed as 'text', a dotted quad, or hex; attributes missing from its
# table are printed without any Value line.
_EAPOL_INT32 = {5, 6, 12, 27, 28, 29, 40, 41, 42, 43, 45, 46, 47, 48, 49, 61, 85, 101, 122, 123, 124, 125}


def _eapol_text(s: str) -> bytes:
    """Undo hostap's printf_encode()."""
    out = bytearray()
    i = 0
    simple = {"\\": b"\\", '"': b'"', "n": b"\n", "r": b"\r", "t": b"\t", "e": b"\x1b"}
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            n = s[i + 1]
            if n == "x" and i + 3 < len(s):
                out.append(int(s[i + 2:i + 4], 16))
                i += 4
                continue
            if n in simple:
                out += simple[n]
                i += 2
                continue
        out += c.encode("utf-8")
        i += 1
    return bytes(out)


def _eapol_value(number: int, length: int, shown: str) -> bytes | None:
    data_len = length - 2
    if len(shown) >= 2 and shown[0] == "'" and shown[-1] == "'":
        return _eapol_text(shown[1:-1])
    if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", shown):
        return socket.inet_aton(shown)
    if number in _EAPOL_INT32 and shown.isdigit():
        return int(shown).to_bytes(4, "big")
    if re.fullmatch(r"[0-9a-fA-F]*", shown) and len(shown) == 2 * data_len:
        return bytes.fromhex(shown)
    if shown.isdigit() and data_len == 4:
        return int(shown).to_bytes(4, "big")
    return None


def parse_eapol_output(text: str) -> tuple[str | None, dict]:
    """The last RADIUS message eapol_test received: (code name, decoded attributes)."""
    messages: list[tuple[str, list[tuple[int, bytes | None]]]] = []
    current: list[tuple[int, bytes | None]] | None = None
    pending: tuple[int, int] | None = None

    def flush_pending() -> None:
        nonlocal pending
        if pending is not None and current is not None:
            current.append((pending[0], None))  # attribute eapol_test does not print
        pending = None

    for line in text.splitlines():
        m = _EAPOL_MSG.search(line)
        if m:
            flush_pending()
            current = []
            messages.append((m.group(2), current))
            continue
        if current is None:
            continue
        m = _EAPOL_ATTR.match(line)
        if m:
            flush_pending()
            pending = (int(m.group(1)), int(m.group(3)))
            continue
        m = _EAPOL_VALUE.match(line)
        if m and pending is not None:
            current.append((pending[0], _eapol_value(pending[0], pending[1], m.group(1))))
            pending = None
            continue
        if line.strip() and not line.startswith((" ", "\t")):
            flush_pending()  # an unindented line ends this message's attribute dump
            current = None
    flush_pending()
    # The last message eapol_test *received* is the final answer (requests are dumped too,
    # but the last dump in the output is the server's reply).
    for code, block in reversed(messages):
        if code.startswith("Access-") and code != "Access-Request":
            return code, decode_eapol_attributes(block)
    return None, {}


def parse_radclient_output(text: str) -> tuple[str | None, dict]:
    code = None
    attrs: dict = {}
    in_reply = False
    for line in text.splitlines():
        m = re.match(r"^Received (\S+) Id ", line)
        if m:
            code, attrs, in_reply = m.group(1), {}, True
            continue
        if not in_reply:
            continue
        m = re.match(r"^\s+([A-Za-z0-9._-]+)(?::\d+)? = (.*)$", line)
        if m:
            value = m.group(2).strip()
            if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
                value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            _add(attrs, m.group(1), value)
        else:
            in_reply = False
    return code, attrs


# --------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------

class FreeRadius:
    """A private FreeRADIUS reading ``db_path``; everything lives under ``workdir``."""

    # What Checks shows of the server's log for a failed check.
    log_label = "server log (filtered)"
    log_filter = re.compile(r"ERROR|WARNING|Reject|reject|sql: User|expired|Login incorrect|"
                            r"Found Auth-Type|Sent Access|Executing select|rejected")

    def __init__(self, db_path: os.PathLike | str, workdir: os.PathLike | str,
                 source_dir: os.PathLike | str | None = None, start_timeout: float = 20.0,
                 debug: bool = True, accounting_db: os.PathLike | str | None = None,
                 nas: bool = False, nak_user: str = "nosession"):
        """``nas``: also act as an access point that takes RFC 5176 Disconnect- and
        CoA-Requests on ``coa_port`` (freeradius.md §8), from 127.0.0.1 with SECRET: each is
        logged and ACKed, except for ``nak_user``, whose requests get a NAK with Error-Cause
        Session-Context-Not-Found. ``coa_requests()`` lists what arrived."""
        self.db_path = Path(db_path).resolve()
        self.workdir = Path(workdir).resolve()
        self.accounting_db = (Path(accounting_db).resolve() if accounting_db
                              else self.db_path.parent / "accounting.db")
        self.source_dir = Path(source_dir).resolve() if source_dir else SOURCE_DIR
        self.raddb = self.workdir / "raddb"
        self.logdir = self.workdir / "log"
        self.rundir = self.workdir / "run"
        self.certdir = self.workdir / "certs"
        self.logfile = self.logdir / "radius.log"
        # Buffered accounting (configure-freeradius): the default server appends each
        # Accounting-Request here; the radsync-accounting server stores it, ~1 s later.
        self.accounting_buffer = self.logdir / "radacct/radsync-buffer"
        self.start_timeout = start_timeout
        self.debug = debug
        self.auth_port = 0
        self.acct_port = 0
        self.nas = nas
        self.nak_user = nak_user
        self.coa_port = 0
        self.proc: subprocess.Popen | None = None
        self._prepared = False
        self._checked = False
        self._log_offset = 0
        self._console = None
        self.last_client_output = ""

    # -- building the configuration -------------------------------------------------------

    def prepare(self) -> None:
        if self._prepared:
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        for d in (self.logdir, self.rundir, self.certdir):
            d.mkdir(exist_ok=True)
        if self.raddb.exists():
            shutil.rmtree(self.raddb)
        cp = subprocess.run(["cp", "-a", str(STOCK_RADDB), str(self.raddb)],
                            capture_output=True, text=True, check=False)
        if cp.returncode != 0:
            raise HarnessError(f"cannot copy {STOCK_RADDB} (run as root or as a member of group "
                               f"freerad; is freeradius installed?):\n{cp.stderr}")
        if not self.accounting_db.exists():
            create_accounting_db(self.accounting_db)
        self._run_deploy_script()
        self._test_instance_changes()
        self._make_certs()
        self.auth_port, self.acct_port = self._pick_ports()
        self._write_listen()
        self._prepared = True

    def _run_deploy_script(self) -> None:
        script = self.source_dir / "deploy/freeradius/configure-freeradius"
        proc = subprocess.run([str(script), "--raddb", str(self.raddb), "--db", str(self.db_path),
                               "--accounting-db", str(self.accounting_db)],
                              capture_output=True, text=True, check=False)
        (self.workdir / "configure-freeradius.log").write_text(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            raise HarnessError(f"configure-freeradius failed (exit {proc.returncode}):\n"
                               f"{proc.stdout}{proc.stderr}")

    def _edit(self, rel: str, fn) -> None:
        path = self.raddb / rel
        path.write_text(fn(path.read_text(), path))

    def _test_instance_changes(self) -> None:
        def radiusd(t: str, p: Path) -> str:
            t = _sub_line(t, r"^logdir = .*$", f"logdir = {self.logdir}", p)
            t = _sub_line(t, r"^run_dir = .*$", f"run_dir = {self.rundir}", p)
            t = _sub_line(t, r"^(\s*)(user|group) = freerad\s*$", r"\1#\2 = freerad  # test instance", p, 2)
            t = _sub_line(t, r"^proxy_requests\s*=\s*yes\s*$", "proxy_requests = no", p)
            t = _sub_line(t, r"^(\s*)reject_delay = \d+\s*$", r"\1reject_delay = 0", p)
            return t

        def default_site(t: str, p: Path) -> str:
            # The four stock listen blocks (* and ::, auth and acct) at depth 1 inside
            # "server default {" become one include, rewritten with fresh ports per start.
            return _replace_blocks(t, re.compile(r"^\s*listen\s*\{"), 1,
                                   "\t$INCLUDE ${confdir}/test-listen.conf\n", p, 4)

        def inner_tunnel(t: str, p: Path) -> str:
            return _replace_blocks(t, re.compile(r"^\s*listen\s*\{"), 1, None, p, 1)

        def eap(t: str, p: Path) -> str:
            t = _sub_line(t, r"^(\s*)private_key_password = .*$", r"\1#private_key_password = (test instance: unencrypted key)", p)
            t = _sub_line(t, r"^(\s*)private_key_file = .*$", rf"\1private_key_file = {self.certdir}/server.key", p)
            t = _sub_line(t, r"^(\s*)certificate_file = .*$", rf"\1certificate_file = {self.certdir}/server.pem", p)
            t = _sub_line(t, r"^(\s*)ca_file = .*$", rf"\1ca_file = {self.certdir}/ca.pem", p)
            return t

        self._edit("radiusd.conf", radiusd)
        self._edit("sites-available/default", default_site)
        self._edit("sites-available/inner-tunnel", inner_tunnel)
        self._edit("mods-available/eap", eap)
        (self.raddb / "clients.conf").write_text(
            "# test instance: one client, loopback only\n"
            f"client localhost {{\n\tipaddr = 127.0.0.1\n\tsecret = {SECRET}\n"
            "\trequire_message_authenticator = no\n\tnas_type = other\n}\n")

    def _make_certs(self) -> None:
        openssl = tool("openssl")
        c = self.certdir

        def run(*args: str) -> None:
            proc = subprocess.run([openssl, *args], capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise HarnessError(f"openssl {' '.join(args)} failed:\n{proc.stderr}")

        run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(c / "ca.key"),
            "-out", str(c / "ca.pem"), "-days", "2", "-subj", "/CN=radsync test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(c / "server.key"),
            "-out", str(c / "server.csr"), "-subj", "/CN=radius.test")
        (c / "server.ext").write_text(
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:radius.test\n")
        run("x509", "-req", "-in", str(c / "server.csr"), "-CA", str(c / "ca.pem"),
            "-CAkey", str(c / "ca.key"), "-CAcreateserial", "-out", str(c / "server.pem"),
            "-days", "2", "-extfile", str(c / "server.ext"))

    def _write_listen(self) -> None:
        if self.nas:
            self.coa_port = free_udp_ports(1)[0]
            (self.raddb / "sites-enabled/fake-nas").write_text(
                "# test instance: a stand-in access point for Disconnect/CoA (freeradius.md §8)\n"
                f"listen {{\n\ttype = coa\n\tipaddr = 127.0.0.1\n\tport = {self.coa_port}\n"
                "\tvirtual_server = fake-nas\n}\n"
                "server fake-nas {\n\trecv-coa {\n"
                f"\t\tif (&User-Name == {_radius_quote(self.nak_user)}) {{\n"
                "\t\t\tupdate reply {\n\t\t\t\t&Error-Cause := Session-Context-Not-Found\n\t\t\t}\n"
                "\t\t\treject\n\t\t}\n\t\tok\n\t}\n"
                "\tsend-coa {\n\t\tok\n\t}\n}\n")
        (self.raddb / "test-listen.conf").write_text(
            "# test instance: loopback only, ports chosen at run time\n"
            f"listen {{\n\ttype = auth\n\tipaddr = 127.0.0.1\n\tport = {self.auth_port}\n}}\n"
            f"listen {{\n\ttype = acct\n\tipaddr = 127.0.0.1\n\tport = {self.acct_port}\n}}\n")

    def check_config(self) -> None:
        """``freeradius -XC``: fail with the server's own error lines if the config is bad."""
        proc = subprocess.run([tool("freeradius", "/usr/sbin/freeradius"), "-XC", "-d", str(self.raddb)],
                              capture_output=True, text=True, check=False, timeout=60)
        (self.logdir / "check-config.log").write_text(proc.stdout + proc.stderr)
        if proc.returncode != 0 or "Configuration appears to be OK" not in proc.stdout:
            errors = [l for l in (proc.stdout + proc.stderr).splitlines()
                      if re.search(r"error|fail|unknown|invalid|cannot|unable", l, re.I)]
            raise HarnessError("freeradius -XC rejected the test configuration "
                               f"(exit {proc.returncode}):\n" + "\n".join(errors[-25:] or
                                                                           proc.stdout.splitlines()[-25:]))

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> "FreeRadius":
        if self.running:
            return self
        self.prepare()
        if not self._checked:
            self.check_config()
            self._checked = True
        deadline = time.monotonic() + self.start_timeout
        last_error = ""
        for attempt in range(START_ATTEMPTS):
            if attempt:
                self.auth_port, self.acct_port = self._pick_ports()
                self._write_listen()
            ok, last_error = self._spawn_and_wait(deadline)
            if ok:
                return self
            if "bind" not in last_error.lower() and "address already in use" not in last_error.lower():
                break
            if time.monotonic() >= deadline:
                break
        raise HarnessError(f"FreeRADIUS did not start:\n{last_error}")

    def _pick_ports(self) -> tuple[int, int]:
        auth, acct = free_udp_ports(2)
        return auth, acct

    def _spawn_and_wait(self, deadline: float) -> tuple[bool, str]:
        self._log_offset = self.logfile.stat().st_size if self.logfile.exists() else 0
        args = [tool("freeradius", "/usr/sbin/freeradius"),
                "-X" if self.debug else "-f", "-l", str(self.logfile), "-d", str(self.raddb)]
        self._console = open(self.logdir / "console.log", "ab")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self._console,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     preexec_fn=_child_setup)
        _RUNNING.add(self)
        while time.monotonic() < deadline:
            text = self.log_since_start()
            if READY_LINE in text:
                return True, ""
            if self.proc.poll() is not None:
                self._reap()
                return False, self._tail(self.log_since_start() + self._console_text(), 30)
            time.sleep(0.02)
        self.stop()
        return False, f"timed out after {self.start_timeout}s waiting for '{READY_LINE}'\n" + \
            self._tail(self.log_since_start(), 30)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        # Anything left in the group (there should be nothing) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        self._reap()

    def _reap(self) -> None:
        _RUNNING.discard(self)
        if self._console:
            self._console.close()
            self._console = None

    def __enter__(self) -> "FreeRadius":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- logs --------------------------------------------------------------------------------

    def accounting_query(self, sql: str, *params) -> list[tuple]:
        """A read-only query of the accounting database (WAL: FreeRADIUS's writers never wait)."""
        con = sqlite3.connect(f"file:{self.accounting_db}?mode=ro", uri=True, timeout=2)
        try:
            return con.execute(sql, params).fetchall()
        finally:
            con.close()

    def log_text(self) -> str:
        return self.logfile.read_text(errors="replace") if self.logfile.exists() else ""

    def log_since_start(self) -> str:
        if not self.logfile.exists():
            return ""
        with open(self.logfile, "rb") as f:
            f.seek(self._log_offset)
            return f.read().decode(errors="replace")

    def _console_text(self) -> str:
        p = self.logdir / "console.log"
        return p.read_text(errors="replace") if p.exists() else ""

    @staticmethod
    def _tail(text: str, lines: int) -> str:
        return "\n".join(text.splitlines()[-lines:])

    def log_tail(self, lines: int = 40) -> str:
        return self._tail(self.log_since_start(), lines)

    _COA_RECEIVED = re.compile(r"^\((\d+)\) Received (Disconnect-Request|CoA-Request) Id (\d+) ")

    def coa_requests(self, mark: int = 0) -> list[dict]:
        """Disconnect- and CoA-Requests the stand-in access point accepted as authentic since
        ``mark``: [{"code", "id", "attrs": {name: value}}] (values as the server logs them,
        without quotes). A request with a wrong secret is dropped before it is logged so."""
        out: list[dict] = []
        current: dict | None = None
        number = ""
        for line in self.log_from(mark).splitlines():
            m = self._COA_RECEIVED.match(line)
            if m:
                number = m.group(1)
                current = {"code": m.group(2), "id": int(m.group(3)), "attrs": {}}
                out.append(current)
                continue
            if current is not None:
                a = re.match(rf"^\({number}\)   ([A-Za-z0-9-]+) = (.*)$", line)
                if a:
                    _add(current["attrs"], a.group(1), a.group(2).strip().strip('"'))
                else:
                    if line.startswith("Dropping packet"):
                        out.pop()  # not authentic (a wrong secret): logged, then dropped
                    current = None
        if current is not None:
            # The server writes a request line by line: a block counts once a line that is not
            # one of its attributes follows it (it always writes one), never half-written.
            out.pop()
        return out

    def coa_arrivals(self, mark: int = 0) -> int:
        """Datagrams that reached the stand-in access point since ``mark``: authentic or not,
        resends that it took for duplicates included."""
        text = self.log_from(mark)
        return (len(re.findall(r"^\(\d+\) Received (?:Disconnect|CoA)-Request Id ", text, re.M)) +
                len(re.findall(r"^\(\d+\) Ignoring duplicate packet ", text, re.M)))

    def log_mark(self) -> int:
        """The current end of the log; pass it to log_from() to see what came after."""
        return self.logfile.stat().st_size if self.logfile.exists() else 0

    def log_from(self, mark: int) -> str:
        if not self.logfile.exists():
            return ""
        with open(self.logfile, "rb") as f:
            f.seek(mark)
            return f.read().decode(errors="replace")

    def sockets(self) -> list[tuple[str, str, int]]:
        """(proto, local address, port) of every socket the server process holds."""
        inodes = set()
        with contextlib.suppress(FileNotFoundError, PermissionError):
            for fd in os.listdir(f"/proc/{self.pid}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"/proc/{self.pid}/fd/{fd}")
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
        found = []
        for proto in ("udp", "udp6", "tcp", "tcp6"):
            with contextlib.suppress(FileNotFoundError):
                for line in Path(f"/proc/{self.pid}/net/{proto}").read_text().splitlines()[1:]:
                    f = line.split()
                    if len(f) > 9 and f[9] in inodes:
                        addr_hex, port_hex = f[1].split(":")
                        if len(addr_hex) == 8:
                            addr = socket.inet_ntoa(bytes.fromhex(addr_hex)[::-1])
                        else:
                            raw = bytes.fromhex(addr_hex)
                            addr = socket.inet_ntop(socket.AF_INET6, b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4)))
                        found.append((proto, addr, int(port_hex, 16)))
        return found

    # -- clients ------------------------------------------------------------------------------

    def _require_running(self) -> None:
        if not self.running:
            raise HarnessError("FreeRADIUS is not running:\n" + self.log_tail())

    def pap(self, user: str, password: str, nas_identifier: str | None = None,
            called_station_id: str | None = None, extra: dict | None = None) -> tuple[str | None, dict]:
        """PAP Access-Request via radclient: (code or None on timeout, reply attributes)."""
        self._require_running()
        lines = [f"User-Name = {_radius_quote(user)}", f"User-Password = {_radius_quote(password)}",
                 "NAS-IP-Address = 127.0.0.1"]
        if nas_identifier is not None:
            lines.append(f"NAS-Identifier = {_radius_quote(nas_identifier)}")
        if called_station_id is not None:
            lines.append(f"Called-Station-Id = {_radius_quote(called_station_id)}")
        for k, v in (extra or {}).items():
            lines.append(f"{k} = {_radius_quote(str(v))}")
        proc = subprocess.run(
            [tool("radclient"), "-x", "-r", "1", "-t", "3", f"127.0.0.1:{self.auth_port}", "auth", SECRET],
            input="\n".join(lines) + "\n", capture_output=True, text=True, check=False, timeout=15)
        self.last_client_output = proc.stdout + proc.stderr
        return parse_radclient_output(proc.stdout)

    def acct(self, user: str, status: str = "Start", session_id: str = "sess-1",
             nas_identifier: str | None = None, extra: dict | None = None,
             stored: bool = True) -> str | None:
        """An Accounting-Request via radclient; returns the reply code (or None on timeout).
        ``extra`` adds attributes, e.g. {"Event-Timestamp": 1796000000} to backdate it.
        ``stored``: once answered, wait until radacct holds it (wait_accounting_stored)."""
        self._require_running()
        lines = [f"User-Name = {_radius_quote(user)}", f"Acct-Status-Type = {status}",
                 f"Acct-Session-Id = {_radius_quote(session_id)}", "NAS-IP-Address = 127.0.0.1"]
        if nas_identifier is not None:
            lines.append(f"NAS-Identifier = {_radius_quote(nas_identifier)}")
        for k, v in (extra or {}).items():
            lines.append(f"{k} = {_radius_quote(str(v))}")
        proc = subprocess.run(
            [tool("radclient"), "-x", "-r", "1", "-t", "3", f"127.0.0.1:{self.acct_port}", "acct", SECRET],
            input="\n".join(lines) + "\n", capture_output=True, text=True, check=False, timeout=15)
        self.last_client_output = proc.stdout + proc.stderr
        code = parse_radclient_output(proc.stdout)[0]
        if stored and code == "Accounting-Response":
            self.wait_accounting_stored()
        return code

    def accounting_backlog(self) -> list[str]:
        """The buffer files not yet stored: ``detail-*`` waiting, ``detail.work`` being read."""
        if not self.accounting_buffer.is_dir():
            return []
        return sorted(p.name for p in self.accounting_buffer.iterdir())

    def wait_accounting_stored(self, timeout: float = 15.0) -> float:
        """Wait until every answered Accounting-Request is in radacct; returns the seconds it
        took. The reader takes the buffer file, stores its requests one by one and deletes it
        when all are stored (a failed one is kept and retried), and looks for a new file about
        once a second: an empty buffer directory means stored."""
        t0 = time.monotonic()
        while self.accounting_backlog():
            if time.monotonic() - t0 > timeout:
                raise HarnessError(f"accounting not stored after {timeout:g}s: "
                                   f"{self.accounting_backlog()} left in {self.accounting_buffer}\n"
                                   + self.log_tail())
            time.sleep(0.02)
        return time.monotonic() - t0

    def peap(self, user: str, password: str, nas_identifier: str | None = None,
             called_station_id: str | None = None) -> tuple[bool, dict]:
        """PEAP-MSCHAPv2 via eapol_test: (success, decoded attributes of the final Accept)."""
        self._require_running()
        fd, name = tempfile.mkstemp(prefix="peap-", suffix=".conf", dir=self.workdir)
        os.close(fd)
        conf = Path(name)

        def q(s: str) -> str:
            if '"' in s or "\n" in s:
                raise ValueError("eapol_test config strings cannot contain quotes or newlines")
            return f'"{s}"'

        conf.write_text(
            "network={\n\tssid=\"test\"\n\tkey_mgmt=WPA-EAP\n\teap=PEAP\n"
            f"\tidentity={q(user)}\n\tanonymous_identity=\"anonymous\"\n\tpassword={q(password)}\n"
            "\tphase1=\"peapver=0\"\n\tphase2=\"auth=MSCHAPV2\"\n}\n")
        args = [tool("eapol_test", "/usr/bin/eapol_test"), "-c", str(conf), "-a", "127.0.0.1",
                "-p", str(self.auth_port), "-s", SECRET, "-t", "10", "-r", "0"]
        if nas_identifier is not None:
            args += ["-N", f"32:s:{nas_identifier}"]
        if called_station_id is not None:
            args += ["-N", f"30:s:{called_station_id}"]
        try:
            proc = subprocess.run(args, capture_output=True, text=True, check=False, timeout=20)
        finally:
            conf.unlink(missing_ok=True)
        self.last_client_output = proc.stdout + proc.stderr
        code, attrs = parse_eapol_output(proc.stdout)
        success = proc.returncode == 0 and code == "Access-Accept"
        if proc.returncode not in (0, 252):
            raise HarnessError(f"eapol_test exited {proc.returncode}:\n{self._tail(proc.stdout + proc.stderr, 30)}")
        return success, attrs


_NOISE = ("MS-MPPE-Recv-Key", "MS-MPPE-Send-Key", "EAP-Message", "Message-Authenticator")


def brief(attrs: dict) -> dict:
    """Reply attributes without keys and EAP framing (for messages)."""
    return {k: v for k, v in attrs.items() if k not in _NOISE}


def expect_reply(result: tuple, accepted: bool, attrs: dict | None = None, absent: tuple = ()) -> dict:
    """Check a pap()/peap() result: accepted or not, and the given attributes' values."""
    code_or_ok, got = result
    ok = code_or_ok is True or code_or_ok == "Access-Accept"
    if ok != accepted:
        raise AssertionError(f"expected {'Accept' if accepted else 'Reject'}, got {code_or_ok!r} "
                             f"with {brief(got)!r}")
    for name, value in (attrs or {}).items():
        if got.get(name) != value:
            raise AssertionError(f"{name}: expected {value!r}, got {got.get(name)!r} (reply {brief(got)!r})")
    for name in absent:
        if name in got:
            raise AssertionError(f"{name} should be absent, got {got[name]!r}")
    return got
