"""CN_PASSPORT: passport numbers of the People's Republic of China (ordinary and official)."""

from __future__ import annotations

import re

from flowwatch.detection.types import NOT_BEFORE_ALNUM, Recognizer

# The first character is matched before the ASCII boundary check, which then looks at the character before
# it: a pattern that opens with a character class lets ``re`` skip ahead to candidate characters, 2–7×
# faster than one that opens with a look-behind.


class PassportRecognizer(Recognizer):
    """PRC passport number, format only (no public check digit).

    * ordinary (因私) passports: ``G12345678`` (G + 8 digits, 2006–2012), ``E12345678`` (e-passport,
      E + 8 digits, 2012–2017), ``EA1234567`` (E + a letter other than I/O + 7 digits, since April 2017);
    * official passports, e-passport series ``DE1234567`` (diplomatic), ``SE1234567`` (service),
      ``PE1234567`` (public affairs), and the older ``D1234567``, ``S1234567``/``S12345678``,
      ``P1234567`` (also written ``S.1234567`` / ``P.1234567``).

    Sources: the switch of ordinary e-passport numbers to E + letter + 7 digits on 5 April 2017 (Exit and
    Entry Administration of the Ministry of Public Security, as reported by Chinese reference pages on
    passport numbers), and the formats of official passports collected there and on Wikipedia
    "中华人民共和国护照" (official passports). The old ``14``/``15`` + 7-digit ordinary passports (before
    2006, all expired) are not matched: a bare 9-digit number says nothing.

    Score 0.4: a letter and 7–8 digits is also an order, ticket or part number, so the match is reported
    only with a context word (护照, passport; boost 0.3 → 0.7).
    """

    min_digits = 7
    entity = "CN_PASSPORT"
    pattern = re.compile(
        r"[DEGPS](?<![0-9A-Za-z][DEGPS])"
        r"(?:(?<=[EG])[0-9]{8}|(?<=E)[A-HJ-NP-Z][0-9]{7}|(?<=[DSP])(?:E|\.?)[0-9]{7}|(?<=S)[0-9]{8})" + NOT_BEFORE_ALNUM
    )

    def validate(self, value: str) -> float:
        """0.4 for the format (needs context), 0 for another shape."""
        return 0.4 if self.pattern.fullmatch(value) else 0.0

    def subject_key(self, value: str) -> str | None:
        """The number (without a dot after the letter) identifies its holder."""
        return "pp:" + value.replace(".", "")
