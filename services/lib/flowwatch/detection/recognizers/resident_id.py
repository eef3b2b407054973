"""CN_RESIDENT_ID: 18-character resident identity card number (GB 11643-1999)."""

from __future__ import annotations

import re
from functools import lru_cache

from stdnum import numdb
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from flowwatch.detection.types import NOT_BEFORE_ALNUM, Recognizer


class ResidentIdRecognizer(Recognizer):
    """Resident ID: MOD 11-2 check digit and a real birth date are required (python-stdnum).

    A region code found in python-stdnum's administrative-division table raises the score; an unknown
    code (new or abolished divisions) does not reject the number.
    """

    min_digits = 17
    entity = "CN_RESIDENT_ID"
    pattern = re.compile(
        r"[1-9](?<![0-9A-Za-z][1-9])\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[0-9Xx]"
        + NOT_BEFORE_ALNUM
    )

    def validate(self, value: str) -> float:
        """0.95 with a known region code, 0.85 with an unknown one, 0 when checksum or date fail."""
        number = value.upper()
        try:
            if number[-1] != ric.calc_check_digit(number):
                return 0.0
            ric.get_birth_date(number)
        except (ValidationError, ValueError):
            return 0.0
        return 0.95 if region_known(number[:6]) else 0.85

    def subject_key(self, value: str) -> str | None:
        """The upper-cased number identifies its holder."""
        return "ric:" + value.upper()


@lru_cache(maxsize=8192)
def region_known(code: str) -> bool:
    """True when the 6-digit administrative-division code names a county in python-stdnum's table (cached).

    A known province with an unknown county (119999) is not known: every level must be found.
    """
    return all(props for _, props in numdb.get("cn/loc").info(code))
