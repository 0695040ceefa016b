#!/usr/bin/env python3
"""A real SMTP relay on loopback for radsync's tests: it keeps every message it accepts.

Run as a script it serves until SIGTERM/SIGINT:

    python3 smtp_sink.py --port 0 --dir DIR [--starttls CERT KEY | --smtps CERT KEY]
        [--auth USER:PASS] [--delay-data SECONDS] [--fail-first N [--fail-code 451]]
        [--reject-rcpt ADDR]... [--ready-file F]

Each accepted message becomes DIR/NNNNNN.eml (the raw bytes after dot-unstuffing) and one JSON
line in DIR/log.jsonl: seq, mail_from, rcpt_tos, message_id, received_at (time.time()),
connection (a counter per TCP connection, so a test can see a client reuse one), tls,
auth_user, size. Both are written before the 250 goes out, so a client killed right after the
250 still left a record; a client that vanishes before the 250 (during --delay-data, say)
leaves none, because aiosmtpd cancels the DATA handler when the connection drops.

--port 0 lets the kernel choose; the port actually bound is what --ready-file receives, so a
test that does not care which port never races another process for it.

Imported, it offers SmtpSink, which runs the script in a subprocess, and free_port(). Only the
serving side needs aiosmtpd (Debian's python3-aiosmtpd), so importing this module works under
any Python 3.11; the script re-executes itself under /usr/bin/python3 when the interpreter that
started it lacks aiosmtpd (a pyenv python3 first on PATH, for instance).
"""

from __future__ import annotations

import argparse
import asyncio
import email.parser
import email.policy
import errno
import json
import logging
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve()
DEBIAN_PYTHON = "/usr/bin/python3"
_REEXEC_MARK = "SMTP_SINK_REEXEC"

# Exit code of the script when its port is taken, so SmtpSink can tell that from a crash.
EXIT_ADDR_IN_USE = 98
# aiosmtpd's default; a bound so a runaway client cannot fill the disk.
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
LOG_NAME = "log.jsonl"
# Written (with the message's size) while --delay-data holds a received message's 250 back.
HOLDING_NAME = "holding"


# --- the server ------------------------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="SMTP sink for radsync tests")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True, help="0: let the kernel choose")
    p.add_argument("--dir", type=Path, required=True, help="where messages are stored")
    tls = p.add_mutually_exclusive_group()
    tls.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"),
                     help="offer and require STARTTLS")
    tls.add_argument("--smtps", nargs=2, metavar=("CERT", "KEY"), help="TLS from the first byte")
    p.add_argument("--auth", metavar="USER:PASS", help="require AUTH PLAIN/LOGIN")
    p.add_argument("--delay-data", type=float, default=0.0, metavar="SECONDS",
                   help="wait this long after the message's last byte before answering")
    p.add_argument("--fail-first", type=int, default=0, metavar="N",
                   help="refuse the first N messages at the end of DATA")
    p.add_argument("--fail-code", type=int, default=451, help="reply code for --fail-first")
    p.add_argument("--reject-rcpt", action="append", default=[], metavar="ADDR",
                   help="answer 550 to RCPT TO for this address (repeatable)")
    p.add_argument("--ready-file", type=Path, help="receives the bound port once listening")
    args = p.parse_args(argv)
    if not 0 <= args.port <= 65535:
        p.error("--port must be in 0..65535")
    if not 400 <= args.fail_code <= 599:
        p.error("--fail-code must be a 4xx or 5xx code")
    if args.fail_first < 0 or not 0 <= args.delay_data <= 3600:
        p.error("--fail-first must be >= 0 and --delay-data in 0..3600")
    if args.auth is not None and ":" not in args.auth:
        p.error("--auth takes USER:PASS")
    return args


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _existing_log(directory: Path) -> list[dict[str, Any]]:
    """What an earlier sink left in the same directory (a test restarting its relay)."""
    log = directory / LOG_NAME
    if not log.exists():
        return []
    entries = []
    for line in log.read_bytes().splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue  # a line cut short by a killed sink
    return entries


class SinkHandler:
    """aiosmtpd hooks: refuse what the options say, store the rest before answering 250."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.dir: Path = args.dir
        self.delay = args.delay_data
        self.fail_left = args.fail_first
        self.fail_code = args.fail_code
        self.reject = {a.lower() for a in args.reject_rcpt}
        earlier = _existing_log(self.dir)
        # Numbering continues after an earlier sink's, so a restarted relay neither overwrites
        # its messages nor hands out a connection number a test has already seen.
        self.seq = max((int(e.get("seq", 0)) for e in earlier), default=0)
        self.connections = max((int(e.get("connection", 0)) for e in earlier), default=0)
        self._log_fd = os.open(self.dir / LOG_NAME, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def next_connection(self) -> int:
        self.connections += 1
        return self.connections

    async def handle_RCPT(self, server, session, envelope, address: str, rcpt_options):
        if address.lower() in self.reject:
            return f"550 5.1.1 <{address}>: recipient rejected"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.delay:
            # Tells a test the whole message is here and the 250 is being held back.
            (self.dir / HOLDING_NAME).write_text(str(len(envelope.original_content or b"")))
            await asyncio.sleep(self.delay)  # cancelled if the client goes away meanwhile
        if self.fail_left > 0:
            self.fail_left -= 1
            text = "try again later" if self.fail_code < 500 else "message refused"
            return f"{self.fail_code} {text}"
        raw: bytes = envelope.original_content or b""
        headers = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(raw)
        message_id = headers.get("Message-ID")
        self.seq += 1
        auth = getattr(session, "auth_data", None)
        entry = {
            "seq": self.seq,
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "message_id": str(message_id).strip() if message_id is not None else None,
            "received_at": time.time(),
            "connection": getattr(server, "sink_connection", 0),
            "tls": session.ssl is not None or getattr(server, "sink_implicit_tls", False),
            "auth_user": auth.login.decode(errors="replace") if auth is not None else None,
            "size": len(raw),
        }
        # The .eml first, then its log line: a reader that sees the line finds the file.
        _write_atomically(self.dir / f"{self.seq:06d}.eml", raw)
        os.write(self._log_fd, (json.dumps(entry) + "\n").encode())
        return "250 OK: queued as %06d" % self.seq


def _server_tls(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    return ctx


def _make_authenticator(credentials: str):
    from aiosmtpd.smtp import AuthResult, LoginPassword

    user, _, password = credentials.partition(":")
    want = (user.encode(), password.encode())

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == want
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    return authenticate


async def _serve(args: argparse.Namespace) -> int:
    from aiosmtpd.smtp import SMTP

    loop = asyncio.get_running_loop()
    args.dir.mkdir(parents=True, exist_ok=True)
    handler = SinkHandler(args)
    starttls = _server_tls(*args.starttls) if args.starttls else None
    implicit = _server_tls(*args.smtps) if args.smtps else None
    protocols: set[SMTP] = set()

    def factory() -> SMTP:
        smtp = SMTP(
            handler,
            data_size_limit=MAX_MESSAGE_BYTES,
            hostname="smtp-sink.test",  # the default, socket.getfqdn(), may wait on DNS
            tls_context=starttls,
            require_starttls=starttls is not None,
            auth_required=args.auth is not None,
            # AUTH only inside TLS when STARTTLS is on offer; over --smtps the channel is TLS
            # already (aiosmtpd does not count that), and cleartext AUTH is for loopback tests.
            auth_require_tls=starttls is not None,
            authenticator=_make_authenticator(args.auth) if args.auth else None,
            timeout=60,
            loop=loop,
        )
        smtp.sink_connection = handler.next_connection()
        smtp.sink_implicit_tls = implicit is not None
        protocols.add(smtp)
        return smtp

    try:
        server = await loop.create_server(factory, args.host, args.port, ssl=implicit)
    except OSError as e:
        print(f"smtp_sink: cannot listen on {args.host}:{args.port}: {e}", file=sys.stderr)
        return EXIT_ADDR_IN_USE if e.errno == errno.EADDRINUSE else 1

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    port = server.sockets[0].getsockname()[1]
    if args.ready_file:
        _write_atomically(args.ready_file, f"{port}\n".encode())
    print(f"smtp_sink: listening on {args.host}:{port}", file=sys.stderr, flush=True)

    await stop.wait()
    server.close()
    # Python 3.11's wait_closed() does not wait for open connections: drop them here.
    for smtp in protocols:
        if smtp.transport is not None:
            smtp.transport.close()
    await server.wait_closed()
    os.close(handler._log_fd)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        import aiosmtpd  # noqa: F401
    except ImportError:
        if os.environ.get(_REEXEC_MARK) or not os.access(DEBIAN_PYTHON, os.X_OK):
            print("smtp_sink: aiosmtpd is missing (apt-get install python3-aiosmtpd)",
                  file=sys.stderr)
            return 2
        os.environ[_REEXEC_MARK] = "1"
        os.execv(DEBIAN_PYTHON, [DEBIAN_PYTHON, str(SCRIPT), *sys.argv[1:]])
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="smtp_sink %(levelname)s %(name)s: %(message)s")
    # Cleartext AUTH is deliberate here (loopback tests); aiosmtpd would warn per connection.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    return asyncio.run(_serve(args))


# --- the test-side helper --------------------------------------------------------------------


def free_port() -> int:
    """A loopback port free right now. Prefer SmtpSink(port=None), which cannot race."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpSink:
    """The sink as a subprocess of a test.

    Options mirror the script's flags: starttls=(cert, key), smtps=(cert, key),
    auth="user:pass", delay_data=seconds, fail_first=N, fail_code=451,
    reject_rcpt="addr" or a list of them. port=None (the default) lets the kernel pick the
    port; a given port is used as is (a test restarting "the same relay").
    """

    def __init__(self, work_dir: Path, *, port: int | None = None,
                 start_timeout: float = 15.0, **options: Any) -> None:
        self.dir = Path(work_dir)
        self.start_timeout = start_timeout
        self._want_port = port
        self._port: int | None = None
        self._proc: subprocess.Popen | None = None
        self._args: list[str] = []
        for name, value in options.items():
            flag = "--" + name.replace("_", "-")
            if name in ("starttls", "smtps"):
                self._args += [flag, str(value[0]), str(value[1])]
            elif name == "reject_rcpt":
                for addr in [value] if isinstance(value, str) else value:
                    self._args += [flag, addr]
            elif name in ("auth", "delay_data", "fail_first", "fail_code"):
                if value is not None:
                    self._args += [flag, str(value)]
            else:
                raise TypeError(f"SmtpSink: unknown option {name!r}")

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("SmtpSink is not running")
        return self._port

    @property
    def log_file(self) -> Path:
        """The sink's own stderr, for a failing test's message."""
        return self.dir / "sink.log"

    def start(self) -> "SmtpSink":
        if self._proc is not None:
            raise RuntimeError("SmtpSink already started")
        self.dir.mkdir(parents=True, exist_ok=True)
        ready = self.dir / "ready"
        # A kernel-chosen port cannot be taken between choosing and binding, so one attempt is
        # enough; the retry covers a fixed port still held by a sink that is shutting down.
        for _attempt in range(3):
            ready.unlink(missing_ok=True)
            (self.dir / HOLDING_NAME).unlink(missing_ok=True)
            port = 0 if self._want_port is None else self._want_port
            with open(self.log_file, "ab") as log:
                self._proc = subprocess.Popen(
                    [sys.executable, str(SCRIPT), "--port", str(port), "--dir", str(self.dir),
                     "--ready-file", str(ready), *self._args],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True)
            deadline = time.monotonic() + self.start_timeout
            while time.monotonic() < deadline:
                text = ready.read_text() if ready.exists() else ""
                if text.strip().isdigit():
                    self._port = int(text)
                    return self
                code = self._proc.poll()
                if code is not None:
                    break
                time.sleep(0.02)
            else:
                self.stop()
                raise RuntimeError(f"smtp_sink not ready within {self.start_timeout} s:\n"
                                   + self._log_text())
            self._proc = None
            if code != EXIT_ADDR_IN_USE:
                raise RuntimeError(f"smtp_sink exited with {code}:\n" + self._log_text())
            time.sleep(0.2)
        raise RuntimeError("smtp_sink: port stayed in use:\n" + self._log_text())

    def stop(self) -> None:
        proc, self._proc, self._port = self._proc, None, None
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def __enter__(self) -> "SmtpSink":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def messages(self) -> list[dict[str, Any]]:
        """Accepted messages in order: the log.jsonl fields plus "path", "raw" and "message"
        (an email.message.EmailMessage parsed with email.policy.default)."""
        out = []
        parser = email.parser.BytesParser(policy=email.policy.default)
        for entry in _existing_log(self.dir):
            path = self.dir / f"{int(entry['seq']):06d}.eml"
            raw = path.read_bytes()
            out.append({**entry, "path": path, "raw": raw, "message": parser.parsebytes(raw)})
        return out

    def holding(self) -> bool:
        """Whether the relay has received a whole message and is holding its 250 back."""
        return (self.dir / HOLDING_NAME).exists()

    def wait_count(self, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Waits until at least n messages were accepted; returns them all."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.messages()
            if len(got) >= n:
                return got
            if time.monotonic() >= deadline:
                raise TimeoutError(f"smtp_sink: {len(got)} message(s) after {timeout} s, "
                                   f"wanted {n}")
            time.sleep(0.02)

    def _log_text(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


if __name__ == "__main__":
    sys.exit(main())
