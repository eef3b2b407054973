"""Statutory holidays of any year, computed from the 全国年节及纪念日放假办法 (Art. 2) as in force that year.

The rules are data (``holiday_rules.yaml``: one entry per version — 2008, 2014 and the 2024 amendment in
force 2025-01-01: New Year 1 day; Spring Festival 4 days, 除夕 to 正月初三; Qingming; Labour Day 1–2 May;
Dragon Boat; Mid-Autumn; National Day 1–3 October). Lunar dates and the Qingming solar term come from the
``lunar-python`` package (PyPI ``lunar-python``, 6tail), which implements the Chinese calendar (寿星天文历
algorithms) for 1–9999. These are the statutory days only: the make-up working days and bridged days
(调休) are set each year by a State Council notice (``flowwatch.calendars.arrangements``).
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache
from importlib.resources import files
from typing import Any

import yaml
from lunar_python import Lunar, Solar
from pydantic import BaseModel, ConfigDict, Field


class HolidayRule(BaseModel):
    """One holiday of Art. 2: exactly one way of placing its days (see ``holiday_rules.yaml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    solar: list[str] | None = None
    lunar: list[str] | None = None
    solar_term: str | None = None
    lunar_new_year_offsets: list[int] | None = None


class RulesVersion(BaseModel):
    """One version of the 放假办法: the holidays it sets and from when (local date, inclusive)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    effective_from: date
    source: str = Field(min_length=1)
    article: str = Field(min_length=1)
    holidays: list[HolidayRule] = Field(min_length=1)


@cache
def rule_versions() -> tuple[RulesVersion, ...]:
    """The packaged versions of the rules, oldest first."""
    raw: dict[str, Any] = yaml.safe_load(files(__package__).joinpath("holiday_rules.yaml").read_text("utf-8"))
    return tuple(sorted((RulesVersion.model_validate(v) for v in raw["versions"]), key=lambda v: v.effective_from))


def version_for(year: int) -> RulesVersion:
    """The version in force on 1 January of ``year``. Raises ``LookupError`` before the first version."""
    versions = [v for v in rule_versions() if v.effective_from <= date(year, 1, 1)]
    if not versions:
        raise LookupError(f"no 全国年节及纪念日放假办法 version is packaged for {year}")
    return versions[-1]


def _solar(year: int, mmdd: str) -> date:
    month, day = (int(x) for x in mmdd.split("-"))
    return date(year, month, day)


def _lunar(year: int, mmdd: str) -> date:
    month, day = (int(x) for x in mmdd.split("-"))
    s = Lunar.fromYmd(year, month, day).getSolar()
    return date(s.getYear(), s.getMonth(), s.getDay())


def _solar_term(year: int, name: str) -> date:
    # the lunar year that contains mid-April of ``year`` holds that year's 清明 in its table
    table = Solar.fromYmd(year, 4, 15).getLunar().getJieQiTable()
    s = table[name]
    found = date(s.getYear(), s.getMonth(), s.getDay())
    if found.year != year:
        raise LookupError(f"solar term {name} of {year} not found")
    return found


@cache
def statutory_holidays(year: int) -> dict[date, str]:
    """Statutory holidays of Gregorian ``year``: ``{date: holiday name}`` (e.g. ``{2027-01-01: "元旦", …}``).

    The Spring Festival days are those of the lunar New Year falling in ``year`` (除夕 may be in the previous
    January's lunar year but is counted with the festival it belongs to; a 除夕 on 31 December of the
    previous year — not possible for 1900–2100 — would be counted in the year it falls in). Raises
    ``LookupError`` before the first packaged version. Source: 全国年节及纪念日放假办法 Art. 2, in force on
    1 January of ``year``.
    """
    version = version_for(year)
    out: dict[date, str] = {}
    for rule in version.holidays:
        days: list[date] = []
        days += [_solar(year, d) for d in rule.solar or []]
        days += [_lunar(year, d) for d in rule.lunar or []]
        if rule.solar_term:
            days.append(_solar_term(year, rule.solar_term))
        if rule.lunar_new_year_offsets:
            new_year = _lunar(year, "01-01")
            days += [new_year + timedelta(days=o) for o in rule.lunar_new_year_offsets]
        for d in days:
            out[d] = rule.name
    return dict(sorted(out.items()))
