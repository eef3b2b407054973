"""The State Council's yearly holiday arrangement (国务院办公厅关于YYYY年部分节假日安排的通知), loaded by an
operator from a YAML or JSON file: the days off (放假, including bridged days) and the make-up working days
(调休上班) of one year. With it a year's working days are *published*, not estimated.

File shape (one year per file, or ``arrangements: [...]`` for several)::

    year: 2027
    source: 国务院办公厅关于2027年部分节假日安排的通知
    published_on: 2026-11-04          # optional
    days_off: [2027-01-01, 2027-02-05, ...]
    workdays: [2027-02-14, ...]       # Saturdays/Sundays that are working days

Errors name the file and the field (:class:`ArrangementError`); a day outside the year, or a day both off
and working, is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ArrangementError(ValueError):
    """An arrangement file is unreadable or invalid."""


class YearArrangement(BaseModel):
    """One year's published arrangement. ``days_off``: every day off that is not an ordinary weekend
    (statutory and bridged days); ``workdays``: weekend days that are working days (调休)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    year: int = Field(ge=1949, le=9999)
    source: str = Field(min_length=1)
    published_on: date | None = None
    days_off: list[date] = Field(min_length=1)
    workdays: list[date] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> YearArrangement:
        outside = [d for d in [*self.days_off, *self.workdays] if d.year != self.year]
        if outside:
            raise ValueError(f"days outside {self.year}: {[d.isoformat() for d in outside]}")
        both = sorted(set(self.days_off) & set(self.workdays))
        if both:
            raise ValueError(f"days both off and working: {[d.isoformat() for d in both]}")
        return self

    def is_working_day(self, day: date) -> bool:
        """Working day under this arrangement: a listed make-up day, else Monday–Friday not listed off."""
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.days_off


def parse_arrangements(raw: Any, name: str = "<data>") -> list[YearArrangement]:
    """Validate ``raw`` (a mapping for one year, or ``{"arrangements": [...]}``). Raises
    :class:`ArrangementError` naming ``name`` and the field, or a year given twice."""
    items = raw.get("arrangements") if isinstance(raw, dict) and "arrangements" in raw else [raw]
    if not isinstance(items, list):
        raise ArrangementError(f"{name}: 'arrangements' must be a list")
    out: list[YearArrangement] = []
    for i, item in enumerate(items):
        try:
            out.append(YearArrangement.model_validate(item))
        except ValidationError as exc:
            problems = "; ".join(f"field '{'.'.join(str(p) for p in e['loc']) or '<root>'}': {e['msg']}"
                                 for e in exc.errors())
            raise ArrangementError(f"{name}: arrangement #{i}: {problems}") from exc
    years = [a.year for a in out]
    if len(years) != len(set(years)):
        raise ArrangementError(f"{name}: a year is given twice: {sorted(years)}")
    return out


def load_arrangements(paths: str | Path | Iterable[str | Path]) -> dict[int, YearArrangement]:
    """Load arrangement files (a file, a folder of ``*.yaml``/``*.yml``/``*.json``, or several): ``{year: …}``.
    Raises :class:`ArrangementError` for a missing or invalid file, or a year in two files."""
    items = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    files: list[Path] = []
    for p in items:
        if p.is_dir():
            files += sorted(f for f in p.iterdir() if f.suffix in (".yaml", ".yml", ".json"))
        elif p.is_file():
            files.append(p)
        else:
            raise ArrangementError(f"{p}: holiday arrangement file does not exist")
    out: dict[int, YearArrangement] = {}
    for f in files:
        try:
            raw = yaml.safe_load(f.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ArrangementError(f"{f}: cannot read holiday arrangement: {exc}") from exc
        for a in parse_arrangements(raw, str(f)):
            if a.year in out:
                raise ArrangementError(f"{f}: the arrangement of {a.year} is already loaded from another file")
            out[a.year] = a
    return out
