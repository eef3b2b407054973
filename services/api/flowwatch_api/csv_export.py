"""CSV exports of the lists (``?format=csv``): the export ledger, the alert queue and the audit log.

A list asked for with ``format=csv`` answers ``text/csv; charset=utf-8`` with every matching item (same filters
and scoping as the JSON list; pages of 500 are fetched until the end, at most ``MAX_ROWS`` rows — the header
``X-Flowwatch-Truncated: true`` says when there were more), as an attachment. The file starts with a UTF-8 byte
order mark, so spreadsheet software (Excel, WPS) reads the Chinese text correctly. Cells that a spreadsheet
would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or CR) are prefixed with ``'``.
Timestamps are RFC 3339 in UTC as in the JSON.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from fastapi import Response

MAX_ROWS = 100_000
PAGE = 500
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}},
          "description": "With `format=csv`: every matching item as CSV (UTF-8 with BOM), as an attachment."},
}
"""The extra OpenAPI response of a list that can answer CSV."""

Column = tuple[str, Callable[[Any], object]]


def cell(value: object) -> str:
    """One CSV cell: None → empty, datetimes RFC 3339, lists joined with ``; ``, dicts as JSON; formula-like
    text defused with a leading ``'``."""
    if value is None:
        text = ""
    elif isinstance(value, datetime):
        text = value.isoformat()
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, list | tuple):
        text = "; ".join(str(v) for v in value)
    elif isinstance(value, dict):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    else:
        text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def pages(fetch: Callable[[str | None], Any]) -> Iterator[Any]:
    """Items of every page: ``fetch(cursor)`` returns a page with ``items`` and ``next_cursor``."""
    cursor: str | None = None
    while True:
        page = fetch(cursor)
        yield from page.items
        cursor = page.next_cursor
        if not cursor:
            return


def csv_response(items: Iterator[Any], columns: list[Column], name: str) -> Response:
    """The CSV file of ``items`` (at most ``MAX_ROWS``) with ``columns`` (header, value of an item)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([header for header, _ in columns])
    truncated = False
    for n, item in enumerate(items):
        if n == MAX_ROWS:
            truncated = True
            break
        writer.writerow([cell(get(item)) for _, get in columns])
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    headers = {"Content-Disposition": f'attachment; filename="{name}-{stamp}.csv"',
               "X-Flowwatch-Truncated": "true" if truncated else "false"}
    return Response(("\ufeff" + buf.getvalue()).encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers=headers)


ALERT_COLUMNS: list[Column] = [
    ("alert_id", lambda a: a.alert_id), ("severity", lambda a: a.severity), ("type", lambda a: a.type),
    ("status", lambda a: a.status), ("title_zh", lambda a: a.texts["zh"].title),
    ("title_en", lambda a: a.title), ("message_zh", lambda a: a.texts["zh"].message),
    ("message_en", lambda a: a.message), ("processor_id", lambda a: a.processor_id),
    ("incident_id", lambda a: a.incident_id), ("obligation", lambda a: a.obligation),
    ("due_at", lambda a: a.due_at), ("count", lambda a: a.count), ("raised_at", lambda a: a.raised_at),
    ("last_raised_at", lambda a: a.last_raised_at), ("assignee", lambda a: a.assignee),
    ("status_reason", lambda a: a.status_reason), ("rule_pack", lambda a: a.rule_pack),
    ("legal_basis", lambda a: f"{a.legal_basis.document} {a.legal_basis.article}"),
]
LEDGER_COLUMNS: list[Column] = [
    ("processor_id", lambda r: r.processor_id), ("processor_name", lambda r: r.processor_name),
    ("pack_id", lambda r: r.pack_id), ("window_id", lambda r: r.window_id),
    ("window_start", lambda r: r.window_start), ("persons", lambda r: r.persons),
    ("sensitive_persons", lambda r: r.sensitive_persons), ("flows", lambda r: r.flows),
    ("required_mechanism", lambda r: r.required_mechanism), ("required_reasons", lambda r: r.required_reasons),
    ("mechanisms_on_file", lambda r: r.mechanisms_on_file),
    ("thresholds", lambda r: [f"{t.name}={t.value}/{t.threshold}{' reached' if t.reached else ''} ({t.article})"
                              for t in r.thresholds]),
    ("updated_at", lambda r: r.updated_at),
]
AUDIT_COLUMNS: list[Column] = [
    ("audit_id", lambda a: a.audit_id), ("at", lambda a: a.at), ("actor_key_id", lambda a: a.actor.key_id),
    ("actor_name", lambda a: a.actor.name), ("actor_role", lambda a: a.actor.role), ("action", lambda a: a.action),
    ("target_type", lambda a: a.target_type), ("target_id", lambda a: a.target_id),
    ("processor_id", lambda a: a.processor_id), ("reason", lambda a: a.reason), ("details", lambda a: a.details),
]
