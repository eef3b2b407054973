"""Curated term lists for MEDICAL_TERM, RELIGIOUS_BELIEF and BIOMETRIC (data in ``terms.yaml``).

Each list cites its sources in the YAML. ``terms(entity)`` gives the terms, ``fields(entity)`` the record
field names whose values are that kind of PI (PIPL Art. 28 sensitive categories).
"""

from __future__ import annotations

from functools import cache, lru_cache
from importlib.resources import files
from typing import Any

import yaml


@cache
def _data() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(files(__package__).joinpath("terms.yaml").read_text("utf-8"))
    return loaded


def terms(entity: str) -> tuple[str, ...]:
    """The curated terms of ``entity`` (e.g. ``"MEDICAL_TERM"``), longest first. KeyError if unknown."""
    return tuple(sorted(set(_data()[entity].get("terms", ())), key=lambda t: (-len(t), t)))


@cache
def fields(entity: str) -> tuple[str, ...]:
    """Record field names (lower-cased) whose values are ``entity``. KeyError if unknown."""
    return tuple(f.lower() for f in _data()[entity]["fields"])


def entry(entity: str) -> dict[str, Any]:
    """The whole YAML entry of ``entity`` (lists such as ``anchors``, ``followers``). KeyError if unknown."""
    found: dict[str, Any] = _data()[entity]
    return found


@lru_cache(maxsize=65536)
def field_is(field: str, names: tuple[str, ...]) -> bool:
    """True when the record field ``field`` is one of ``names`` (lower-cased).

    ASCII names match the whole field or its last dotted segment (``patient.diagnosis``), never a part of
    a word (``product_name`` is not ``name``); Chinese names match as substrings (``主要诊断``). Cached: a
    platform's records repeat the same few field names.
    """
    f = field.lower().strip()
    last = f.rsplit(".", 1)[-1]
    return any((f == n or last == n) if n.isascii() else (n in f) for n in names)
