"""Calendars past chinese-calendar's coverage: statutory holidays computed from the 全国年节及纪念日放假办法
(lunar-python for lunar dates and Qingming), checked against chinese-calendar's published years 2021–2026,
and the operator-loaded yearly arrangement (调休) that turns an estimate into a published calendar."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest

from flowwatch.calendars.arrangements import ArrangementError, load_arrangements
from flowwatch.calendars.statutory import statutory_holidays, version_for
from flowwatch.rules.incident_pack import load_packs
from flowwatch.rules.obligations import IncidentFacts, compute_obligations
from flowwatch.workdays import add_working_days, day_info, is_working_day, set_arrangements

SH = ZoneInfo("Asia/Shanghai")

# chinese_calendar's holiday names for the statutory days (its Holiday enum values, English names)
CC_NAME = {"元旦": "New Year's Day", "春节": "Spring Festival", "清明节": "Tomb-sweeping Day",
           "劳动节": "Labour Day", "端午节": "Dragon Boat Festival", "中秋节": "Mid-autumn Festival",
           "国庆节": "National Day"}  # fmt: skip


@pytest.fixture(autouse=True)
def _no_arrangements() -> Iterator[None]:
    set_arrangements({})
    yield
    set_arrangements(None)


@pytest.mark.parametrize("year", range(2021, 2027))
def test_computed_statutory_days_are_chinese_calendars_holidays(year: int) -> None:
    computed = statutory_holidays(year)
    for day, name in computed.items():
        on, holiday = chinese_calendar.get_holiday_detail(day)
        assert on, f"{day} ({name}) is not a holiday in chinese_calendar"
        assert holiday == CC_NAME[name], (day, name, holiday)
    # 11 statutory days until 2024 (2013 version), 13 from 2025 (2024 amendment: 除夕 and 2 May added)
    assert len(computed) == (13 if year >= 2025 else 11)


def test_2024_amendment_sets_13_days_by_festival() -> None:
    for year in (2025, 2026):
        counts = Counter(statutory_holidays(year).values())
        assert counts == {"元旦": 1, "春节": 4, "清明节": 1, "劳动节": 2, "端午节": 1, "中秋节": 1, "国庆节": 3}


def test_2027_holidays_from_the_2024_amendment() -> None:
    h = statutory_holidays(2027)
    assert "2024年11月10日" in version_for(2027).source and "795" in version_for(2027).source
    assert h[date(2027, 1, 1)] == "元旦"
    # lunar New Year 2027 is 02-06: 除夕 02-05 .. 初三 02-08
    assert [d for d, n in h.items() if n == "春节"] == [date(2027, 2, d) for d in (5, 6, 7, 8)]
    assert h[date(2027, 4, 5)] == "清明节"
    assert [d for d, n in h.items() if n == "劳动节"] == [date(2027, 5, 1), date(2027, 5, 2)]
    assert h[date(2027, 6, 9)] == "端午节" and h[date(2027, 9, 15)] == "中秋节"
    assert [d for d, n in h.items() if n == "国庆节"] == [date(2027, 10, d) for d in (1, 2, 3)]


def test_unknown_year_days_are_estimated_and_holidays_skipped() -> None:
    assert day_info(date(2027, 1, 1)) == (False, "estimated")
    assert day_info(date(2027, 1, 4)) == (True, "estimated")
    assert day_info(date(2026, 12, 31)) == (True, "chinese_calendar")
    assert add_working_days(date(2026, 12, 30), 3) == (date(2027, 1, 5), False)
    # Spring Festival 2027 (Fri 02-05 .. Mon 02-08) is skipped
    assert add_working_days(date(2027, 2, 4), 1) == (date(2027, 2, 9), False)


def test_years_before_the_first_version_are_refused_and_fall_back_to_monday_friday() -> None:
    with pytest.raises(LookupError):
        statutory_holidays(2003)
    assert day_info(date(2003, 1, 1)) == (True, "estimated")  # a Wednesday: no rules packaged for 2003


ARRANGEMENT_2027 = """
year: 2027
source: 国务院办公厅关于2027年部分节假日安排的通知（operator test data）
days_off: [2027-01-01, 2027-02-05, 2027-02-08, 2027-02-09, 2027-02-10, 2027-02-11]
workdays: [2027-02-20]
"""


def test_loaded_arrangement_makes_days_published_and_counts_make_up_days(tmp_path: Path) -> None:
    (tmp_path / "2027.yaml").write_text(ARRANGEMENT_2027, encoding="utf-8")
    set_arrangements(load_arrangements(tmp_path))
    assert day_info(date(2027, 2, 9)) == (False, "arrangement")  # bridged day off
    assert day_info(date(2027, 2, 20)) == (True, "arrangement")  # make-up Saturday
    assert is_working_day(date(2027, 1, 4)) == (True, True)
    assert add_working_days(date(2026, 12, 30), 3) == (date(2027, 1, 5), True)
    # the notice of 2026-12-30 is now due on the same day but no longer estimated
    draft = next(p for p in load_packs(include_policy=True) if p.id == "cn_incident_draft_2021")
    at = datetime(2026, 12, 30, 10, 0, tzinfo=SH)
    f = IncidentFacts(incident_id="i", occurred_at=at, detected_at=at, persons=1, persons_basis="counted",
                      important_data=False, harm_to_individuals=True)
    notice = next(o for o in compute_obligations(draft, f, at) if o.id == "notify_individuals")
    assert notice.due_at == datetime(2027, 1, 6, 0, 0, tzinfo=SH) and not notice.estimated


def test_arrangement_from_the_environment_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "2027.yaml"
    path.write_text(ARRANGEMENT_2027, encoding="utf-8")
    monkeypatch.setenv("FLOWWATCH_HOLIDAY_ARRANGEMENTS", str(path))
    set_arrangements(None)  # re-read the setting
    assert day_info(date(2027, 2, 20)) == (True, "arrangement")


@pytest.mark.parametrize(("text", "match"), [
    ("year: 2027\nsource: x\ndays_off: [2028-01-01]\n", "outside 2027"),
    ("year: 2027\nsource: x\ndays_off: [2027-01-01]\nworkdays: [2027-01-01]\n", "both off and working"),
    ("year: 2027\ndays_off: [2027-01-01]\n", "field 'source'"),
    ("arrangements: [{year: 2027, source: x, days_off: [2027-01-01]}, {year: 2027, source: y, "
     "days_off: [2027-01-02]}]\n", "given twice"),
])  # fmt: skip
def test_bad_arrangement_files_are_refused_with_the_file_and_field(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ArrangementError, match=match) as info:
        load_arrangements(path)
    assert "bad.yaml" in str(info.value)


def test_missing_arrangement_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ArrangementError, match="does not exist"):
        load_arrangements(tmp_path / "none.yaml")
