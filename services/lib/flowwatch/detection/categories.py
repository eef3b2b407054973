"""Entity → PIPL category table (data in ``categories.yaml``; PIPL Art. 28)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import yaml

GENERAL = "general"
NOT_PI = "not_pi"


@dataclass(frozen=True)
class CategoryTable:
    """Maps canonical entity names to PIPL categories; knows which categories are sensitive."""

    by_entity: dict[str, str]
    sensitive: frozenset[str]
    source: str
    basis: dict[str, str] = field(default_factory=dict)
    """Why each entity has its category (clause of PIPL, GB/T 45574-2025, TC260-PG-20244A …)."""

    def category(self, entity: str) -> str:
        """PIPL category of ``entity``; unknown entities are general PI."""
        return self.by_entity.get(entity, GENERAL)

    def is_sensitive(self, category: str) -> bool:
        """True for the sensitive sub-types of PIPL Art. 28."""
        return category in self.sensitive


def load_table(path: Path | None = None) -> CategoryTable:
    """Load a category table from YAML (default: the packaged ``categories.yaml``).

    Raises ValueError when an entity names a category that is neither general, not_pi nor sensitive.
    """
    text = path.read_text("utf-8") if path else files(__package__).joinpath("categories.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    sensitive = frozenset(data["sensitive_categories"])
    by_entity = {name: spec["category"] for name, spec in data["entities"].items()}
    basis = {name: str(spec.get("basis") or spec.get("note") or "") for name, spec in data["entities"].items()}
    bad = {e: c for e, c in by_entity.items() if c not in sensitive | {GENERAL, NOT_PI}}
    if bad:
        raise ValueError(f"unknown PIPL categories in {path or 'categories.yaml'}: {bad}")
    return CategoryTable(by_entity, sensitive, data.get("source", ""), basis)


@lru_cache(maxsize=1)
def default_table() -> CategoryTable:
    """The table of this process: FLOWWATCH_CATEGORIES_FILE if set, else the packaged one."""
    override = os.environ.get("FLOWWATCH_CATEGORIES_FILE")
    return load_table(Path(override) if override else None)
