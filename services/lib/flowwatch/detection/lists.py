"""Allow- and deny-lists compiled for the scanner (data: ``flowwatch.detection.config.Lists``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from flowwatch.detection.config import Lists, value_hash
from flowwatch.detection.types import Match


@dataclass(frozen=True)
class CompiledLists:
    """``Lists`` ready for matching. Hashed entries are keyed ``(entity or None, sha256)``.

    * allowed: a match whose normalised value hashes to an allow entry, or whose value an allow pattern
      fully matches (``re.fullmatch``), of its entity or of any entity when the entry names none, is
      never reported;
    * forced: a candidate whose hash is on the deny-list is reported whatever its score;
    * deny patterns are searched in the text and reported as their entity with their score.
    """

    allow_hashes: frozenset[tuple[str | None, str]]
    allow_patterns: tuple[tuple[str | None, re.Pattern[str]], ...]
    deny_hashes: frozenset[tuple[str | None, str]]
    deny_patterns: tuple[tuple[str, float, re.Pattern[str]], ...]

    @classmethod
    def compile(cls, lists: Lists) -> CompiledLists:
        """Compile ``lists`` (already validated: every pattern compiles)."""
        return cls(
            allow_hashes=frozenset((e.entity, e.sha256) for e in lists.allow if e.sha256),
            allow_patterns=tuple((e.entity, re.compile(e.pattern)) for e in lists.allow if e.pattern),
            deny_hashes=frozenset((e.entity, e.sha256) for e in lists.deny if e.sha256),
            deny_patterns=tuple((e.entity or "", e.score, re.compile(e.pattern)) for e in lists.deny if e.pattern),
        )

    def __bool__(self) -> bool:
        return bool(self.allow_hashes or self.allow_patterns or self.deny_hashes or self.deny_patterns)

    def allowed(self, m: Match) -> bool:
        """True when ``m`` is on the allow-list (never reported)."""
        if self.allow_hashes:
            h = value_hash(m.value)
            if (None, h) in self.allow_hashes or (m.type, h) in self.allow_hashes:
                return True
        return any((e is None or e == m.type) and p.fullmatch(m.value) for e, p in self.allow_patterns)

    def forced(self, m: Match) -> bool:
        """True when ``m``'s value is on the deny-list (reported whatever its score)."""
        if not self.deny_hashes:
            return False
        h = value_hash(m.value)
        return (None, h) in self.deny_hashes or (m.type, h) in self.deny_hashes

    def deny_matches(self, text: str) -> Iterator[Match]:
        """Matches of the deny patterns in ``text``."""
        for entity, score, pattern in self.deny_patterns:
            for m in pattern.finditer(text):
                if m.end() > m.start():
                    yield Match(entity, m.start(), m.end(), score, m.group(0))


NO_LISTS = CompiledLists(frozenset(), (), frozenset(), ())
