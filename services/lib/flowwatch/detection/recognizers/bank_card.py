"""CN_BANK_CARD: payment card numbers, 16–19 digits, Luhn (ISO/IEC 7812); UnionPay prefix 62."""

from __future__ import annotations

import re
from collections.abc import Iterator

from stdnum import luhn

from flowwatch.detection.types import Match, Recognizer

_SEPARATORS = " -"


class BankCardRecognizer(Recognizer):
    """Bank card: 16–19 digits, optionally grouped by single spaces or dashes, Luhn-valid.

    UnionPay cards (prefix 62) score 0.9; other Luhn-valid 16–19-digit numbers score below the default
    threshold and need context (卡号, 银行卡, card …) to be reported: a random 16-digit number passes Luhn
    one time in ten. A grouped match that fails is retried without its trailing groups
    (``6225881234567898 100元``: the card, not the amount).
    """

    min_digits = 16
    entity = "CN_BANK_CARD"
    pattern = re.compile(r"[1-9](?<![0-9][1-9])\d{3}(?:[ -]?\d){12,15}(?![0-9Xx])")  # class first: fast skip

    def analyze(self, text: str) -> Iterator[Match]:
        """Validated cards; a failing match is retried on its prefixes that end before a separator."""
        for m in self.pattern.finditer(text):
            value = m.group(0)
            ends = [len(value)] + [i for i in range(len(value) - 1, 0, -1) if value[i] in _SEPARATORS]
            for end in ends:
                score = self.validate(value[:end])
                if score > 0:
                    yield Match(self.entity, m.start(), m.start() + end, score, value[:end])
                    break

    def validate(self, value: str) -> float:
        """0.9 for Luhn-valid UnionPay (62…), 0.45 for other Luhn-valid cards (3–6…), 0.4 else; 0 if invalid."""
        digits = value.replace(" ", "").replace("-", "")
        if not 16 <= len(digits) <= 19 or not luhn.is_valid(digits):
            return 0.0
        if digits.startswith("62"):
            return 0.9
        return 0.45 if digits[0] in "3456" else 0.4
