"""PRC working-day calendar (工作日) for deadlines counted in working days or days.

Three sources, in this order, decide whether a day is a working day:

1. an **arrangement** the operator loaded (the State Council's yearly notice with its 调休 days;
   ``FLOWWATCH_HOLIDAY_ARRANGEMENTS``: a file or folder, see ``flowwatch.calendars.arrangements``);
2. the ``chinese_calendar`` package (PyPI ``chinesecalendar`` 1.11: published arrangements 2004–2026);
3. otherwise an **estimate**: Monday–Friday minus the statutory holidays computed from the
   全国年节及纪念日放假办法 in force that year (``flowwatch.calendars.statutory``). The estimate knows no
   make-up working days or bridged days, so a deadline that used it is marked ``estimated``
   (``calendar_known = False``) until the year's arrangement is loaded.

Deadline convention (PRC Civil Code Arts. 201 and 203): a period in days does not count its starting day
and ends at 24:00 of its last day, local time Asia/Shanghai; when the last day of a period in (calendar)
days is a statutory holiday or rest day, the day after the holiday ends is the last day.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

import chinese_calendar
from pydantic_settings import BaseSettings, SettingsConfigDict

from flowwatch.calendars.arrangements import YearArrangement, load_arrangements
from flowwatch.calendars.statutory import statutory_holidays
from flowwatch.wire import LEGAL_TZ

DEFAULT_TZ = LEGAL_TZ
"""Local time zone of PRC deadlines (``flowwatch.wire.LEGAL_TZ``)."""

DayBasis = Literal["arrangement", "chinese_calendar", "estimated"]


class CalendarSettings(BaseSettings):
    """``FLOWWATCH_HOLIDAY_ARRANGEMENTS``: a file or folder of yearly arrangements (unset: none loaded)."""

    model_config = SettingsConfigDict(env_prefix="FLOWWATCH_", extra="ignore")

    holiday_arrangements: str | None = None


_lock = threading.Lock()
_arrangements: dict[int, YearArrangement] | None = None
_generation = 0
"""Bumped whenever the arrangements change, so cached day answers are not reused across them."""


def arrangements() -> Mapping[int, YearArrangement]:
    """The loaded yearly arrangements (``{year: arrangement}``); read once from the setting on first use.
    Raises ``ArrangementError`` when the configured file is missing or invalid (a deployment error)."""
    global _arrangements
    with _lock:
        if _arrangements is None:
            path = CalendarSettings().holiday_arrangements
            _arrangements = load_arrangements(path) if path else {}
        return dict(_arrangements)


def set_arrangements(items: Mapping[int, YearArrangement] | None) -> None:
    """Replace the loaded arrangements (an operator loading a new notice; tests). ``None``: re-read the
    setting on next use."""
    global _arrangements, _generation
    with _lock:
        _arrangements = None if items is None else dict(items)
        _generation += 1


def day_info(day: date) -> tuple[bool, DayBasis]:
    """``(working, basis)`` of ``day``: which source decided (see the module doc).

    Raises ``TypeError`` for a ``datetime`` (pass its local ``date()``; the calendar is a dates one).
    """
    if isinstance(day, datetime):
        raise TypeError("is_working_day expects a date; convert the datetime to its local date first")
    arrangements()  # load the setting once, before the generation is read
    return _day_info(day, _generation)


@lru_cache(maxsize=65536)
def _day_info(day: date, generation: int) -> tuple[bool, DayBasis]:
    # cached: chinese_calendar validates each date against its whole table (about 0.1 ms a call)
    arr = arrangements().get(day.year)
    if arr is not None:
        return arr.is_working_day(day), "arrangement"
    try:
        return bool(chinese_calendar.is_workday(day)), "chinese_calendar"
    except NotImplementedError:
        try:
            holidays = statutory_holidays(day.year)
        except LookupError:  # before the first packaged version of the 放假办法: Monday–Friday only
            holidays = {}
        return day.weekday() < 5 and day not in holidays, "estimated"


def is_working_day(day: date) -> tuple[bool, bool]:
    """Whether ``day`` is a PRC working day: ``(working, calendar_known)``.

    ``calendar_known`` is ``False`` when no published arrangement covers ``day.year`` and the statutory
    holidays were computed (an estimate: make-up working days are unknown). Example: 2027-01-01 (元旦) is
    ``(False, False)`` until the 2027 arrangement is loaded. Raises ``TypeError`` for a ``datetime``.
    """
    working, basis = day_info(day)
    return working, basis != "estimated"


def add_working_days(start: date, n: int) -> tuple[date, bool]:
    """The ``n``-th working day after ``start``; ``start`` itself is never counted.

    Returns ``(day, calendar_known)`` where ``calendar_known`` is ``True`` only if every day consulted
    (the days after ``start`` up to the result) was in a published calendar. ``n = 0`` returns ``start``.
    Raises ``ValueError`` when ``n`` is negative.
    Example: ``add_working_days(date(2025, 9, 30), 5) == (date(2025, 10, 14), True)`` (National Day
    holiday 10-01..10-08 skipped, make-up Saturday 10-11 counted); ``add_working_days(date(2026, 12, 30), 3)
    == (date(2027, 1, 5), False)`` (元旦 2027-01-01 skipped, estimated).
    """
    if n < 0:
        raise ValueError(f"n must be >= 0 working days, got {n}")
    day, counted, known = start, 0, True
    while counted < n:
        day += timedelta(days=1)
        working, day_known = is_working_day(day)
        known = known and day_known
        if working:
            counted += 1
    return day, known


def add_days(start: date, n: int) -> tuple[date, bool, date | None]:
    """Last day of a period of ``n`` calendar days after ``start`` (start not counted), moved past rest days
    and statutory holidays (PRC Civil Code Art. 203): ``(last_day, calendar_known, moved_from)``.

    ``moved_from`` is the nominal n-th day when it was not a working day, else ``None``. ``calendar_known``
    is ``False`` when a day consulted was only estimated. Raises ``ValueError`` for ``n < 1``.
    Example: ``add_days(date(2026, 3, 1), 30) == (date(2026, 3, 31), True, None)``.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1 day, got {n}")
    nominal = start + timedelta(days=n)
    day = nominal
    working, known = is_working_day(day)
    while not working:
        day += timedelta(days=1)
        working, day_known = is_working_day(day)
        known = known and day_known
    return day, known, None if day == nominal else nominal


def end_of_day(d: date, tz: str = DEFAULT_TZ) -> datetime:
    """24:00 local time of ``d``, expressed as 00:00 of the following day in ``tz`` (timezone-aware).

    A deadline "ends at 24:00 of its last day" is therefore met by anything strictly before the returned
    instant. Raises ``zoneinfo.ZoneInfoNotFoundError`` for an unknown ``tz``.
    """
    return datetime.combine(d + timedelta(days=1), time(0, 0), tzinfo=ZoneInfo(tz))
