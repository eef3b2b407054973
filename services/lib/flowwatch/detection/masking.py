"""Masking of detected values: findings, alerts and the CLI show only masked values."""

from __future__ import annotations

import re

_KEEP = {  # entity → (visible prefix chars, visible suffix chars) of the compacted value
    "CN_RESIDENT_ID": (6, 4),
    "CN_BANK_CARD": (6, 4),
    "CN_MOBILE_PHONE": (3, 4),
}


def mask(entity: str, value: str) -> str:
    """Return ``value`` with its identifying part replaced by ``*``.

    Resident IDs keep the region code and last 4 (110105********123X), cards keep BIN and last 4,
    mobiles keep 3+4 (138****5678), e-mails keep the first character of the local part and the domain.
    Other values keep their first character.
    """
    if entity == "EMAIL_ADDRESS" and "@" in value:
        local, domain = value.split("@", 1)
        return f"{local[:1]}***@{domain}"
    compact = re.sub(r"[\s-]", "", value)
    if entity == "CN_MOBILE_PHONE":
        compact = compact[-11:]
    head, tail = _KEEP.get(entity, (1, 0))
    if len(compact) <= head + tail:
        return "*" * len(compact)
    return compact[:head] + "*" * (len(compact) - head - tail) + (compact[-tail:] if tail else "")
