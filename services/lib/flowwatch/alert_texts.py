"""Chinese and English titles and messages of alerts: a message catalogue applied on read (issue 15 point 3).

Alerts carry the English title and message their generator wrote (``flowwatch.incidents.alerts``,
``flowwatch.exports.evaluate``). ``localized(alert)`` adds the Chinese ones, rebuilt from the alert's
structured fields (type, processor, incident, obligation, due time, legal basis) with the templates of
``alert_texts.yaml`` (package data); the dynamic parts of an English title (a threshold, a recipient, a
mechanism id) are taken from it with the entry's ``title_match`` regex. Alerts whose fields do not hold every
detail (export alerts: event, recipient, region live only in the generated text) end their Chinese message
with that English text (``原文：…``), so no detail is lost. Times are shown in Beijing time
(Asia/Shanghai). The generators stay untouched: a new alert type without an entry gets the catalogue's
fallback text, never an error.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files
from typing import Any, Literal

import yaml
from pydantic import BaseModel

from flowwatch.alerts import Alert
from flowwatch.wire import CHINA

Language = Literal["zh", "en"]


class AlertText(BaseModel):
    """Title and message of an alert in one language."""

    title: str
    message: str


class _Default(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "—"


@cache
def catalogue() -> dict[str, Any]:
    """The parsed ``alert_texts.yaml`` (read once)."""
    data: dict[str, Any] = yaml.safe_load(files("flowwatch").joinpath("alert_texts.yaml").read_text("utf-8"))
    return data


def _fields(alert: Alert) -> _Default:
    cat = catalogue()
    due = alert.due_at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M（北京时间）") if alert.due_at else "—"
    obligation = str(alert.obligation) if alert.obligation else ""
    return _Default(
        processor_id=alert.processor_id, incident_id=alert.incident_id or "—",
        obligation=cat["obligations"].get(obligation, obligation or "—"), due_at=due,
        document=alert.legal_basis.document, article=alert.legal_basis.article,
        severity=cat["severities"].get(str(alert.severity), str(alert.severity)), type=alert.type,
        details="" if alert.obligation else f"原文：{alert.message}",
    )


def chinese(alert: Alert) -> AlertText:
    """The Chinese title and message of ``alert`` (see module doc)."""
    cat = catalogue()
    values = _fields(alert)
    # incident alerts say whether their obligation is binding law or Flowwatch policy: "[law] …" / "[policy] …"
    kind = _KIND.match(alert.title)
    english = alert.title[kind.end():] if kind else alert.title
    mark = _KIND_ZH[kind.group(1)] if kind else ""
    for entry in cat["types"].get(alert.type, []):
        pattern = entry.get("title_match")
        match = re.search(pattern, english) if pattern else None
        if pattern and match is None:
            continue
        if match is not None:
            groups = {k: v for k, v in match.groupdict().items() if v is not None}
            if "metric" in groups:
                groups["metric"] = cat["metrics"].get(groups["metric"], groups["metric"])
            values.update(groups)
        return AlertText(title=mark + entry["title"].format_map(values), message=entry["message"].format_map(values))
    fallback = cat["fallback"]
    return AlertText(title=mark + fallback["title"].format_map(values),
                     message=fallback["message"].format_map(values))


_KIND = re.compile(r"^\[(law|policy)\]\s*")
_KIND_ZH = {"law": "【法定】", "policy": "【内部政策】"}


def localized(alert: Alert) -> dict[str, AlertText]:
    """``{"zh": ..., "en": ...}``: the catalogue's Chinese text and the generator's English one."""
    return {"zh": chinese(alert), "en": AlertText(title=alert.title, message=alert.message)}
