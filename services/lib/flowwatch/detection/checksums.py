"""Check digits and check characters validated at run time by the recognizers (issue 19: moved here from
``flowwatch_tools.samples.checksums``, which re-exports them for the sample makers).

python-stdnum has no module for the Hong Kong and Taiwan identity cards, so their rules are here; the
resident-ID check character delegates to python-stdnum's GB 11643 implementation.
"""

from __future__ import annotations

from stdnum.cn import ric

__all__ = ["TW_LETTERS", "hk_id_check_char", "resident_id_check_char", "tw_id_check_digit"]


def resident_id_check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character (``0``–``9`` or ``X``) of the first 17 digits of a resident ID
    (python-stdnum's GB 11643 implementation; it expects the check position to be present)."""
    return ric.calc_check_digit(first17 + "0")


def _hk_value(char: str) -> int:
    return 36 if char == " " else (int(char) if char.isdigit() else ord(char) - ord("A") + 10)


def hk_id_check_char(prefix: str, digits: str) -> str:
    """HKID check character for a 1- or 2-letter ``prefix`` and 6 ``digits`` (``0``–``9`` or ``A``).

    MOD 11 over the prefix padded to 2 characters with a space (space = 36, ``A``–``Z`` = 10–35, digits as
    themselves), weights 9…2; check = (11 − sum mod 11) mod 11, 10 written ``A`` (the widely documented
    algorithm; the Immigration Department does not publish it)."""
    chars = prefix.rjust(2) + digits
    total = sum(_hk_value(c) * w for c, w in zip(chars, range(9, 1, -1), strict=True))
    check = (11 - total % 11) % 11
    return "A" if check == 10 else str(check)


TW_LETTERS = "ABCDEFGHJKLMNPQRSTUVXYWZIO"  # letter values 10..35 in this order


def tw_id_check_digit(first9: str) -> str:
    """Check digit of a Taiwan national ID: ``first9`` is the letter and the next 8 digits."""
    value = TW_LETTERS.index(first9[0]) + 10
    total = (
        value // 10
        + (value % 10) * 9
        + sum(int(c) * w for c, w in zip(first9[1:], range(8, 0, -1), strict=True))
    )
    return str((10 - total % 10) % 10)
