"""Masking of detected values: findings, alerts and the CLI show only masked values."""

from __future__ import annotations

import re

from flowwatch.detection.recognizers.landline import landline_parts

_KEEP = {  # entity → (visible prefix chars, visible suffix chars) of the compacted value
    "CN_RESIDENT_ID": (6, 4),
    "CN_BANK_CARD": (6, 4),
    "CN_MOBILE_PHONE": (3, 4),
    "CN_USCC": (8, 2),  # registration authority, category and region code: an organisation's, not PI
    "HK_ID": (1, 1),
    "MO_ID": (1, 1),
    "TW_ID": (1, 1),
    "CN_PASSPORT": (1, 2),
    "CN_HMT_PERMIT": (1, 2),
    "CN_LICENSE_PLATE": (2, 1),  # province and issuing-office letter
}
# Printed punctuation of these identifiers, dropped before masking: A123456(3), 粤B·12345, P.1234567.
_PUNCTUATED = frozenset({"HK_ID", "MO_ID", "CN_PASSPORT", "CN_HMT_PERMIT", "CN_LICENSE_PLATE"})
_PUNCTUATION = re.compile(r"[()（）·•・.]")
_DECIMALS = re.compile(r"([0-9]\.[0-9])[0-9]+")  # keep 1 decimal (≈ 10 km)
_MINUTES_SECONDS = re.compile(r"(?<=[°'′])(\s?)[0-9]+(?:\.[0-9]+)?")


def mask(entity: str, value: str) -> str:
    """Return ``value`` with its identifying part replaced by ``*``.

    Resident IDs keep the region code and last 4 (110105********123X), cards keep BIN and last 4,
    mobiles keep 3+4 (138****5678), e-mails keep the first character of the local part and the domain.
    Landlines keep the area code and the last 2 digits (010-******78), IP addresses their first two octets
    (192.168.*.*; IPv6 the first two groups, 2001:db8:*), coordinates 1 decimal and the degrees
    (39.9***, 116.3***; 39°**'**"N). Other identifiers keep the counts in ``_KEEP`` of the value without
    separators or punctuation (HK ID A******3, plate 粤B*****5); other values keep their first character.
    """
    if entity == "EMAIL_ADDRESS" and "@" in value:
        local, domain = value.split("@", 1)
        return f"{local[:1]}***@{domain}"
    if entity == "CN_LANDLINE" and (parts := landline_parts(value)) is not None:
        area, local, _ = parts
        return f"{area}-{'*' * (len(local) - 2)}{local[-2:]}"
    if entity == "IP_ADDRESS":
        if "." in value:
            return value.rsplit(".", 2)[0] + ".*.*"
        return ":".join(value.split(":")[:2]) + ":*"
    if entity == "GEO_COORDINATE":
        return _MINUTES_SECONDS.sub(r"\1**", _DECIMALS.sub(r"\1***", value))
    compact = re.sub(r"[\s-]", "", value)
    if entity in _PUNCTUATED:
        compact = _PUNCTUATION.sub("", compact)
    if entity == "CN_MOBILE_PHONE":
        compact = compact[-11:]
    head, tail = _KEEP.get(entity, (1, 0))
    if len(compact) <= head + tail:
        return "*" * len(compact)
    return compact[:head] + "*" * (len(compact) - head - tail) + (compact[-tail:] if tail else "")
