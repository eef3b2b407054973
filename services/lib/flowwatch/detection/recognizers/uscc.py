"""CN_USCC: unified social credit code of an organisation, 18 characters (GB 32100-2015)."""

from __future__ import annotations

import re

from stdnum.cn import uscc

from flowwatch.detection.types import NOT_BEFORE_ALNUM, Recognizer

# The first character is matched before the ASCII boundary check, which then looks at the character before
# it: a pattern that opens with a character class lets ``re`` skip ahead to candidate characters, 2–7×
# faster than one that opens with a look-behind.


class UsccRecognizer(Recognizer):
    """Unified social credit code: ``91440300MA5XXXXXXX``-shaped, 18 characters, check character required.

    Format (GB 32100-2015): registration authority (1 char), entity category (1), administrative division
    code of the registering region (6 digits), organisation code (9 chars, GB 11714), check character (1).
    Characters come from the 31-symbol alphabet ``0-9 A-H J-N P-R T U W-Y`` (no I, O, S, V, Z).

    The check character is MOD 31 with weights 3^i mod 31 (GB 32100-2015 §5), computed by python-stdnum's
    ``stdnum.cn.uscc`` (whose ``validate`` also requires the first 8 characters to be digits; it does not
    check the GB 11714 organisation-code check character, and neither do we). The pattern further requires
    authority in 1–9 or ``A``/``N``/``Y`` (GB 32100-2015 Table 1 and its later codes: ``Y`` other
    authorities, ``N`` agriculture — rural collective economic organisations, ``A`` the military's
    organisation office), category in 1–9 and a region code starting 1–8 (provinces 11–82, and 100000 for national
    registrations), so a random 18-digit number rarely matches.
    Upper case only, as printed on licences. An organisation is not a person: no subject key.
    """

    min_digits = 8
    entity = "CN_USCC"
    pattern = re.compile(
        r"[1-9ANY](?<![0-9A-Za-z][1-9ANY])[1-9][1-8][0-9]{5}[0-9A-HJ-NPQRTUWXY]{10}" + NOT_BEFORE_ALNUM
    )

    def validate(self, value: str) -> float:
        """0.9 when the MOD 31 check character is right (python-stdnum), 0 otherwise.

        The pattern has already checked what ``uscc.validate`` checks besides (length, digits, alphabet);
        a value that does not match it is rejected.
        """
        if self.pattern.fullmatch(value) is None:
            return 0.0
        return 0.9 if uscc.calc_check_digit(value) == value[-1] else 0.0
