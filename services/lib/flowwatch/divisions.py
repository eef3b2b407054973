"""Administrative divisions of mainland China (county level), from python-stdnum's ``cn/loc.dat``.

Used to make sample resident IDs and USCCs, and by the ADDRESS recognizer to find division names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files


@dataclass(frozen=True, slots=True)
class AdminRegion:
    """One county-level division: 6-digit code, names (prefecture may be ``""``) and the first year the
    code was in use (0 = before 1980, i.e. valid for any birth year in python-stdnum's table)."""

    code: str
    province: str
    prefecture: str
    county: str
    valid_from: int


_EXCLUDED_PROVINCES = frozenset({"71", "81", "82", "83"})  # Taiwan, HK, Macau, residence-permit codes
_GROUPING_NAMES = frozenset({"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"})
_LOC_LINE = re.compile(r'^\s*(?P<code>\d+) (?P<level>province|county)="(?P<name>[^"]*)"')
_OPEN_ENDED = re.compile(r"\[(\d*)-\](.+)")


def _current_name(raw: str) -> tuple[str, int] | None:
    """Name still in use for a loc.dat entry and the year it took effect (0 = always), or ``None`` when
    the code was withdrawn (only closed ``[YYYY-YYYY]`` ranges)."""
    if "[" not in raw:
        return raw, 0
    for part in raw.split(","):
        match = _OPEN_ENDED.fullmatch(part)
        if match:
            return match.group(2), int(match.group(1) or 0)
    return None


@cache
def load_admin_regions() -> tuple[AdminRegion, ...]:
    """Parse ``stdnum/cn/loc.dat`` into the county-level codes still in use, oldest first."""
    text = (files("stdnum.cn") / "loc.dat").read_text(encoding="utf-8")
    provinces: dict[str, str] = {}
    current: dict[str, tuple[str, int]] = {}
    province = ""
    for line in text.splitlines():
        match = _LOC_LINE.match(line)
        if match is None:
            continue
        if match["level"] == "province":
            province = match["code"]
            provinces[province] = match["name"]
            continue
        named = _current_name(match["name"])
        if named is not None:
            current[province + match["code"]] = named
    regions = []
    for code, (county, since) in current.items():
        if code.endswith("00") or county in _GROUPING_NAMES or code[:2] in _EXCLUDED_PROVINCES:
            continue
        prefecture = current.get(code[:4] + "00", ("", 0))[0]
        if prefecture in _GROUPING_NAMES:
            prefecture = ""
        regions.append(AdminRegion(code, provinces[code[:2]], prefecture, county, since))
    return tuple(sorted(regions, key=lambda r: (r.valid_from, r.code)))
