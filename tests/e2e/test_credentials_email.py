#!/usr/bin/env python3
"""End to end: credentials by e-mail, through the outbox, a real SMTP relay (Debian's
python3-aiosmtpd on loopback, STARTTLS verified) and a real FreeRADIUS 3.2.

    python3 tests/e2e/test_credentials_email.py --radsync build/dev/src/radsync --source-dir .

1. ``radsync serve`` with generated passwords and a ``notify`` section; two members applied:
   each gets exactly one welcome e-mail, to their own address, whose credentials log in with
   PAP and PEAP; a signed WiFi profile is attached and verifies with ``openssl cms``; applying
   the same data again sends nothing; no sent message keeps its password;
2. ``accounts reset-password`` e-mails the new password (the old one stops working);
   ``--print`` shows one at the desk instead; ``accounts show`` lists who got what;
3. a meeting-room guest: no code before the booking starts; at the start the visitor and the
   booking member each get the code, which works at the booking's location until the end and
   not after;
4. a day-pass holder gets the pass e-mail, valid until the pass ends in the location's zone;
   a member removed while the relay is down gets no credentials: the message is cancelled;
   no mailed password is in any file radsync wrote;
5. ``accounts profile`` writes the same profile for an account; ``outbox list`` shows the
   messages; ``check-config`` points at a bad placeholder by line and column.

Prints one line per check, then "N passed, M failed"; exit status 1 on any failure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
from zoneinfo import ZoneInfo
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import freeradius_harness as h  # noqa: E402
from freeradius_harness import expect_eq, expect_reply, expect_true  # noqa: E402
import radsync_testlib as tl  # noqa: E402  (on sys.path through freeradius_harness)
from radsync_testlib import (BASIC, DOMAIN, LOC_DOWNTOWN, LOC_UPTOWN, PLAN_HOT, CREATED,  # noqa: E402
                             Daemon, member, membership, new_id, wait_until)
from smtp_sink import SmtpSink  # noqa: E402  (tests/support, on sys.path through the testlib)

SECRET = "whsec-e2e-mail-6f1ed002ab5595859014ebf0951522d9"
ADA, ADA_MID = f"mail.ada@{DOMAIN}", new_id()
BEN, BEN_MID = f"mail.ben@{DOMAIN}", new_id()
CAL, CAL_MID = f"mail.cal@{DOMAIN}", new_id()
PIA, PIA_MID = f"mail.pia@{DOMAIN}", new_id()
VERA = "vera@visitor.test"
ROOM, ROOM_TYPE, BOOKING, VISITOR = new_id(), new_id(), new_id(), new_id()
GUEST_START, GUEST_END = 8, 16  # seconds after the guest step begins
WAIT = 30.0

EXTRA_MAPPING = """\
groups:
  - name: day-pass
    rank: 5
    bandwidth: {down: 5M}
    session_timeout: 4h
  - name: guest
    rank: 1
    bandwidth: {down: 2M}
    session_timeout: 2h
passes:
  group: day-pass
guests:
  group: guest
  grace_before: 0s
  grace_after: 0s
"""


def fixture(members: list[str], booking: dict | None = None, pass_until: str | None = None) -> dict:
    people = {ADA_MID: ("Ada Mail", ADA), BEN_MID: ("Ben Mail", BEN), CAL_MID: ("Cal Mail", CAL)}
    fx = {**tl.locations_and_plans(), "companies": [], "passes": [], "bookings": [],
          "members": [member(mid, people[mid][0], people[mid][1], LOC_DOWNTOWN, "unused")
                      for mid in members],
          "memberships": [membership("ms" + mid[2:], PLAN_HOT, "Hot Desk", LOC_DOWNTOWN, member_id=mid)
                          for mid in members],
          "resources": [{"_id": ROOM, "name": "Board room", "type": ROOM_TYPE, "location": LOC_UPTOWN,
                         "createdAt": CREATED, "modifiedAt": CREATED}],
          "resource-types": [{"_id": ROOM_TYPE, "title": "Meeting room", "type": "meeting_room",
                              "createdAt": CREATED, "modifiedAt": CREATED}],
          "visitors": [{"_id": VISITOR, "name": "Vera Visitor", "email": VERA, "member": BEN_MID,
                        "createdAt": CREATED, "modifiedAt": CREATED}]}
    if booking:
        fx["bookings"] = [booking]
    if pass_until:
        fx["members"].append(member(PIA_MID, "Pia Pass", PIA, LOC_DOWNTOWN, "unused", status="contact"))
        fx["passes"] = [{"_id": new_id(), "member": PIA_MID, "isPersonal": True, "status": "valid",
                         "count": 1, "usedCount": 0, "validFrom": tl.now_instant(-3600),
                         "validTo": pass_until, "resourceType": "hotdesk", "createdAt": CREATED,
                         "modifiedAt": CREATED}]
    return fx


def to(message: dict) -> str:
    return message["rcpt_tos"][0]


def outbox(rs, status: str | None = None) -> int:
    if status:
        return rs.scalar("SELECT count(*) FROM radsync_outbox WHERE status = ?", status)
    return rs.scalar("SELECT count(*) FROM radsync_outbox")


def settled(rs) -> bool:
    return outbox(rs, "pending") + outbox(rs, "sending") == 0


def main() -> int:
    ap = argparse.ArgumentParser(description="credentials by e-mail end-to-end test")
    ap.add_argument("--radsync", required=True)
    ap.add_argument("--source-dir", default=str(h.SOURCE_DIR))
    args = ap.parse_args()
    h.install_signal_handlers()
    binary = Path(args.radsync).resolve()
    source = Path(args.source_dir).resolve()
    work = h.temp_workdir("radsync-mail-")
    checks = h.Checks()
    c = checks.check
    cert = source / "tests" / "fixtures" / "tls" / "test-cert.pem"
    key = work / "signing-key.pem"
    shutil.copy(source / "tests" / "fixtures" / "tls" / "test-key.pem", key)
    key.chmod(0o600)
    check_profile = source / "tests" / "support" / "check_profile.py"
    sink = SmtpSink(work / "smtp", starttls=(cert, source / "tests" / "fixtures" / "tls" / "test-key.pem"))
    rs = tl.GeneratedRadsync(binary, work, log_level="debug")
    rs.extra_mapping = EXTRA_MAPPING
    secret_file = work / "webhook-secret"
    secret_file.write_text(SECRET + "\n")
    secret_file.chmod(0o600)
    profile_yaml = (f"  profile:\n    identifier: test.cowork.wifi\n"
                    f"    trusted_server_names: [radius.{DOMAIN}]\n    ca_file: {cert}\n"
                    f"    signing: {{certificate_file: {cert}, key_file: {key}}}\n")
    d = Daemon(rs, [secret_file], tls=False, name="radsync")
    passwords: dict[str, str] = {}
    try:
        def setup():
            sink.start()
            d.extra_config = tl.notify_yaml(sink.port, cert, extra=profile_yaml +
                                            "  guest_codes_to: both\n")
            d.start()
            rs.run("check-config")
            rs.write_fixture(fixture([ADA_MID, BEN_MID]))
            rs.reconcile()

        if not c("radsync serve with e-mail through a STARTTLS relay; two members applied", setup):
            return checks.summary()

        fr = h.FreeRadius(rs.db, work / "freeradius", source_dir=source)
        with fr:
            checks.server = fr
            checks.sources = [d]

            def welcome():
                got = sink.wait_count(2, WAIT)
                wait_until(lambda: settled(rs), WAIT, "the outbox to settle")
                expect_eq(sorted(to(m) for m in got), sorted([ADA, BEN]), "recipients")
                for m in got:
                    msg = m["message"]
                    expect_eq(m["tls"], True, "sent over TLS")
                    expect_eq(msg["To"], to(m), "To header")
                    expect_true("wifi@" in msg["From"], msg["From"])
                    expect_true(msg["Message-ID"].startswith("<radsync."), msg["Message-ID"])
                    user, password = tl.mailed_credentials(msg)
                    expect_eq(user, to(m), "the username is the recipient's own")
                    passwords[user] = password
                    expect_reply(fr.pap(user, password, "downtown"), True, BASIC)
                    expect_reply(fr.peap(user, password, "downtown"), True, BASIC)
                    profile = [p for p in msg.iter_attachments() if p.get_filename() == "wifi.mobileconfig"]
                    expect_eq(len(profile), 1, "one WiFi profile attached")
                    path = work / f"{user}.mobileconfig"
                    path.write_bytes(profile[0].get_content())
                    subprocess.run([sys.executable, str(check_profile), str(path), "--ca", str(cert),
                                    "--expect-user", user, "--expect-ssid", "Cowork",
                                    "--expect-no-password"], check=True, capture_output=True)
                expect_true(passwords[ADA] != passwords[BEN], "each member has their own password")
                expect_eq(len({m["message"]["Message-ID"] for m in got}), 2, "distinct Message-IDs")
                expect_eq(rs.scalar("SELECT count(*) FROM radsync_outbox WHERE payload IS NOT NULL"), 0,
                          "no sent message keeps its payload")
                rs.reconcile()
                wait_until(lambda: settled(rs), WAIT, "the outbox to settle")
                expect_eq(len(sink.messages()), 2, "the same data again sends nothing")
                expect_eq(outbox(rs), 2, "two messages in the outbox")

            c("each new member gets exactly one welcome e-mail with their own credentials: PAP and "
              "PEAP accept them; a signed WiFi profile is attached and verifies", welcome)

            def reset():
                proc = rs.run("accounts", "reset-password", ADA)
                expect_true(f"new password e-mailed to {ADA}" in proc.stdout, proc.stdout)
                expect_true("password:" not in proc.stdout, "no password printed")
                got = sink.wait_count(3, WAIT)
                reset_mail = got[2]["message"]
                expect_eq(to(got[2]), ADA, "reset recipient")
                expect_true("changed" in tl.mail_text(reset_mail), tl.mail_text(reset_mail))
                _, new = tl.mailed_credentials(reset_mail)
                passwords["reset"] = new
                expect_reply(fr.pap(ADA, new, "downtown"), True, BASIC)
                expect_reply(fr.pap(ADA, passwords[ADA], "downtown"), False)
                printed = tl.printed_password(rs.run("accounts", "reset-password", "--print", ADA), ADA)
                expect_reply(fr.pap(ADA, printed, "downtown"), True, BASIC)
                expect_reply(fr.pap(ADA, new, "downtown"), False)
                wait_until(lambda: settled(rs), WAIT, "the outbox to settle")
                expect_eq(len(sink.messages()), 3, "--print sends nothing")
                show = rs.run("accounts", "show", ADA).stdout
                expect_true("e-mails:" in show and f"reset to {ADA} (member) sent" in show and
                            f"welcome to {ADA} (member) sent" in show, show)

            c("reset-password e-mails the new password (the old one stops working); --print shows "
              "one at the desk and mails nothing; accounts show lists the e-mails", reset)

            def guest():
                t0 = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
                s = lambda sec: tl.instant(t0 + dt.timedelta(seconds=sec))  # noqa: E731
                booking = {"_id": BOOKING, "member": BEN_MID, "location": LOC_UPTOWN, "resource": ROOM,
                           "timezone": "Europe/Berlin", "start": s(GUEST_START), "end": s(GUEST_END),
                           "isCancelled": False, "isTentative": False, "visitors": [VISITOR],
                           "createdAt": CREATED, "modifiedAt": CREATED}
                rs.write_fixture(fixture([ADA_MID, BEN_MID], booking))
                rs.reconcile()
                before = len(sink.messages())
                expect_eq(rs.scalar("SELECT count(*) FROM radsync_outbox WHERE kind = 'guest'"), 0,
                          "no guest code before the booking starts")
                got = sink.wait_count(before + 2, GUEST_START + WAIT)
                arrived = dt.datetime.now(dt.timezone.utc)
                expect_true(arrived >= t0 + dt.timedelta(seconds=GUEST_START),
                            "the code comes when the booking starts")
                guest_mails = got[before:]
                expect_eq(sorted(to(m) for m in guest_mails), sorted([VERA, BEN]), "visitor and booker")
                user, code = tl.mailed_credentials(guest_mails[0]["message"])
                passwords["guest"] = code
                expect_eq(tl.mailed_credentials(guest_mails[1]["message"]), (user, code), "the same code")
                expect_true("Ben Mail" in tl.mail_text(guest_mails[0]["message"]), "names the host")
                expect_reply(fr.pap(user, code, "uptown"), True)
                expect_reply(fr.pap(user, code, "downtown"), False)
                wait_until(lambda: dt.datetime.now(dt.timezone.utc) >= t0 + dt.timedelta(seconds=GUEST_END + 1),
                           WAIT, "the booking to end")
                expect_reply(fr.pap(user, code, "uptown"), False)

            c("a guest's code is mailed to the visitor and the booking member when the booking starts, "
              "works at its location inside the window and not after", guest)

            def day_pass():
                until = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(hours=3)
                before = len(sink.messages())
                rs.write_fixture(fixture([ADA_MID, BEN_MID], pass_until=tl.instant(until)))
                rs.reconcile()
                got = sink.wait_count(before + 1, WAIT)[before:]
                expect_eq([to(m) for m in got], [PIA], "the pass holder")
                text = tl.mail_text(got[0]["message"])
                local = until.astimezone(ZoneInfo("Europe/Berlin")).strftime("%Y-%m-%d %H:%M")
                expect_true(f"until {local} (Europe/Berlin)" in text, text)
                user, password = tl.mailed_credentials(got[0]["message"])
                expect_reply(fr.pap(user, password, "downtown"), True)
                wait_until(lambda: settled(rs), WAIT, "the outbox to settle")
                expect_eq(rs.scalar("SELECT kind FROM radsync_outbox WHERE recipient = ?", PIA), "pass", "kind")

            c("a day-pass holder gets the pass e-mail, valid until the pass ends in the location's "
              "time zone; the credentials log in", day_pass)

            def cancelled():
                sink.stop()  # the relay is down: the welcome e-mail stays pending
                rs.write_fixture(fixture([ADA_MID, BEN_MID, CAL_MID]))
                rs.reconcile()
                wait_until(lambda: rs.scalar("SELECT count(*) FROM radsync_outbox WHERE recipient = ? "
                                             "AND attempts >= 1 AND status = 'pending'", CAL) == 1,
                           WAIT, "a failed attempt to mail Cal")
                rs.write_fixture(fixture([ADA_MID, BEN_MID]))  # Cal leaves before it was sent
                rs.reconcile()
                expect_eq(rs.scalar("SELECT status FROM radsync_outbox WHERE recipient = ?", CAL),
                          "cancelled", "Cal's message")
                expect_eq(rs.scalar("SELECT payload IS NULL FROM radsync_outbox WHERE recipient = ?", CAL),
                          1, "its payload is wiped")
                sink.start()
                wait_until(lambda: settled(rs), WAIT, "the outbox to settle")
                expect_eq([to(m) for m in sink.messages() if to(m) == CAL], [], "nothing for Cal")
                listing = rs.run("outbox", "list").stdout
                expect_true(f"welcome to {CAL} (member) cancelled" in listing, listing)

            c("a member who leaves before their e-mail went out gets no credentials: it is cancelled "
              "and wiped", cancelled)

        def nothing_at_rest():
            expect_true(len(passwords) == 4, f"passwords mailed: {sorted(passwords)}")
            files = [f for f in sorted(work.iterdir()) if f.is_file() and
                     (f.name.startswith(("radsync.db", "state.db")) or f.suffix == ".log")]
            found = [f"{f.name}: {who}" for f in files for who, pw in passwords.items()
                     if pw.encode() in f.read_bytes()]
            expect_eq(found, [], "mailed passwords found at rest")
            print("     scanned " + ", ".join(f"{f.name} {f.stat().st_size} B" for f in files), flush=True)

        c("no mailed password in any file radsync wrote (both databases, their -wal files, its log)",
          nothing_at_rest)

        def profile_command():
            out = work / "ben.mobileconfig"
            proc = rs.run("accounts", "profile", BEN, "-o", str(out))
            expect_true("signed" in proc.stderr, proc.stderr)
            subprocess.run([sys.executable, str(check_profile), str(out), "--ca", str(cert),
                            "--expect-user", BEN, "--expect-ssid", "Cowork", "--expect-no-password"],
                           check=True, capture_output=True)
            main_text = rs.main.read_text()
            rs.main.write_text(main_text + "  templates:\n    welcome:\n      subject: Hi {nmae}\n")
            bad = rs.run("check-config", check=False)
            line = len(main_text.splitlines()) + 3
            expect_true(bad.returncode != 0 and f"radsync.yaml:{line}:19: notify.templates.welcome.subject: "
                        "unknown placeholder {nmae}" in bad.stderr, bad.stderr)
            rs.main.write_text(main_text)

        c("accounts profile writes a signed profile for an account; check-config points at a bad "
          "placeholder by line and column", profile_command)
    finally:
        tl.stop_all_daemons()
        sink.stop()
        h.remove_workdir(work)
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
