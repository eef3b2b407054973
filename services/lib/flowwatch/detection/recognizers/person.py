"""PERSON: Chinese personal names without a spaCy model — surname lists and context."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache

from faker.providers.person.zh_CN import Provider as _ZhNames

from flowwatch.detection.terms import entry, field_is
from flowwatch.detection.types import Match, Recognizer

HAN = "\u4e00-\u9fff"
ANCHORED_SCORE = 0.75
FIELD_SCORE = 0.85
ENGLISH_SCORE = 0.7


@cache
def surnames() -> tuple[str, ...]:
    """Surnames: Faker's zh_CN list (399, by frequency) plus compound surnames, minus function words
    (``terms.yaml`` PERSON); compound ones first so 欧阳 wins over 欧."""
    spec = entry("PERSON")
    excluded = set(spec["exclude_surnames"])
    single = [s for s in _ZhNames.last_names if s not in excluded and len(s) == 1]
    compound = sorted({*spec["compound_surnames"], *(s for s in _ZhNames.last_names if len(s) > 1)}, key=len)
    return tuple(reversed(compound)) + tuple(single)


@cache
def all_surnames() -> tuple[str, ...]:
    """Every surname including the excluded function-word ones (由丽娟): used after ``姓名：``."""
    single = [s for s in _ZhNames.last_names if len(s) == 1]
    spec = entry("PERSON")
    compound = sorted({*spec["compound_surnames"], *(s for s in _ZhNames.last_names if len(s) > 1)}, key=len)
    return tuple(reversed(compound)) + tuple(single)


class PersonRecognizer(Recognizer):
    """A Chinese full name (surname + 1–2 given-name characters) right after an anchor word (姓名：, 联系人,
    收件人, 患者 … in ``terms.yaml``), or the whole value of a name field (``customer_name``); an English
    ``Name: John Smith``. A bare surname-like character sequence in prose is never reported: without a
    Chinese NER model, the anchor is the evidence.

    The given name ends before a follower word (电话, 先生, 身份证 …): "联系人张三电话" → 张三.
    """

    entity = "PERSON"
    after_labels = False
    pattern = re.compile("")  # replaced in __init__ (built from data)

    def __init__(self) -> None:
        spec = entry("PERSON")
        names = "|".join(map(re.escape, all_surnames()))
        self._common = frozenset(surnames())
        words = sorted({*spec["anchors"], *spec["weak_anchors"], *spec["colon_anchors"]}, key=len, reverse=True)
        # one flat alternation: sre skips ahead on the anchors' first characters (faster here than an
        # Aho-Corasick automaton; a capturing group would turn that optimisation off)
        self._anchors = re.compile("|".join(map(re.escape, words)))
        self._weak_anchors = frozenset(spec["weak_anchors"]) - frozenset(spec["anchors"])
        self._colon_anchors = frozenset(spec["colon_anchors"])
        self._single = frozenset(s for s in all_surnames() if len(s) == 1)
        self._compound = frozenset(s for s in all_surnames() if len(s) == 2)
        self.pattern = re.compile(rf"(?:为|是)?([:：】」』］])?[ \u3000]?([{HAN}]{{2,5}})")
        """What follows an anchor: optional 为/是, a colon or a closing label bracket (【客户】陈伟, 「收件人」王小明:
        the bracket counts as the colon), one space, then the surname and given name."""
        self._weak_followers = tuple(sorted(spec["weak_followers"], key=len, reverse=True))
        self._english = re.compile(
            r"(?:[Nn]ame|NAME|[Cc]ontact|[Cc]ustomer|[Rr]ecipient|[Pp]atient)[ \t]*[:：][ \t]*"
            r"(?P<name>[A-Z][a-z]+(?: [A-Z][a-z]+){1,2})(?![A-Za-z])"
        )
        self._followers = tuple(sorted({*spec["followers"], *spec["weak_followers"]}, key=len, reverse=True))
        self._fields = tuple(f.lower() for f in spec["fields"])
        self._roles = frozenset(spec["field_roles"])
        self._whole = re.compile(rf"(?:{names})[{HAN}]{{1,2}}|[A-Z][a-z]+(?: [A-Z][a-z]+){{1,2}}")

    def could_match(self, text: str, digits: int) -> bool:
        """Every match has a Chinese anchor or an ASCII colon-form; the regex is cheap enough to run."""
        return bool(text)

    def analyze(self, text: str) -> Iterator[Match]:
        """Anchored Chinese names and ``Name: First Last`` forms."""
        last_start = -1
        for anchor in self._anchors.finditer(text):
            weak = anchor.group(0) in self._weak_anchors
            m = self.pattern.match(text, anchor.end())
            if m is None:
                continue
            colon_only = anchor.group(0) in self._colon_anchors
            run, start, colon = m.group(2), m.start(2), m.group(1)
            surname = run[:2] if run[:2] in self._compound else run[:1]
            if surname not in self._single and surname not in self._compound:
                continue
            if surname not in self._common and not colon:
                continue  # 和/由…: a surname only after 姓名：
            given = self._given(run[len(surname) : len(surname) + 3])
            if not given or "某" in given:  # 宋某: a redacted name
                continue
            end = start + len(surname) + len(given)
            if start <= last_start or (weak and not colon and not self._ends_name(text, end)):
                continue
            if colon_only and not colon:
                continue
            last_start = start
            yield Match(self.entity, start, end, ANCHORED_SCORE, text[start:end])
        if ":" in text or "：" in text:
            for m in self._english.finditer(text):
                yield Match(self.entity, m.start("name"), m.end("name"), ENGLISH_SCORE, m.group("name"))

    def _ends_name(self, text: str, end: int) -> bool:
        """After a weak anchor: the name must end at ，、（, an ASCII character, the end, or a weak follower."""
        if end >= len(text):
            return True
        nxt = text[end]
        return nxt in "，,、（(：: " or nxt.isascii() or text.startswith(self._weak_followers, end)

    def _given(self, run: str) -> str:
        """The given name inside ``run`` (1–3 Han characters after the surname): cut at a follower word;
        '' when the run starts with one ("联系人和电话")."""
        for i in range(len(run)):
            if run.startswith(self._followers, i):
                return run[:i]
        return run[:2]

    def analyze_field(self, value: str, field: str) -> Iterator[Match]:
        """The whole value of a name field when it looks like a name (张三, 欧阳娜娜, John Smith)."""
        stripped = value.strip()
        if stripped and self._is_name_field(field) and self._whole.fullmatch(stripped):
            start = value.index(stripped)
            yield Match(self.entity, start, start + len(stripped), FIELD_SCORE, stripped)

    def _is_name_field(self, field: str) -> bool:
        """A listed name field, or ``<role>_name`` / ``<role>Name`` for a person role (guest_name)."""
        if field_is(field, self._fields):
            return True
        last = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", field.rsplit(".", 1)[-1]).lower()
        role, _, tail = last.rpartition("_")
        return tail == "name" and role.rsplit("_", 1)[-1] in self._roles

    def validate(self, value: str) -> float:
        """``FIELD_SCORE`` when ``value`` is shaped like a full name, else 0."""
        return FIELD_SCORE if self._whole.fullmatch(value) else 0.0
