"""Checksum makers: valid (and deliberately near-miss) Chinese identifiers for synthetic flow events.

Every maker takes a ``random.Random`` and returns a ``str``; the same generator state always gives the
same value. The valid makers follow the published check-digit rules, and the tests run each one through
python-stdnum / phonenumbers where a validator exists:

=====================  ====================================  ====================================
maker                  rule                                  validator used in tests
=====================  ====================================  ====================================
``resident_id``        GB 11643-1999, ISO 7064 MOD 11-2      ``stdnum.cn.ric``
``bank_card``          Luhn (UnionPay 62…, Visa 4…, MC 5…)   ``stdnum.luhn``
``mobile``             CN mobile number plan                 ``phonenumbers`` (MOBILE)
``landline``           area code + local number              ``phonenumbers`` (FIXED_LINE)
``uscc``               GB 32100-2015 (+ GB 11714 org code)   ``stdnum.cn.uscc``
``hk_id``              HKID mod-11 check character           reference check in the tests
``tw_id``              ROC national ID checksum              reference check in the tests
=====================  ====================================  ====================================

Passports, mainland travel permits, Macau IDs and licence plates carry no public check digit: their
makers follow the documented formats only.

Near-miss makers give hard negatives that look right but fail validation: ``near_miss_resident_id``
(real region and date, wrong check character), ``near_miss_bank_card`` (card prefixes and lengths, Luhn
fails) and ``near_miss_mobile`` (11 digits starting with 1, prefix not allocated to mobile service).

Region codes of resident IDs and USCCs are real administrative division codes taken from
python-stdnum's table (``stdnum/cn/loc.dat``), restricted to codes still in use; a resident ID gets a
code that already existed in its holder's birth year, which is what ``stdnum.cn.ric`` checks.
"""

from __future__ import annotations

import bisect
import datetime as dt
import random

from stdnum import luhn

from flowwatch.detection.checksums import TW_LETTERS, hk_id_check_char, resident_id_check_char, tw_id_check_digit
from flowwatch.divisions import AdminRegion, load_admin_regions

__all__ = [
    "ADMIN_REGIONS",
    "LANDLINE_AREAS",
    "MOBILE_PREFIXES",
    "NON_MOBILE_PREFIXES",
    "PLATE_PROVINCES",
    "REFERENCE_DATE",
    "AdminRegion",
    "bank_card",
    "birth_date_for_age",
    "hk_id",
    "hk_id_check_char",
    "hmt_permit_hk_macau",
    "hmt_permit_taiwan",
    "landline",
    "licence_plate",
    "macau_id",
    "mobile",
    "near_miss_bank_card",
    "near_miss_mobile",
    "near_miss_resident_id",
    "passport",
    "region_for_birth_year",
    "resident_id",
    "resident_id_check_char",  # re-exported from flowwatch.detection.checksums
    "tw_id",
    "tw_id_check_digit",
    "uscc",
]

REFERENCE_DATE = dt.date(2026, 11, 21)
"""Fixed "today" used for ages, so output never depends on the wall clock."""

_DIGITS = "0123456789"


# ---------------------------------------------------------------------------------------------------
# Administrative division codes (from python-stdnum's loc.dat)
# ---------------------------------------------------------------------------------------------------


ADMIN_REGIONS: tuple[AdminRegion, ...] = load_admin_regions()
"""County-level divisions of mainland China usable in resident IDs, USCCs and addresses (sorted by
``valid_from``)."""
_REGION_YEARS: tuple[int, ...] = tuple(r.valid_from for r in ADMIN_REGIONS)


def region_for_birth_year(rng: random.Random, year: int) -> AdminRegion:
    """A random region whose code was already in use in ``year`` (what python-stdnum checks)."""
    return ADMIN_REGIONS[rng.randrange(max(1, bisect.bisect_right(_REGION_YEARS, year)))]


def _digits(rng: random.Random, n: int) -> str:
    """``n`` random decimal digits (leading zeros allowed)."""
    return f"{rng.randrange(10**n):0{n}d}"


# ---------------------------------------------------------------------------------------------------
# Resident identity card (GB 11643-1999)
# ---------------------------------------------------------------------------------------------------

_RIC_CHECK = "10X98765432"  # every possible check character (for near misses)


def birth_date_for_age(
    rng: random.Random, min_age: int, max_age: int, today: dt.date = REFERENCE_DATE
) -> dt.date:
    """Random birth date of a person aged ``min_age``..``max_age`` (whole years, inclusive) on ``today``.

    Raises ``ValueError`` if ``min_age > max_age`` or ``min_age < 0``.
    """
    if min_age < 0 or min_age > max_age:
        raise ValueError(f"bad age range {min_age}..{max_age}")
    latest = _years_before(today, min_age)
    earliest = _years_before(today, max_age + 1) + dt.timedelta(days=1)
    return earliest + dt.timedelta(days=rng.randint(0, (latest - earliest).days))


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _resident_id_body(
    rng: random.Random, birth_date: dt.date | None, region: AdminRegion | None, sex: str | None
) -> str:
    born = birth_date or birth_date_for_age(rng, 18, 80)
    region = region or region_for_birth_year(rng, born.year)
    sex = sex or rng.choice("MF")
    order = rng.randrange(0, 500) * 2 + (1 if sex == "M" else 0)  # odd = male, even = female
    if order == 0:
        order = 2
    return f"{region.code}{born:%Y%m%d}{order:03d}"


def resident_id(
    rng: random.Random,
    birth_date: dt.date | None = None,
    region: AdminRegion | None = None,
    sex: str | None = None,
) -> str:
    """A valid 18-character PRC resident identity card number.

    ``birth_date`` defaults to an adult (18–80 years on ``REFERENCE_DATE``); pass e.g.
    ``birth_date_for_age(rng, 6, 13)`` to make a minor. ``region`` defaults to a random entry of
    ``ADMIN_REGIONS`` in use in the birth year (a region given explicitly is not checked); ``sex`` is
    ``"M"`` (odd order code) or ``"F"`` (even), random when ``None``.
    """
    body = _resident_id_body(rng, birth_date, region, sex)
    return body + resident_id_check_char(body)


def near_miss_resident_id(rng: random.Random, birth_date: dt.date | None = None) -> str:
    """An 18-character resident-ID look-alike whose region and date are real but check character wrong."""
    body = _resident_id_body(rng, birth_date, None, None)
    good = resident_id_check_char(body)
    return body + rng.choice([c for c in _RIC_CHECK if c != good])


# ---------------------------------------------------------------------------------------------------
# Bank cards (Luhn)
# ---------------------------------------------------------------------------------------------------

# (issuer identification prefix, possible total lengths, relative weight)
_CARD_PREFIXES: tuple[tuple[str, tuple[int, ...], int], ...] = (
    ("622202", (19,), 6),  # UnionPay debit (large state bank)
    ("621226", (19,), 4),
    ("622848", (19,), 5),
    ("621700", (19,), 4),
    ("622588", (16,), 3),  # UnionPay credit
    ("625965", (16,), 2),
    ("623668", (19,), 2),
    ("621483", (16,), 2),
    ("622609", (17,), 1),
    ("620200", (18,), 1),
    ("4", (16,), 2),  # Visa-like
    ("51", (16,), 1),  # Mastercard-like
    ("53", (16,), 1),
    ("55", (16,), 1),
)
_CARD_WEIGHTS = tuple(weight for _, _, weight in _CARD_PREFIXES)


def _luhn_check_digit(partial: str) -> str:
    """Luhn check digit to append to ``partial`` (all digits), from python-stdnum."""
    return str(luhn.calc_check_digit(partial))


def _card_body(rng: random.Random) -> str:
    prefix, lengths, _ = rng.choices(_CARD_PREFIXES, weights=_CARD_WEIGHTS)[0]
    length = rng.choice(lengths)
    return prefix + _digits(rng, length - len(prefix) - 1)


def bank_card(rng: random.Random) -> str:
    """A Luhn-valid payment card number: mostly UnionPay (62…, 16–19 digits), some 16-digit 4…/5…."""
    body = _card_body(rng)
    return body + _luhn_check_digit(body)


def near_miss_bank_card(rng: random.Random) -> str:
    """A card-number look-alike (same prefixes and lengths) that fails the Luhn check."""
    body = _card_body(rng)
    good = _luhn_check_digit(body)
    return body + rng.choice([d for d in _DIGITS if d != good])


# ---------------------------------------------------------------------------------------------------
# Telephone numbers
# ---------------------------------------------------------------------------------------------------

MOBILE_PREFIXES: tuple[str, ...] = tuple(
    str(p)
    for p in (
        *range(130, 140),
        145, 147,
        150, 151, 152, 153, 155, 156, 157, 158, 159,
        162, 165, 166, 167,
        170, 171, 172, 173, 175, 176, 177, 178,
        *range(180, 190),
        190, 191, 192, 193, 195, 196, 197, 198, 199,
    )
)  # fmt: skip
"""Three-digit prefixes that phonenumbers accepts as CN mobile numbers for any 8-digit tail."""

NON_MOBILE_PREFIXES: tuple[str, ...] = ("140", "141", "142", "143", "144", "146", "148", "154", "160", "163",
                                        "164", "168", "169", "179", "194")  # fmt: skip
"""Three-digit prefixes not allocated to mobile service (near-miss numbers)."""


def mobile(rng: random.Random) -> str:
    """A valid 11-digit CN mobile number (no country code, no separators), e.g. ``13812345678``."""
    return rng.choice(MOBILE_PREFIXES) + _digits(rng, 8)


def near_miss_mobile(rng: random.Random) -> str:
    """An 11-digit string starting with ``1`` whose prefix is not a CN mobile prefix."""
    return rng.choice(NON_MOBILE_PREFIXES) + _digits(rng, 8)


# (area code, digits of the local number) — checked against phonenumbers in the tests
LANDLINE_AREAS: tuple[tuple[str, int], ...] = (
    ("010", 8), ("020", 8), ("021", 8), ("022", 8), ("023", 8), ("024", 8), ("025", 8), ("027", 8),
    ("028", 8), ("029", 8), ("0311", 8), ("0371", 8), ("0431", 8), ("0451", 8), ("0512", 8), ("0531", 8),
    ("0532", 8), ("0551", 8), ("0571", 8), ("0574", 8), ("0591", 8), ("0731", 8), ("0755", 8), ("0757", 8),
    ("0769", 8), ("0791", 8), ("0871", 8), ("0898", 8), ("0351", 7), ("0592", 7), ("0756", 7), ("0771", 7),
    ("0931", 7), ("0951", 7), ("0971", 7), ("0991", 7), ("0335", 7), ("0668", 7), ("0728", 7), ("0937", 7),
)  # fmt: skip


def landline(rng: random.Random, separator: str = "-") -> str:
    """A valid CN fixed-line number: area code, ``separator``, local number (``010-62345678``).

    Local numbers start with 2–7 (8 and 9 open service and special ranges in some cities).
    """
    area, length = rng.choice(LANDLINE_AREAS)
    return f"{area}{separator}{rng.randint(2, 7)}{_digits(rng, length - 1)}"


# ---------------------------------------------------------------------------------------------------
# Unified social credit code (GB 32100-2015)
# ---------------------------------------------------------------------------------------------------

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# (registration authority, entity category): 9x = market regulator (1 enterprise, 2 individual
# business, 3 farmers' cooperative), 1x = institutional bodies, 5x = civil affairs (social organisations)
_USCC_KINDS: tuple[str, ...] = ("91",) * 12 + ("92", "93", "11", "12", "51", "52", "53")
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def _org_code(rng: random.Random) -> str:
    """GB 11714 organisation code: 8 digits plus its mod-11 check character (``X`` for 10)."""
    body = _digits(rng, 8)
    check = (11 - sum(int(c) * w for c, w in zip(body, _ORG_WEIGHTS, strict=True)) % 11) % 11
    return body + ("X" if check == 10 else str(check))


def uscc(rng: random.Random) -> str:
    """A valid 18-character unified social credit code, e.g. ``91440300MA5XXXXXXX``-shaped."""
    body = rng.choice(_USCC_KINDS) + rng.choice(ADMIN_REGIONS).code + _org_code(rng)
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(body, _USCC_WEIGHTS, strict=True))
    return body + _USCC_ALPHABET[(31 - total) % 31]


# ---------------------------------------------------------------------------------------------------
# Hong Kong, Macau, Taiwan identity documents
# ---------------------------------------------------------------------------------------------------

_HK_PREFIXES: tuple[str, ...] = tuple("ACDEGHKMPRVZ") * 3 + ("WX", "XA", "XB", "XD")


def hk_id(rng: random.Random) -> str:
    """A Hong Kong identity card number with a valid check character, formatted ``A123456(3)``."""
    prefix = rng.choice(_HK_PREFIXES)
    digits = _digits(rng, 6)
    return f"{prefix}{digits}({hk_id_check_char(prefix, digits)})"


def macau_id(rng: random.Random) -> str:
    """A Macau resident identity card number in its printed format ``1234567(8)`` (format only)."""
    return f"{rng.choice('157')}{_digits(rng, 6)}({rng.choice(_DIGITS)})"


def tw_id(rng: random.Random) -> str:
    """A Taiwan national identification number with a valid check digit, e.g. ``A123456789``."""
    first9 = rng.choice(TW_LETTERS[:22]) + rng.choice("12") + _digits(rng, 7)
    return first9 + tw_id_check_digit(first9)


# ---------------------------------------------------------------------------------------------------
# Travel documents
# ---------------------------------------------------------------------------------------------------

_PASSPORT_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I, O


def passport(rng: random.Random) -> str:
    """A PRC ordinary passport number: ``E12345678``, ``EA1234567`` (2012+ e-passports) or ``G12345678``."""
    style = rng.choices(("E8", "EX", "G8"), weights=(6, 2, 2))[0]
    if style == "E8":
        return "E" + _digits(rng, 8)
    if style == "EX":
        return "E" + rng.choice(_PASSPORT_LETTERS) + _digits(rng, 7)
    return "G" + _digits(rng, 8)


def hmt_permit_hk_macau(rng: random.Random) -> str:
    """Mainland travel permit for HK/Macau residents (回乡证): ``H12345678`` / ``M12345678``, or the
    older 10-digit form (8 digits + 2-digit issue count), ``H1234567801``."""
    number = rng.choice("HM") + _digits(rng, 8)
    return (number + f"{rng.randint(0, 12):02d}") if rng.random() < 0.25 else number


def hmt_permit_taiwan(rng: random.Random) -> str:
    """Mainland travel permit for Taiwan residents (台胞证), 8-digit card number since 2015."""
    return _digits(rng, 8)


# ---------------------------------------------------------------------------------------------------
# Licence plates (GA 36)
# ---------------------------------------------------------------------------------------------------

PLATE_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I, O


def licence_plate(rng: random.Random) -> str:
    """A CN licence plate: ``粤B12345``-style (7 chars) or new-energy (8 chars, ``粤BD12345`` /
    ``粤B12345F``); a third of them with the ``·`` separator after the city letter (``粤B·D12345``)."""
    head = rng.choice(PLATE_PROVINCES) + rng.choice(_PLATE_LETTERS[:18])
    kind = rng.choices(("ordinary", "nev_small", "nev_large"), weights=(6, 3, 1))[0]
    if kind == "ordinary":
        chars = list(_digits(rng, 5))
        for pos in rng.sample(range(5), rng.choice((0, 1, 1, 2))):  # at most two letters
            chars[pos] = rng.choice(_PLATE_LETTERS)
        tail = "".join(chars)
    elif kind == "nev_small":
        tail = rng.choice("DF") + rng.choice(_DIGITS + _PLATE_LETTERS[:10]) + _digits(rng, 4)
    else:
        tail = _digits(rng, 5) + rng.choice("DF")
    return f"{head}·{tail}" if rng.random() < 0.33 else head + tail
