"""EMAIL_ADDRESS: e-mail addresses, also when they touch Chinese characters."""

from __future__ import annotations

import re

from flowwatch.detection.types import Recognizer


class EmailRecognizer(Recognizer):
    """E-mail: ASCII local part and domain with a 2–24-letter TLD; boundaries are ASCII-only."""

    needs = "@"
    entity = "EMAIL_ADDRESS"
    pattern = re.compile(
        r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
        r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9-])"
    )

    def validate(self, value: str) -> float:
        """0.9 unless the local part has consecutive or trailing dots."""
        local = value.split("@", 1)[0]
        return 0.0 if ".." in local or local.endswith(".") else 0.9

    def subject_key(self, value: str) -> str | None:
        """The lower-cased address identifies its owner."""
        return "eml:" + value.lower()
