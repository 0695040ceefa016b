#!/usr/bin/env python3
"""A stand-in for OfficeRnD, for radsync's tests, benchmarks and demo (standard library only).

    python3 scripts/officernd_sim.py --fixture FILE [--listen 127.0.0.1:PORT] [--port-file F]
        [--tls-cert C --tls-key K] [--org SLUG] [--client-id ID --client-secret S]
        [--webhook-url URL] [--webhook-secret-file F] [--webhook-insecure]
        [--token-ttl SECONDS] [--token-rate-limit N] [--verbose]

It serves, on exactly the one address given with --listen (plain HTTP, or HTTPS with
--tls-cert/--tls-key), what radsync uses of OfficeRnD, behaving as the OfficeRnD API notes
(officernd-api.md sections 1.3, 1.8, 3, 5, 6 and 7) describe, errors and quirks included:

* ``POST /oauth/token``: the client-credentials grant; at most 5 token requests per rolling
  minute, counted whether they succeed or fail (then 429 "Too many requests, ...").
* ``GET /api/v2/organizations/{slug}/{kind}`` and ``.../{kind}/{id}`` for members, companies,
  memberships, plans, locations, passes, bookings (with visitors[], members[], recurrence),
  resources, resource-types, visitors and check-ins: bearer token required (401), a wrong
  slug answers 500 "Organization not found", strict query validation (400 for any parameter a
  list does not document, including v1's ``$populate`` and memberships' ``modifiedAt``),
  ``$limit`` at most 50, opaque base64url cursors (both at once: 504; garbage: 500), the
  list envelope ``{results, cursorNext, cursorPrev, rangeStart, rangeEnd}`` with absent
  cursors at either end, results ordered by ``_id`` (or by ``$sort`` on members).
* ``POST /api/v2/organizations/{slug}/checkins/{member}`` ``{location, start?, end?}`` checks a
  member in (201, the check-in; 404 for an unknown member, 400 for an unknown location) and
  ``POST .../checkins/checkout/{member}`` ``{location?, end?}`` ends their open check-in (200;
  400 when there is none), officernd-api.md 5.10. Faults apply to them like to any path.
* ``/_sim/...``: an unauthenticated admin interface for tests and the demo: injected faults
  (429 with or without Retry-After, 5xx, slow, malformed or truncated bodies, 401), entity
  upserts/patches/removals that send signed webhooks (``officernd-signature: t=<unix>,
  signature=<hex HMAC-SHA256(secret, body + "." + t)>``, envelope ``{event, eventType,
  data: {object, previousAttributes}, createdAt}``), fixture replacement, a request log,
  counters and run-time webhook configuration. Webhooks go out for every kind (OfficeRnD
  itself sends none for plans, locations, resources or visitors: radsync ignores those), in
  v2 field names or, after
  ``PUT /_sim/config {"webhook_shape": "v1"}``, in v1 names (office, team, resourceId,
  canceled, ``start: {dateTime}``); ``POST /_sim/occupancyslots/created|removed`` announces an
  occurrence of a booking (``occupancyslot.*``, with its ``booking``).

Beyond the interface contract (additions only): --token-rate-limit (0 lifts OfficeRnD's 5 a
minute, for harnesses that restart clients often), --verbose, ``GET /_sim/faults`` (pending
faults), ``GET /_sim/entities/{kind}`` and ``.../{kind}/{id}`` (no token needed), update webhooks carry
``data.previousAttributes``, a failed delivery adds ``webhook_error`` to the admin answer,
``/_sim/stats`` also counts webhooks, faults and entities, request-log entries name the
``fault`` applied, and PATCH is an RFC 7386 merge (nested objects merge, null removes).

The fixture is the snapshot radsync's ``reconcile --from-file`` reads: a JSON object whose
"members", "companies", "memberships", "plans", "locations", "passes", "bookings",
"resources", "resource-types", "visitors" and "checkins" are arrays of v2-shaped objects with "_id" (or v2 list envelopes ``{"results": [...]}``).

Lists stay fast at benchmark sizes (tens of thousands of entities): each kind keeps its ids
sorted once and every object pre-serialised; a page is a bisect plus a join of 50 ready-made
JSON texts. Equality and $in filters use per-field indexes; a filtered or sorted listing is
computed once per distinct query and cached until the kind changes, so following its cursors
costs the same as an unfiltered page.

Logs the listening address to stderr at start, and one line per request only with
--verbose. Stops on SIGTERM or SIGINT (requests in flight get a few seconds to finish).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import bisect
import collections
import datetime as dt
import hashlib
import hmac
import http.client
import json
import os
import re
import secrets
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# --------------------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------------------

# List kind -> singular name used in webhook event types ("member.updated").
KINDS = {
    "members": "member",
    "companies": "company",
    "memberships": "membership",
    "plans": "plan",
    "locations": "location",
    "passes": "pass",
    "bookings": "booking",
    "resources": "resource",
    "resource-types": "resource-type",
    "visitors": "visitor",
    "checkins": "checkin",
}

# v2 field name -> v1 field name, for webhooks sent in the v1 shape (officernd-api.md 7.6).
V1_NAMES = {"location": "office", "company": "team", "resource": "resourceId",
            "isCancelled": "canceled", "isTentative": "tentative", "isFree": "free"}

PAGE_LIMIT = 50
TOKEN_RATE_WINDOW_S = 60.0
DEFAULT_TOKEN_RATE_LIMIT = 5
DEFAULT_TOKEN_TTL_S = 3599

MAX_TOKEN_BODY = 64 * 1024
MAX_API_BODY = 64 * 1024
MAX_ADMIN_BODY = 16 * 1024 * 1024

HANDSHAKE_TIMEOUT_S = 10.0
IDLE_TIMEOUT_S = 60.0
WEBHOOK_TIMEOUT_S = 10.0
SHUTDOWN_GRACE_S = 5.0
REQUEST_LOG_MAX = 100_000
VIEW_CACHE_MAX = 64
MAX_FAULT_DELAY_MS = 600_000
DEFAULT_SLOW_MS = 1000

JSON_TYPE = "application/json; charset=utf-8"
DATE_OPS = ("$gt", "$gte", "$lt", "$lte")


class ListRules:
    """The query parameters one list endpoint accepts (besides $limit and the cursors)."""

    def __init__(self, equal=(), in_=(), dates=None, sort=()):
        self.equal = frozenset(equal)  # field=value
        self.in_ = frozenset(in_)  # field[$in]=a,b
        self.dates = dates or {}  # field -> allowed comparison operators
        self.sort = frozenset(sort)  # $sort fields


# Per the simulator contract (officernd-api.md 5 and 6.3); anything else is a 400.
LIST_RULES = {
    "members": ListRules(equal=("status", "email", "company", "location"), in_=("status",),
                         dates={"modifiedAt": DATE_OPS},
                         sort=("name", "email", "location", "company", "status", "modifiedAt")),
    "companies": ListRules(equal=("status", "location"), dates={"modifiedAt": DATE_OPS}),
    "memberships": ListRules(equal=("member", "company")),
    "plans": ListRules(equal=("name", "code")),
    "locations": ListRules(equal=("name",)),
    "passes": ListRules(equal=("member", "company")),
    "bookings": ListRules(equal=("member", "location"), dates={"start": ("$gte", "$lt")}),
    "resources": ListRules(equal=("location", "type")),
    "resource-types": ListRules(equal=("type",)),
    "visitors": ListRules(equal=("member", "company")),
    "checkins": ListRules(equal=("member", "location"), dates={"start": ("$gte", "$lt")}),
}


def v1_shape(obj: dict) -> dict:
    """The v1 spelling of a v2 entity: office/team/resourceId/canceled..., booking times as
    {"dateTime": ...}, and a member's status as calculatedStatus."""
    out = {}
    for key, value in obj.items():
        if key in ("start", "end") and isinstance(value, str):
            out[key] = {"dateTime": value}
        else:
            out[V1_NAMES.get(key, key)] = value
    if "status" in obj and "email" in obj:
        out["calculatedStatus"] = out.pop("status")
    return out

FAULT_KINDS = ("429", "429_retry_after", "500", "503", "504", "slow", "malformed",
               "bad_json_page", "truncate", "401",
               # list pages that look fine but are not: the next page served in this one's place
               # (a gap in rangeStart/rangeEnd), no results while cursorNext goes on, and a page
               # that ends the list early (no cursorNext: the pages after it are never seen)
               "skip_page", "empty_page", "end_early")
PAGE_FAULTS = ("skip_page", "empty_page", "end_early")

_BRACKET = re.compile(r"^(\$?[A-Za-z_][A-Za-z0-9_]*)\[([^\]]+)\]$")  # field[$op], $sort[field]


def dumps(obj) -> bytes:
    """Compact JSON as OfficeRnD sends it."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def iso_ms(when: dt.datetime) -> str:
    """ISO-8601 UTC with milliseconds, e.g. 2026-03-01T08:00:00.015Z."""
    when = when.astimezone(dt.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def object_id() -> str:
    """A fresh 24-hex-digit id shaped like a MongoDB ObjectId (4 bytes of time, 8 random)."""
    return int(time.time()).to_bytes(4, "big").hex() + secrets.token_hex(8)


def parse_instant(text: str) -> dt.datetime | None:
    """An ISO-8601 date or instant (naive means UTC); None if unparsable."""
    if not isinstance(text, str) or not text:
        return None
    t = re.sub(r" (\d\d:?\d\d)$", r"+\1", text.strip())  # an unencoded "+01:00" arrives as " 01:00"
    if t[-1:] in ("Z", "z"):
        t = t[:-1] + "+00:00"
    try:
        when = dt.datetime.fromisoformat(t)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def sort_text(value) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def as_text(value) -> str:
    """How an entity field compares with a query-string value."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return json.dumps(value)


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch: objects merge recursively, null removes a key."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


# --------------------------------------------------------------------------------------
# Responses and errors
# --------------------------------------------------------------------------------------

class Response:
    __slots__ = ("status", "body", "content_type", "headers")

    def __init__(self, status: int, body: bytes = b"", content_type: str = JSON_TYPE,
                 headers: dict | None = None):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers or {}


def json_response(status: int, obj, headers: dict | None = None) -> Response:
    return Response(status, dumps(obj), headers=headers)


class ApiError(Exception):
    """An error answer (raised anywhere while handling a request)."""

    def __init__(self, status: int, body, headers: dict | None = None):
        super().__init__(status)
        self.response = json_response(status, body, headers)


def bad_request(message) -> ApiError:
    return ApiError(400, {"statusCode": 400, "message": message, "error": "Bad Request"})


def not_found_route(method: str, path: str) -> ApiError:
    return ApiError(404, {"statusCode": 404, "message": f"Cannot {method} {path}", "error": "Not Found"})


UNAUTHORIZED = {"statusCode": 401, "message": "Unauthorized access", "error": "Unauthorized"}
ORG_NOT_FOUND = {"statusCode": 500, "message": "Organization not found"}
INTERNAL_ERROR = {"statusCode": 500, "message": "Internal server error"}
GATEWAY_TIMEOUT = {"statusCode": 504, "message": "Gateway Timeout"}


class AdminError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.response = json_response(status, {"error": message})


# --------------------------------------------------------------------------------------
# Entities: one sorted, pre-serialised collection per kind
# --------------------------------------------------------------------------------------

class View:
    """A listing in presentation order, located by cursor key with bisect.

    ``asc_keys`` are the cursor keys in ascending order (the ids themselves when ordered by
    ``_id``, else ``(sort value, id)`` tuples); ``order`` is the ids as presented (ascending,
    or reversed for a descending sort)."""

    __slots__ = ("order", "asc_keys", "descending", "key_name")

    def __init__(self, order: list, asc_keys: list, descending: bool, key_name: str):
        self.order = order
        self.asc_keys = asc_keys
        self.descending = descending
        self.key_name = key_name

    def index_after(self, key) -> int:
        n = len(self.asc_keys)
        return n - bisect.bisect_left(self.asc_keys, key) if self.descending \
            else bisect.bisect_right(self.asc_keys, key)

    def index_before(self, key) -> int:
        n = len(self.asc_keys)
        return n - bisect.bisect_right(self.asc_keys, key) if self.descending \
            else bisect.bisect_left(self.asc_keys, key)


class Collection:
    def __init__(self, kind: str):
        self.kind = kind
        self.objs: dict[str, dict] = {}
        self.blobs: dict[str, bytes] = {}
        self.ids: list[str] = []  # sorted
        self.views: collections.OrderedDict = collections.OrderedDict()
        self.indexes: dict[str, dict[str, list[str]]] = {}  # field -> value text -> sorted ids

    def changed(self) -> None:
        self.views.clear()
        self.indexes.clear()

    def replace_all(self, items: list[dict]) -> None:
        self.objs = {o["_id"]: o for o in items}
        self.blobs = {i: dumps(o) for i, o in self.objs.items()}
        self.ids = sorted(self.objs)
        self.changed()

    def put(self, obj: dict) -> None:
        oid = obj["_id"]
        if oid not in self.objs:
            bisect.insort(self.ids, oid)
        self.objs[oid] = obj
        self.blobs[oid] = dumps(obj)
        self.changed()

    def remove(self, oid: str) -> dict | None:
        obj = self.objs.pop(oid, None)
        if obj is not None:
            del self.blobs[oid]
            del self.ids[bisect.bisect_left(self.ids, oid)]
            self.changed()
        return obj

    def view(self, filters: tuple, sort: tuple | None) -> View:
        """The (cached) listing for these filters and sort; the caller holds the lock."""
        if not filters and sort is None:
            return View(self.ids, self.ids, False, "_id")
        cache_key = (filters, sort)
        cached = self.views.get(cache_key)
        if cached is not None:
            self.views.move_to_end(cache_key)
            return cached
        ids = self.filtered(filters)
        objs = self.objs
        if sort is None:
            v = View(ids, ids, False, "_id")
        else:
            field, descending = sort
            keys = sorted((sort_text(objs[i].get(field)), i) for i in ids)
            order = [i for _, i in keys]
            if descending:
                order.reverse()
            v = View(order, keys, descending, ("-" if descending else "") + field)
        self.views[cache_key] = v
        if len(self.views) > VIEW_CACHE_MAX:
            self.views.popitem(last=False)
        return v

    def index(self, field: str) -> dict[str, list[str]]:
        """Equality index on one field, built on first use after a change."""
        idx = self.indexes.get(field)
        if idx is None:
            idx = collections.defaultdict(list)
            for i in self.ids:
                obj = self.objs[i]
                if field in obj:
                    idx[as_text(obj[field])].append(i)
            self.indexes[field] = idx = dict(idx)
        return idx

    def filtered(self, filters: tuple) -> list[str]:
        """Sorted ids matching every filter: the smallest equality/$in candidate list from the
        indexes, then the remaining filters as predicates."""
        candidates, rest = self.ids, list(filters)
        for f in filters:
            if f[0] == "eq":
                ids = self.index(f[1]).get(f[2], [])
            elif f[0] == "in":
                idx = self.index(f[1])
                ids = sorted(i for v in f[2] for i in idx.get(v, ()))
            else:
                continue
            if len(ids) < len(candidates) or candidates is self.ids:
                candidates, chosen = ids, f
        if candidates is not self.ids:
            rest.remove(chosen)
        preds = [make_predicate(f) for f in rest]
        if not preds:
            return candidates
        objs = self.objs
        return [i for i in candidates if all(p(objs[i]) for p in preds)]

    def cursor_key(self, view: View, oid: str):
        if view.key_name == "_id":
            return oid
        field = view.key_name.lstrip("-")
        return (sort_text(self.objs[oid].get(field)), oid)


def make_predicate(f: tuple):
    op, field = f[0], f[1]
    if op == "eq":
        value = f[2]
        return lambda o: field in o and as_text(o[field]) == value
    if op == "in":
        values = frozenset(f[2])
        return lambda o: field in o and as_text(o[field]) in values
    # ("cmp", field, operator, iso text)
    bound = parse_instant(f[3])
    compare = {"$gt": lambda a: a > bound, "$gte": lambda a: a >= bound,
               "$lt": lambda a: a < bound, "$lte": lambda a: a <= bound}[f[2]]

    def predicate(o):
        when = parse_instant(o.get(field))
        return when is not None and compare(when)
    return predicate


def parse_snapshot(doc) -> dict[str, list[dict]]:
    """The fixture/snapshot document -> {kind: [entity, ...]}; ValueError on a bad one."""
    if not isinstance(doc, dict):
        raise ValueError("the fixture must be a JSON object with lists such as \"members\"")
    out = {}
    for kind in KINDS:
        items = doc.get(kind, [])
        if isinstance(items, dict) and "results" in items:
            items = items["results"]
        if not isinstance(items, list):
            raise ValueError(f"\"{kind}\" must be an array (or an envelope with \"results\")")
        seen = set()
        for n, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("_id"), str) or not item["_id"]:
                raise ValueError(f"{kind}[{n}] is not an object with a string \"_id\"")
            if item["_id"] in seen:
                raise ValueError(f"{kind}[{n}]: duplicate _id {item['_id']}")
            seen.add(item["_id"])
        out[kind] = items
    return out


# --------------------------------------------------------------------------------------
# List queries
# --------------------------------------------------------------------------------------

class ListQuery:
    __slots__ = ("limit", "cursor_next", "cursor_prev", "select", "filters", "sort")

    def __init__(self):
        self.limit = PAGE_LIMIT
        self.cursor_next = None
        self.cursor_prev = None
        self.select = None
        self.filters: tuple = ()
        self.sort = None  # (field, descending)


def parse_sort(rules: ListRules, name: str, value: str):
    """``$sort=name``, ``$sort=-name``, ``$sort={"name":-1}`` or ``$sort[name]=-1``."""
    m = _BRACKET.match(name)
    if m:
        field, direction = m.group(2), value.strip()
    else:
        text = value.strip()
        if text.startswith("{"):
            try:
                spec = json.loads(text)
            except ValueError:
                raise bad_request(["$sort must be a valid sort specification"]) from None
            if not isinstance(spec, dict) or len(spec) != 1:
                raise bad_request(["$sort must name exactly one field"])
            field, direction = next(iter(spec.items()))
            direction = str(direction)
        else:
            field, direction = (text[1:], "-1") if text.startswith("-") else (text, "1")
    if field not in rules.sort:
        raise bad_request([f"$sort by {field} is not allowed"])
    if direction not in ("1", "-1", "asc", "desc"):
        raise bad_request(["$sort direction must be 1 or -1"])
    return (field, direction in ("-1", "desc"))


def parse_list_query(kind: str, query: str) -> ListQuery:
    """Validates like OfficeRnD v2 (class-validator with forbidNonWhitelisted)."""
    rules = LIST_RULES[kind]
    q = ListQuery()
    filters = {}
    for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        m = _BRACKET.match(name)
        if name == "$limit":
            if not re.fullmatch(r"-?\d{1,9}", value.strip()):
                raise bad_request(["$limit must be an integer number"])
            n = int(value)
            if n > PAGE_LIMIT:
                raise bad_request(f"$limit must not be greater than {PAGE_LIMIT}")
            q.limit = n if n > 0 else PAGE_LIMIT  # 0 and negatives fall back to the default
        elif name == "$cursorNext":
            q.cursor_next = value
        elif name == "$cursorPrev":
            q.cursor_prev = value
        elif name == "$select":
            fields = [f.strip() for f in value.split(",") if f.strip()]
            q.select = fields or None
        elif rules.sort and (name == "$sort" or (m and m.group(1) == "$sort")):
            q.sort = parse_sort(rules, name, value)
        elif name in rules.equal:
            filters[("eq", name)] = ("eq", name, value)
        elif m and m.group(2) == "$in" and m.group(1) in rules.in_:
            values = tuple(sorted({v for v in value.split(",") if v}))
            filters[("in", m.group(1))] = ("in", m.group(1), values)
        elif m and m.group(2) in rules.dates.get(m.group(1), ()):
            if parse_instant(value) is None:
                raise bad_request([f"{m.group(1)}.{m.group(2)} must be a valid ISO 8601 date string"])
            filters[("cmp", m.group(1), m.group(2))] = ("cmp", m.group(1), m.group(2), value)
        else:
            raise bad_request([f"property {name} should not exist"])
    q.filters = tuple(sorted(filters.values()))
    return q


def encode_cursor(key_name: str, position: int, key) -> str:
    value = key if isinstance(key, str) else list(key)
    raw = dumps({"k": key_name, "p": position, "v": value})
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(text: str, view: View):
    """The cursor's key for this view; ApiError 500 (as OfficeRnD) if it is not one of ours."""
    try:
        padded = text + "=" * (-len(text) % 4)
        doc = json.loads(base64.b64decode(padded, altchars=b"-_", validate=True))
        if not isinstance(doc, dict) or doc.get("k") != view.key_name:
            raise ValueError("wrong cursor key")
        value = doc["v"]
        if view.key_name == "_id":
            if not isinstance(value, str):
                raise ValueError("bad cursor value")
            return value
        if not (isinstance(value, list) and len(value) == 2 and all(isinstance(x, str) for x in value)):
            raise ValueError("bad cursor value")
        return tuple(value)
    except (ValueError, KeyError, binascii.Error, UnicodeDecodeError):
        raise ApiError(500, INTERNAL_ERROR) from None


# --------------------------------------------------------------------------------------
# Faults
# --------------------------------------------------------------------------------------

class Fault:
    def __init__(self, spec):
        if not isinstance(spec, dict):
            raise AdminError(400, "a fault is a JSON object")
        unknown = set(spec) - {"match", "kind", "count", "retry_after", "delay_ms", "skip"}
        if unknown:
            raise AdminError(400, f"unknown fault fields: {', '.join(sorted(unknown))}")
        self.match = spec.get("match", "")
        self.kind = str(spec.get("kind", ""))
        self.count = spec.get("count", 1)
        self.retry_after = spec.get("retry_after")
        self.delay_ms = spec.get("delay_ms")
        self.skip = spec.get("skip", 0)  # matching requests let through before it applies
        if not isinstance(self.skip, int) or isinstance(self.skip, bool) or self.skip < 0:
            raise AdminError(400, "\"skip\" must be a non-negative integer")
        if not isinstance(self.match, str):
            raise AdminError(400, "\"match\" must be a string (a path substring)")
        if self.kind not in FAULT_KINDS:
            raise AdminError(400, f"\"kind\" must be one of {', '.join(FAULT_KINDS)}")
        if not isinstance(self.count, int) or isinstance(self.count, bool) or self.count < 1:
            raise AdminError(400, "\"count\" must be a positive integer")
        if self.retry_after is not None and (not isinstance(self.retry_after, int) or self.retry_after < 0):
            raise AdminError(400, "\"retry_after\" must be a non-negative integer (seconds)")
        if self.delay_ms is not None and (not isinstance(self.delay_ms, (int, float)) or
                                          not 0 <= self.delay_ms <= MAX_FAULT_DELAY_MS):
            raise AdminError(400, f"\"delay_ms\" must be between 0 and {MAX_FAULT_DELAY_MS}")
        if self.kind == "slow" and self.delay_ms is None:
            self.delay_ms = DEFAULT_SLOW_MS

    def describe(self) -> dict:
        return {"match": self.match, "kind": self.kind, "count": self.count,
                "retry_after": self.retry_after, "delay_ms": self.delay_ms, "skip": self.skip}


# --------------------------------------------------------------------------------------
# The simulator's state
# --------------------------------------------------------------------------------------

class Simulator:
    def __init__(self, org: str, client_id: str, client_secret: str, token_ttl: int,
                 token_rate_limit: int, webhook_url: str | None, webhook_secret: str,
                 webhook_insecure: bool):
        self.org = org
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_ttl = token_ttl
        self.token_rate_limit = token_rate_limit
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.webhook_insecure = webhook_insecure
        self.webhook_shape = "v2"  # or "v1": webhook objects in v1 field names

        self.lock = threading.Lock()  # entities, tokens, faults, log, counters
        self.write_lock = threading.Lock()  # serialises admin writes and their webhooks
        self.collections = {kind: Collection(kind) for kind in KINDS}
        self.tokens: dict[str, float] = {}  # token -> monotonic expiry
        self.token_times: collections.deque = collections.deque()  # rate-limit window
        self.faults: list[Fault] = []
        self.requests: collections.deque = collections.deque(maxlen=REQUEST_LOG_MAX)
        self.stats = collections.Counter()
        self.last_write_ms = 0
        self.in_flight = 0
        self.idle = threading.Condition(self.lock)
        self.stopping = threading.Event()

    # -- fixture ------------------------------------------------------------------------

    def load(self, snapshot: dict[str, list[dict]]) -> dict[str, int]:
        with self.lock:
            for kind, items in snapshot.items():
                self.collections[kind].replace_all(items)
            return {kind: len(c.ids) for kind, c in self.collections.items()}

    # -- clock --------------------------------------------------------------------------

    def write_instant(self) -> str:
        """Now, ISO with milliseconds, strictly later than any earlier admin write (so
        modifiedAt orders updates even within one millisecond). Caller holds the lock."""
        ms = max(int(time.time() * 1000), self.last_write_ms + 1)
        self.last_write_ms = ms
        return iso_ms(dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc))

    # -- tokens -------------------------------------------------------------------------

    def issue_token(self, form: dict[str, str]) -> Response:
        now = time.monotonic()
        with self.lock:
            window = self.token_times
            while window and now - window[0] >= TOKEN_RATE_WINDOW_S:
                window.popleft()
            if self.token_rate_limit and len(window) >= self.token_rate_limit:
                wait = max(1, int(TOKEN_RATE_WINDOW_S - (now - window[0]) + 0.999))
                return Response(429, b"Too many requests, please try again later",
                                "text/plain; charset=utf-8", {"Retry-After": str(wait)})
            window.append(now)
        ok = (hmac.compare_digest(form.get("client_id", "").encode(), self.client_id.encode())
              and hmac.compare_digest(form.get("client_secret", "").encode(), self.client_secret.encode())
              and form.get("grant_type") == "client_credentials")
        if not ok:
            return json_response(401, {"error": "invalid_client"})
        token = secrets.token_urlsafe(32)
        with self.lock:
            for t in [t for t, exp in self.tokens.items() if exp <= now]:
                del self.tokens[t]
            self.tokens[token] = now + self.token_ttl
        return json_response(200, {"access_token": token, "token_type": "Bearer",
                                   "expires_in": self.token_ttl, "scope": form.get("scope", "")})

    def authorized(self, header: str | None) -> bool:
        if not header:
            return False
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return False
        with self.lock:
            expiry = self.tokens.get(token.strip())
        return expiry is not None and expiry > time.monotonic()

    # -- API ----------------------------------------------------------------------------

    def list_page(self, kind: str, query: str) -> Response:
        q = parse_list_query(kind, query)
        if q.cursor_next is not None and q.cursor_prev is not None:
            raise ApiError(504, GATEWAY_TIMEOUT)
        coll = self.collections[kind]
        with self.lock:
            view = coll.view(q.filters, q.sort)
            total = len(view.order)
            if q.cursor_next is not None:
                start = view.index_after(decode_cursor(q.cursor_next, view))
                end = min(start + q.limit, total)
            elif q.cursor_prev is not None:
                end = view.index_before(decode_cursor(q.cursor_prev, view))
                start = max(0, end - q.limit)
            else:
                start, end = 0, min(q.limit, total)
            page = view.order[start:end]
            if q.select is None:
                items = [coll.blobs[i] for i in page]
            else:
                fields = q.select
                items = [dumps({"_id": i, **{f: coll.objs[i][f] for f in fields
                                             if f != "_id" and f in coll.objs[i]}}) for i in page]
            next_key = coll.cursor_key(view, page[-1]) if page and end < total else None
            prev_key = coll.cursor_key(view, page[0]) if page and start > 0 else None
        parts = [b'{"results":[', b",".join(items), b"]"]
        if next_key is not None:
            parts.append(b',"cursorNext":"' + encode_cursor(view.key_name, end, next_key).encode() + b'"')
        if prev_key is not None:
            parts.append(b',"cursorPrev":"' + encode_cursor(view.key_name, start, prev_key).encode() + b'"')
        first, last = (start + 1, end) if page else (0, 0)
        parts.append(b',"rangeStart":%d,"rangeEnd":%d}' % (first, last))
        return Response(200, b"".join(parts))

    def get_one(self, kind: str, oid: str) -> Response:
        # Single GETs ignore $select and unknown parameters (officernd-api.md 5).
        with self.lock:
            blob = self.collections[kind].blobs.get(oid)
        if blob is None:
            raise ApiError(404, {"statusCode": 404, "message": f"Item with Id ({oid}) not found",
                                 "error": "Not Found"})
        return Response(200, blob)

    # -- faults -------------------------------------------------------------------------

    def take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.match in path:
                    if fault.skip > 0:
                        fault.skip -= 1
                        continue
                    fault.count -= 1
                    if fault.count <= 0:
                        self.faults.remove(fault)
                    self.stats["faults_applied"] += 1
                    return fault
        return None

    # -- admin writes and webhooks --------------------------------------------------------

    def upsert(self, kind: str, obj: dict, patch: bool = False) -> dict:
        """PUT (replace or create) or PATCH (merge into an existing one), then the webhook."""
        coll = self.collections[kind]
        with self.write_lock:
            with self.lock:
                oid = obj.get("_id")
                old = coll.objs.get(oid) if isinstance(oid, str) else None
                if patch:
                    if old is None:
                        raise AdminError(404, f"no {KINDS[kind]} with _id {oid}")
                    new = merge_patch(old, obj)
                else:
                    new = dict(obj)
                    if oid is None:
                        new["_id"] = oid = object_id()
                    elif not isinstance(oid, str) or not oid:
                        raise AdminError(400, "\"_id\" must be a non-empty string")
                now = self.write_instant()
                new["_id"] = oid
                new["createdAt"] = old.get("createdAt", now) if old is not None else now
                new["modifiedAt"] = now
                coll.put(new)
            if old is None:
                status, error = self.send_webhook(f"{KINDS[kind]}.created", new)
            else:
                previous = {k: old.get(k) for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)}
                status, error = self.send_webhook(f"{KINDS[kind]}.updated", new, previous)
        return self.write_result(new, status, error)

    def checkin_write(self, member: str, checkout: bool, body: bytes) -> Response:
        """POST /checkins/{member} {location, start?, end?} creates a check-in (201);
        POST /checkins/checkout/{member} {location?, end?} ends the member's open one (200), a
        400 when there is none. No webhook: OfficeRnD's check-in events are unconfirmed."""
        try:
            doc = json.loads(body or b"{}")
        except ValueError:
            raise bad_request(["the body must be JSON"]) from None
        if not isinstance(doc, dict):
            raise bad_request(["the body must be a JSON object"])
        location = doc.get("location")
        for name in ("start", "end"):
            if doc.get(name) is not None and parse_instant(doc[name]) is None:
                raise bad_request([f"{name} must be a valid ISO 8601 date string"])
        coll = self.collections["checkins"]
        with self.write_lock, self.lock:
            if member not in self.collections["members"].objs:
                raise ApiError(404, {"statusCode": 404, "message": "Member not found"})
            if location is not None and location not in self.collections["locations"].objs:
                raise bad_request(["location must be an existing location"])
            now = self.write_instant()
            if checkout:
                open_ones = [c for c in coll.objs.values() if c.get("member") == member
                             and c.get("end") is None and location in (None, c.get("location"))]
                if not open_ones:
                    raise bad_request(["the member is not checked in"])
                checkin = {**max(open_ones, key=lambda c: c["start"]), "end": doc.get("end") or now,
                           "modifiedAt": now}
                if parse_instant(checkin["end"]) < parse_instant(checkin["start"]):
                    raise bad_request(["end must not be before the check-in's start"])
                coll.put(checkin)
                return json_response(200, checkin)
            if location is None:
                raise bad_request(["location should not be empty"])
            checkin = {"_id": object_id(), "member": member, "location": location,
                       "start": doc.get("start") or now, "end": doc.get("end"), "source": "api",
                       "createdAt": now, "modifiedAt": now}
            coll.put(checkin)
            return json_response(201, checkin)

    def occupancy_slot(self, slot: dict, verb: str) -> dict:
        """An occurrence of a (recurring) booking, as OfficeRnD announces it: occupancyslot.*."""
        if verb not in ("created", "removed"):
            raise AdminError(400, "an occupancy slot is \"created\" or \"removed\"")
        if not isinstance(slot.get("booking"), str) or not slot["booking"]:
            raise AdminError(400, "an occupancy slot needs \"booking\": the booking's _id")
        slot = {"_id": slot.get("_id") or object_id(), **slot}
        status, error = self.send_webhook(f"occupancyslot.{verb}", slot)
        return self.write_result(slot, status, error)

    def remove(self, kind: str, oid: str) -> dict:
        coll = self.collections[kind]
        with self.write_lock:
            with self.lock:
                old = coll.remove(oid)
            if old is None:
                raise AdminError(404, f"no {KINDS[kind]} with _id {oid}")
            status, error = self.send_webhook(f"{KINDS[kind]}.removed", old)
        return self.write_result(old, status, error)

    @staticmethod
    def write_result(entity: dict, status, error) -> dict:
        out = {"entity": entity, "webhook_status": status}
        if error:
            out["webhook_error"] = error
        return out

    def send_webhook(self, event_type: str, obj: dict, previous: dict | None = None):
        """POSTs the signed event to the webhook URL; (HTTP status or None, error text)."""
        with self.lock:
            url, secret, insecure = self.webhook_url, self.webhook_secret, self.webhook_insecure
            shape = self.webhook_shape
            created = self.write_instant()
        if not url:
            return None, None
        data = {"object": v1_shape(obj) if shape == "v1" else obj}
        if previous:
            data["previousAttributes"] = previous
        body = dumps({"event": object_id(), "eventType": event_type, "data": data, "createdAt": created})
        t = str(int(time.time()))
        signature = hmac.new(secret.encode(), body + b"." + t.encode(), hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "User-Agent": "officernd-sim",
                   "officernd-signature": f"t={t},signature={signature}"}
        target = urllib.parse.urlsplit(url)
        try:
            if target.scheme == "https":
                ctx = ssl._create_unverified_context() if insecure else ssl.create_default_context()
                conn = http.client.HTTPSConnection(target.hostname, target.port or 443,
                                                   timeout=WEBHOOK_TIMEOUT_S, context=ctx)
            elif target.scheme == "http":
                conn = http.client.HTTPConnection(target.hostname, target.port or 80,
                                                  timeout=WEBHOOK_TIMEOUT_S)
            else:
                raise ValueError(f"unsupported webhook URL scheme {target.scheme!r}")
            try:
                path = (target.path or "/") + (f"?{target.query}" if target.query else "")
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            finally:
                conn.close()
        except (OSError, ValueError, http.client.HTTPException) as exc:
            with self.lock:
                self.stats["webhooks_failed"] += 1
            return None, f"{type(exc).__name__}: {exc}"
        with self.lock:
            self.stats["webhooks_sent"] += 1
        return status, None

    # -- bookkeeping --------------------------------------------------------------------

    def record(self, entry: dict, token_request: bool) -> None:
        with self.lock:
            self.requests.append(entry)
            self.stats["token_requests" if token_request else "api_requests"] += 1

    def begin(self) -> None:
        with self.lock:
            self.in_flight += 1

    def end(self) -> None:
        with self.lock:
            self.in_flight -= 1
            if self.in_flight == 0:
                self.idle.notify_all()

    def wait_idle(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self.lock:
            while self.in_flight > 0 and time.monotonic() < deadline:
                self.idle.wait(deadline - time.monotonic())


# --------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------

class BodyTooLarge(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "officernd-sim"
    sys_version = ""
    timeout = IDLE_TIMEOUT_S  # idle keep-alive connections are closed after this
    # Head and body go out as two writes; with Nagle on, the second waits for the client's
    # delayed ACK (~40 ms a page on a keep-alive connection).
    disable_nagle_algorithm = True

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    # BaseHTTPRequestHandler logs through these; requests are logged by dispatch() instead.
    def log_request(self, code="-", size="-"):
        pass

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        if self.server.verbose:
            sys.stderr.write(f"officernd-sim: {self.address_string()} {format % args}\n")

    # -- plumbing -----------------------------------------------------------------------

    @property
    def sim(self) -> Simulator:
        return self.server.sim

    def read_body(self, limit: int) -> bytes:
        if self.headers.get("Transfer-Encoding"):
            raise ApiError(411, {"statusCode": 411, "message": "Length Required"})
        text = self.headers.get("Content-Length", "0").strip() or "0"
        if not text.isdigit():
            raise ApiError(400, {"statusCode": 400, "message": "Bad Content-Length"})
        n = int(text)
        if n > limit:
            raise BodyTooLarge()
        return self.rfile.read(n) if n else b""

    def send(self, resp: Response, truncate: bool = False, close: bool = False) -> None:
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(resp.body)))
        for name, value in resp.headers.items():
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if truncate:
            self.wfile.write(resp.body[: len(resp.body) // 2])
            self.wfile.flush()
            self.close_connection = True
        else:
            self.wfile.write(resp.body)

    def dispatch(self) -> None:
        started = time.monotonic()
        self.sim.begin()
        try:
            self._dispatch(started)
        finally:
            self.sim.end()

    def _dispatch(self, started: float) -> None:
        target = urllib.parse.urlsplit(self.path)
        path, query = target.path, target.query
        admin = path == "/_sim" or path.startswith("/_sim/")
        is_token = path == "/oauth/token"
        limit = MAX_ADMIN_BODY if admin else MAX_TOKEN_BODY if is_token else MAX_API_BODY
        fault = None
        authorized = False
        truncate = False
        close = False
        try:
            body = self.read_body(limit)
        except BodyTooLarge:
            resp, close = json_response(413, {"statusCode": 413, "message": "Payload Too Large"}), True
        except ApiError as exc:  # the body cannot be skipped: answer, then close
            resp, close = exc.response, True
        else:
            try:
                if admin:
                    resp = self.admin(path, query, body)
                else:
                    authorized = self.sim.authorized(self.headers.get("Authorization"))
                    fault = self.sim.take_fault(path)
                    resp, truncate = self.faulted(fault, path, query, body, authorized)
            except (ApiError, AdminError) as exc:
                resp = exc.response
        if not admin:  # logged before answering, so the log's order is the clients' order
            self.sim.record({"method": self.command, "path": path, "query": query,
                             "status": resp.status, "authorized": authorized,
                             "fault": fault.kind if fault else None}, token_request=is_token)
        try:
            self.send(resp, truncate=truncate, close=close)
        finally:
            if self.server.verbose:
                ms = (time.monotonic() - started) * 1000
                note = f" fault={fault.kind}" if fault else ""
                sys.stderr.write(f"officernd-sim: {self.client_address[0]} \"{self.command} {self.path}\" "
                                 f"{resp.status} {len(resp.body)}B {ms:.1f}ms{note}\n")

    def faulted(self, fault: Fault | None, path: str, query: str, body: bytes, authorized: bool):
        """(response, truncate?) for an API or token request, with ``fault`` applied."""
        if fault is not None and fault.delay_ms:
            self.sim.stopping.wait(fault.delay_ms / 1000)  # cut short by SIGTERM
        kind = fault.kind if fault else None
        if kind in ("429", "429_retry_after", "503"):
            headers = {}
            if fault.retry_after is not None or kind == "429_retry_after":
                headers["Retry-After"] = str(fault.retry_after if fault.retry_after is not None else 1)
            if kind == "503":
                return json_response(503, {"statusCode": 503, "message": "Service Unavailable"}, headers), False
            return json_response(429, {"statusCode": 429, "message": "ThrottlerException: Too Many Requests"},
                                 headers), False
        if kind == "500":
            return json_response(500, INTERNAL_ERROR), False
        if kind == "504":
            return json_response(504, GATEWAY_TIMEOUT), False
        if kind == "401":
            return json_response(401, UNAUTHORIZED), False
        if kind == "malformed":
            return Response(200, b'{"results":[{"_id":"5f0c1e2d3a4b5c6d7e8f9a0b","name":"Trunc'), False
        if kind == "bad_json_page":
            return json_response(200, {"results": [42, "not an object"], "cursorNext": 7,
                                       "rangeStart": 1, "rangeEnd": 2}), False
        try:
            resp = self.route(path, query, body, authorized)
            if kind in PAGE_FAULTS and resp.status == 200:
                resp = self.page_fault(kind, path, query, resp)
        except ApiError as exc:
            resp = exc.response
        return resp, kind == "truncate"

    def page_fault(self, kind: str, path: str, query: str, resp: Response) -> Response:
        """A list page that is well-formed JSON but wrong (``kind`` in PAGE_FAULTS)."""
        page = json.loads(resp.body)
        if not isinstance(page, dict) or "results" not in page:
            return resp  # not a list page (a single GET)
        if kind == "empty_page":
            page["results"], page["rangeStart"], page["rangeEnd"] = [], 0, 0
        elif kind == "end_early":
            page.pop("cursorNext", None)
        elif kind == "skip_page" and page.get("cursorNext"):
            # Serve the following page instead: its own cursor and range, so item numbers jump.
            params = [(k, v) for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True)
                      if k != "$cursorNext"]
            params.append(("$cursorNext", page["cursorNext"]))
            return self.route(path, urllib.parse.urlencode(params, safe="$[]"), b"", True)
        return json_response(200, page)

    # -- OfficeRnD routes -----------------------------------------------------------------

    def route(self, path: str, query: str, body: bytes, authorized: bool) -> Response:
        if path == "/oauth/token":
            if self.command != "POST":
                raise not_found_route(self.command, path)
            try:
                form = dict(urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True))
            except UnicodeDecodeError:
                form = {}
            return self.sim.issue_token(form)
        parts = [urllib.parse.unquote(p) for p in path.rstrip("/").split("/")]
        # POST /checkins/{member} and /checkins/checkout/{member} (officernd-api.md 5.10)
        if (len(parts) in (7, 8) and parts[1:4] == ["api", "v2", "organizations"]
                and parts[5] == "checkins" and self.command == "POST"):
            if not authorized:
                raise ApiError(401, UNAUTHORIZED)
            if parts[4] != self.sim.org:
                raise ApiError(500, ORG_NOT_FOUND)
            if len(parts) == 8 and parts[6] != "checkout":
                raise not_found_route(self.command, path)
            return self.sim.checkin_write(parts[-1], len(parts) == 8, body)
        # ["", "api", "v2", "organizations", slug, kind(, id)]
        if (len(parts) not in (6, 7) or parts[1:4] != ["api", "v2", "organizations"]
                or parts[5] not in KINDS or self.command != "GET"):
            raise not_found_route(self.command, path)
        if not authorized:
            raise ApiError(401, UNAUTHORIZED)
        if parts[4] != self.sim.org:
            raise ApiError(500, ORG_NOT_FOUND)
        if len(parts) == 7:
            return self.sim.get_one(parts[5], parts[6])
        return self.sim.list_page(parts[5], query)

    # -- admin routes ---------------------------------------------------------------------

    def admin(self, path: str, query: str, body: bytes) -> Response:
        sim = self.sim
        method = self.command
        parts = path.rstrip("/").split("/")[2:]  # after "/_sim"

        def payload():
            try:
                return json.loads(body or b"null")
            except ValueError as exc:
                raise AdminError(400, f"the body is not JSON: {exc}") from None

        def kind_of(name: str) -> str:
            if name not in KINDS:
                raise AdminError(404, f"unknown kind {name!r} (one of {', '.join(KINDS)})")
            return name

        if parts == ["faults"]:
            if method == "POST":
                fault = Fault(payload())
                with sim.lock:
                    sim.faults.append(fault)
                    pending = len(sim.faults)
                return json_response(200, {"fault": fault.describe(), "pending": pending})
            if method == "DELETE":
                with sim.lock:
                    n, sim.faults = len(sim.faults), []
                return json_response(200, {"cleared": n})
            if method == "GET":
                with sim.lock:
                    return json_response(200, [f.describe() for f in sim.faults])
        elif parts and parts[0] == "entities" and len(parts) in (2, 3):
            kind = kind_of(parts[1])
            if len(parts) == 2 and method == "GET":
                with sim.lock:
                    return json_response(200, [sim.collections[kind].objs[i] for i in sim.collections[kind].ids])
            if len(parts) == 2 and method == "PUT":
                obj = payload()
                if not isinstance(obj, dict):
                    raise AdminError(400, "the body must be a JSON object (an entity with \"_id\")")
                return json_response(200, sim.upsert(kind, obj))
            if len(parts) == 3:
                oid = urllib.parse.unquote(parts[2])
                if method == "PATCH":
                    obj = payload()
                    if not isinstance(obj, dict):
                        raise AdminError(400, "the body must be a JSON object (the fields to merge)")
                    if obj.get("_id", oid) != oid:
                        raise AdminError(400, "\"_id\" in the body differs from the path")
                    return json_response(200, sim.upsert(kind, {**obj, "_id": oid}, patch=True))
                if method == "DELETE":
                    return json_response(200, sim.remove(kind, oid))
                if method == "GET":
                    with sim.lock:
                        blob = sim.collections[kind].blobs.get(oid)
                    if blob is None:
                        raise AdminError(404, f"no {KINDS[kind]} with _id {oid}")
                    return Response(200, blob)
        elif len(parts) == 2 and parts[0] == "occupancyslots" and method == "POST":
            slot = payload()
            if not isinstance(slot, dict):
                raise AdminError(400, "the body must be a JSON object (the occupancy slot)")
            return json_response(200, sim.occupancy_slot(slot, parts[1]))
        elif parts == ["fixture"] and method == "POST":
            try:
                snapshot = parse_snapshot(payload())
            except ValueError as exc:
                raise AdminError(400, str(exc)) from None
            with sim.write_lock:
                counts = sim.load(snapshot)
            return json_response(200, {"loaded": counts})
        elif parts == ["requests"]:
            if method == "GET":
                with sim.lock:
                    return json_response(200, list(sim.requests))
            if method == "DELETE":
                with sim.lock:
                    n = len(sim.requests)
                    sim.requests.clear()
                return json_response(200, {"cleared": n})
        elif parts == ["stats"] and method == "GET":
            with sim.lock:
                stats = {"token_requests": sim.stats["token_requests"],
                         "api_requests": sim.stats["api_requests"],
                         "webhooks_sent": sim.stats["webhooks_sent"],
                         "webhooks_failed": sim.stats["webhooks_failed"],
                         "faults_applied": sim.stats["faults_applied"],
                         "entities": {k: len(c.ids) for k, c in sim.collections.items()}}
            return json_response(200, stats)
        elif parts == ["config"] and method == "PUT":
            cfg = payload()
            if not isinstance(cfg, dict) or set(cfg) - {"webhook_url", "webhook_secret", "webhook_insecure",
                                                         "webhook_shape"}:
                raise AdminError(400, "expected {\"webhook_url\": URL or null, \"webhook_secret\": S, "
                                      "\"webhook_insecure\": bool, \"webhook_shape\": \"v1\"|\"v2\"}")
            if cfg.get("webhook_shape", "v2") not in ("v1", "v2"):
                raise AdminError(400, "\"webhook_shape\" is \"v1\" or \"v2\"")
            if cfg.get("webhook_url") is not None and not str(cfg["webhook_url"]).startswith(("http://", "https://")):
                raise AdminError(400, "\"webhook_url\" must be an http:// or https:// URL (or null)")
            with sim.lock:
                if "webhook_url" in cfg:
                    sim.webhook_url = cfg["webhook_url"]
                if "webhook_secret" in cfg:
                    sim.webhook_secret = str(cfg["webhook_secret"])
                if "webhook_insecure" in cfg:
                    sim.webhook_insecure = bool(cfg["webhook_insecure"])
                if "webhook_shape" in cfg:
                    sim.webhook_shape = cfg["webhook_shape"]
                return json_response(200, {"webhook_url": sim.webhook_url,
                                           "webhook_insecure": sim.webhook_insecure})
        raise AdminError(404, f"no admin route {method} {path}")


class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, family, sim: Simulator, tls: ssl.SSLContext | None, verbose: bool):
        self.address_family = family
        self.sim = sim
        self.tls = tls
        self.verbose = verbose
        super().__init__(address, Handler)

    def server_bind(self):
        # HTTPServer.server_bind would resolve the host name (getfqdn); a simulator has no use
        # for it and it can stall on a badly configured resolver.
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = self.server_address[1]

    def handle_error(self, request, client_address):
        """A client that hangs up (e.g. after its own timeout, during a "slow" fault) is normal
        here: one line with --verbose, not a traceback; anything else is a bug and says so."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, ssl.SSLError)):
            if self.verbose:
                sys.stderr.write(f"officernd-sim: {client_address[0]} connection ended: {exc!r}\n")
            return
        super().handle_error(request, client_address)

    def finish_request(self, request, client_address):
        """Runs in the connection's thread, so a slow TLS handshake blocks nobody else."""
        if self.tls is None:
            return super().finish_request(request, client_address)
        request.settimeout(HANDSHAKE_TIMEOUT_S)
        try:
            conn = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            if self.verbose:
                sys.stderr.write(f"officernd-sim: {client_address[0]} TLS handshake failed: {exc}\n")
            return None
        try:
            return super().finish_request(conn, client_address)
        finally:
            self.shutdown_request(conn)


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------

def parse_listen(text: str):
    """"host:port" or "[v6]:port" -> (family, sockaddr)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"--listen wants HOST:PORT, got {text!r}")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    infos = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM, flags=socket.AI_NUMERICSERV)
    family, _, _, _, sockaddr = infos[0]
    return family, sockaddr


def write_port_file(path: str, port: int) -> None:
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
    os.replace(tmp, path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="OfficeRnD simulator for radsync's tests and demo.")
    p.add_argument("--fixture", required=True, help="snapshot JSON (members, companies, ...)")
    p.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT to bind (port 0 = pick)")
    p.add_argument("--port-file", help="write the bound port here once listening")
    p.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM)")
    p.add_argument("--tls-key", help="... and this private key (PEM)")
    p.add_argument("--org", default="demo-cowork", help="organization slug")
    p.add_argument("--client-id", default="sim-client")
    p.add_argument("--client-secret", default="sim-secret")
    p.add_argument("--webhook-url", help="POST signed webhooks for admin changes here")
    p.add_argument("--webhook-secret-file", help="webhook signing secret (default sim-webhook-secret)")
    p.add_argument("--webhook-insecure", action="store_true",
                   help="don't verify the webhook target's TLS certificate")
    p.add_argument("--token-ttl", type=int, default=DEFAULT_TOKEN_TTL_S, help="expires_in of tokens")
    p.add_argument("--token-rate-limit", type=int, default=DEFAULT_TOKEN_RATE_LIMIT,
                   help="token requests allowed per rolling minute (0 = unlimited; OfficeRnD: 5)")
    p.add_argument("--verbose", action="store_true", help="log one line per request to stderr")
    args = p.parse_args(argv)

    def fail(message: str) -> int:
        print(f"officernd-sim: {message}", file=sys.stderr)
        return 2

    if bool(args.tls_cert) != bool(args.tls_key):
        return fail("--tls-cert and --tls-key go together")
    if args.token_ttl <= 0:
        return fail("--token-ttl must be positive")
    try:
        with open(args.fixture, "rb") as f:
            snapshot = parse_snapshot(json.load(f))
    except (OSError, ValueError) as exc:
        return fail(f"cannot load fixture {args.fixture}: {exc}")
    webhook_secret = "sim-webhook-secret"
    if args.webhook_secret_file:
        try:
            with open(args.webhook_secret_file, encoding="utf-8") as f:
                webhook_secret = f.read().rstrip("\r\n")
        except OSError as exc:
            return fail(f"cannot read {args.webhook_secret_file}: {exc}")
    tls = None
    if args.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            tls.load_cert_chain(args.tls_cert, args.tls_key)
        except (OSError, ssl.SSLError) as exc:
            return fail(f"cannot load the TLS certificate/key: {exc}")

    sim = Simulator(args.org, args.client_id, args.client_secret, args.token_ttl,
                    args.token_rate_limit, args.webhook_url, webhook_secret, args.webhook_insecure)
    counts = sim.load(snapshot)
    try:
        family, sockaddr = parse_listen(args.listen)
        server = SimServer(sockaddr, family, sim, tls, args.verbose)
    except (ValueError, OSError) as exc:
        return fail(f"cannot listen on {args.listen}: {exc}")

    host, port = server.server_address[:2]
    if args.port_file:
        write_port_file(args.port_file, port)
    scheme = "https" if tls else "http"
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    print(f"officernd-sim: serving {scheme}://{shown}:{port} org={args.org} "
          + " ".join(f"{k}={v}" for k, v in counts.items())
          + (f" webhooks->{args.webhook_url}" if args.webhook_url else ""), file=sys.stderr, flush=True)

    def on_signal(_signum, _frame):
        sim.stopping.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        sim.wait_idle(SHUTDOWN_GRACE_S)
    print("officernd-sim: stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
