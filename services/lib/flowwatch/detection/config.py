"""Deployment detection settings: allow-lists, deny-lists and custom recognizers, from YAML (issue 16).

Shape (a YAML or JSON document; every key optional)::

    allow:                       # never reported, anywhere in this deployment
      - {value: "13800138000", entity: CN_MOBILE_PHONE, note: "test account"}   # hashed at load
      - {sha256: "<hex of the normalised value>"}                               # already hashed
      - {pattern: "^6222020000000000\\d{3}$", entity: CN_BANK_CARD}             # regex on the value
    deny:                        # always reported
      - {value: "6222021234567890128"}      # a candidate with this value is reported whatever its score
      - {pattern: "内部编号\\d{6}", entity: INTERNAL_ID, score: 0.9}            # searched in the text
    processors:                  # per processor id, added to the deployment lists
      shopfast: {allow: [...], deny: [...]}
    recognizers:                 # custom recognizers (Presidio's ad-hoc recognizers, without code)
      - entity: EMPLOYEE_ID
        pattern: "EMP\\d{6}"
        context: [工号, employee]      # raise the score by the context boost when one is near
        checksum: luhn                # by name, see CHECKSUMS; the digits of the match are checked
        category: general             # a category of the category table
        score: 0.6                    # 0..1; below the threshold, the match needs a context word

List values are PI (a test account's phone number), so a ``value`` is never kept: it is replaced by the
SHA-256 of its normalised form (``normalise``) when the document is loaded, and the API stores and audits
only the hash. A short numeric value (11 digits) can be recovered from an unkeyed hash by brute force;
the hash keeps the value out of logs, the registry topic and the audit index, not from a determined
operator with the list.

``load_config`` raises ``ConfigError`` with every problem found, each with its path (``recognizers[2].pattern:
…``), so a bad file or request is refused whole and the previous settings stay in force.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from stdnum import damm, luhn, verhoeff
from stdnum.cn import ric, uscc
from stdnum.iso7064 import mod_11_2, mod_97_10

from flowwatch.detection.categories import GENERAL, NOT_PI, CategoryTable

ENV_CONFIG_FILE = "FLOWWATCH_DETECTION_CONFIG"
"""Environment variable naming the YAML file loaded at start (unset: no lists, no custom recognizers)."""
MAX_PATTERN_CHARS = 1000
MAX_ENTRIES = 10_000
_ENTITY = re.compile(r"^[A-Z][A-Z0-9_]{1,63}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SEPARATORS = re.compile(r"[\s\-()（）·.]")


def _digits_and_letters(value: str) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", value).upper()


CHECKSUMS: dict[str, Callable[[str], bool]] = {
    "luhn": lambda v: luhn.is_valid(re.sub(r"\D", "", v)),
    "verhoeff": lambda v: verhoeff.is_valid(re.sub(r"\D", "", v)),
    "damm": lambda v: damm.is_valid(re.sub(r"\D", "", v)),
    "iso7064_mod_11_2": lambda v: mod_11_2.is_valid(_digits_and_letters(v)),
    "iso7064_mod_97_10": lambda v: mod_97_10.is_valid(_digits_and_letters(v)),
    "cn_resident_id": lambda v: ric.is_valid(_digits_and_letters(v)),
    "cn_uscc": lambda v: uscc.is_valid(_digits_and_letters(v)),
}
"""Check-digit algorithms a custom recognizer may name (python-stdnum). Each takes the matched text and
checks its digits (and letters, for the ISO 7064 and Chinese ones)."""


class ConfigError(ValueError):
    """A detection settings document is invalid; ``problems`` lists each error as ``path: message``."""

    def __init__(self, problems: list[str], source: str = "detection settings") -> None:
        self.problems = problems
        self.source = source
        super().__init__(f"{source} invalid: " + "; ".join(problems))


def normalise(value: str) -> str:
    """The form a list value is compared and hashed in: NFKC (full-width digits → ASCII), upper case,
    without spaces, dashes, dots, parentheses and middle dots (``138-1234-5678`` = ``13812345678``,
    ``A123456(3)`` = ``A1234563``)."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", value)).upper()


def value_hash(value: str) -> str:
    """SHA-256 hex of ``normalise(value)``: how list values are stored."""
    return hashlib.sha256(normalise(value).encode()).hexdigest()


def _check_entity(v: str | None) -> str | None:
    if v is not None and not _ENTITY.match(v):
        raise ValueError(f"entity {v!r} must be UPPER_SNAKE_CASE (2-64 characters)")
    return v


def _check_pattern(v: str | None) -> str | None:
    if v is None:
        return v
    if len(v) > MAX_PATTERN_CHARS:
        raise ValueError(f"pattern longer than {MAX_PATTERN_CHARS} characters")
    try:
        compiled = re.compile(v)
    except re.error as exc:
        raise ValueError(f"pattern does not compile: {exc}") from exc
    if compiled.fullmatch(""):
        raise ValueError("pattern matches the empty string")
    return v


class _EntityAndPattern(BaseModel):
    """Checks shared by list entries and custom recognizers: ``entity`` in UPPER_SNAKE_CASE, ``pattern`` at most
    ``MAX_PATTERN_CHARS`` characters and compiling as a regular expression (ValueError otherwise)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("entity", check_fields=False)
    @classmethod
    def _entity_name(cls, v: str | None) -> str | None:
        return _check_entity(v)

    @field_validator("pattern", check_fields=False)
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        return _check_pattern(v)


class ListEntry(_EntityAndPattern):
    """One allow- or deny-list entry: exactly one of ``value`` (plain, hashed at load), ``sha256`` or
    ``pattern``; ``entity`` restricts it to one type (required for deny patterns: the type reported)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: str | None = Field(default=None, min_length=1, max_length=512, exclude=True)
    sha256: str | None = None
    pattern: str | None = None
    entity: str | None = None
    score: float = Field(default=0.9, ge=0.0, le=1.0, description="Deny patterns: score of the match.")
    note: str | None = Field(default=None, max_length=500)

    @field_validator("sha256")
    @classmethod
    def _hex(cls, v: str | None) -> str | None:
        if v is not None and not _SHA256.match(v):
            raise ValueError("sha256 must be 64 lower-case hex characters")
        return v

    @model_validator(mode="after")
    def _one_form(self) -> ListEntry:
        given = [k for k in ("value", "sha256", "pattern") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of value, sha256, pattern (got {', '.join(given) or 'none'})")
        if self.value is not None:  # never keep the plain value
            object.__setattr__(self, "sha256", value_hash(self.value))
            object.__setattr__(self, "value", None)
        return self


class Lists(BaseModel):
    """An allow-list and a deny-list."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allow: list[ListEntry] = Field(default_factory=list, max_length=MAX_ENTRIES)
    deny: list[ListEntry] = Field(default_factory=list, max_length=MAX_ENTRIES)

    @model_validator(mode="after")
    def _deny_patterns_name_a_type(self) -> Lists:
        for i, entry in enumerate(self.deny):
            if entry.pattern is not None and entry.entity is None:
                raise ValueError(f"deny[{i}]: a deny pattern needs the entity it reports")
        return self


class RecognizerSpec(_EntityAndPattern):
    """A custom recognizer: a regex, optional context words, checksum (by name), category and score."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    entity: str
    pattern: str
    context: list[str] = Field(default_factory=list, max_length=200)
    checksum: str | None = None
    category: str = GENERAL
    score: float = Field(default=0.6, ge=0.0, le=1.0)
    description: str | None = Field(default=None, max_length=500)

    @field_validator("checksum")
    @classmethod
    def _known_checksum(cls, v: str | None) -> str | None:
        if v is not None and v not in CHECKSUMS:
            raise ValueError(f"unknown checksum {v!r}; known: {', '.join(sorted(CHECKSUMS))}")
        return v


class DetectionConfig(Lists):
    """Deployment lists, per-processor lists and custom recognizers (see the module doc for the shape)."""

    processors: dict[str, Lists] = Field(default_factory=dict)
    recognizers: list[RecognizerSpec] = Field(default_factory=list, max_length=200)
    updated_at: str | None = None
    updated_by: str | None = None

    @model_validator(mode="after")
    def _unique_entities(self) -> DetectionConfig:
        names = [r.entity for r in self.recognizers]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"custom recognizers defined twice: {', '.join(twice)}")
        return self

    def check_against(self, builtin: set[str], table: CategoryTable) -> None:
        """Raise ``ConfigError`` when a custom recognizer reuses a built-in entity name or names a
        category the table does not know (general, not_pi or a sensitive one)."""
        known = set(table.sensitive) | {GENERAL, NOT_PI}
        problems = [
            f"recognizers[{i}].entity: {r.entity!r} is a built-in entity; choose another name"
            for i, r in enumerate(self.recognizers)
            if r.entity in builtin
        ] + [
            f"recognizers[{i}].category: unknown category {r.category!r}; known: {', '.join(sorted(known))}"
            for i, r in enumerate(self.recognizers)
            if r.category not in known
        ]
        if problems:
            raise ConfigError(problems)

    def lists_for(self, processor_id: str | None) -> Lists:
        """The deployment lists plus those of ``processor_id``."""
        extra = self.processors.get(processor_id or "")
        if extra is None:
            return Lists(allow=self.allow, deny=self.deny)
        return Lists(allow=[*self.allow, *extra.allow], deny=[*self.deny, *extra.deny])

    def stored(self) -> dict[str, Any]:
        """JSON-ready form without any plain value (what the API produces and audits)."""
        return self.model_dump(mode="json", exclude_none=True)


def parse_config(data: Any, source: str = "detection settings") -> DetectionConfig:
    """Validate a decoded document. Raises ``ConfigError`` listing every problem with its path."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError([f"the document must be a mapping, not {type(data).__name__}"], source)
    try:
        return DetectionConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
            problems.append(f"{where or '(document)'}: {err['msg'].removeprefix('Value error, ')}")
        raise ConfigError(problems, source) from None


def load_config(path: Path) -> DetectionConfig:
    """Read and validate a YAML (or JSON) file. Raises ``ConfigError`` (also for unreadable YAML)."""
    try:
        data = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError([str(exc)], str(path)) from None
    return parse_config(data, str(path))


@lru_cache(maxsize=1)
def startup_config() -> DetectionConfig | None:
    """The file named by ``FLOWWATCH_DETECTION_CONFIG``, validated once (None when unset). Raises
    ``ConfigError``: a service must not start with settings it cannot read."""
    path = os.environ.get(ENV_CONFIG_FILE)
    return load_config(Path(path)) if path else None
