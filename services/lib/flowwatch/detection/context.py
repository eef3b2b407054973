"""Context words that raise or lower a match's score (data in ``context.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
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

    def adjust(self, entity: str, score: float, before: str, hint: str = "") -> float:
        """Return ``score`` adjusted by the words in ``before`` (text preceding the match) and ``hint``
        (a field name). The word nearest the match decides: "订单号…收货人：张三" is a name (收货人 is
        nearer), "卡号…订单号6222…" is not a card. Result clipped to 0..1.
        """
        haystack = f"{hint} {before}".lower()
        negative = max((haystack.rfind(w) for w in self.negative), default=-1)
        positive = max((haystack.rfind(w) for w in self.positive.get(entity, ())), default=-1)
        if negative > positive:
            return max(0.0, score - self.penalty)
        if positive >= 0:
            return min(1.0, score + self.entity_boost.get(entity, self.boost))
        return score


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
    )
