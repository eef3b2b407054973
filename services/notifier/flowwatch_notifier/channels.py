"""Message formats and signing schemes of each channel (pure functions: no I/O).

- **webhook** — JSON ``{"notification_id", "kind": "alert", "alert": Alert, "texts": {"zh", "en"}, "sent_at"}``,
  signed with HMAC-SHA256 under the route's secret over ``"<timestamp>." + body``: headers
  ``X-Flowwatch-Timestamp`` (Unix seconds), ``X-Flowwatch-Signature: sha256=<hex>``, and
  ``X-Flowwatch-Notification`` (the deterministic notification id, for the receiver's own dedupe).
- **dingtalk** — custom group robot, ``msgtype: markdown``; with a signing secret (加签) the URL gets
  ``timestamp`` (ms) and ``sign`` = URL-encoded Base64 of HMAC-SHA256(key = secret, msg = ``"<timestamp>\\n<secret>"``).
  Success: ``{"errcode": 0}``.
- **wecom** (企业微信群机器人) — ``msgtype: markdown`` (content ≤ 4,096 bytes); the URL's ``key`` is the
  credential, no signature. Success: ``{"errcode": 0}``.
- **feishu** / **lark** — custom bot, ``msg_type: text``; with signature verification (签名校验) the body gets
  ``timestamp`` (s) and ``sign`` = Base64 of HMAC-SHA256(key = ``"<timestamp>\\n<secret>"``, msg = empty).
  Success: ``{"code": 0}`` (older bots answer ``{"StatusCode": 0}``).
- **email** — a plain-text ``EmailMessage`` (UTF-8), subject = the title.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from flowwatch.alert_texts import CHINA, AlertText, catalogue
from flowwatch.alerts import Alert
from flowwatch.notifications.models import Channel, Language

WECOM_MAX_BYTES = 4096


@dataclass(frozen=True)
class HttpRequest:
    """A POST to send: URL, headers and the exact body bytes (what was signed)."""

    url: str
    headers: dict[str, str]
    body: bytes


def webhook_signature(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>`` (header ``X-Flowwatch-Signature``)."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk 加签: URL-encoded Base64 of HMAC-SHA256(key=secret, msg="<timestamp_ms>\\n<secret>")."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest).decode())


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu/Lark 签名校验: Base64 of HMAC-SHA256(key="<timestamp_s>\\n<secret>", msg=b"")."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _severity(alert: Alert, language: Language) -> str:
    zh = catalogue()["severities"].get(str(alert.severity), str(alert.severity))
    return {"zh": zh, "en": str(alert.severity), "zh+en": f"{zh} {alert.severity}"}[language]


def title_of(alert: Alert, texts: dict[str, AlertText], language: Language) -> str:
    """``[severity] title`` in the route's language(s)."""
    title = {"zh": texts["zh"].title, "en": texts["en"].title,
             "zh+en": f"{texts['zh'].title} / {texts['en'].title}"}[language]
    return f"[{_severity(alert, language)}] {title}"


def lines_of(alert: Alert, texts: dict[str, AlertText], language: Language) -> list[str]:
    """The message body as lines (title first), in the route's language(s)."""
    lines = [title_of(alert, texts, language)]
    if language in ("zh", "zh+en"):
        lines.append(texts["zh"].message)
    if language in ("en", "zh+en"):
        lines.append(texts["en"].message)
    facts = [f"processor: {alert.processor_id}", f"type: {alert.type}", f"alert: {alert.alert_id}"]
    if alert.incident_id:
        facts.insert(1, f"incident: {alert.incident_id}")
    if alert.due_at:
        facts.append(f"due: {alert.due_at.astimezone(CHINA).isoformat()}")
    facts.append(f"basis: {alert.legal_basis.document} {alert.legal_basis.article}")
    return [*lines, " · ".join(facts)]


def _markdown(lines: list[str]) -> str:
    head, *rest = lines
    return "\n\n".join([f"### {head}", *rest])


def _truncate_utf8(text: str, limit: int) -> str:
    raw = text.encode()
    return text if len(raw) <= limit else raw[: limit - 3].decode("utf-8", "ignore") + "…"


def http_request(channel: Channel, alert: Alert, texts: dict[str, AlertText], language: Language,
                 notification_id: str, now: datetime | None = None) -> HttpRequest:
    """The signed POST of ``alert`` for an HTTP channel (every kind but ``email``). Raises ValueError for
    ``email``."""
    now = now or datetime.now(UTC)
    secret = channel.secret.get_secret_value() if channel.secret else None
    lines = lines_of(alert, texts, language)
    json_headers = {"Content-Type": "application/json; charset=utf-8"}
    body: dict[str, Any]
    if channel.kind == "webhook":
        payload = {"notification_id": notification_id, "kind": "alert", "alert": alert.model_dump(mode="json"),
                   "texts": {k: v.model_dump() for k, v in texts.items()}, "sent_at": now.isoformat()}
        raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        ts = int(now.timestamp())
        headers = {**json_headers, "X-Flowwatch-Notification": notification_id, "X-Flowwatch-Timestamp": str(ts)}
        if secret:
            headers["X-Flowwatch-Signature"] = webhook_signature(secret, ts, raw)
        return HttpRequest(channel.url, headers, raw)
    if channel.kind == "dingtalk":
        body = {"msgtype": "markdown", "markdown": {"title": lines[0][:64], "text": _markdown(lines)}}
        url = channel.url
        if secret:
            ts_ms = int(now.timestamp() * 1000)
            url += ("&" if "?" in url else "?") + f"timestamp={ts_ms}&sign={dingtalk_sign(secret, ts_ms)}"
        return HttpRequest(url, json_headers, json.dumps(body, ensure_ascii=False).encode())
    if channel.kind == "wecom":
        body = {"msgtype": "markdown", "markdown": {"content": _truncate_utf8(_markdown(lines), WECOM_MAX_BYTES)}}
        return HttpRequest(channel.url, json_headers, json.dumps(body, ensure_ascii=False).encode())
    if channel.kind in ("feishu", "lark"):
        body = {"msg_type": "text", "content": {"text": "\n".join(lines)}}
        if secret:
            ts_s = int(now.timestamp())
            body = {"timestamp": str(ts_s), "sign": feishu_sign(secret, ts_s), **body}
        return HttpRequest(channel.url, json_headers, json.dumps(body, ensure_ascii=False).encode())
    raise ValueError(f"{channel.kind} is not an HTTP channel")


def accepted(kind: str, status: int, body: bytes) -> tuple[bool, str | None]:
    """Whether an HTTP answer means delivered: 2xx and, for the bots, their own success code in the JSON body.
    Returns ``(ok, error)``."""
    if not 200 <= status < 300:
        return False, f"HTTP {status}: {body[:300].decode('utf-8', 'replace')}"
    if kind == "webhook":
        return True, None
    try:
        answer = json.loads(body or b"{}")
    except ValueError:
        return False, f"not JSON: {body[:200].decode('utf-8', 'replace')}"
    code = answer.get("errcode", answer.get("code", answer.get("StatusCode", 0)))
    if code not in (0, "0", None):
        return False, f"{kind} error {code}: {answer.get('errmsg') or answer.get('msg') or answer.get('StatusMessage')}"
    return True, None


def email_message(channel: Channel, alert: Alert, texts: dict[str, AlertText], language: Language,
                  notification_id: str) -> EmailMessage:
    """The e-mail of ``alert`` (plain text, UTF-8; ``Message-ID`` derived from the notification id)."""
    lines = lines_of(alert, texts, language)
    msg = EmailMessage()
    msg["Subject"] = lines[0]
    msg["From"] = channel.sender or ""
    msg["To"] = ", ".join(channel.recipients)
    msg["Message-ID"] = f"<{notification_id}@flowwatch>"
    msg["X-Flowwatch-Notification"] = notification_id
    msg.set_content("\n\n".join(lines))
    return msg
