"""Build the PI finding of one flow event: entity counts, PIPL categories, fields, masked samples and the
number of distinct persons (the record of ``schemas/finding.v1.json``).

Raw values never leave this module: the finding holds masked samples, and identifiers used to count
persons are reduced to keyed hashes (HMAC-SHA256) that are counted and dropped.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from flowwatch import __version__
from flowwatch.detection.categories import CategoryTable, default_table
from flowwatch.detection.masking import mask
from flowwatch.detection.minors import MINOR_CATEGORY, category_at
from flowwatch.detection.scanner import Scanner
from flowwatch.detection.types import Match
from flowwatch.ids import finding_id
from flowwatch.models import EntitySummary, Finding, FlowEvent, SubjectCountBasis
from flowwatch.wire import CHINA

DETECTOR_VERSION = f"flowwatch-detector/{__version__}"
MAX_SAMPLES = 3
TEXT_FIELD = "text"


@dataclass
class _Tally:
    count: int = 0
    fields: set[str] = field(default_factory=set)
    samples: list[str] = field(default_factory=list)
    minor: bool = False

    def add(self, where: str, masked: str, minor: bool = False) -> None:
        self.count += 1
        self.minor = self.minor or minor
        self.fields.add(where)
        if len(self.samples) < MAX_SAMPLES and masked not in self.samples:
            self.samples.append(masked)


def keyed_hash(key: bytes, value: str) -> str:
    """HMAC-SHA256 of ``value`` under ``key``, hex. The same scheme platforms use for ``subjects.keys``."""
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class PersonKeys:
    """Keyed hashes of the persons of one event: all of them, and those whose sensitive PI is involved
    (PIPL Art. 28). The platform's ``subjects.keys`` when given (all sensitive when the event holds
    sensitive PI), else Flowwatch's HMACs of detected identifiers. Used for incidents; never indexed."""

    all: frozenset[str]
    sensitive: frozenset[str]


def build_finding(
    event: FlowEvent,
    scanner: Scanner,
    hash_key: bytes,
    detected_at: datetime,
    table: CategoryTable | None = None,
) -> Finding:
    """The finding of ``event`` (see ``scan_event``)."""
    return scan_event(event, scanner, hash_key, detected_at, table)[0]


def scan_event(
    event: FlowEvent,
    scanner: Scanner,
    hash_key: bytes,
    detected_at: datetime,
    table: CategoryTable | None = None,
) -> tuple[Finding, PersonKeys]:
    """Scan ``event.records`` and ``event.text`` and return the event's finding.

    An entity type whose matches show a person under 14 on the event date (Asia/Shanghai) gets the category
    ``minor_under_14`` (PIPL Art. 28, 31): birth dates and resident IDs carry the birth date.

    Distinct persons: ``subjects.keys`` when given; else one keyed hash per record (its strongest
    identifier) plus the distinct identifiers in the text; else ``dataset.record_count`` flagged as
    declared (not de-duplicated).
    """
    table = table or default_table()
    tallies: dict[str, _Tally] = defaultdict(_Tally)
    person_keys: set[str] = set()

    on = event.occurred_at.astimezone(CHINA).date()

    def minor(m: Match) -> bool:
        return category_at(m, on, table) == MINOR_CATEGORY

    sensitive_keys: set[str] = set()

    def is_sensitive(m: Match) -> bool:
        category = category_at(m, on, table)
        return table.is_sensitive(category)

    per_record: dict[int, list[Match]] = defaultdict(list)
    for fm in scanner.scan_records(event.records or ()):
        tallies[fm.match.type].add(fm.field, mask(fm.match.type, fm.match.value), minor(fm.match))
        per_record[fm.record].append(fm.match)
    # one person per record, identified by its strongest identifier
    for record_matches in per_record.values():
        keys = _person_keys(scanner, record_matches)
        if keys:
            hashed = keyed_hash(hash_key, min(keys))
            person_keys.add(hashed)
            if any(is_sensitive(m) for m in record_matches):
                sensitive_keys.add(hashed)

    text = event.text or ""
    if text:
        text_matches = scanner.scan_text(text)
        for m in text_matches:
            tallies[m.type].add(TEXT_FIELD, mask(m.type, m.value), minor(m))
        text_keys = {keyed_hash(hash_key, k) for k in _person_keys(scanner, text_matches)}
        person_keys.update(text_keys)
        if any(is_sensitive(m) for m in text_matches):
            sensitive_keys.update(text_keys)

    distinct, basis = _distinct_subjects(event, person_keys)
    entities = [
        EntitySummary(
            type=entity,
            category=MINOR_CATEGORY if t.minor else table.category(entity),
            sensitive=t.minor or table.is_sensitive(table.category(entity)),
            count=t.count,
            fields=sorted(t.fields),
            masked_samples=t.samples,
        )
        for entity, t in sorted(tallies.items())
    ]
    dest = event.destination
    if event.subjects and event.subjects.keys:
        platform_keys = frozenset(event.subjects.keys)
        event_keys = PersonKeys(platform_keys, platform_keys if any(e.sensitive for e in entities) else frozenset())
    else:
        event_keys = PersonKeys(frozenset(person_keys), frozenset(sensitive_keys))
    finding = Finding(
        finding_id=finding_id(event.processor.id, event.event_id),
        event_id=event.event_id,
        processor_id=event.processor.id,
        processor_name=event.processor.name,
        kind=event.kind,
        activity=event.activity,
        occurred_at=event.occurred_at,
        detected_at=detected_at,
        source_region=event.source.region if event.source else None,
        destination_region=dest.region if dest else None,
        entity_types=[e.type for e in entities],
        categories=sorted({e.category for e in entities}),
        sensitive=any(e.sensitive for e in entities),
        entity_counts={e.type: e.count for e in entities},
        entities=entities,
        distinct_subjects=distinct,
        subject_count_basis=basis,
        record_count=event.dataset.record_count if event.dataset else len(event.records or ()),
        text_chars=len(text),
        detector_version=DETECTOR_VERSION,
    )
    return finding, event_keys


def _person_keys(scanner: Scanner, matches: list[Match]) -> set[str]:
    """Subject keys of the strongest identifier type among ``matches`` (recognizer order = strength).

    In a record this yields the keys of one person; in free text, the distinct persons named by the
    strongest identifier type present (so a person with both an ID and a mobile counts once).
    """
    by_type: dict[str, set[str]] = defaultdict(set)
    for m in matches:
        key = scanner.subject_key(m)
        if key:
            by_type[m.type].add(key)
    for recognizer in scanner.recognizers:
        if by_type.get(recognizer.entity):
            return by_type[recognizer.entity]
    return set()


def _distinct_subjects(event: FlowEvent, person_keys: set[str]) -> tuple[int, SubjectCountBasis]:
    if event.subjects and event.subjects.keys:
        return len(set(event.subjects.keys)), SubjectCountBasis.SUBJECT_KEYS
    if person_keys:
        return len(person_keys), SubjectCountBasis.IDENTIFIERS
    if event.dataset and event.dataset.record_count:
        return event.dataset.record_count, SubjectCountBasis.DECLARED
    return 0, SubjectCountBasis.NONE
