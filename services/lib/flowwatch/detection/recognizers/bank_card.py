"""CN_BANK_CARD: payment card numbers, 16–19 digits, Luhn (ISO/IEC 7812); UnionPay prefix 62."""

from __future__ import annotations

import re

from stdnum import luhn

from flowwatch.detection.types import NOT_AFTER_DIGIT, NOT_BEFORE_DIGIT, Recognizer


class BankCardRecognizer(Recognizer):
    """Bank card: 16–19 digits, optionally grouped by single spaces or dashes, Luhn-valid.

    UnionPay cards (prefix 62) score higher; other Luhn-valid 16–19-digit numbers score lower and need
    context to pass the default threshold.
    """

    min_digits = 16
    entity = "CN_BANK_CARD"
    pattern = re.compile(NOT_AFTER_DIGIT + r"[1-9]\d{3}(?:[ -]?\d){12,15}" + NOT_BEFORE_DIGIT)

    def validate(self, value: str) -> float:
        """0.9 for Luhn-valid UnionPay (62…), 0.6 for other Luhn-valid cards, 0 otherwise."""
        digits = value.replace(" ", "").replace("-", "")
        if not 16 <= len(digits) <= 19 or not luhn.is_valid(digits):
            return 0.0
        if digits.startswith("62"):
            return 0.9
        return 0.6 if digits[0] in "3456" else 0.4
