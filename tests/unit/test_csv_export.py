"""CSV cells of the list exports (issue 15 point 5): types, formula defusal, truncation."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from flowwatch_api import csv_export
from flowwatch_api.csv_export import cell, csv_response


def test_cells() -> None:
    assert cell(None) == "" and cell(True) == "true" and cell(["a", "b"]) == "a; b"
    assert cell(datetime(2026, 12, 3, 6, 0, tzinfo=UTC)) == "2026-12-03T06:00:00+00:00"
    assert cell({"b": 1, "a": "中"}) == '{"a": "中", "b": 1}'
    for dangerous in ("=HYPERLINK(\"x\")", "+1", "-2+3", "@SUM(A1)", "\tx"):
        assert cell(dangerous) == "'" + dangerous  # a spreadsheet would run it as a formula


def test_response_has_bom_header_and_truncation_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    items = (SimpleNamespace(a=i, b=f"名{i}") for i in range(5))
    resp = csv_response(iter(items), [("a", lambda x: x.a), ("b", lambda x: x.b)], "t")
    body = bytes(resp.body)
    assert body.startswith("\ufeff".encode()) and resp.headers["x-flowwatch-truncated"] == "false"
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == ["a", "b"] and rows[1:] == [[str(i), f"名{i}"] for i in range(5)]
    monkeypatch.setattr(csv_export, "MAX_ROWS", 3)
    resp = csv_response(iter(SimpleNamespace(a=i) for i in range(5)), [("a", lambda x: x.a)], "t")
    assert resp.headers["x-flowwatch-truncated"] == "true"
    assert len(list(csv.reader(io.StringIO(bytes(resp.body).decode("utf-8-sig"))))) == 1 + 3
