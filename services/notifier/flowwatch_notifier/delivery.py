"""Delivering one notification: the tries, the back-off between them, and when to give up.

``deliver`` tries up to ``RetryPolicy.attempts`` times. Between tries it waits ``base · factor^(n-1)`` seconds
(capped at ``max_delay``, ±``jitter``). A connection error, a timeout, HTTP 408/429/5xx, a bot's error code
(rate limit and others: DingTalk/WeCom ``errcode``, Feishu/Lark ``code``) or an SMTP error is retried; any
other HTTP 4xx is permanent (the URL or the credentials are wrong) and ends the tries at once. Returns the
attempts and whether the last one succeeded; the caller dead-letters the notification otherwise.
"""

from __future__ import annotations

import random
import smtplib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx

from flowwatch.alert_texts import AlertText
from flowwatch.alerts import Alert
from flowwatch.notifications.models import Attempt, Route
from flowwatch_notifier.channels import accepted, email_message, http_request

PERMANENT = frozenset(range(400, 500)) - {408, 425, 429}


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to try: ``attempts`` in all; waits in seconds."""

    attempts: int = 5
    base: float = 1.0
    factor: float = 2.0
    max_delay: float = 60.0
    jitter: float = 0.1
    timeout: float = 10.0

    def delay(self, tried: int) -> float:
        """Seconds to wait after the ``tried``-th failed try (1-based)."""
        raw = min(self.max_delay, self.base * self.factor ** (tried - 1))
        return max(0.0, raw * (1 + random.uniform(-self.jitter, self.jitter)))


def _send_http(route: Route, alert: Alert, texts: dict[str, AlertText], nid: str, client: httpx.Client,
               policy: RetryPolicy) -> tuple[Attempt, bool]:
    request = http_request(route.channel, alert, texts, route.language, nid)
    now = datetime.now(UTC)
    try:
        resp = client.post(request.url, content=request.body, headers=request.headers, timeout=policy.timeout)
    except httpx.HTTPError as exc:
        return Attempt(at=now, error=f"{type(exc).__name__}: {exc}"[:500]), False
    _, error = accepted(route.channel.kind, resp.status_code, resp.content)
    return Attempt(at=now, status=resp.status_code, error=error), resp.status_code in PERMANENT


def _send_email(route: Route, alert: Alert, texts: dict[str, AlertText], nid: str,
                policy: RetryPolicy) -> tuple[Attempt, bool]:
    ch = route.channel
    parts = urlsplit(ch.url)
    host, secure = parts.hostname or "localhost", parts.scheme == "smtps"
    port = parts.port or (465 if secure else 25)
    now = datetime.now(UTC)
    try:
        smtp_class = smtplib.SMTP_SSL if secure else smtplib.SMTP
        with smtp_class(host, port, timeout=policy.timeout) as smtp:
            if ch.starttls and not secure:
                smtp.starttls()
            if ch.username:
                smtp.login(ch.username, ch.secret.get_secret_value() if ch.secret else "")
            refused = smtp.send_message(email_message(ch, alert, texts, route.language, nid))
    except (smtplib.SMTPException, OSError) as exc:
        permanent = isinstance(exc, smtplib.SMTPAuthenticationError)
        return Attempt(at=now, error=f"{type(exc).__name__}: {exc}"[:500]), permanent
    if refused:
        return Attempt(at=now, status=250, error=f"refused recipients: {sorted(refused)}"), False
    return Attempt(at=now, status=250), False


def deliver(route: Route, alert: Alert, texts: dict[str, AlertText], nid: str, client: httpx.Client,
            policy: RetryPolicy, sleep: Callable[[float], None] = time.sleep) -> tuple[bool, list[Attempt]]:
    """Try to deliver ``alert`` over ``route`` (see module doc). Returns ``(delivered, attempts)``."""
    attempts: list[Attempt] = []
    for n in range(1, policy.attempts + 1):
        if route.channel.kind == "email":
            attempt, permanent = _send_email(route, alert, texts, nid, policy)
        else:
            attempt, permanent = _send_http(route, alert, texts, nid, client, policy)
        attempts.append(attempt)
        if attempt.error is None:
            return True, attempts
        if permanent or n == policy.attempts:
            break
        sleep(policy.delay(n))
    return False, attempts
