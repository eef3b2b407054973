"""Notification routes and delivery records (issue 15 point 1): the contract the API writes and the notifier reads.

A **route** says which alerts go where: ``match`` (severities, alert types, processor ids; an empty list
matches everything) and one ``channel`` (a JSON webhook, a DingTalk / WeCom / Feishu / Lark group bot, or
SMTP e-mail). Routes are managed through the query service (``/v1/notification-routes``, audited) and kept in
``<prefix>-notify-routes`` (document id ``route_id``). A channel's ``secret`` (HMAC key of a webhook, signing
secret of a bot, SMTP password) is stored there and never served back (``has_secret`` instead).

A **notification** is one delivery of one alert over one route, kept in ``<prefix>-notifications``. Its id
is deterministic — ``notification_id(route_id, alert_id, severity)`` — so a replayed alert message finds the
record and sends nothing, while an *escalation* (a new alert such as an obligation turning overdue, or the
same alert raised again at a higher severity) gets a new id and one new notification.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from flowwatch.alerts import Alert, Severity

ChannelKind = Literal["webhook", "dingtalk", "wecom", "feishu", "lark", "email"]
Language = Literal["zh", "en", "zh+en"]
NotificationState = Literal["sending", "delivered", "dead_lettered"]

ROUTE_ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"


class RouteMatch(BaseModel):
    """Which alerts a route takes: every non-empty list must contain the alert's value (AND of the lists)."""

    model_config = ConfigDict(extra="forbid")

    severities: list[Severity] = Field(default_factory=list, description="e.g. [critical, high]; empty: any.")
    types: list[str] = Field(default_factory=list, description="Alert types, e.g. obligation_overdue; a trailing "
                             "`*` matches a prefix (export_*); empty: any.")
    processor_ids: list[str] = Field(default_factory=list, description="Processor ids; empty: any.")

    def matches(self, alert: Alert) -> bool:
        """Whether ``alert`` passes every non-empty list."""
        if self.severities and alert.severity not in self.severities:
            return False
        if self.processor_ids and alert.processor_id not in self.processor_ids:
            return False
        return not self.types or any(alert.type.startswith(t[:-1]) if t.endswith("*") else alert.type == t
                                     for t in self.types)


class Channel(BaseModel):
    """Where a route delivers. ``url``: the webhook or bot URL (DingTalk with its ``access_token``, WeCom with
    its ``key``, Feishu/Lark ``…/open-apis/bot/v2/hook/<token>``); e-mail: ``smtp://host:port`` or
    ``smtps://host:port`` plus ``sender``, ``recipients`` and optionally ``username`` (password in ``secret``).
    ``secret``: the webhook's HMAC key, the bot's signing secret (DingTalk ``SEC…``, Feishu/Lark), or the
    SMTP password."""

    model_config = ConfigDict(extra="forbid")

    kind: ChannelKind
    url: str = Field(min_length=1, max_length=2000)
    secret: SecretStr | None = None
    sender: str | None = Field(default=None, description="E-mail: the From address.")
    recipients: list[str] = Field(default_factory=list, description="E-mail: the To addresses.")
    username: str | None = Field(default=None, description="E-mail: SMTP login (password in `secret`).")
    starttls: bool = Field(default=False, description="E-mail over smtp://: upgrade with STARTTLS.")

    @model_validator(mode="after")
    def _check(self) -> Channel:
        if self.kind == "email":
            if not self.url.startswith(("smtp://", "smtps://")):
                raise ValueError("an e-mail channel's url is smtp://host:port or smtps://host:port")
            if not self.sender or not self.recipients:
                raise ValueError("an e-mail channel needs sender and recipients")
        elif not self.url.startswith(("http://", "https://")):
            raise ValueError(f"a {self.kind} channel's url is an http(s) URL")
        return self


class RouteSpec(BaseModel):
    """The writable part of a route (body of ``PUT /v1/notification-routes/{route_id}``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    enabled: bool = True
    match: RouteMatch = Field(default_factory=RouteMatch)
    channel: Channel
    language: Language = Field(default="zh+en", description="Text of the message: Chinese, English or both.")


class Route(RouteSpec):
    """A stored route."""

    route_id: str = Field(pattern=ROUTE_ID_PATTERN)
    updated_at: datetime
    updated_by: str

    def stored(self) -> dict[str, object]:
        """The Elasticsearch document, secret included (only the notifier reads it back)."""
        doc = self.model_dump(mode="json")
        doc["channel"]["secret"] = self.channel.secret.get_secret_value() if self.channel.secret else None
        return doc


class ChannelView(BaseModel):
    """A channel as the API shows it: everything but the secret (and the bot token in the URL)."""

    kind: ChannelKind
    url: str = Field(description="The URL with its query string and token path masked.")
    has_secret: bool
    sender: str | None = None
    recipients: list[str] = Field(default_factory=list)
    username: str | None = None
    starttls: bool = False


class RouteView(BaseModel):
    """A route as the API shows it."""

    route_id: str
    name: str
    enabled: bool
    match: RouteMatch
    channel: ChannelView
    language: Language
    updated_at: datetime
    updated_by: str


def mask_url(url: str) -> str:
    """``url`` without its credentials: the query string (DingTalk ``access_token``, WeCom ``key``) and the last
    path segment of a bot hook are replaced by ``***``."""
    base, _, query = url.partition("?")
    if "/hook/" in base:
        base = base.rsplit("/", 1)[0] + "/***"
    return base + ("?***" if query else "")


def view_of(route: Route) -> RouteView:
    """The public view of ``route``."""
    ch = route.channel
    return RouteView(route_id=route.route_id, name=route.name, enabled=route.enabled, match=route.match,
                     language=route.language, updated_at=route.updated_at, updated_by=route.updated_by,
                     channel=ChannelView(kind=ch.kind, url=mask_url(ch.url), has_secret=ch.secret is not None,
                                         sender=ch.sender, recipients=ch.recipients, username=ch.username,
                                         starttls=ch.starttls))


class Attempt(BaseModel):
    """One try of a delivery: when, the HTTP status (or SMTP reply) and the error, if any."""

    at: datetime
    status: int | None = None
    error: str | None = None


class Notification(BaseModel):
    """One delivery of one alert over one route (see module doc). ``dead_lettered``: every try failed; the
    record keeps the alert and the attempts for a later look (the dead-letter path)."""

    notification_id: str
    route_id: str
    channel_kind: ChannelKind
    alert_id: str
    alert_type: str
    severity: Severity
    processor_id: str
    incident_id: str | None = None
    title: str = Field(description="The alert's title in English, as generated.")
    title_zh: str | None = Field(default=None, description="Its Chinese title (message catalogue).")
    state: NotificationState
    created_at: datetime
    updated_at: datetime
    attempts: list[Attempt] = Field(default_factory=list)
    last_error: str | None = None
    alert: dict[str, object] = Field(default_factory=dict, description="The alert as received (JSON).")


def notification_id(route_id: str, alert_id: str, severity: str) -> str:
    """Deterministic id of the notification of alert ``alert_id`` at ``severity`` over route ``route_id``:
    SHA-256 hex of ``route|alert|severity``."""
    return hashlib.sha256(f"notification/v1|{route_id}|{alert_id}|{severity}".encode()).hexdigest()
