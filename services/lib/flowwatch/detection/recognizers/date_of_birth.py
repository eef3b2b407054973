"""DATE_OF_BIRTH: a date that is someone's birth date (context or field name says so)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

from flowwatch.detection.terms import field_is, fields
from flowwatch.detection.types import NOT_BEFORE_DIGIT, Match, Recognizer

DATE_SCORE = 0.1
"""A bare date is far below the threshold: most dates are not birth dates. 出生/生日/dob within the
context window before it (context.yaml, entity_boost 0.5) or 出生 right after it reports it."""
AFTER_SCORE = 0.6
FIELD_SCORE = 0.9
_AFTER_WORDS = ("出生", "生人", "生，", "生,", "生)", "生）", "生。")
_COMPACT = re.compile(r"(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])")


class DateOfBirthRecognizer(Recognizer):
    """Dates ``1990年5月3日``, ``1990-05-03``, ``1990/5/3``, ``1990.05.03`` (years 1900–2099, real calendar
    dates), reported as birth dates only with birth context; in a birth-date field also ``19900503``.

    ``birth_date(value)`` gives the date, so a finding can say ``minor_under_14`` (PIPL Art. 28, 31) when
    the person is under 14 at the event time.
    """

    entity = "DATE_OF_BIRTH"
    min_digits = 6
    pattern = re.compile(
        r"[12](?<![0-9][12])(?:(?<=1)9|(?<=2)0)\d{2}(?:年(?:1[0-2]|0?[1-9])月(?:3[01]|[12]\d|0?[1-9])日"
        r"|([-/.])(?:1[0-2]|0?[1-9])\1(?:3[01]|[12]\d|0?[1-9]))"
        + NOT_BEFORE_DIGIT
    )

    def analyze(self, text: str) -> Iterator[Match]:
        """Valid dates; 0.6 when 出生 follows (``1990年5月3日出生``), else 0.1 (context decides)."""
        for m in self.pattern.finditer(text):
            value = m.group(0)
            if birth_date(value) is None:
                continue
            after = text[m.end() : m.end() + 3]
            score = AFTER_SCORE if after.startswith(_AFTER_WORDS) else DATE_SCORE
            yield Match(self.entity, m.start(), m.end(), score, value)

    def analyze_field(self, value: str, field: str) -> Iterator[Match]:
        """The whole value of a birth-date field when it is a date (also ``19900503`` and ISO datetimes)."""
        stripped = value.strip()
        if not stripped or not field_is(field, fields(self.entity)):
            return
        candidate = stripped[:10] if len(stripped) > 10 and stripped[10] in "T " else stripped
        if birth_date(candidate) is not None:
            start = value.index(stripped)
            yield Match(self.entity, start, start + len(candidate), FIELD_SCORE, candidate)

    def validate(self, value: str) -> float:
        """``DATE_SCORE`` for a valid date, else 0."""
        return DATE_SCORE if birth_date(value) is not None else 0.0


def birth_date(value: str) -> dt.date | None:
    """The calendar date written in ``value`` (formats of ``DateOfBirthRecognizer``), or None."""
    compact = _COMPACT.fullmatch(value)
    parts = [value[:4], value[4:6], value[6:8]] if compact else re.split(r"[年月日/.\-]", value.rstrip("日"))
    try:
        year, month, day = (int(p) for p in parts)
        return dt.date(year, month, day)
    except ValueError:
        return None
