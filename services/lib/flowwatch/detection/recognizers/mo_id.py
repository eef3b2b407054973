"""MO_ID: Macau resident identity card (BIR) number, ``1234567(8)``."""

from __future__ import annotations

import re

from flowwatch.detection.types import Recognizer

_PARENS = str.maketrans("", "", "()（）")
# The first character is matched before the ASCII boundary check, which then looks at the character before
# it: a pattern that opens with a character class lets ``re`` skip ahead to candidate characters, 2–7×
# faster than one that opens with a look-behind.


class MoIdRecognizer(Recognizer):
    """Macau resident identity card: first digit 1, 5 or 7, six digits, one digit in parentheses.

    Printed ``1234567(8)`` on the card (Bilhete de Identidade de Residente, BIR; format as described on
    Wikipedia "澳門居民身份證"). The digit in parentheses is a check digit whose algorithm the
    Identification Services Bureau (DSI) does not publish, so only the format is checked: parentheses
    (ASCII or full-width) are required, and the score 0.45 stays under the threshold until a context word
    (澳门身份证, BIR …; boost 0.3) is near.
    """

    min_digits = 8
    entity = "MO_ID"
    pattern = re.compile(r"[157](?<![0-9A-Za-z][157])[0-9]{6}[(（][0-9][)）]")

    def validate(self, value: str) -> float:
        """0.45 for the format (needs context), 0 for another shape."""
        return 0.45 if self.pattern.fullmatch(value) else 0.0

    def subject_key(self, value: str) -> str | None:
        """The 8 digits identify the holder."""
        return "mo:" + value.translate(_PARENS)
