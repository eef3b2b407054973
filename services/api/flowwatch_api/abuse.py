"""API abuse limits (issue 17 point 4): per-key rate limits and request-size limits.

**Rate limits** are token buckets per authenticated API key id (``Principal.key_id``; for OIDC tokens the
subject id), one table per budget:

- ``ingest``: ``POST /v1/events``, counted in **events** (a batch of n events costs n tokens;
  ``FLOWWATCH_API_RATE_INGEST_EVENTS`` per second, bucket ``FLOWWATCH_API_RATE_INGEST_BURST`` ≥ one full batch).
  Authentication checks that the bucket holds at least one token, and that the ``Retry-After`` of the key's
  last refusal has passed, before the body is read; the route takes the batch's n tokens after splitting
  it, or answers 429 and produces nothing (all or nothing: nothing
  within the limit is dropped, nothing beyond it is half-accepted).
- ``write``: every other POST/PUT/PATCH/DELETE under ``/v1``, in requests (taken before the body is read:
  ``AuthFirstRoute`` authenticates first).
- ``read``: GET/HEAD under ``/v1``, in requests; generous by default (100/s, burst 400 per key) — it keeps one
  key from monopolising Elasticsearch, it is not meant to shape normal use.
- ``auth``: failed authentications (401) per **client IP** (as uvicorn reports it: behind a proxy set
  ``FLOWWATCH_API_FORWARDED_ALLOW_IPS``). Once an IP has used its burst, its requests get 429 before any key
  lookup, so guessing keys cannot turn into Elasticsearch load; a key already cached as valid still passes.

Exceeding a budget answers 429 ``application/problem+json`` (``flowwatch_api.problems``) with
``Retry-After`` = whole seconds until the bucket holds the request's cost (at least 1) and the extension member
``budget`` (ingest | write | read | auth). A rejected request takes no tokens.

The buckets live **in the process** (one API replica): N replicas behind a load balancer admit up to N × each
limit per key. That bounds abuse per replica and needs no extra infrastructure; a cluster-wide limit would
need a shared store (Redis ``limits``-style counters) — future work. A small token bucket is written here
rather than taking ``limits``/``slowapi``: those offer fixed/moving windows (not a bucket that refills
continuously and can charge a batch its event count), slowapi works through decorators per route and
``BaseHTTPMiddleware``, and neither knows the key id, which is only known after our own authentication.
Memory is bounded: a table holds at most ``FLOWWATCH_API_RATE_MAX_TRACKED`` entries; entries whose bucket has
refilled (idle: forgetting them changes nothing) are evicted first, then the least recently seen.

**Request-size limits**: ``RequestLimits`` is a pure ASGI middleware (no ``BaseHTTPMiddleware``: it must see
the body stream, not a buffered body). A ``Content-Length`` above the limit is answered 413 at once, before the
app runs; otherwise the bytes are counted as the app reads them and the read that crosses the limit raises
413 (the rest is never read: uvicorn stops reading a socket whose buffered body is not consumed, so memory
stays at one buffer). A body that takes longer than ``FLOWWATCH_API_BODY_TIMEOUT`` seconds to arrive gets 408.
Both answers carry ``Connection: close``. Starlette's ``RequestBodyLimitMiddleware`` was not used: its 413 is
plain text (not a problem), it has one limit per app or route, and it checks ``Content-Length`` only when the
app first reads.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal

import orjson
from fastapi import HTTPException, Request, status
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flowwatch.settings import ApiSettings
from flowwatch_api.problems import MEDIA_TYPE

Budget = Literal["ingest", "write", "read", "auth"]
INGEST_PATH = "/v1/events"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CHARGED_SCOPE_KEY = "flowwatch.rate_charged"
"""Set in the ASGI scope once a request has been charged (authentication may run twice per request)."""


@dataclass
class TokenBucket:
    """A bucket of at most ``burst`` tokens refilled at ``rate`` tokens per second (``stamp``: monotonic
    seconds of the last refill)."""

    rate: float
    burst: float
    tokens: float
    stamp: float
    blocked_until: float = 0.0
    """Monotonic seconds until which ``peek`` answers "wait": the ``Retry-After`` of the last refusal."""

    def refill(self, now: float) -> None:
        """Add the tokens earned since ``stamp`` (capped at ``burst``)."""
        if now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now

    def wait(self, cost: float) -> float:
        """Seconds until the bucket holds ``cost`` tokens (0.0: it does now). Call ``refill`` first."""
        return 0.0 if self.tokens >= cost else (cost - self.tokens) / self.rate

    def full(self, now: float) -> bool:
        """Whether the bucket would be full at ``now`` (then it can be forgotten without changing anything)."""
        return self.tokens + (now - self.stamp) * self.rate >= self.burst


class BucketTable:
    """Thread-safe token buckets by key (API key id or client IP), bounded to ``max_entries``.

    ``rate``: tokens per second (> 0); ``burst``: bucket size; ``clock``: monotonic seconds, injectable.
    Routes run in the threadpool, hence the lock (held for a few dictionary operations only).
    """

    def __init__(self, rate: float, burst: float, max_entries: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or burst <= 0 or max_entries < 1:
            raise ValueError("rate and burst must be > 0 and max_entries >= 1")
        self.rate, self.burst, self.max_entries = rate, float(burst), max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def _bucket(self, key: str, now: float) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, self.burst, now)
        else:
            self._buckets.move_to_end(key)
            bucket.refill(now)
        # the least recently seen come first: drop those that are full again (lossless), then the oldest
        while len(self._buckets) > 1:
            oldest_key, oldest = next(iter(self._buckets.items()))
            if oldest_key == key or not (oldest.full(now) or len(self._buckets) > self.max_entries):
                break
            del self._buckets[oldest_key]
        return bucket

    def take(self, key: str, cost: float = 1.0) -> float:
        """Take ``cost`` tokens from ``key``'s bucket. Returns 0.0 when taken, else the seconds until they would
        be there (nothing taken). Raises ValueError when ``cost`` exceeds the bucket size (never possible)."""
        if cost > self.burst:
            raise ValueError(f"cost {cost} exceeds the bucket size {self.burst}")
        with self._lock:
            now = self._clock()
            bucket = self._bucket(key, now)
            wait = bucket.wait(cost)
            if wait == 0.0:
                bucket.tokens -= cost
            else:
                bucket.blocked_until = now + wait
            return wait

    def peek(self, key: str, cost: float = 1.0) -> float:
        """Seconds until ``key``'s bucket holds ``cost`` tokens (0.0: now), and at least until the end of the
        wait its last refusal announced (so a client that ignores ``Retry-After`` is refused before its next
        body is read, not after); takes nothing."""
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(key)
            if bucket is None:
                return 0.0 if cost <= self.burst else math.inf
            bucket.refill(now)
            return max(bucket.wait(cost), bucket.blocked_until - now, 0.0)


def retry_after(wait: float) -> str:
    """``Retry-After`` value (RFC 9110: whole seconds) for a wait of ``wait`` seconds: rounded up, at least 1."""
    return str(max(1, math.ceil(wait)))


def too_many(budget: Budget, wait: float, what: str) -> HTTPException:
    """The 429 to raise: problem ``detail`` ``what``, ``Retry-After`` from ``wait``, extension ``budget``."""
    exc = HTTPException(status_code=status.HTTP_429_TOO_MANY_REQUESTS, detail=what,
                        headers={"Retry-After": retry_after(wait)})
    exc.problem = {"budget": budget}  # type: ignore[attr-defined]  # read by problems.on_http_error
    return exc


def budget_of(method: str, path: str) -> Budget:
    """Which per-key budget a request to ``method`` ``path`` spends."""
    if method in READ_METHODS:
        return "read"
    if method == "POST" and path.rstrip("/") == INGEST_PATH:
        return "ingest"
    return "write"


class RateLimits:
    """The API's budgets (``None`` where the rate setting is 0: that budget is off)."""

    def __init__(self, settings: ApiSettings, clock: Callable[[], float] = time.monotonic) -> None:
        cap = settings.api_rate_max_tracked

        def table(rate: float, burst: int) -> BucketTable | None:
            return BucketTable(rate, burst, cap, clock) if rate > 0 else None

        self.tables: dict[Budget, BucketTable | None] = {
            "ingest": table(settings.api_rate_ingest_events, settings.api_rate_ingest_burst),
            "write": table(settings.api_rate_write, settings.api_rate_write_burst),
            "read": table(settings.api_rate_read, settings.api_rate_read_burst),
            "auth": table(settings.api_rate_auth_failures, settings.api_rate_auth_failures_burst),
        }

    def charge_request(self, request: Request, key_id: str) -> None:
        """Charge an authenticated request once: one request token (write/read) or, for ingest, check that one
        event token is there (the route takes the batch's count). Raises HTTPException 429."""
        if request.scope.get(CHARGED_SCOPE_KEY):
            return
        budget = budget_of(request.method, request.url.path)
        bucket = self.tables[budget]
        if bucket is not None:
            wait = bucket.peek(key_id) if budget == "ingest" else bucket.take(key_id)
            if wait:
                raise too_many(budget, wait, f"rate limit of this API key exceeded ({budget} requests)")
        request.scope[CHARGED_SCOPE_KEY] = True

    def take_events(self, key_id: str, count: int) -> None:
        """Take ``count`` ingest tokens for a batch of ``count`` events. Raises HTTPException 429 (nothing taken)."""
        bucket = self.tables["ingest"]
        if bucket is None:
            return
        wait = bucket.take(key_id, count)
        if wait:
            raise too_many("ingest", wait, f"event rate limit of this API key exceeded: {count} events would "
                           f"need {wait:.1f} s more budget; nothing was accepted, send the batch again later")

    def check_auth_failures(self, client: str) -> None:
        """Before a key lookup: 429 when ``client`` (an IP) has used up its failed-authentication budget."""
        bucket = self.tables["auth"]
        if bucket is not None and (wait := bucket.peek(client)):
            raise too_many("auth", wait, "too many failed authentications from this address")

    def auth_failed(self, client: str) -> None:
        """Count one failed authentication of ``client`` (an IP)."""
        bucket = self.tables["auth"]
        if bucket is not None:
            bucket.take(client)


def rate_limits_of(request: Request) -> RateLimits | None:
    """The app's ``RateLimits`` (``None`` in apps built without them)."""
    limits: RateLimits | None = getattr(request.app.state, "rate_limits", None)
    return limits


def client_ip(request: Request) -> str:
    """The client address uvicorn reports (after its trusted-proxy handling), ``unknown`` without one."""
    return request.client.host if request.client else "unknown"


# ---------------------------------------------------------------------------------------------------
# Request-size limits (pure ASGI)
# ---------------------------------------------------------------------------------------------------


class BodyTooLarge(HTTPException):
    """413 raised from ``receive`` when the body crosses the limit (handled as any HTTPException)."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=status.HTTP_413_CONTENT_TOO_LARGE,
                         detail=f"request body over {limit:,} bytes", headers={"Connection": "close"})


class BodyTimeout(HTTPException):
    """408 raised from ``receive`` when the body did not arrive within the body timeout."""

    def __init__(self, seconds: float) -> None:
        super().__init__(status_code=status.HTTP_408_REQUEST_TIMEOUT,
                         detail=f"request body not received within {seconds:g} s", headers={"Connection": "close"})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_problem(send: Send, exc: HTTPException) -> None:
    body = orjson.dumps({"type": "about:blank", "title": HTTPStatus(exc.status_code).phrase,
                         "status": exc.status_code, "detail": exc.detail})
    headers = [(b"content-type", MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]
    await send({"type": "http.response.start", "status": exc.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestLimits:
    """Pure ASGI middleware: body-size limits (``ingest_max`` bytes for ``POST /v1/events``, ``other_max`` for
    every other request) and a body deadline (``body_timeout`` seconds from the first read). See module doc."""

    def __init__(self, app: ASGIApp, ingest_max: int, other_max: int, body_timeout: float) -> None:
        self.app, self.ingest_max, self.other_max, self.body_timeout = app, ingest_max, other_max, body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ingest = budget_of(scope["method"], scope["path"]) == "ingest"
        limit = self.ingest_max if ingest else self.other_max
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _send_problem(send, BodyTooLarge(limit))
            return
        received = 0
        deadline: float | None = None
        body_done = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, deadline, body_done
            if body_done:  # after the body only http.disconnect can come: no deadline on waiting for it
                return await receive()
            loop = asyncio.get_running_loop()
            if deadline is None:
                deadline = loop.time() + self.body_timeout
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                raise BodyTimeout(self.body_timeout) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
                body_done = not message.get("more_body", False)
            else:
                body_done = True
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except (BodyTooLarge, BodyTimeout) as exc:  # not turned into a response further in (e.g. no handler)
            if started:
                raise
            await _send_problem(send, exc)


def install(app: Any, settings: ApiSettings) -> None:
    """Put the rate limits on ``app.state.rate_limits`` and the ``RequestLimits`` middleware on ``app``."""
    app.state.rate_limits = RateLimits(settings)
    app.add_middleware(RequestLimits, ingest_max=settings.api_max_body_ingest, other_max=settings.api_max_body,
                       body_timeout=settings.api_body_timeout)
