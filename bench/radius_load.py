#!/usr/bin/env python3
"""RADIUS load whose own CPU stays out of the way of the server it measures (bench/accounting_bench.py).

    python3 bench/radius_load.py acct PORT SECRET --users N --count N --rate R [--epoch T --on-off W]
    python3 bench/radius_load.py pap PORT SECRET --users N (--count N | --seconds S)
        [--in-flight 32] [--epoch T --bucket B]
    python3 bench/radius_load.py sink

``acct`` sends up to ``--count`` Accounting-Requests (RFC 2866) at ``--rate`` per second, open loop:
Start, Interim-Update, Interim-Update, Stop over ``--users`` sessions, each request once. SIGTERM
stops the sending early. With ``--on-off W`` it sends only in every other window of ``W`` seconds
counted from ``--epoch`` (a time.monotonic() reading, which every process on the machine shares):
silent in windows 0, 2, 4 ..., at ``--rate`` in windows 1, 3, 5 ... (bench/accounting_interleave.py).
``pap`` sends ``--count`` PAP Access-Requests (RFC 2865) for the members accounting_bench.py writes,
or as many as ``--seconds`` allow, closed loop with ``--in-flight`` outstanding, and times each one;
with ``--bucket B`` it also counts the answers by when they arrived, in buckets of ``B`` seconds from
``--epoch``.
``sink`` answers every request on a loopback port it prints, and does nothing else: accounting sent
to it costs the machine what the generator and a minimal responder cost, without FreeRADIUS.

Both wait up to ``--timeout`` for what is outstanding, never resend, and print one JSON line: sent,
answered, lost (sent without a response), seconds (of sending); ``pap`` adds accepted, rejected,
rate and latency percentiles in milliseconds.

Why not radclient: measured on the 2-core CI machine, radclient spends about 1.6 ms of CPU per
accounting request (twice what FreeRADIUS spends answering it) and 0.5 ms per PAP request (as much
as FreeRADIUS), so the benchmark measured radclient's appetite as much as FreeRADIUS. Every packet
costs about 0.1 ms to encode, send and match (PAP requests are encoded before the clock starts).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time

ACCESS_REQUEST, ACCESS_ACCEPT, ACCESS_REJECT, ACCOUNTING_REQUEST, ACCOUNTING_RESPONSE = 1, 2, 3, 4, 5
SOCKETS = 4  # 4 × 256 identifiers: an identifier comes round again only after 1,024 requests
# RFC 2865/2866/2869 attribute numbers
USER_NAME, USER_PASSWORD, NAS_IP_ADDRESS, CALLING_STATION_ID, NAS_IDENTIFIER = 1, 2, 4, 31, 32
ACCT_STATUS_TYPE, ACCT_INPUT_OCTETS, ACCT_SESSION_ID, MESSAGE_AUTHENTICATOR = 40, 42, 44, 80
START, STOP, INTERIM_UPDATE = 1, 2, 3


def user(i: int) -> tuple[str, str]:
    """The members (name, password) accounting_bench.py writes."""
    return f"member{i:05d}@cowork.test", f"pw-{i:05d}-bench"


def attribute(number: int, value: bytes) -> bytes:
    return struct.pack("!BB", number, len(value) + 2) + value


def accounting_request(identifier: int, attributes: bytes, secret: bytes) -> bytes:
    """RFC 2866 §3: the Request Authenticator is MD5(Code+Identifier+Length+16 zero octets+
    attributes+secret)."""
    head = struct.pack("!BBH", ACCOUNTING_REQUEST, identifier, 20 + len(attributes))
    return head + hashlib.md5(head + bytes(16) + attributes + secret).digest() + attributes


def hidden_password(password: bytes, secret: bytes, authenticator: bytes) -> bytes:
    """RFC 2865 §5.2: 16-octet blocks, each XORed with MD5(secret + previous block)."""
    padded = password + bytes((-len(password) % 16) if password else 16)
    out, previous = b"", authenticator
    for i in range(0, len(padded), 16):
        key = hashlib.md5(secret + previous).digest()
        previous = bytes(a ^ b for a, b in zip(padded[i:i + 16], key))
        out += previous
    return out


def access_request(identifier: int, name: str, password: str, secret: bytes) -> bytes:
    """With a Message-Authenticator (RFC 3579 §3.2), which a FreeRADIUS patched for BlastRADIUS may
    insist on."""
    authenticator = os.urandom(16)
    attributes = b"".join((
        attribute(USER_NAME, name.encode()),
        attribute(USER_PASSWORD, hidden_password(password.encode(), secret, authenticator)),
        attribute(NAS_IP_ADDRESS, socket.inet_aton("127.0.0.1")),
        attribute(NAS_IDENTIFIER, b"downtown"),
    ))
    unsigned = attribute(MESSAGE_AUTHENTICATOR, bytes(16))
    head = struct.pack("!BBH", ACCESS_REQUEST, identifier, 20 + len(attributes) + len(unsigned))
    signature = hmac.new(secret, head + authenticator + attributes + unsigned, hashlib.md5).digest()
    return head + authenticator + attributes + attribute(MESSAGE_AUTHENTICATOR, signature)


def accounting_attributes(n: int, users: int, run: str) -> bytes:
    i = n % users
    status = (START, INTERIM_UPDATE, INTERIM_UPDATE, STOP)[(n // users) % 4]
    return b"".join((
        attribute(USER_NAME, user(i)[0].encode()),
        attribute(ACCT_STATUS_TYPE, struct.pack("!I", status)),
        attribute(ACCT_SESSION_ID, f"{run}-{i}-{n // (users * 4)}".encode()),
        attribute(NAS_IP_ADDRESS, socket.inet_aton("127.0.0.1")),
        attribute(NAS_IDENTIFIER, b"downtown"),
        attribute(CALLING_STATION_ID, f"AA-BB-CC-{i % 256:02X}-00-01".encode()),
        attribute(ACCT_INPUT_OCTETS, struct.pack("!I", n & 0xFFFFFFFF)),
    ))


class Sender:
    """Packets n go out on socket (n // 256) % SOCKETS with identifier n % 256; a response is matched
    to its request by (socket, identifier)."""

    def __init__(self, port: int):
        self.sockets = []
        self.selector = selectors.DefaultSelector()
        for index in range(SOCKETS):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.connect(("127.0.0.1", port))
            s.setblocking(False)
            self.sockets.append(s)
            self.selector.register(s, selectors.EVENT_READ, index)

    @staticmethod
    def slot(n: int) -> tuple[int, int]:
        return (n // 256) % SOCKETS, n % 256

    def send(self, n: int, packet: bytes) -> bool:
        try:
            self.sockets[self.slot(n)[0]].send(packet)
            return True
        except BlockingIOError:
            return False  # the socket buffer is full: try again after reading

    def responses(self, wait: float):
        """Yields (socket index, identifier, code) of what arrives within ``wait`` seconds."""
        for key, _ in self.selector.select(min(max(wait, 0.0), 0.05)):
            while True:
                try:
                    data = key.fileobj.recv(4096)
                except BlockingIOError:
                    break
                if len(data) >= 20:
                    yield key.data, data[1], data[0]

    def close(self) -> None:
        for s in self.sockets:
            s.close()


class AlwaysOn:
    """Sending time without a schedule: on from ``start``."""

    def __init__(self, start: float):
        self.start = start

    def on_seconds(self, t: float) -> float:
        return t - self.start

    def when_on(self, seconds: float) -> float:
        return self.start + seconds


class OnOff:
    """Sending time, when the load runs only in the odd windows of ``window`` seconds from
    ``epoch``: ``on_seconds(t)`` is how long it has been on by time ``t``, ``when_on(s)`` the time
    at which it will have been on for ``s`` seconds."""

    def __init__(self, epoch: float, window: float):
        self.epoch, self.window = epoch, window

    def on_seconds(self, t: float) -> float:
        periods, into = divmod(max(t - self.epoch, 0.0), 2 * self.window)
        return periods * self.window + max(into - self.window, 0.0)

    def when_on(self, seconds: float) -> float:
        periods, into = divmod(seconds, self.window)
        return self.epoch + periods * 2 * self.window + self.window + into


def run_accounting(port: int, secret: bytes, users: int, count: int, rate: float, timeout: float,
                   run: str, schedule: OnOff | AlwaysOn | None = None) -> dict:
    """Open loop: request n is due ``n / rate`` seconds of sending time after the start (with
    ``schedule``, of its on-time)."""
    sender = Sender(port)
    stopping: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    answered = sent = 0
    start = time.monotonic()
    schedule = schedule or AlwaysOn(start)
    sending_ended = None
    while True:
        now = time.monotonic()
        if sending_ended is None and (sent >= count or stopping):
            sending_ended, count = now, sent
        on = schedule.on_seconds(now)
        due = min(count, int(on * rate) + 1) if on > 0 else 0
        while sent < due:
            packet = accounting_request(sent % 256, accounting_attributes(sent, users, run), secret)
            if not sender.send(sent, packet):
                break
            sent += 1
        if sending_ended is not None and (answered >= sent or now >= sending_ended + timeout):
            break
        wait = schedule.when_on(sent / rate) - now if sending_ended is None else sending_ended + timeout - now
        answered += sum(1 for _ in sender.responses(wait))
    sender.close()
    return {"sent": sent, "answered": answered, "lost": sent - answered, "seconds": sending_ended - start}


def run_sink() -> dict:
    """Prints {"port": N} once it listens, then answers each request with a bare response of the same
    identifier (the load matches on that alone) until SIGTERM; prints {"answering": true} after the
    first, so that a caller can tell the load has started."""
    stopping: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.2)  # how often it looks at the stop flag
    print(json.dumps({"port": s.getsockname()[1]}), flush=True)
    answered = 0
    while not stopping:
        try:
            data, peer = s.recvfrom(4096)
        except (TimeoutError, socket.timeout):
            continue
        if len(data) >= 20:
            s.sendto(struct.pack("!BBH", ACCOUNTING_RESPONSE, data[1], 20) + bytes(16), peer)
            answered += 1
            if answered == 1:
                print(json.dumps({"answering": True}), flush=True)
    s.close()
    return {"answered": answered}


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(p / 100 * len(sorted_values)))]


def run_pap(port: int, secret: bytes, users: int, count: int | None, in_flight: int, timeout: float,
            duration: float | None = None, buckets: tuple[float, float] | None = None) -> dict:
    """``count`` requests, encoded before the clock starts, or (``count`` None) as many as
    ``duration`` seconds allow, encoded as they go: every request is new, as FreeRADIUS answers a repeated
    one from its cache. ``buckets`` (epoch, width) counts the answers by arrival."""
    packets = [access_request(n % 256, *user(n % users), secret) for n in range(count)] if count else []
    sender = Sender(port)
    outstanding: dict[tuple[int, int], float] = {}  # slot -> when it was sent
    latencies: list[float] = []
    by_bucket: dict[int, int] = {}
    accepted = rejected = sent = 0
    start = time.monotonic()
    end = start + duration if duration is not None else None

    def more(now: float) -> bool:
        return sent < count if count else now < end

    while more(time.monotonic()) or outstanding:
        now = time.monotonic()
        while more(now) and len(outstanding) < in_flight and sender.slot(sent) not in outstanding:
            packet = packets[sent] if count else access_request(sent % 256, *user(sent % users), secret)
            if not sender.send(sent, packet):
                break
            outstanding[sender.slot(sent)] = now
            sent += 1
        for slot, since in list(outstanding.items()):
            if now - since > timeout:
                del outstanding[slot]  # lost: counted below, never resent
        for index, identifier, code in sender.responses(0.05):
            since = outstanding.pop((index, identifier), None)
            if since is None:
                continue  # late, after it was given up
            arrived = time.monotonic()
            latencies.append(arrived - since)
            if buckets and arrived >= buckets[0]:
                bucket = int((arrived - buckets[0]) / buckets[1])
                by_bucket[bucket] = by_bucket.get(bucket, 0) + 1
            accepted += code == ACCESS_ACCEPT
            rejected += code == ACCESS_REJECT
    seconds = time.monotonic() - start
    sender.close()
    latencies.sort()
    answered = len(latencies)
    return {"sent": sent, "answered": answered, "lost": sent - answered, "seconds": seconds,
            "accepted": accepted, "rejected": rejected, "rate": answered / seconds,
            **{f"p{p}_ms": round(percentile(latencies, p) * 1000, 2) for p in (50, 95, 99)},
            **({"buckets": [by_bucket.get(i, 0) for i in range(max(by_bucket) + 1)]} if by_bucket else {})}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kind", choices=("acct", "pap", "sink"))
    ap.add_argument("port", type=int, nargs="?")
    ap.add_argument("secret", nargs="?")
    ap.add_argument("--users", type=int, help="acct, pap: required")
    ap.add_argument("--count", type=int, help="acct: required; pap: this or --seconds")
    ap.add_argument("--seconds", type=float, help="pap: send for this long instead of --count")
    ap.add_argument("--epoch", type=float,
                    help="acct, pap: a time.monotonic() reading the windows and buckets count from")
    ap.add_argument("--on-off", type=float, metavar="W",
                    help="acct: send only in the odd windows of W seconds from --epoch")
    ap.add_argument("--bucket", type=float, metavar="B",
                    help="pap: count the answers in buckets of B seconds from --epoch")
    ap.add_argument("--rate", type=float, help="acct: requests per second")
    ap.add_argument("--run", default="bench",
                    help="acct: session-id prefix; a new one makes every Start a new radacct row")
    ap.add_argument("--in-flight", type=int, default=32, help="pap: requests outstanding at once")
    ap.add_argument("--timeout", type=float, default=5.0)
    args = ap.parse_args()
    if args.kind == "sink":
        print(json.dumps(run_sink()), flush=True)
        return 0
    if args.port is None or args.secret is None or args.users is None:
        ap.error(f"{args.kind} needs PORT, SECRET and --users")
    if args.kind == "acct" and args.count is None:
        ap.error("acct needs --count")
    if args.kind == "pap" and (args.count is None) == (args.seconds is None):
        ap.error("pap needs --count or --seconds, not both")
    positive = [args.count, args.seconds, args.on_off, args.bucket]
    if args.users < 1 or any(v is not None and v <= 0 for v in positive) or not 1 <= args.in_flight <= 256:
        ap.error("--users, --count, --seconds, --on-off and --bucket must be positive, --in-flight 1..256")
    if (args.on_off is not None or args.bucket is not None) and args.epoch is None:
        ap.error("--on-off and --bucket need --epoch")
    secret = args.secret.encode()
    if args.kind == "acct":
        if not args.rate or args.rate <= 0:
            ap.error("acct needs a positive --rate")
        result = run_accounting(args.port, secret, args.users, args.count, args.rate, args.timeout,
                                args.run, OnOff(args.epoch, args.on_off) if args.on_off else None)
    else:
        result = run_pap(args.port, secret, args.users, args.count, args.in_flight, args.timeout,
                         args.seconds, (args.epoch, args.bucket) if args.bucket else None)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
