"""HK_ID: Hong Kong identity card number, ``A123456(3)`` (Registration of Persons Regulations, Cap. 177A)."""

from __future__ import annotations

import re

from flowwatch.detection.checksums import hk_id_check_char
from flowwatch.detection.types import NOT_BEFORE_ALNUM, Recognizer

_PARENS = str.maketrans("", "", "()（）")
# The first character is matched before the ASCII boundary check, which then looks at the character before
# it: a pattern that opens with a character class lets ``re`` skip ahead to candidate characters, 2–7×
# faster than one that opens with a look-behind.


class HkIdRecognizer(Recognizer):
    """Hong Kong identity card: 1 or 2 letters, 6 digits, check character ``0``–``9`` or ``A``.

    Printed ``A123456(3)`` (ASCII or full-width parentheses); often written without them, ``A1234563``.
    Two-letter prefixes in use begin with ``W`` or ``X`` (``WX``, ``XA``, ``XB`` …, per the prefix table on
    Wikipedia), and only those are matched, which keeps ``EA1234567`` (a PRC e-passport) out.

    Check character: MOD 11 over the 8 leading characters padded to 2 letters with a space, values space
    = 36, ``A``–``Z`` = 10–35, digits as themselves, weights 9…2; check = (11 − sum mod 11) mod 11 with
    10 written ``A`` (the widely documented algorithm, e.g. Wikipedia "Hong Kong identity card"; the
    Immigration Department does not publish it). python-stdnum 2.2 has no HKID module, so the rule is
    ``hk_id_check_char`` of ``flowwatch.detection.checksums``, shared with the sample maker.
    """

    min_digits = 6
    entity = "HK_ID"
    pattern = re.compile(
        r"[A-Z](?<![0-9A-Za-z][A-Z])(?:(?<=[WX])[A-Z])?[0-9]{6}(?:[(（][0-9A][)）]|[0-9A]" + NOT_BEFORE_ALNUM + ")"
    )

    def validate(self, value: str) -> float:
        """0.85 for a valid check character in parentheses, 0.7 without parentheses, 0 when the check fails."""
        if self.pattern.fullmatch(value) is None:
            return 0.0
        number = value.translate(_PARENS)
        if hk_id_check_char(number[:-7], number[-7:-1]) != number[-1]:
            return 0.0
        return 0.7 if len(number) == len(value) else 0.85

    def subject_key(self, value: str) -> str | None:
        """The number without parentheses identifies its holder."""
        return "hk:" + value.translate(_PARENS)
