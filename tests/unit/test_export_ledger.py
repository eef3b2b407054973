"""The export ledger and the egress step (issue 5), without Kafka: exact persons, windows, alerts."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from flowwatch.exports.models import ExportUpdate
from flowwatch.exports.rules import FiledMechanism, ProcessorProfile
from flowwatch.exports.step import process_update
from flowwatch.registry.models import RegistryEntry, RestrictedRecipient, RestrictionList
from flowwatch.rules.export_pack import Mechanism, load_export_packs

CN = ZoneInfo("Asia/Shanghai")
PACKS = load_export_packs()
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
T = datetime(2026, 5, 10, 10, 0, tzinfo=CN)


def key(i: int) -> str:
    return hashlib.sha256(f"p{i}".encode()).hexdigest()


def flow(eid: str, persons: range = range(0), sensitive: range = range(0), **kw: Any) -> ExportUpdate:
    doc: dict[str, Any] = {
        "processor_id": "p-shop", "event_id": eid, "occurred_at": T, "activity": "export",
        "recipient": "Acme Inc.", "destination_region": "US", "resolution_basis": "declared", "is_export": True,
        "export_reason": "destination outside mainland", "has_pi": True,
        "persons_in_flow": len(persons), "person_keys": [key(i) for i in persons],
        "sensitive_person_keys": [key(i) for i in sensitive],
    }  # fmt: skip
    doc.update(kw)
    return ExportUpdate.model_validate(doc)


class Ledger:
    """The agent's state: ledger windows, person store, registry."""

    def __init__(self, registry: RegistryEntry | None = None, restrictions: RestrictionList | None = None) -> None:
        self.states: dict[str, Any] = {}
        self.persons: dict[str, int] = {}
        self.registry = registry
        self.restrictions = restrictions
        self.occurrences: list[Any] = []  # every alert occurrence sent
        self.folded: dict[str, Any] = {}  # what the indexer keeps: one alert per id, the highest count

    @property
    def alerts(self) -> list[Any]:
        return list(self.folded.values())

    def send(self, update: ExportUpdate) -> Any:
        result = process_update(update, PACKS, self.states, self.persons, self.registry, self.restrictions, NOW)
        self.occurrences.extend(result.alerts)
        for a in result.alerts:
            if a.alert_id not in self.folded or a.count > self.folded[a.alert_id].count:
                self.folded[a.alert_id] = a
        return result

    def types(self) -> list[str]:
        return [a.type for a in self.alerts]


def batches(n: int, step: int = 10_000, start: int = 0) -> list[range]:
    return [range(i, min(n, i + step)) for i in range(start, n, step)]


@pytest.mark.parametrize(("n", "crossed"), [(99_999, False), (100_000, True)])
def test_100000_persons_crossing_is_alerted_once_at_the_crossing_event(n: int, crossed: bool) -> None:
    ledger = Ledger()
    results = [ledger.send(flow(f"e{i}", r)) for i, r in enumerate(batches(n))]
    assert results[-1].ledger is not None and results[-1].ledger.persons == n
    hits = [a for a in ledger.alerts if a.type == "export_threshold_crossed" and "100,000 persons" in a.title]
    assert len(hits) == (1 if crossed else 0)
    if crossed:
        assert "100,000" in hits[0].message and hits[0].legal_basis.article.startswith("Art.")
        # the crossing event is the last one; the first events did not need a mechanism
        assert results[-1].verdict.requirement.required == Mechanism.STANDARD_CONTRACT
        assert "export_mechanism_missing" in ledger.types()
    else:
        assert results[-1].verdict.requirement.required == Mechanism.NONE


def test_1000000_persons_need_a_security_assessment() -> None:
    ledger = Ledger()
    for i, r in enumerate(batches(999_999)):
        ledger.send(flow(f"e{i}", r))
    assert "export_threshold_crossed" in ledger.types()
    assert not [a for a in ledger.alerts if "1,000,000" in a.title]
    last = ledger.send(flow("last", range(999_999, 1_000_000)))
    assert last.ledger is not None and last.ledger.persons == 1_000_000
    assert last.verdict.requirement.required == Mechanism.SECURITY_ASSESSMENT
    assert [a.severity for a in last.alerts if a.type == "export_threshold_crossed"] == ["high"]


@pytest.mark.parametrize(
    ("n", "required"), [(9_999, Mechanism.STANDARD_CONTRACT), (10_000, Mechanism.SECURITY_ASSESSMENT)]
)
def test_sensitive_persons_boundary(n: int, required: Mechanism) -> None:
    ledger = Ledger()
    result = None
    for i, r in enumerate(batches(n)):
        result = ledger.send(flow(f"s{i}", r, sensitive=r))
    assert result is not None and result.ledger is not None and result.ledger.sensitive_persons == n
    assert result.verdict.requirement.required == required


def test_same_person_twice_and_replays_count_once() -> None:
    ledger = Ledger()
    ledger.send(flow("a", range(0, 10)))
    ledger.send(flow("a", range(0, 10)))  # replay
    result = ledger.send(flow("b", range(5, 15)))
    assert result.ledger is not None and (result.ledger.persons, result.ledger.flows) == (15, 2)


def test_new_year_resets_the_2024_window_but_not_the_2022_one() -> None:
    ledger = Ledger()
    ledger.send(flow("y1", range(0, 50)))
    jan = datetime(2027, 1, 3, 9, 0, tzinfo=CN)
    result = ledger.send(flow("y2", range(0, 10), occurred_at=jan))
    assert result.ledger is not None and result.ledger.window_id.endswith("2027") and result.ledger.persons == 10
    # the 2022 Measures count from 1 January of the previous year: a 2023 export after a 2022 one
    old = Ledger()
    old.send(flow("o1", range(0, 50), occurred_at=datetime(2022, 10, 1, tzinfo=CN)))
    later = old.send(flow("o2", range(40, 60), occurred_at=datetime(2023, 6, 1, tzinfo=CN)))
    assert later.ledger is not None and later.ledger.pack_id == "cn_export_2022"
    assert later.ledger.persons == 60  # 2022 and 2023 together, person 40–49 once


def test_ciio_exporting_one_person_needs_an_assessment() -> None:
    profile = ProcessorProfile(processor_id="p-shop", ciio=True)
    ledger = Ledger(RegistryEntry(processor_id="p-shop", profile=profile, updated_at=NOW))
    result = ledger.send(flow("c1", range(1)))
    assert result.verdict.requirement.required == Mechanism.SECURITY_ASSESSMENT
    missing = [a for a in result.alerts if a.type == "export_mechanism_missing"]
    assert missing and missing[0].severity == "critical"


def test_mechanism_on_file_silences_and_expiry_alerts() -> None:
    contract = FiledMechanism(id="sc-1", type=Mechanism.STANDARD_CONTRACT, issued_on=date(2026, 1, 5))
    entry = RegistryEntry(processor_id="p-shop", profile=ProcessorProfile(processor_id="p-shop"),
                          mechanisms=[contract], updated_at=NOW)  # fmt: skip
    ledger = Ledger(entry)
    for i, r in enumerate(batches(100_000)):
        ledger.send(flow(f"e{i}", r))
    assert "export_threshold_crossed" in ledger.types() and "export_mechanism_missing" not in ledger.types()
    expired = FiledMechanism(id="sa-old", type=Mechanism.SECURITY_ASSESSMENT, issued_on=date(2022, 1, 4),
                             expires_on=date(2025, 1, 3))  # fmt: skip
    ciio = Ledger(RegistryEntry(processor_id="p-shop", profile=ProcessorProfile(processor_id="p-shop", ciio=True),
                                mechanisms=[expired], updated_at=NOW))  # fmt: skip
    ciio.send(flow("x", range(3)))
    assert "export_assessment_expired" in ciio.types()


def test_hk_destination_important_data_and_restricted_recipient() -> None:
    restrictions = RestrictionList(recipients=[RestrictedRecipient(name="Blocked Analytics Ltd")], updated_at=NOW)
    ledger = Ledger(restrictions=restrictions)
    ledger.send(flow("hk", range(5), destination_region="HK", recipient="Blocked Analytics Ltd.",
                     important_data=True, important_data_refs=["IDC-1"]))  # fmt: skip
    assert {"export_restricted_recipient", "export_important_data_without_assessment",
            "export_mechanism_missing"} <= set(ledger.types())  # fmt: skip


def test_unknown_destination_alerts_and_is_not_counted() -> None:
    ledger = Ledger()
    result = ledger.send(flow("u", range(5), is_export=None, destination_region=None, resolution_basis="unknown",
                              export_reason="unknown destination"))  # fmt: skip
    assert ledger.types() == ["export_unknown_destination"] and result.ledger is None
    assert not [k for k in ledger.persons if "\x1fn\x1f" in k]


def test_doubtful_contract_claim_is_alerted_and_counted() -> None:
    ledger = Ledger()
    result = ledger.send(flow("d", range(10_000), exemption_claim="art5_1_contract", recipient_type="analytics",
                              purpose="用户画像分析"))  # fmt: skip
    assert "export_exemption_doubtful" in ledger.types()
    assert result.ledger is not None and result.ledger.persons == 10_000


def test_repeated_alerts_fold_into_one_per_dedup_key_with_a_count() -> None:
    ledger = Ledger()
    for i in range(3):
        ledger.send(flow(f"r{i}", range(i * 10, i * 10 + 10), sensitive=range(i * 10, i * 10 + 1)))
    ledger.send(flow("r2", range(20, 30), sensitive=range(20, 21)))  # a replay: no new occurrence
    keys = [a.dedup_key for a in ledger.alerts]
    assert len(keys) == len(set(keys))
    assert ledger.types().count("export_mechanism_missing") == 1  # one SC missing alert per window and recipient
    missing = [a for a in ledger.occurrences if a.type == "export_mechanism_missing"]
    assert [a.count for a in missing] == [1, 2, 3]  # every later event is one more occurrence
    assert len({a.alert_id for a in missing}) == 1 and all(a.raised_at == missing[0].raised_at for a in missing)
    assert all(a.last_raised_at == NOW for a in missing)
    assert all(a.raised_at == NOW and a.processor_id == "p-shop" for a in ledger.alerts)
    assert NOW - timedelta(seconds=1) < ledger.alerts[0].raised_at


def test_a_replay_longer_than_the_recent_ids_adds_no_alert_occurrence() -> None:
    """150 flows to a restricted recipient fold into one alert of count 150; replaying all of them (a restart
    that re-reads more than ``RECENT_KEPT`` flows) leaves it at 150 (seen at 172 before the fix)."""
    restrictions = RestrictionList(recipients=[RestrictedRecipient(name="Blocked Analytics Ltd")], updated_at=NOW)
    ledger = Ledger(restrictions=restrictions)
    flows = [flow(f"r-{i}", range(i, i + 1), recipient="Blocked Analytics Ltd") for i in range(150)]
    for update in flows:
        ledger.send(update)
    (alert,) = [a for a in ledger.alerts if a.type == "export_restricted_recipient"]
    assert alert.count == 150
    sent = len(ledger.occurrences)
    for update in flows:  # the whole run again, in order
        assert ledger.send(update).alerts == []
    assert len(ledger.occurrences) == sent
    (again,) = [a for a in ledger.alerts if a.type == "export_restricted_recipient"]
    assert again.count == 150
