"""CN_MOBILE_PHONE: mainland mobile numbers, with or without +86, spaces or dashes."""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import PhoneNumberType

from flowwatch.detection.types import NOT_AFTER_DIGIT, NOT_BEFORE_DIGIT, Recognizer

_MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


class MobilePhoneRecognizer(Recognizer):
    """Mobile number: 11 digits 1[3-9]x, grouped 3-4-4 or not, optional +86/0086 prefix.

    The allocated ranges are checked with phonenumbers (Google libphonenumber metadata).
    """

    entity = "CN_MOBILE_PHONE"
    pattern = re.compile(
        NOT_AFTER_DIGIT + r"(?:(?:\+|00)86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}" + NOT_BEFORE_DIGIT
    )

    def validate(self, value: str) -> float:
        """0.8 when phonenumbers says it is a valid CN mobile number, 0 otherwise."""
        digits = re.sub(r"\D", "", value)[-11:]
        try:
            number = phonenumbers.parse(digits, "CN")
        except phonenumbers.NumberParseException:
            return 0.0
        if phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) in _MOBILE_TYPES:
            return 0.8
        return 0.0

    def subject_key(self, value: str) -> str | None:
        """The 11-digit national number identifies its subscriber."""
        return "mob:" + re.sub(r"\D", "", value)[-11:]
