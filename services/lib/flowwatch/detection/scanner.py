"""The scanner: runs every recognizer over text or records, applies context, resolves overlaps."""

from __future__ import annotations

import random
import re
import statistics
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from flowwatch.detection.context import ContextRules, default_rules
from flowwatch.detection.lists import NO_LISTS, CompiledLists
from flowwatch.detection.recognizers import ALL_RECOGNIZERS
from flowwatch.detection.types import Match, Recognizer

DEFAULT_THRESHOLD = 0.5
_DIGIT = re.compile(r"[0-9]")
SAMPLE_ABOVE = 2000
"""Records: larger batches are sampled per field (``Scanner.scan_records``)."""
SAMPLE_SIZE = 500
"""Records scanned whole in a sampled batch."""
FREE_TEXT_CHARS = 64
"""A field whose sampled values have a longer median is free text and always scanned whole."""
GLUED_WINDOW = 64
"""Characters read after a glued ASCII label (``HKIDB974925(5)``): longer than any identifier."""
NOT_IDENTIFYING = frozenset({"CN_USCC", "IP_ADDRESS", "GEO_COORDINATE", "DATE_OF_BIRTH"})
"""Entities that do not by themselves make a free text about an identifiable person."""


@dataclass(frozen=True, slots=True)
class FieldMatch:
    """A match inside one record field; offsets are into that field's string value."""

    record: int
    field: str
    match: Match


class Scanner:
    """Finds PI in free text and in flat records.

    ``threshold``: minimum score (0..1) of a reported match after context adjustment. ``lists``: allow-
    and deny-lists (``flowwatch.detection.lists``): an allowed match is never reported, a denied value is
    reported whatever its score, deny patterns are reported as their entity.
    """

    def __init__(
        self,
        recognizers: Sequence[Recognizer],
        context: ContextRules | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        lists: CompiledLists = NO_LISTS,
    ) -> None:
        # recognizers whose matches count only next to an identified person run after the others
        self.recognizers = sorted(recognizers, key=lambda r: r.requires_identified)
        self.by_entity = {r.entity: r for r in self.recognizers}
        self.context = context or default_rules()
        self.threshold = threshold
        self._any_digits = any(r.min_digits for r in self.recognizers)
        self._dependent = frozenset(r.entity for r in self.recognizers if r.requires_identified)
        self.lists = lists
        self._label_plans: dict[tuple[int, ...], tuple[list[Recognizer], list[Recognizer]]] = {}

    def scan_text(self, text: str, hint: str = "") -> list[Match]:
        """Entities in ``text``, sorted by start, non-overlapping. ``hint``: extra context (field name)."""
        return self._scan(text, hint, self.recognizers)

    def _scan(self, text: str, hint: str, recognizers: Sequence[Recognizer]) -> list[Match]:
        candidates: list[Match] = []
        lists = self.lists
        after, after_window = self.context.after_entities, self.context.after_window
        window, threshold, adjust = self.context.window, self.threshold, self.context.adjust_reversed
        digits = len(_DIGIT.findall(text)) if self._any_digits else 0
        reversed_text = ""  # the lower-cased text backwards, made at the first match
        reversed_hint = " " + hint.lower()[::-1]
        size = len(text)
        for recognizer in recognizers:
            if not recognizer.could_match(text, digits):
                continue
            if recognizer.requires_identified and not hint and not self._identifies(candidates):
                continue  # dependent recognizers run last (see __init__): nothing identifies a person here
            for m in recognizer.analyze(text):
                if not reversed_text:
                    reversed_text = text.lower()[::-1]
                at = size - m.start
                before = reversed_text[at : at + window] + reversed_hint
                score = adjust(m.type, m.score, before)
                if score < threshold and m.type in after and not self.context.decided_before(before, m.type):
                    score = self.context.adjust_after(m.type, score, text[m.end : m.end + after_window].lower())
                if score >= threshold or (lists and lists.forced(m)):
                    candidates.append(m if score == m.score else _rescored(m, score))
        labels = self.context.glued_label_pattern
        if labels is not None:
            plan = self._label_plan(recognizers)
            for label in labels.finditer(text):
                before = text[label.start() - 1 : label.start()]
                if before.isascii() and before.isalnum():
                    continue  # inside a longer ASCII token ("paid…"): not a label
                for m in self._after_label(text, label.start(), label.end(), plan):
                    if not reversed_text:
                        reversed_text = text.lower()[::-1]
                    at = size - m.start
                    score = adjust(m.type, m.score, reversed_text[at : at + window] + reversed_hint)
                    if score >= threshold:
                        candidates.append(m if score == m.score else _rescored(m, score))
        if hint:
            for recognizer in recognizers:
                if type(recognizer).analyze_field is Recognizer.analyze_field:
                    continue  # the default finds nothing by field name
                for m in recognizer.analyze_field(text, hint):
                    score = adjust(m.type, m.score, reversed_hint)
                    if score >= threshold:
                        candidates.append(m if score == m.score else _rescored(m, score))
        if not hint and not self._identifies(candidates):
            candidates = [c for c in candidates if c.type not in self._dependent]
        if lists:
            candidates.extend(lists.deny_matches(text))
            candidates = [c for c in candidates if not lists.allowed(c)]
        return _resolve_overlaps(candidates)

    def _after_label(
        self, text: str, start: int, end: int, plan: tuple[list[Recognizer], list[Recognizer]]
    ) -> Iterator[Match]:
        """Matches that begin right after the glued label ``text[start:end]``: the recognizers (not the
        dependent ones, nor those of Chinese-written entities) read ``GLUED_WINDOW`` characters after it with
        the label blanked out; offsets are into ``text``. A plain pattern recognizer is tried once, anchored
        where the label ends; the others scan the window. Cost: O(GLUED_WINDOW) per label."""
        anchored, scanning = plan
        view = " " * (end - start) + text[end : end + GLUED_WINDOW]
        at = end - start
        digits = len(_DIGIT.findall(view)) if self._any_digits else 0
        for recognizer in anchored:
            if recognizer.could_match(view, digits):
                found = recognizer.pattern.match(view, at)
                if found is not None:
                    score = recognizer.validate(found.group(0))
                    if score > 0:
                        yield Match(recognizer.entity, start + at, start + found.end(), score, found.group(0))
        for recognizer in scanning:
            if recognizer.could_match(view, digits):
                for m in recognizer.analyze(view):
                    if m.start == at:
                        yield Match(m.type, m.start + start, m.end + start, m.score, m.value)

    def _label_plan(self, recognizers: Sequence[Recognizer]) -> tuple[list[Recognizer], list[Recognizer]]:
        """The recognizers read after a glued label, split into plain pattern ones (one anchored attempt)
        and those with their own ``analyze`` (window scan); cached per recognizer list."""
        key = tuple(map(id, recognizers))
        plan = self._label_plans.get(key)
        if plan is None:
            eligible = [r for r in recognizers if r.after_labels and not r.requires_identified]
            plan = ([r for r in eligible if type(r).analyze is Recognizer.analyze],
                    [r for r in eligible if type(r).analyze is not Recognizer.analyze])  # fmt: skip
            self._label_plans[key] = plan
        return plan

    def _identifies(self, candidates: list[Match]) -> bool:
        """True when ``candidates`` name or identify a person (anything but dependent or non-identifying)."""
        return any(c.type not in self._dependent and c.type not in NOT_IDENTIFYING for c in candidates)

    def scan_records(
        self, records: Iterable[Mapping[str, object]], sample_above: int = SAMPLE_ABOVE, sample_size: int = SAMPLE_SIZE
    ) -> list[FieldMatch]:
        """Entities in the string and number values of records; the field name is context.

        Up to ``sample_above`` records every value is scanned by every recognizer. A larger batch is
        sampled per field: ``sample_size`` records (a fixed-seed random choice) are scanned whole, which
        says which entity types each structured field holds; in the other records a short-valued field
        (median value ≤ ``FREE_TEXT_CHARS`` characters in the sample) is scanned only for those types, and
        not at all when the sample found none. Free-text fields are always scanned whole, and identifier
        fields are validated in every record, so person counts stay exact for the fields that hold them.

        Miss bound: an entity type present in a fraction ``p`` of a structured field's values escapes a
        sample of ``n`` records with probability ``(1 - p) ** n`` ≤ ``exp(-n p)``: with the default
        n = 500, a type in ≥ 1 % of the values is missed with probability < 0.7 %, in ≥ 2 % < 0.005 %.
        Rarer types in structured fields of large batches can be missed: that is the trade.
        """
        rows = records if isinstance(records, list) else list(records)
        if len(rows) <= sample_above:
            return [fm for i, record in enumerate(rows) for fm in self._scan_record(i, record, None)]
        sampled = set(random.Random(len(rows)).sample(range(len(rows)), sample_size))
        out: list[FieldMatch] = []
        seen: dict[str, set[str]] = defaultdict(set)
        lengths: dict[str, list[int]] = defaultdict(list)
        for i in sorted(sampled):
            for fm in self._scan_record(i, rows[i], None):
                seen[fm.field].add(fm.match.type)
                out.append(fm)
            for field, value in rows[i].items():
                lengths[field].append(len(value) if isinstance(value, str) else 0)
        structured = {f for f, ls in lengths.items() if statistics.median(ls) <= FREE_TEXT_CHARS}
        plan = {f: [r for r in self.recognizers if r.entity in seen.get(f, ())] for f in structured}
        for i, record in enumerate(rows):
            if i not in sampled:
                out.extend(self._scan_record(i, record, plan))
        return sorted(out, key=lambda fm: fm.record)

    def _scan_record(
        self, index: int, record: Mapping[str, object], plan: Mapping[str, Sequence[Recognizer]] | None
    ) -> Iterator[FieldMatch]:
        """Matches of one record. ``plan`` (sampling): the recognizers to run per structured field; a field
        not in it (free text, or absent from the sample) runs every recognizer."""
        for field, value in record.items():
            if value is None or isinstance(value, bool):
                continue
            recognizers = self.recognizers if plan is None else plan.get(field, self.recognizers)
            if not recognizers:
                continue
            text = value if isinstance(value, str) else str(value)
            for m in self._scan(text, field, recognizers):
                yield FieldMatch(index, field, m)

    def subject_key(self, match: Match) -> str | None:
        """Normalised identifier of the person behind ``match``, or None."""
        recognizer = self.by_entity.get(match.type)
        return recognizer.subject_key(match.value) if recognizer else None


def _rescored(m: Match, score: float) -> Match:
    return Match(m.type, m.start, m.end, round(score, 3), m.value)


def _resolve_overlaps(matches: list[Match]) -> list[Match]:
    """Keep the best of overlapping matches: higher score, then longer span, then earlier start.

    Greedy in that order, against a map of the characters already taken (one byte per character up to
    the last match end): each candidate costs its own length, so the whole pass is
    O(k log k + total span length + n) for k candidates in a text of n characters, instead of comparing
    every candidate with every kept match (O(k²): minutes on a 1 MB PII-dense text, issue 12).
    """
    if len(matches) < 2:
        return list(matches)
    taken = bytearray(max(m.end for m in matches))
    kept: list[Match] = []
    for m in sorted(matches, key=lambda m: (-m.score, -(m.end - m.start), m.start)):
        if taken.find(1, m.start, m.end) < 0:
            taken[m.start : m.end] = b"\x01" * (m.end - m.start)
            kept.append(m)
    return sorted(kept, key=lambda m: m.start)


@lru_cache(maxsize=1)
def default_scanner() -> Scanner:
    """The scanner with every built-in recognizer and the packaged context rules."""
    return Scanner([cls() for cls in ALL_RECOGNIZERS])
