#!/usr/bin/env python3
"""Self-test of the FreeRADIUS harness and of deploy/freeradius/configure-freeradius.

Hand-written rows (freeradius.md sections 4.3-4.7) in a database with FreeRADIUS's stock
schema, read by a private FreeRADIUS built from the operator's deploy script. Proves that
the deploy script's changes are the right ones (PEAP replies carry VLAN and bandwidth,
location checks work inside the tunnel, e-mail usernames are not proxied, FreeRADIUS never
writes to the database) and that the harness decodes what it should.

    python3 tests/e2e/test_harness_selftest.py [--source-dir REPO] [--verbose]

Prints one line per check and a final "N passed, M failed"; exit status 1 on any failure.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import freeradius_harness as h  # noqa: E402
from freeradius_harness import expect_eq, expect_reply, expect_true  # noqa: E402

PLAN_AND_SITES = """
INSERT INTO radgroupreply(groupname,attribute,op,value) VALUES
 ('plan:pro','WISPr-Bandwidth-Max-Down',':=','50000000'),
 ('plan:pro','WISPr-Bandwidth-Max-Up',':=','10000000'),
 ('plan:pro','Mikrotik-Rate-Limit',':=','10M/50M'),
 ('plan:pro','Session-Timeout',':=','28800'),
 ('plan:pro','Fall-Through','=','Yes');
INSERT INTO radgroupcheck(groupname,attribute,op,value) VALUES
 ('site:downtown','NAS-Identifier','==','downtown'),
 ('site:uptown','NAS-Identifier','==','uptown'),
 ('ssid:uptown','Called-Station-Id','=~',':CoWork-Uptown$');
INSERT INTO radgroupreply(groupname,attribute,op,value) VALUES
 ('site:downtown','Tunnel-Type',':=','VLAN'), ('site:downtown','Tunnel-Medium-Type',':=','IEEE-802'),
 ('site:downtown','Tunnel-Private-Group-Id',':=','100'),
 ('site:uptown','Tunnel-Type',':=','VLAN'), ('site:uptown','Tunnel-Medium-Type',':=','IEEE-802'),
 ('site:uptown','Tunnel-Private-Group-Id',':=','200'),
 ('ssid:uptown','Tunnel-Type',':=','VLAN'), ('ssid:uptown','Tunnel-Medium-Type',':=','IEEE-802'),
 ('ssid:uptown','Tunnel-Private-Group-Id',':=','200');
INSERT INTO radgroupcheck(groupname,attribute,op,value) VALUES ('deny','Auth-Type',':=','Reject');
INSERT INTO radgroupreply(groupname,attribute,op,value) VALUES ('deny','Reply-Message',':=','Not allowed at this location');
"""

PLUS_USER_RAW = "jo+wifi@cowork.test"
PLUS_USER_STORED = "jo=2Bwifi@cowork.test"   # FreeRADIUS's escaped form (freeradius.md 4.7)


def accounting_rows(path: Path) -> list[tuple]:
    """(session, user, NAS IP, device, address, started?, updated?, stopped?, input octets)."""
    con = sqlite3.connect(path)
    try:
        return [tuple(r) for r in con.execute(
            "SELECT acctsessionid, username, nasipaddress, callingstationid, framedipaddress, "
            "acctstarttime IS NOT NULL, acctupdatetime IS NOT NULL, acctstoptime IS NOT NULL, "
            "acctinputoctets FROM radacct ORDER BY radacctid")]
    finally:
        con.close()


def build_db(db: Path) -> None:
    h.create_stock_db(db)
    con = sqlite3.connect(db)
    with con:
        con.executescript(PLAN_AND_SITES)
        rows = [
            ("carol", "Cleartext-Password", ":=", "carol-pw"),
            ("dave", "NT-Password", ":=", h.nt_hash("dave-pw")),
            (PLUS_USER_STORED, "NT-Password", ":=", h.nt_hash("jo-pw")),
            ("erin@example.com", "NT-Password", ":=", h.nt_hash("erin-pw")),
            ("gone", "Cleartext-Password", ":=", "gone-pw"),
            ("gone", "Expiration", ":=", str(int(time.time()) - 3600)),
        ]
        con.executemany("INSERT INTO radcheck(username,attribute,op,value) VALUES (?,?,?,?)", rows)
        groups = [
            ("carol", "plan:pro", 10), ("carol", "site:downtown", 100), ("carol", "deny", 1000),
            ("dave", "plan:pro", 10), ("dave", "site:downtown", 100), ("dave", "site:uptown", 101),
            ("dave", "ssid:uptown", 102), ("dave", "deny", 1000),
            (PLUS_USER_STORED, "plan:pro", 10), (PLUS_USER_STORED, "site:downtown", 100),
            (PLUS_USER_STORED, "deny", 1000),
            ("erin@example.com", "plan:pro", 10),
            ("gone", "plan:pro", 10),
        ]
        con.executemany("INSERT INTO radusergroup(username,groupname,priority) VALUES (?,?,?)", groups)
    con.close()


def tree_digest(root: Path) -> str:
    """Digest of a directory tree (paths, symlink targets, file contents, modes)."""
    d = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        d.update(str(p.relative_to(root)).encode())
        if p.is_symlink():
            d.update(b"L" + str(p.readlink()).encode())
        elif p.is_file():
            d.update(b"F%o" % p.stat().st_mode + p.read_bytes())
    return d.hexdigest()


class CollidingServer(h.FreeRadius):
    """Hands out a port somebody else holds on the first start attempt."""

    def __init__(self, *a, blocked_port: int, **kw):
        super().__init__(*a, **kw)
        self.blocked_port = blocked_port
        self.picks = 0

    def _pick_ports(self):
        self.picks += 1
        if self.picks == 1:
            return self.blocked_port, h.free_udp_ports(1)[0]
        return super()._pick_ports()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source-dir", default=str(h.SOURCE_DIR))
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    h.install_signal_handlers()
    t0 = time.monotonic()
    work = h.temp_workdir("radsync-fr-selftest-")
    checks = h.Checks()
    source = Path(args.source_dir)
    script = source / "deploy/freeradius/configure-freeradius"
    try:
        db = work / "radius.db"

        def nt_hashes():
            expect_eq(h.nt_hash("password"), "8846f7eaee8fb117ad06bdd830b7586c", "nt_hash('password')")
            expect_eq(h.nt_hash("dave-pw"), h.smbencrypt_nt_hash("dave-pw"), "openssl vs smbencrypt")

        checks.check("nt hash matches smbencrypt and the known vector", nt_hashes)
        checks.check("database with the stock schema in WAL mode", build_db, db)
        fr = h.FreeRadius(db, work / "fr", source_dir=source)

        def build_config():
            fr.prepare()
            fr.check_config()
            return True

        if not checks.check("deploy script + test changes give a config that passes -XC", build_config):
            return checks.summary()

        def deploy_idempotent():
            before = tree_digest(fr.raddb)
            out = subprocess.run([str(script), "--raddb", str(fr.raddb), "--db", str(db),
                                  "--accounting-db", str(fr.accounting_db)],
                                 capture_output=True, text=True, check=False)
            expect_eq(out.returncode, 0, f"second run exit status ({out.stderr.strip()})")
            if "done: 0 change(s)" not in out.stdout:
                raise AssertionError(f"second run reported changes:\n{out.stdout}")
            expect_eq(tree_digest(fr.raddb), before, "raddb digest after a second run")

        checks.check("configure-freeradius is idempotent (second run: no changes)", deploy_idempotent)

        def backups_kept():
            for rel in ("mods-available/sql", "mods-available/eap", "sites-available/default",
                        "sites-available/inner-tunnel", "proxy.conf",
                        "mods-config/sql/main/sqlite/queries.conf"):
                orig = fr.raddb / (rel + ".radsync-orig")
                if orig.read_bytes() != (h.STOCK_RADDB / rel).read_bytes():
                    raise AssertionError(f"{orig} is not the stock file")

        checks.check("configure-freeradius kept *.radsync-orig backups of the stock files", backups_kept)

        def upgrade_to_buffered():
            # A raddb configured by the version before buffered accounting (the default server's
            # accounting called sql_accounting itself) ends up exactly as a fresh one.
            def configure(raddb: Path) -> str:
                out = subprocess.run([str(script), "--raddb", str(raddb), "--db", str(db),
                                      "--accounting-db", str(fr.accounting_db)],
                                     capture_output=True, text=True, check=False)
                expect_eq(out.returncode, 0, f"exit status ({out.stderr.strip()})")
                return out.stdout
            fresh, old = work / "raddb-fresh", work / "raddb-old"
            for raddb in (fresh, old):
                subprocess.run(["cp", "-a", str(h.STOCK_RADDB), str(raddb)], check=True)
                configure(raddb)
            site = old / "sites-available/default"
            text = site.read_text()
            buffer_call = re.compile(r"^\tradsync_accounting_buffer\t#.*$", re.M)
            expect_eq(len(buffer_call.findall(text)), 1, "buffer calls in a fresh default site")
            site.write_text(buffer_call.sub("\tsql_accounting\t# radsync configure-freeradius: accounting in "
                                            "its own database (see deploy/freeradius/README.md)", text))
            for rel in ("mods-enabled/radsync_accounting_buffer", "mods-available/radsync_accounting_buffer",
                        "sites-enabled/radsync-accounting", "sites-available/radsync-accounting"):
                (old / rel).unlink()
            out = configure(old)
            expect_true(f"changed:   {site}" in out, f"the default site was not changed:\n{out}")
            expect_eq(tree_digest(old), tree_digest(fresh), "upgraded raddb digest vs a fresh one")

        checks.check("configure-freeradius upgrades direct accounting (sql_accounting in accounting) to "
                     "buffered", upgrade_to_buffered)

        with fr:
            checks.server = fr
            pid = fr.pid

            def loopback_only():
                socks = fr.sockets()
                if not socks:
                    raise AssertionError("no sockets found for the server process")
                bad = [s for s in socks if s[1] not in ("127.0.0.1", "::1")]
                if bad:
                    raise AssertionError(f"non-loopback sockets: {bad}")
                ports = {s[2] for s in socks}
                if fr.auth_port not in ports or fr.acct_port not in ports:
                    raise AssertionError(f"auth/acct ports {fr.auth_port}/{fr.acct_port} not in {socks}")

            checks.check("server listens on 127.0.0.1 run-time ports only", loopback_only)

            vlan100 = {"Tunnel-Private-Group-Id": "100", "Tunnel-Type": "VLAN", "Tunnel-Medium-Type": "IEEE-802"}
            pro = {"WISPr-Bandwidth-Max-Down": "50000000", "WISPr-Bandwidth-Max-Up": "10000000",
                   "Mikrotik-Rate-Limit": "10M/50M", "Session-Timeout": "28800"}
            c = checks.check
            c("pap carol@downtown (cleartext) accepted with plan + VLAN 100",
              lambda: expect_reply(fr.pap("carol", "carol-pw", "downtown"), True, {**pro, **vlan100},
                                   absent=("Fall-Through",)))
            c("pap carol wrong password rejected",
              lambda: expect_reply(fr.pap("carol", "nope", "downtown"), False))
            c("pap carol@uptown rejected by the deny group",
              lambda: expect_reply(fr.pap("carol", "carol-pw", "uptown"), False,
                                   {"Reply-Message": "Not allowed at this location"}))
            c("pap carol without NAS-Identifier rejected",
              lambda: expect_reply(fr.pap("carol", "carol-pw"), False))
            c("pap Carol and CAROL accepted: sql_user_name lower-cases the login (--usernames lower)",
              lambda: [expect_reply(fr.pap(u, "carol-pw", "downtown"), True, vlan100)
                       for u in ("Carol", "CAROL")])
            c("peap CaRoL accepted the same way (the inner tunnel uses the same sql module)",
              lambda: expect_reply(fr.peap("CaRoL", "carol-pw", "downtown"), True, vlan100))
            c("pap dave (NT-Password) @downtown VLAN 100",
              lambda: expect_reply(fr.pap("dave", "dave-pw", "downtown"), True, {"Tunnel-Private-Group-Id": "100"}))
            c("pap dave @uptown VLAN 200",
              lambda: expect_reply(fr.pap("dave", "dave-pw", "uptown"), True, {"Tunnel-Private-Group-Id": "200"}))
            c("pap dave via SSID in Called-Station-Id VLAN 200",
              lambda: expect_reply(fr.pap("dave", "dave-pw", called_station_id="AA-BB-CC-DD-EE-FF:CoWork-Uptown"),
                                   True, {"Tunnel-Private-Group-Id": "200"}))
            c("pap dave wrong password rejected",
              lambda: expect_reply(fr.pap("dave", "dave-px", "downtown"), False))
            c("pap plus-address user stored escaped (=2B) accepted",
              lambda: expect_reply(fr.pap(PLUS_USER_RAW, "jo-pw", "downtown"), True, {"Tunnel-Private-Group-Id": "100"}))
            c("pap user@example.com accepted (sample realm removed)",
              lambda: expect_reply(fr.pap("erin@example.com", "erin-pw", "downtown"), True,
                                   {"Session-Timeout": "28800"}))
            c("pap expired user (Expiration in the past) rejected",
              lambda: expect_reply(fr.pap("gone", "gone-pw", "downtown"), False))
            c("pap unknown user rejected",
              lambda: expect_reply(fr.pap("nobody", "x", "downtown"), False))

            c("peap carol@downtown success with plan + VLAN 100 (inner-tunnel if (1))",
              lambda: expect_reply(fr.peap("carol", "carol-pw", "downtown"), True, {**pro, **vlan100}))
            c("peap carol@uptown failure (copy_request_to_tunnel: NAS-Identifier seen inside)",
              lambda: expect_reply(fr.peap("carol", "carol-pw", "uptown"), False))
            c("peap dave (NT-Password) @downtown VLAN 100",
              lambda: expect_reply(fr.peap("dave", "dave-pw", "downtown"), True, {"Tunnel-Private-Group-Id": "100"}))
            c("peap dave @uptown VLAN 200",
              lambda: expect_reply(fr.peap("dave", "dave-pw", "uptown"), True,
                                   {"Tunnel-Private-Group-Id": "200", "Session-Timeout": "28800"}))
            c("peap dave via SSID VLAN 200",
              lambda: expect_reply(fr.peap("dave", "dave-pw", called_station_id="AA-BB-CC-DD-EE-FF:CoWork-Uptown"),
                                   True, {"Tunnel-Private-Group-Id": "200"}))
            c("peap dave wrong password failure",
              lambda: expect_reply(fr.peap("dave", "dave-px", "downtown"), False))
            c("peap plus-address user accepted",
              lambda: expect_reply(fr.peap(PLUS_USER_RAW, "jo-pw", "downtown"), True))

            def live_change():
                con = sqlite3.connect(db)
                with con:
                    con.execute("UPDATE radusergroup SET groupname='site:uptown' "
                                "WHERE username='carol' AND groupname='site:downtown'")
                con.close()
                expect_reply(fr.pap("carol", "carol-pw", "downtown"), False)
                expect_reply(fr.pap("carol", "carol-pw", "uptown"), True, {"Tunnel-Private-Group-Id": "200"})
                expect_reply(fr.peap("carol", "carol-pw", "uptown"), True, {"Tunnel-Private-Group-Id": "200"})
                expect_eq(fr.pid, pid, "server pid")
                if not fr.running:
                    raise AssertionError("server died")

            c("row change seen on the next request without restart (carol moves uptown)", live_change)

            def accounting():
                device = {"Calling-Station-Id": "AA-BB-CC-DD-EE-01", "Framed-IP-Address": "10.9.0.7"}
                expect_eq(fr.acct("carol", "Start", "s-1", "uptown", device), "Accounting-Response", "acct reply")
                expect_eq(fr.acct("carol", "Interim-Update", "s-1", "uptown",
                                  {**device, "Acct-Input-Octets": 1000}), "Accounting-Response", "acct reply")
                expect_eq(accounting_rows(fr.accounting_db),
                          [("s-1", "carol", "127.0.0.1", "AA-BB-CC-DD-EE-01", "10.9.0.7", 1, 1, 0, 1000)],
                          "open session after Start + Interim")
                expect_eq(fr.acct("carol", "Stop", "s-1", "uptown", {**device, "Acct-Input-Octets": 2000}),
                          "Accounting-Response", "acct reply")
                expect_eq(accounting_rows(fr.accounting_db),
                          [("s-1", "carol", "127.0.0.1", "AA-BB-CC-DD-EE-01", "10.9.0.7", 1, 1, 1, 2000)],
                          "closed session after Stop")

            c("accounting Start/Interim/Stop rows land in the accounting database", accounting)

            def accounting_outage():
                # Buffered accounting: while the accounting database cannot be written, the NAS
                # is still answered and the request waits in the buffer; it is stored when the
                # database is back, with the time it arrived, not the time it was stored.
                mark = fr.log_mark()
                lock = sqlite3.connect(fr.accounting_db, timeout=5, isolation_level=None)
                try:
                    lock.execute("BEGIN EXCLUSIVE")
                    arrived = time.time()
                    expect_eq(fr.acct("erin", "Start", "e-1", "downtown", stored=False), "Accounting-Response",
                              "answered while the database is locked")
                    deadline = time.monotonic() + 15
                    while "database is locked" not in fr.log_from(mark):
                        if time.monotonic() > deadline:
                            raise AssertionError("the store never failed:\n" + fr.log_tail())
                        time.sleep(0.02)
                    expect_true(fr.accounting_backlog() != [], "kept in the buffer")
                finally:
                    lock.close()
                waited = fr.wait_accounting_stored(timeout=20)
                stored = time.time()
                (start,) = fr.accounting_query("SELECT acctstarttime FROM radacct WHERE acctsessionid = 'e-1'")[0]
                expect_true(int(arrived) <= start <= int(arrived) + 1,
                            f"start {start} is when it arrived ({arrived:.0f}), stored at {stored:.0f}")
                expect_true(stored - arrived >= 5, f"stored {stored - arrived:.1f}s later (the retry)")
                print(f"     stored {stored - arrived:.1f}s after it arrived ({waited:.1f}s after the "
                      "database was free)", flush=True)

            c("accounting while its database is locked: answered, kept, stored later with its own time",
              accounting_outage)

            def simultaneous_use():
                # dave's plan allows two devices (freeradius.md §7: counted in the accounting file).
                con = sqlite3.connect(db)
                with con:
                    con.execute("INSERT INTO radgroupcheck(groupname,attribute,op,value) "
                                "VALUES ('plan:pro','Simultaneous-Use',':=','2')")
                con.close()
                try:
                    expect_reply(fr.pap("dave", "dave-pw", "downtown"), True)
                    fr.acct("dave", "Start", "d-1", "downtown")
                    expect_reply(fr.pap("dave", "dave-pw", "downtown"), True)
                    fr.acct("dave", "Start", "d-2", "downtown")
                    code, attrs = fr.pap("dave", "dave-pw", "downtown")
                    expect_eq(code, "Access-Reject", "third device")
                    expect_eq("already logged in" in str(attrs.get("Reply-Message", "")), True,
                              f"reject says why ({attrs})")
                    ok, _ = fr.peap("dave", "dave-pw", "downtown")
                    expect_eq(ok, False, "third device over PEAP")
                    fr.acct("dave", "Stop", "d-2", "downtown")
                    expect_reply(fr.pap("dave", "dave-pw", "downtown"), True)
                finally:
                    con = sqlite3.connect(db)
                    with con:
                        con.execute("DELETE FROM radgroupcheck WHERE attribute = 'Simultaneous-Use'")
                    con.close()

            c("Simultaneous-Use := 2 refuses a third session and accepts after a Stop", simultaneous_use)

            def no_writes():
                con = sqlite3.connect(db)
                try:
                    expect_eq(con.execute("SELECT count(*) FROM radpostauth").fetchone()[0], 0, "radpostauth rows")
                    expect_eq(con.execute("SELECT count(*) FROM radacct").fetchone()[0], 0, "radacct rows")
                finally:
                    con.close()

            c("FreeRADIUS wrote nothing to the database (post-auth/accounting sql off)", no_writes)
            checks.server = None

        def stopped():
            if fr.running:
                raise AssertionError("server still running after the context manager")
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            raise AssertionError(f"pid {pid} still exists")

        checks.check("server stopped after the with block", stopped)

        def port_collision():
            blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            blocker.bind(("127.0.0.1", 0))
            try:
                srv = CollidingServer(db, work / "fr2", source_dir=source, blocked_port=blocker.getsockname()[1])
                with srv:
                    if srv.picks < 2:
                        raise AssertionError("the blocked port did not cause a retry")
                    if srv.auth_port == blocker.getsockname()[1]:
                        raise AssertionError("server claims the blocked port")
                    expect_reply(srv.pap("dave", "dave-pw", "downtown"), True)
            finally:
                blocker.close()

        checks.check("start retries with new ports when a port is taken", port_collision)
    finally:
        h._stop_all()
        h.remove_workdir(work)
    print(f"selftest runtime {time.monotonic() - t0:.1f}s")
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
