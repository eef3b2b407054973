"""TW_ID: Taiwan national identification number (國民身分證統一編號), ``A123456789``."""

from __future__ import annotations

import re

from flowwatch.detection.checksums import tw_id_check_digit
from flowwatch.detection.types import NOT_BEFORE_ALNUM, Recognizer

# The first character is matched before the ASCII boundary check, which then looks at the character before
# it: a pattern that opens with a character class lets ``re`` skip ahead to candidate characters, 2–7×
# faster than one that opens with a look-behind.


class TwIdRecognizer(Recognizer):
    """Taiwan ID: a letter (household registration area), ``1``/``2`` (sex), 7 digits and a check digit.

    Also the 2021 format of resident certificates for foreign nationals (second digit ``8``/``9``), which
    uses the same check rule; the older two-letter resident certificate numbers use another rule and are
    not matched.

    Check digit: the letter maps to 10–35 (A=10 … H=17, J=18 … N=22, P=23 … V=29, X=30, Y=31, W=32,
    Z=33, I=34, O=35); tens digit × 1 + units digit × 9 + the next 8 digits × 8…1 + check ≡ 0 mod 10
    (Ministry of the Interior rule, as on Wikipedia "中華民國國民身分證"). python-stdnum 2.2 has no
    Taiwan personal-ID module (``stdnum.tw`` has only the business number, UBN), so the rule is
    ``tw_id_check_digit`` of ``flowwatch.detection.checksums``, shared with the sample maker.
    """

    min_digits = 9
    entity = "TW_ID"
    pattern = re.compile(r"[A-Z](?<![0-9A-Za-z][A-Z])[1289][0-9]{8}" + NOT_BEFORE_ALNUM)

    def validate(self, value: str) -> float:
        """0.85 when the check digit is right, 0 otherwise."""
        if self.pattern.fullmatch(value) is None:
            return 0.0
        return 0.85 if tw_id_check_digit(value[:9]) == value[9] else 0.0

    def subject_key(self, value: str) -> str | None:
        """The number identifies its holder."""
        return "tw:" + value
