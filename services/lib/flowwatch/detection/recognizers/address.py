"""ADDRESS: Chinese street addresses — administrative-division names down to a road and house number."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache

import ahocorasick

from flowwatch.detection.terms import entry, field_is
from flowwatch.detection.types import Match, Recognizer
from flowwatch.divisions import load_admin_regions

SCORE = 0.7
FIELD_SCORE = 0.85
MAX_BACK = 40
"""Characters looked back from the house number for the first division name."""
_SUFFIXES = ("特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "自治州", "地区", "省", "市", "盟")


@cache
def division_names() -> tuple[str, ...]:
    """Province, prefecture and county names from python-stdnum's table (full names, and short names of
    provinces and prefectures: 广东省/广东, 深圳市/深圳), plus HK/Macau/Taiwan places (``terms.yaml``)."""
    names: set[str] = set(entry("ADDRESS")["extra_places"])
    for region in load_admin_regions():
        for name in (region.province, region.prefecture):
            if name:
                names.add(name)
                short = next((name[: -len(s)] for s in _SUFFIXES if name.endswith(s)), name)
                if len(short) >= 2:
                    names.add(short)
        names.add(region.county)
    return tuple(sorted(names))


class AddressRecognizer(Recognizer):
    """A street address: starts at the first administrative-division name (广东省, 深圳市, 南山区, 香港 …)
    and runs to a road (路/街/道/巷/弄/胡同/里/村/段) with a house number (``18号``), then optional
    community, building, unit, floor and room (``阳光花园3栋1203室``). Division names come from
    python-stdnum's administrative-division table; no model needed.

    Anchored on ``<road>\\d+号``, so prose that names places without a house number is not an address.
    """

    entity = "ADDRESS"
    after_labels = False
    needs = "号"
    min_digits = 1
    pattern = re.compile(r"(?<=[路街道巷弄同里村段])\d{1,5}(?:-\d{1,4})?号")
    _anchor = re.compile(r"[路街道巷弄同里村段](\d{1,5}(?:-\d{1,4})?号)")
    """The same as ``pattern`` with the road character consumed: sre skips ahead on it (faster)."""
    _run_char = re.compile(r"[\u4e00-\u9fff0-9A-Za-z·\-]")
    _tail = re.compile(
        r"(?:[\u4e00-\u9fff]{2,8}(?=\d{1,4}(?:栋|幢|号楼|座|楼|层|单元|室)))?"
        r"(?:(?:\d{1,4}[A-Z]?|[A-Z])(?:栋|幢|号楼|座|楼|层|单元|室|房))*"
    )

    def __init__(self) -> None:
        automaton = ahocorasick.Automaton()
        for name in division_names():
            automaton.add_word(name, len(name))
        automaton.make_automaton()
        self._divisions = automaton
        spec = entry("ADDRESS")
        self._cut_words = tuple(spec["cut_words"])
        self._fields = tuple(f.lower() for f in spec["fields"])

    def analyze(self, text: str) -> Iterator[Match]:
        """Addresses anchored on each ``<road><number>号``."""
        last_end = 0
        for m in self._anchor.finditer(text):  # group 1: the house number
            if m.start(1) < last_end:
                continue
            start = self._start(text, m.start(1), last_end)
            if start is None:
                continue
            tail = self._tail.match(text, m.end())
            end = tail.end() if tail else m.end()
            last_end = end
            yield Match(self.entity, start, end, SCORE, text[start:end])

    def _start(self, text: str, number_at: int, floor: int) -> int | None:
        """Start of the address ending at ``number_at``: the first division name in the unbroken run of
        characters before it (after the last cut word such as 地址/家住), or None when there is none."""
        begin = number_at
        limit = max(floor, number_at - MAX_BACK)
        while begin > limit and self._run_char.match(text, begin - 1):
            begin -= 1
        run = text[begin:number_at]
        for word in self._cut_words:
            at = run.rfind(word)
            if at >= 0:
                run, begin = run[at + len(word) :], begin + at + len(word)
        starts = [end_index - length + 1 for end_index, length in self._divisions.iter(run)]
        return begin + min(starts) if starts else None

    def analyze_field(self, value: str, field: str) -> Iterator[Match]:
        """The whole value of an address field when it contains a division name and a number."""
        stripped = value.strip()
        if (
            stripped
            and field_is(field, self._fields)
            and any(c.isdigit() for c in stripped)
            and any(True for _ in self._divisions.iter(stripped))
        ):
            start = value.index(stripped)
            yield Match(self.entity, start, start + len(stripped), FIELD_SCORE, stripped)

    def validate(self, value: str) -> float:
        """``SCORE`` when ``value`` holds a division name and a house number, else 0."""
        has_division = any(True for _ in self._divisions.iter(value))
        return SCORE if has_division and self.pattern.search(value) else 0.0
