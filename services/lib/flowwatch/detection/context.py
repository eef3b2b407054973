"""Context words that raise or lower a match's score (data in ``context.yaml``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from importlib.resources import files

import yaml


@dataclass(frozen=True)
class ContextRules:
    """Positive words per entity, negative words for all, the window (characters) and score changes.

    ``boost`` is the default raise; ``entity_boost`` overrides it for entities whose pattern alone says
    little (an 8-digit Taiwan permit number, a date that is a birth date only when 出生 is near).
    """

    window: int
    boost: float
    penalty: float
    positive: dict[str, tuple[str, ...]]
    negative: tuple[str, ...]
    entity_boost: dict[str, float] = field(default_factory=dict)
    glued_labels: tuple[str, ...] = ()
    """ASCII labels that may touch an identifier with no separator (``HKIDB974925(5)``)."""
    after_window: int = 0
    """Characters after a match read for a positive word of ``after_entities`` (``E54734173（护照）``)."""
    after_entities: frozenset[str] = frozenset()

    def adjust_after(self, entity: str, score: float, following: str) -> float:
        """``score`` raised as a positive word before would, when a positive word of ``entity`` (one of
        ``after_entities``) is in ``following`` (the lower-cased ``after_window`` characters after the
        match); else ``score``. Used only for matches below the threshold that no word before decided."""
        pattern = self._forward_positive.get(entity) if entity in self.after_entities else None
        if pattern is None or not pattern.search(following):
            return score
        return min(1.0, score + self.entity_boost.get(entity, self.boost))

    def decided_before(self, reversed_haystack: str, entity: str) -> bool:
        """True when a positive or negative word for ``entity`` is in the reversed window before."""
        positive = self._reversed_positive.get(entity)
        if self._reversed_negative.search(reversed_haystack):
            return True
        return bool(positive and positive.search(reversed_haystack))

    def adjust(self, entity: str, score: float, before: str, hint: str = "") -> float:
        """Return ``score`` adjusted by the words in ``before`` (text preceding the match) and ``hint``
        (a field name). The word nearest the match decides: "订单号…收货人：张三" is a name (收货人 is
        nearer), "卡号…订单号6222…" is not a card. Result clipped to 0..1.
        """
        return self.adjust_reversed(entity, score, f"{hint} {before}".lower()[::-1])

    def adjust_reversed(self, entity: str, score: float, reversed_haystack: str) -> float:
        """``adjust`` on the lower-cased ``hint + " " + before`` written backwards (the scanner reverses
        each text once and slices it, instead of reversing a window per match)."""
        negative = self._reversed_negative.search(reversed_haystack)
        positive_re = self._reversed_positive.get(entity)
        positive = positive_re.search(reversed_haystack) if positive_re else None
        # in the reversed text, the first match is the word that ends nearest the match
        if negative and (positive is None or negative.start() <= positive.start()):
            return max(0.0, score - self.penalty)
        if positive:
            return min(1.0, score + self.entity_boost.get(entity, self.boost))
        return score

    @cached_property
    def glued_label_pattern(self) -> re.Pattern[str] | None:
        """A label of ``glued_labels`` (as written, upper, lower or capitalised) followed by an ASCII letter,
        digit or ``(``; None when there are no labels. The caller checks that no ASCII letter or digit
        precedes it: a look-behind at the start would stop ``re`` from skipping ahead on the labels' first
        characters (20× slower on prose)."""
        if not self.glued_labels:
            return None
        variants = {v for w in self.glued_labels for v in (w, w.upper(), w.lower(), w.capitalize())}
        words = "|".join(re.escape(w) for w in sorted(variants, key=len, reverse=True))
        return re.compile(rf"(?:{words})(?=[0-9A-Za-z(])")

    @cached_property
    def _forward_positive(self) -> dict[str, re.Pattern[str]]:
        return {
            entity: re.compile("|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True)))
            for entity, words in self.positive.items()
            if words and entity in self.after_entities
        }

    @cached_property
    def _reversed_negative(self) -> re.Pattern[str]:
        return _reversed_alternation(self.negative)

    @cached_property
    def _reversed_positive(self) -> dict[str, re.Pattern[str]]:
        return {entity: _reversed_alternation(words) for entity, words in self.positive.items() if words}


def _reversed_alternation(words: tuple[str, ...]) -> re.Pattern[str]:
    """One regex matching any of ``words`` written backwards (longest first), or nothing if none."""
    if not words:
        return re.compile(r"(?!x)x")
    return re.compile("|".join(re.escape(w[::-1]) for w in sorted(set(words), key=len, reverse=True)))


@lru_cache(maxsize=1)
def default_rules() -> ContextRules:
    """The packaged context rules."""
    data = yaml.safe_load(files(__package__).joinpath("context.yaml").read_text("utf-8"))
    return ContextRules(
        window=int(data["window"]),
        boost=float(data["boost"]),
        penalty=float(data["penalty"]),
        positive={k: tuple(w.lower() for w in v) for k, v in data["positive"].items()},
        negative=tuple(w.lower() for w in data["negative"]),
        entity_boost={k: float(v) for k, v in (data.get("entity_boost") or {}).items()},
        glued_labels=tuple(str(w) for w in data.get("glued_labels") or ()),
        after_window=int(data.get("after_window") or 0),
        after_entities=frozenset(data.get("after_entities") or ()),
    )
