"""CN_HMT_PERMIT: mainland travel permits of Hong Kong, Macau (回乡证) and Taiwan (台胞证) residents."""

from __future__ import annotations

import datetime as dt
import re

from flowwatch.detection.types import NOT_BEFORE_ALNUM, Recognizer

_PARENS = str.maketrans("", "", "()（）")
# The first character is matched before the ASCII boundary check, which then looks at the character before
# it: a pattern that opens with a character class lets ``re`` skip ahead to candidate characters, 2–7×
# faster than one that opens with a look-behind.


class HmtPermitRecognizer(Recognizer):
    """Mainland travel permit numbers, format only (no public check digit).

    * 港澳居民来往内地通行证 (回乡证): ``H12345678`` (Hong Kong) / ``M12345678`` (Macau), card form since
      2013; the older booklet number adds a 2-digit issue count, ``H1234567801``. Score 0.45.
    * 台湾居民来往大陆通行证 (台胞证): 8 digits, the holder's lifetime number (the only number since
      25 September 2008, card form since 2015); before that 10 digits, lifetime number + 2-digit issue
      count, until 2006 followed by an issuing-office code in parentheses, ``1234567801(B)`` (Ministry
      of Public Security change reported by China News Service, 2008-09-12). Score 0.1.

    Sources: the announcements above and the sample maker's formats (``hmt_permit_hk_macau``,
    ``hmt_permit_taiwan`` in ``flowwatch_tools.samples.checksums``).

    Reporting rule for the bare Taiwan form: any 8-digit number could be one, so its base score 0.1 is
    reported only when a permit context word (台胞证, 通行证, 回乡证, permit …) is within the window or
    is the field name: ``entity_boost`` for CN_HMT_PERMIT is 0.45, and 0.1 + 0.45 = 0.55 ≥ 0.5 while
    0.1 alone and 0.1 + 0.45 − 0.5 (an 订单号 nearby) stay below. The H/M form scores 0.45 and so also
    needs a context word (0.9 with one). Context is left to the scanner (not looked up here) so that a
    field name such as ``tw_permit_no`` counts as well. 8-digit numbers that are calendar dates
    (``20301231``: an expiry date next to 台胞证) and 10-digit 400/800 service numbers (a hotline next to
    通行证) are rejected.
    """

    min_digits = 8
    entity = "CN_HMT_PERMIT"
    pattern = re.compile(
        r"[HM0-9](?<![0-9A-Za-z.+-][HM0-9])"
        r"(?:(?<=[HM])[0-9]{8}(?:[0-9]{2})?|(?<=[0-9])[0-9]{7}(?:[0-9]{2}(?:[(（][0-9A-Z][)）])?)?)"
        + NOT_BEFORE_ALNUM
        + r"(?![.,][0-9])"
    )

    def validate(self, value: str) -> float:
        """0.45 for ``H``/``M`` numbers, 0.1 for bare 8- or 10-digit Taiwan numbers; 0 for 8-digit dates and
        400/800 service numbers."""
        if self.pattern.fullmatch(value) is None:
            return 0.0
        if value[0] in "HM":
            return 0.45
        if (len(value) == 8 and _is_date(value)) or (len(value) == 10 and value[:3] in ("400", "800")):
            return 0.0
        return 0.1

    def subject_key(self, value: str) -> str | None:
        """The lifetime number (H/M + 8 digits, or 8 digits) identifies the holder across re-issues."""
        number = value.translate(_PARENS)
        if number[0] in "HM":
            return "hmt:" + number[:9]
        return "hmt:" + number[:8]


def _is_date(digits: str) -> bool:
    """True when 8 digits read as a real date ``YYYYMMDD`` in 1900–2099."""
    if digits[:2] not in ("19", "20"):
        return False
    try:
        dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return False
    return True
