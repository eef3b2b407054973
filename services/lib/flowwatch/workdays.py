"""PRC working-day calendar (工作日) for deadlines counted in working days.

Built on the ``chinese_calendar`` package (PyPI ``chinesecalendar``), which knows the State Council's
statutory holidays and make-up working days (调休) for a fixed range of years and raises
``NotImplementedError`` outside it. For such a year this module falls back to Monday–Friday and says so
(``calendar_known = False``), so a caller can flag the deadline as approximate instead of failing.

Deadline convention (DESIGN.md "Rules", PRC Civil Code Arts. 201 and 203): a period in days does not
count its starting day and ends at 24:00 of its last day, local time Asia/Shanghai.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

DEFAULT_TZ = "Asia/Shanghai"
"""Local time zone of PRC deadlines (China Standard Time, UTC+08:00, no DST)."""


def is_working_day(day: date) -> tuple[bool, bool]:
    """Whether ``day`` is a PRC working day.

    Returns ``(working, calendar_known)``. ``working`` follows the statutory holidays and make-up working
    days (调休 Saturdays/Sundays count as working days). When the installed ``chinese_calendar`` has no data
    for ``day.year`` (it raises ``NotImplementedError``), Monday–Friday is assumed and ``calendar_known`` is
    ``False``. Raises ``TypeError`` for a ``datetime`` (pass its local ``date()``; the calendar is a dates one).
    """
    if isinstance(day, datetime):
        raise TypeError("is_working_day expects a date; convert the datetime to its local date first")
    try:
        return bool(chinese_calendar.is_workday(day)), True
    except NotImplementedError:
        return day.weekday() < 5, False


def add_working_days(start: date, n: int) -> tuple[date, bool]:
    """The ``n``-th working day after ``start``; ``start`` itself is never counted.

    Returns ``(day, calendar_known)`` where ``calendar_known`` is ``True`` only if every day consulted
    (the days after ``start`` up to the result) was in the known calendar. ``n = 0`` returns ``start``.
    Raises ``ValueError`` when ``n`` is negative.
    Example: ``add_working_days(date(2025, 9, 30), 5) == (date(2025, 10, 14), True)`` (National Day
    holiday 10-01..10-08 skipped, make-up Saturday 10-11 counted).
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


def end_of_day(d: date, tz: str = DEFAULT_TZ) -> datetime:
    """24:00 local time of ``d``, expressed as 00:00 of the following day in ``tz`` (timezone-aware).

    A deadline "ends at 24:00 of its last day" is therefore met by anything strictly before the returned
    instant. Raises ``zoneinfo.ZoneInfoNotFoundError`` for an unknown ``tz``.
    """
    return datetime.combine(d + timedelta(days=1), time(0, 0), tzinfo=ZoneInfo(tz))
