"""PRC working-day calendar: statutory holidays, make-up working days (调休), unknown-year fallback.

Dates checked against chinesecalendar 1.11.0 (``chinese_calendar.constants.holidays`` / ``workdays``):
2025 National Day holiday 2025-10-01..10-08, make-up working days Sun 2025-09-28 and Sat 2025-10-11;
New Year 2026 holiday 2026-01-01..01-03, make-up working day Sun 2026-01-04; data ends with 2026.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest

from flowwatch.workdays import add_working_days, end_of_day, is_working_day

SH = ZoneInfo("Asia/Shanghai")
UNKNOWN_YEAR = 2031


def test_reference_dates_are_in_the_package_data() -> None:
    # Guards the fixtures below: fail loudly if a package upgrade changes the data they rely on.
    for d in (date(2025, 10, 1), date(2025, 10, 8), date(2026, 1, 1), date(2026, 1, 3)):
        assert chinese_calendar.is_holiday(d)
    for d in (date(2025, 10, 11), date(2026, 1, 4)):
        assert chinese_calendar.is_workday(d) and d.weekday() >= 5
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(UNKNOWN_YEAR, 3, 3))


def test_is_working_day_known_calendar() -> None:
    assert is_working_day(date(2025, 9, 30)) == (True, True)  # Tuesday before National Day
    assert is_working_day(date(2025, 10, 6)) == (False, True)  # Monday inside the holiday
    assert is_working_day(date(2025, 10, 11)) == (True, True)  # make-up Saturday
    assert is_working_day(date(2025, 10, 12)) == (False, True)  # ordinary Sunday


def test_is_working_day_unknown_year_is_estimated_from_statutory_holidays() -> None:
    assert is_working_day(date(UNKNOWN_YEAR, 1, 3)) == (True, False)  # Friday
    assert is_working_day(date(UNKNOWN_YEAR, 1, 4)) == (False, False)  # Saturday
    assert is_working_day(date(UNKNOWN_YEAR, 1, 1)) == (False, False)  # Wednesday, 元旦 computed, estimated


def test_is_working_day_refuses_datetime() -> None:
    with pytest.raises(TypeError):
        is_working_day(datetime(2025, 10, 1, 12, tzinfo=SH))


def test_add_working_days_skips_holiday_counts_make_up_saturday() -> None:
    # 10-09 Thu (1), 10-10 Fri (2), 10-11 make-up Sat (3), 10-13 Mon (4), 10-14 Tue (5)
    assert add_working_days(date(2025, 9, 30), 5) == (date(2025, 10, 14), True)
    assert add_working_days(date(2025, 9, 30), 3) == (date(2025, 10, 11), True)


def test_add_working_days_start_day_not_counted() -> None:
    assert add_working_days(date(2025, 9, 30), 1) == (date(2025, 10, 9), True)
    assert add_working_days(date(2025, 9, 30), 0) == (date(2025, 9, 30), True)
    with pytest.raises(ValueError):
        add_working_days(date(2025, 9, 30), -1)


def test_add_working_days_across_new_year() -> None:
    # 2026-01-01..03 holiday; 01-04 make-up Sunday (1), 01-05 Mon (2), 01-06 Tue (3)
    assert add_working_days(date(2025, 12, 31), 3) == (date(2026, 1, 6), True)


def test_add_working_days_into_unknown_year_skips_new_year_and_reports_estimated() -> None:
    # 2026-12-31 is a Thursday; 2027 is not in the package data: 2027-01-01 (元旦, Friday) is skipped.
    assert add_working_days(date(2026, 12, 30), 1) == (date(2026, 12, 31), True)
    assert add_working_days(date(2026, 12, 30), 3) == (date(2027, 1, 5), False)


def test_end_of_day_is_next_midnight_shanghai() -> None:
    eod = end_of_day(date(2025, 10, 14))
    assert eod == datetime(2025, 10, 15, 0, 0, tzinfo=SH)
    assert eod.tzinfo is not None and eod.utcoffset() is not None
    assert eod.isoformat() == "2025-10-15T00:00:00+08:00"
    assert end_of_day(date(2025, 12, 31)) == datetime(2026, 1, 1, tzinfo=SH)
