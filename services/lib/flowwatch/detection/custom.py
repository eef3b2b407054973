"""Custom recognizers from YAML, and the scanner and category table of a deployment's settings (issue 16).

``configured_scanner(config, processor_id)`` is the built-in scanner plus the custom recognizers of
``config`` (``flowwatch.detection.config``), their context words, and the allow/deny lists of the
deployment and of ``processor_id``. ``LiveSettings`` keeps the settings in force in a process and swaps
them when a new document arrives (hot reload), with one scanner per processor built on first use.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
from typing import Any

from flowwatch.detection.categories import CategoryTable, default_table
from flowwatch.detection.config import CHECKSUMS, ConfigError, DetectionConfig, RecognizerSpec, parse_config
from flowwatch.detection.context import ContextRules, default_rules
from flowwatch.detection.lists import CompiledLists
from flowwatch.detection.recognizers import ALL_RECOGNIZERS
from flowwatch.detection.scanner import Scanner, default_scanner
from flowwatch.detection.types import Recognizer

log = logging.getLogger("flowwatch.detection")
BUILTIN_ENTITIES = frozenset(cls.entity for cls in ALL_RECOGNIZERS)


class PatternRecognizer(Recognizer):
    """A recognizer defined in YAML: ``spec.pattern`` (Python regex), scored ``spec.score``, kept only
    when the named checksum (``CHECKSUMS``) accepts the match. Context words are added to the scanner's
    context rules for ``spec.entity`` by ``configured_scanner``."""

    def __init__(self, spec: RecognizerSpec) -> None:
        self.entity = spec.entity
        self.pattern = re.compile(spec.pattern)
        self.spec = spec
        self._check = CHECKSUMS[spec.checksum] if spec.checksum else None

    def validate(self, value: str) -> float:
        """``spec.score``, or 0 when the value is empty or fails the checksum."""
        if not value or (self._check is not None and not self._check(value)):
            return 0.0
        return self.spec.score

    def subject_key(self, value: str) -> str | None:
        """A custom identifier identifies its holder by its value."""
        return f"custom:{self.entity}:{value}"


def category_table(config: DetectionConfig | None, base: CategoryTable | None = None) -> CategoryTable:
    """``base`` (default: the process table) with the custom recognizers' categories added."""
    base = base or default_table()
    if config is None or not config.recognizers:
        return base
    return dataclasses.replace(base, by_entity={**base.by_entity, **{r.entity: r.category for r in config.recognizers}})


def configured_scanner(config: DetectionConfig | None, processor_id: str | None = None) -> Scanner:
    """The scanner for ``processor_id`` under ``config`` (the default scanner when there is nothing to add).

    Raises ``ConfigError`` when a custom recognizer reuses a built-in entity or names an unknown category.
    """
    if config is None:
        return default_scanner()
    config.check_against(set(BUILTIN_ENTITIES), default_table())
    lists = CompiledLists.compile(config.lists_for(processor_id))
    if not lists and not config.recognizers:
        return default_scanner()
    base = default_scanner()
    context: ContextRules = base.context
    if config.recognizers:
        positive = dict(default_rules().positive)
        for spec in config.recognizers:
            positive[spec.entity] = tuple(w.lower() for w in spec.context)
        context = dataclasses.replace(default_rules(), positive=positive)
    custom: list[Recognizer] = [PatternRecognizer(spec) for spec in config.recognizers]
    return Scanner([*base.recognizers, *custom], context, base.threshold, lists=lists)


class LiveSettings:
    """The detection settings in force in this process, swapped whole when a new document arrives.

    ``install(document)`` validates it (``ConfigError`` keeps the previous settings) and drops the cached
    scanners; ``scanner(processor_id)`` and ``table()`` serve the current ones. Thread-safe.
    """

    def __init__(self, config: DetectionConfig | None = None) -> None:
        self._lock = threading.Lock()
        self._config = config
        self._scanners: dict[str | None, Scanner] = {}
        self._table = category_table(config)
        self._stamp: Any = object()
        self._doc: Any = None
        self._doc_seen = False

    @property
    def config(self) -> DetectionConfig | None:
        """The settings in force (None: built-ins only)."""
        return self._config

    def install(self, document: Any, fallback: DetectionConfig | None = None) -> bool:
        """Put ``document`` (a decoded JSON/YAML mapping, or None for ``fallback``) in force; returns True
        when the settings changed. Re-installing the same document is a no-op. Raises ``ConfigError``."""
        if document is self._doc and self._doc_seen:
            return False  # the reader hands over the same object until a new record arrives
        self._doc, self._doc_seen = document, True
        stamp = repr(document)
        if stamp == self._stamp:
            return False
        config = parse_config(document, "detection settings update") if document is not None else fallback
        if config is not None:
            config.check_against(set(BUILTIN_ENTITIES), default_table())
        with self._lock:
            self._config, self._scanners, self._stamp = config, {}, stamp
            self._table = category_table(config)
        log.info("detection settings installed: %s", _summary(config))
        return True

    def refresh(self, document: Any, fallback: DetectionConfig | None = None) -> None:
        """``install`` that logs an invalid document instead of raising (the previous settings stay)."""
        try:
            self.install(document, fallback)
        except ConfigError as exc:
            log.error("detection settings update refused, previous settings kept: %s", exc)
            self._stamp = repr(document)

    def scanner(self, processor_id: str | None = None) -> Scanner:
        """The scanner for ``processor_id`` under the current settings (built once per settings)."""
        config = self._config
        key = processor_id if config is not None and processor_id in config.processors else None
        scanner = self._scanners.get(key)
        if scanner is None:  # processors without lists of their own share the deployment's scanner
            scanner = configured_scanner(config, key)
            self._scanners[key] = scanner
        return scanner

    def table(self) -> CategoryTable:
        """The category table with the custom recognizers' categories."""
        return self._table


def _summary(config: DetectionConfig | None) -> str:
    if config is None:
        return "built-ins only"
    return (f"{len(config.allow)} allow, {len(config.deny)} deny, {len(config.processors)} processors, "
            f"{len(config.recognizers)} custom recognizers")


_live: LiveSettings | None = None
_live_lock = threading.Lock()


def live_settings() -> LiveSettings:
    """This process's ``LiveSettings``, started from ``FLOWWATCH_DETECTION_CONFIG`` (``startup_config``).
    Raises ``ConfigError`` when that file is invalid: a service must not start with settings it cannot read."""
    global _live
    with _live_lock:
        if _live is None:
            from flowwatch.detection.config import startup_config

            config = startup_config()
            if config is not None:
                config.check_against(set(BUILTIN_ENTITIES), default_table())
            _live = LiveSettings(config)
        return _live


def follow(document: Any) -> LiveSettings:
    """Apply the latest settings document read from the registry topic (None: none recorded, the start-up
    file stays in force) and return the live settings; an invalid document is logged and ignored."""
    from flowwatch.detection.config import startup_config

    live = live_settings()
    live.refresh(document, fallback=startup_config())
    return live
