#!/usr/bin/env python3
"""End to end: generated passwords, handed over once by ``accounts reset-password``, against a
real FreeRADIUS 3.2.

    python3 tests/e2e/test_reset_password.py --radsync build/dev/src/radsync --source-dir .

1. radsync with ``accounts.password.source: generate``; a snapshot with two members (Hot Desk
   and Dedicated Desk) applied with no daemon running; a private FreeRADIUS on the database;
2. ``radsync serve``; ``accounts reset-password`` goes through the daemon's control socket and
   prints a password once: PAP and PEAP accept it; a second reset makes the first one fail;
3. the daemon stopped, ``reset-password`` runs in the command itself (under the instance
   lock) and FreeRADIUS accepts that password too;
4. no password printed is in any file radsync wrote (both databases and their -wal files,
   while the daemon runs and after, its log); ``accounts show`` says the password is kept only
   as its hash.

Prints one line per check, then "N passed, M failed"; exit status 1 on any failure.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import freeradius_harness as h  # noqa: E402
from freeradius_harness import expect_eq, expect_reply, expect_true  # noqa: E402
import radsync_testlib as tl  # noqa: E402  (on sys.path through freeradius_harness)
from radsync_testlib import (BASIC, DOMAIN, LOC_DOWNTOWN, PLAN_DEDICATED, PLAN_HOT, VLAN100,  # noqa: E402
                             Daemon, Radsync, member, membership, new_id)

SECRET = "whsec-e2e-reset-4b227777d4dd1fc61c6f884f48641d02"
ADA, ADA_MID = f"gen.ada@{DOMAIN}", new_id()
BEN, BEN_MID = f"gen.ben@{DOMAIN}", new_id()


def fixture() -> dict:
    return {**tl.locations_and_plans(), "companies": [], "passes": [], "bookings": [],
            "members": [member(ADA_MID, "Ada Gen", ADA, LOC_DOWNTOWN, "unused"),
                        member(BEN_MID, "Ben Gen", BEN, LOC_DOWNTOWN, "unused")],
            "memberships": [membership(new_id(), PLAN_HOT, "Hot Desk", LOC_DOWNTOWN, member_id=ADA_MID),
                            membership(new_id(), PLAN_DEDICATED, "Dedicated Desk", LOC_DOWNTOWN,
                                       member_id=BEN_MID)]}


def reset(rs: Radsync, user: str, through_daemon: bool) -> str:
    proc = rs.run("accounts", "reset-password", user)
    expect_eq("(done by the radsync daemon" in proc.stderr, through_daemon,
              f"went through the daemon:\n{proc.stderr}")
    return tl.printed_password(proc, user)


def main() -> int:
    ap = argparse.ArgumentParser(description="reset-password + FreeRADIUS end-to-end test")
    ap.add_argument("--radsync", required=True)
    ap.add_argument("--source-dir", default=str(h.SOURCE_DIR))
    args = ap.parse_args()
    h.install_signal_handlers()
    binary = Path(args.radsync).resolve()
    source = Path(args.source_dir).resolve()
    work = h.temp_workdir("radsync-reset-")
    checks = h.Checks()
    c = checks.check
    rs = tl.GeneratedRadsync(binary, work, log_level="debug")
    secret_file = work / "webhook-secret"
    secret_file.write_text(SECRET + "\n")
    secret_file.chmod(0o600)
    d = Daemon(rs, [secret_file], tls=False, name="radsync")
    printed: list[str] = []
    captured: list[tuple[str, bytes]] = []
    try:
        def setup():
            d.write_config()
            rs.run("check-config")
            rs.write_fixture(fixture())
            rs.reconcile()
            expect_eq(rs.scalar("SELECT count(*) FROM radsync_accounts WHERE state='active'"), 2, "accounts")

        if not c("generated passwords: two members applied with no daemon", setup):
            return checks.summary()

        fr = h.FreeRadius(rs.db, work / "freeradius", source_dir=source)
        with fr:
            checks.server = fr

            def through_daemon():
                d.start()
                first = reset(rs, ADA, through_daemon=True)
                printed.append(first)
                expect_reply(fr.pap(ADA, first, "downtown"), True, {**BASIC, **VLAN100})
                expect_reply(fr.peap(ADA, first, "downtown"), True, BASIC)
                second = reset(rs, ADA, through_daemon=True)
                printed.append(second)
                expect_true(second != first, "a new password")
                expect_reply(fr.pap(ADA, second, "downtown"), True, BASIC)
                expect_reply(fr.pap(ADA, first, "downtown"), False)
                expect_reply(fr.peap(ADA, first, "downtown"), False)
                ben = reset(rs, BEN, through_daemon=True)
                printed.append(ben)
                expect_reply(fr.pap(BEN, ben, "downtown"), True)
                for f in sorted(work.iterdir()):
                    if f.is_file() and f.name.startswith(("radsync.db", "state.db")):
                        captured.append((f"{f.name} (daemon running)", f.read_bytes()))
                proc = rs.run("accounts", "reset-password", "nobody@nowhere.test", check=False)
                expect_eq(proc.returncode, 1, "unknown member")
                expect_true("nobody@nowhere.test" in proc.stderr, proc.stderr)

            c("reset-password through the daemon: printed once, PAP and PEAP accept it; a second "
              "reset makes the first fail", through_daemon)

            def without_daemon():
                expect_eq(d.stop(), 0, "daemon exit status")
                third = reset(rs, ADA, through_daemon=False)
                printed.append(third)
                expect_reply(fr.pap(ADA, third, "downtown"), True, BASIC)
                expect_reply(fr.pap(ADA, printed[1], "downtown"), False)
                show = rs.run("accounts", "show", ADA).stdout
                expect_true("kept only as its hash" in show, show)

            c("with no daemon, reset-password runs in the command (under the lock); FreeRADIUS "
              "accepts the new password", without_daemon)

        def nothing_on_disk():
            files = list(captured)
            for f in sorted(work.iterdir()):
                if f.is_file() and (f.name.startswith(("radsync.db", "state.db")) or f.suffix == ".log"):
                    files.append((f.name, f.read_bytes()))
            expect_true(len(printed) == 4, f"passwords printed: {len(printed)}")
            found = [f"{name}: password #{k}" for name, data in files
                     for k, pw in enumerate(printed) if pw.encode() in data]
            expect_eq(found, [], "printed passwords found at rest")
            print("     scanned " + ", ".join(f"{n} {len(b)} B" for n, b in files), flush=True)

        c("no printed password in any file radsync wrote (databases and -wal while running and "
          "after, its log)", nothing_on_disk)
    finally:
        tl.stop_all_daemons()
        h.remove_workdir(work)
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
