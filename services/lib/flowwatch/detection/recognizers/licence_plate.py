"""CN_LICENSE_PLATE: motor-vehicle licence plates of mainland China (GA 36-2018), ``粤B12345``, ``京AD12345``."""

from __future__ import annotations

import re

from flowwatch.detection.types import NOT_BEFORE_ALNUM, Recognizer

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
"""The 31 provincial abbreviations that open a plate number."""
_LETTER = "A-HJ-NP-Z"  # GA 36: I and O are never used (confused with 1 and 0)
_SEPARATORS = "·•・ -"
_DROP_SEPARATORS = str.maketrans("", "", _SEPARATORS)
_ASCII_UPPER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


class LicencePlateRecognizer(Recognizer):
    """Licence plate: province abbreviation, issuing-office letter, optional ``·``, then the serial.

    Serial (GA 36-2018 "中华人民共和国机动车号牌", and the 2016 new-energy amendment):

    * ordinary plate: 5 letters or digits, at most 2 of them letters (``粤B12345``, ``京A·8K2L5``);
    * small new-energy vehicle: ``D`` (battery) or ``F`` (hybrid), a letter or digit, 4 digits
      (``粤BD12345``, ``沪AF·A1234``);
    * large new-energy vehicle: 5 digits, then ``D``/``F`` (``粤B12345D``);
    * special use: 4 letters or digits and 学 (driving school), 警 (police), 港/澳 (cross-border), 挂
      (trailer) or 领 (consulate) — ``粤B1234学``.

    Letters never include I or O. Separators: ``·`` (printed), ``•``, ``・``, a space or ``-``. A plate must
    not continue into more ASCII letters or digits. Score 0.75 (the province character followed by an
    office letter and such a serial is rare in prose; 车牌 raises it to 0.9). A plate identifies a vehicle
    and through the registration its keeper: the subject key is the plate without separators.
    """

    min_digits = 2
    entity = "CN_LICENSE_PLATE"
    pattern = re.compile(
        f"[{PROVINCES}][{_LETTER}][{_SEPARATORS}]?"
        f"(?:[DF][{_LETTER}0-9][0-9]{{4}}|[0-9]{{5}}[DF]|[{_LETTER}0-9]{{4}}[学警港澳挂领]|[{_LETTER}0-9]{{5}})"
        + NOT_BEFORE_ALNUM
    )
    _head = re.compile(f"[{PROVINCES}][{_LETTER}]")

    def could_match(self, text: str, digits: int) -> bool:
        """At least 2 ASCII digits and a province character followed by an office letter."""
        return digits >= self.min_digits and self._head.search(text) is not None

    def validate(self, value: str) -> float:
        """0.75 for a plate whose 5-character ordinary serial has at most 2 letters, 0 otherwise."""
        if self.pattern.fullmatch(value) is None:
            return 0.0
        serial = value[2:].translate(_DROP_SEPARATORS)
        if len(serial) == 6:  # new-energy vehicle: letters fixed by the pattern
            return 0.75
        return 0.75 if sum(c in _ASCII_UPPER for c in serial) <= 2 else 0.0

    def subject_key(self, value: str) -> str | None:
        """The plate without separators identifies the vehicle (and its keeper)."""
        return "plate:" + value.translate(_DROP_SEPARATORS)
