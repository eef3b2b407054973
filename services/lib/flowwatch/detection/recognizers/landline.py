"""CN_LANDLINE: mainland fixed-line numbers with area code (``010-62345678``, ``+86 755 2345 6789``)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from phonenumbers import PhoneMetadata

from flowwatch.detection.types import NOT_BEFORE_DIGIT, Match, Recognizer

# The allocated CN fixed-line ranges (area code without its leading 0 + local number), from
# libphonenumber's metadata (the pattern phonenumbers.is_valid_number uses for FIXED_LINE), compiled once.
_CN = PhoneMetadata.metadata_for_region("CN")
assert _CN is not None and _CN.fixed_line is not None and _CN.fixed_line.national_number_pattern is not None
_FIXED_LINE_RANGES = re.compile(_CN.fixed_line.national_number_pattern)
_NON_DIGITS = re.compile(r"[^0-9]")
# The first character is matched before the ASCII boundary check, which then looks at the character before
# it: a pattern that opens with a character class lets ``re`` skip ahead to candidate characters, 2–7×
# faster than one that opens with a look-behind.


class LandlineRecognizer(Recognizer):
    """Fixed-line number: area code (010, 02x: 2 digits after the 0; 03xx–09xx: 3) and a 7–8-digit local
    number not starting with 0, 1 or 9, optionally with an extension.

    Written ``010-62345678``, ``(010)62345678`` / ``（010）62345678``, ``0755 2345 6789``,
    ``+86 10 6234 5678``, ``+86-755-23456789``, ``0086 …``, ``01062345678``; extension ``-801``, ``转801``
    or ``分机801``. Validation: the area code is split off by the numbering-plan rule above (a written
    split elsewhere, ``0106-2345678``, is rejected), and area code + local number must fully match the
    CN fixed-line pattern of Google libphonenumber's metadata (``phonenumbers``), which encodes every
    area code with its local-number lengths.

    Scores: 0.55 when a separator or parentheses set the area code off, or with a +86/0086 prefix; 0.4
    for a bare run of digits (an 11–12-digit number starting with 0 may be an invoice code or an ID), which
    needs a context word (电话, 座机 …; boost 0.3).
    """

    min_digits = 10
    entity = "CN_LANDLINE"
    pattern = re.compile(
        r"[+0(（](?<![0-9A-Za-z][+0(（])"  # +86 / 0086, ( of (010), 0 of 010
        r"(?:(?P<cc>(?<=\+)86|(?<=0)086)[ -]?(?:\(0\))?0?(?P<area1>[1-9][0-9]{1,2})(?P<sep1>[ -]?)"
        r"|(?<=[(（])(?P<area2>0[1-9][0-9]{1,2})[)）] ?"
        r"|(?<=0)(?P<area3>[1-9][0-9]{1,2})(?P<sep3>[ -]?))"
        r"(?P<local>[0-9]{3,4}[ -]?[0-9]{4})"
        r"(?:(?:-|转|分机)(?P<ext>[0-9]{1,5}))?" + NOT_BEFORE_DIGIT
    )

    def analyze(self, text: str) -> Iterator[Match]:
        """Validated numbers; the regex groups tell whether the area code was set off. The span ends at
        the local number: an extension (``转801``) names a desk, not part of the dialled number."""
        for m in self.pattern.finditer(text):
            score = _score(m)
            if score > 0:
                end = m.end("local")
                yield Match(self.entity, m.start(), end, score, text[m.start() : end])

    def validate(self, value: str) -> float:
        """0.55 for a set-off area code or +86, 0.4 for a bare run, 0 when the number is not allocated."""
        m = self.pattern.fullmatch(value)
        return _score(m) if m else 0.0

    def subject_key(self, value: str) -> str | None:
        """Area code + local number (+ extension): the line of a household or a desk."""
        parts = landline_parts(value)
        if parts is None:
            return None
        area, local, ext = parts
        return f"tel:{area}{local}" + (f"-{ext}" if ext else "")


def _split(m: re.Match[str]) -> tuple[str, str, str, bool] | None:
    """(area code with its 0, local number, extension, set off or +86) of a pattern match, or None."""
    written = m.group("area1") or m.group("area3") or m.group("area2")[1:]
    national = written + _NON_DIGITS.sub("", m.group("local"))
    area = national[:2] if national[0] in "12" else national[:3]
    local = national[len(area) :]
    set_off = bool(m.group("area2") or m.group("sep1") or m.group("sep3"))
    if set_off and written != area:
        return None
    if len(local) not in (7, 8) or local[0] in "019" or not _FIXED_LINE_RANGES.fullmatch(national):
        return None
    return "0" + area, local, m.group("ext") or "", set_off or bool(m.group("cc"))


def _score(m: re.Match[str]) -> float:
    parts = _split(m)
    if parts is None:
        return 0.0
    return 0.55 if parts[3] else 0.4


def landline_parts(value: str) -> tuple[str, str, str] | None:
    """``(area code with leading 0, local number, extension or "")`` of a valid landline, else None.

    ``landline_parts("+86 10 6234 5678转801") == ("010", "62345678", "801")``.
    """
    m = LandlineRecognizer.pattern.fullmatch(value)
    parts = _split(m) if m else None
    return parts[:3] if parts else None
