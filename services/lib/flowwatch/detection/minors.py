"""Personal information of minors under 14 (PIPL Art. 28 para 1, Art. 31): 不满十四周岁未成年人的个人信息
is sensitive PI, so a birth date or a resident ID that shows its holder under 14 at the event time turns
the match's category into ``minor_under_14``."""

from __future__ import annotations

import datetime as dt

from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from flowwatch.detection.categories import CategoryTable, default_table
from flowwatch.detection.recognizers.date_of_birth import birth_date
from flowwatch.detection.types import Match

MINOR_AGE = 14
"""Years: under this age at the event time, a person's PI is sensitive (PIPL Art. 28, 31)."""
MINOR_CATEGORY = "minor_under_14"


def birth_date_of(match: Match) -> dt.date | None:
    """Birth date carried by a DATE_OF_BIRTH or CN_RESIDENT_ID match (GB 11643 digits 7–14), else None."""
    if match.type == "DATE_OF_BIRTH":
        return birth_date(match.value)
    if match.type == "CN_RESIDENT_ID":
        try:
            return ric.get_birth_date(match.value.upper())
        except (ValidationError, ValueError):
            return None
    return None


def is_minor(born: dt.date, on: dt.date) -> bool:
    """True when a person born on ``born`` is younger than 14 years on ``on`` (the 14th birthday counts as
    14; someone born on 29 February turns 14 on 1 March in a common year)."""
    try:
        birthday = born.replace(year=born.year + MINOR_AGE)
    except ValueError:  # 29 February → 1 March
        birthday = dt.date(born.year + MINOR_AGE, 3, 1)
    return born <= on < birthday


def category_at(match: Match, on: dt.date, table: CategoryTable | None = None) -> str:
    """PIPL category of ``match`` on the date ``on``: ``minor_under_14`` when it shows its holder under 14,
    else the table's category of its entity type."""
    born = birth_date_of(match)
    if born is not None and is_minor(born, on):
        return MINOR_CATEGORY
    return (table or default_table()).category(match.type)
