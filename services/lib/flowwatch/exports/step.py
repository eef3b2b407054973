"""One step of the egress agent, without Kafka: apply an export update to the ledger and decide its alerts.

The detector calls ``process_update`` with a Faust table as the ledger state store and another as the
person store; tests call it with dicts. Idempotent per ``event_id`` (the counts move once; an alert's
occurrences are tallied per dedup key in the current window's state, a replayed event not counting again,
and each occurrence is sent with the running ``count`` and the first instant as ``raised_at``, so the
indexer folds them into one alert).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flowwatch.alerts import Alert
from flowwatch.exports.evaluate import FlowVerdict, default_profile, evaluate_flow
from flowwatch.exports.ledger import RECENT_KEPT, AlertTally, KeyStore, WindowCounts, apply_flow
from flowwatch.exports.models import ExportUpdate, LedgerRecord, ThresholdProgress
from flowwatch.exports.rules import ExportCounts, evaluate_exemption
from flowwatch.ids import derived_id
from flowwatch.registry.models import RegistryEntry, RestrictionList
from flowwatch.rules.export_pack import ExportRulePack, export_pack_for, window_id, window_start, years_in_window
from flowwatch.rules.processor_duties import retention_note


@dataclass(frozen=True)
class StepResult:
    """Alert occurrences to send (replays left out), the ledger record of the current window (None when the flow was not
    an export or a replay), and the verdict."""

    alerts: list[Alert]
    ledger: LedgerRecord | None
    verdict: FlowVerdict


def _windows(pack: ExportRulePack, update: ExportUpdate, states: MutableMapping[str, Any]) -> list[WindowCounts]:
    """The windows of ``pack`` containing the flow's year: the current one first, then (for a window over
    several years) those that will be current in later years and already include this year."""
    out = []
    occurred = update.occurred_at
    for ahead in range(pack.counting_window.years_back + 1):
        at = occurred.replace(year=occurred.year + ahead, month=1, day=1) if ahead else occurred
        wid = window_id(pack, at)
        key = f"{update.processor_id}\x1f{wid}"
        stored = states.get(key)
        window = WindowCounts.model_validate(stored) if stored else WindowCounts(
            processor_id=update.processor_id, pack_id=pack.id, window_id=wid, years=list(years_in_window(pack, at)),
        )  # fmt: skip
        out.append(window)
    return out


def process_update(
    update: ExportUpdate,
    packs: list[ExportRulePack],
    states: MutableMapping[str, Any],
    persons: KeyStore,
    registry: RegistryEntry | None,
    restrictions: RestrictionList | None,
    now: datetime,
) -> StepResult:
    """Apply ``update``: count its persons in every window containing its year (unless an honoured
    exemption keeps them out of the totals), evaluate the flow, keep only alerts not raised before, store
    the windows in ``states`` (key ``processor\\x1fwindow_id`` → JSON) and build the current ledger record."""
    pack = export_pack_for(update.occurred_at, packs)
    windows = _windows(pack, update, states)
    current = windows[0]
    before = ExportCounts(persons=current.persons, sensitive_persons=current.sensitive_persons,
                          all_persons=current.persons)  # fmt: skip
    profile = registry.profile if registry else default_profile(update.processor_id)
    first_look = evaluate_exemption(
        update.exemption_claim, pack=pack, has_pi=update.has_pi, important_data=update.important_data,
        activity=update.activity, recipient_type=update.recipient_type, purpose=update.purpose,
        persons_in_flow=update.persons_in_flow, profile=profile, domestic_pi=True,
        on=pack.local_date(update.occurred_at),
    )  # fmt: skip
    counts = update.is_export is True and first_look.counts_toward_totals
    applied = False
    if counts:
        year = pack.local_date(update.occurred_at).year
        applied = apply_flow(persons, windows, update.event_id, year, update.person_keys,
                             update.sensitive_person_keys)  # fmt: skip
        if applied and update.sensitive_declared:
            for window in windows:  # the persons counted as sensitive on the platform's declaration
                window.declared_sensitive_categories = sorted({*window.declared_sensitive_categories,
                                                               *update.sensitive_declared})
    after = ExportCounts(persons=current.persons, sensitive_persons=current.sensitive_persons,
                         all_persons=current.persons)  # fmt: skip
    verdict = evaluate_flow(update, pack, current.window_id, before, after, registry, restrictions, now)
    # a flow counted before (its event id is in the store: a replay after a crash or a rebalance) adds no
    # occurrence: the tallies' ``recent`` ids remember only the last RECENT_KEPT events of an alert, and a
    # replay of more than that re-counted older ones (a restricted-recipient alert at 172 for 150 flows after a
    # SIGKILL of the stack, bench/chaos.py stack-restart). Flows that do not count toward the totals keep the
    # ``recent`` check.
    replayed = counts and not applied
    fresh = [] if replayed else tally_alerts(current, verdict.alerts, update.event_id)
    for window in windows:
        states[f"{update.processor_id}\x1f{window.window_id}"] = window.model_dump(mode="json")
    ledger = None
    # every export flow gives the window's record, a replayed one too: the crash that caused the replay may have
    # come after the state was written and before its ledger record was sent (records are versioned: a record
    # sent again changes nothing)
    if update.is_export is True:
        ledger = ledger_record(update, pack, current, verdict, registry, now)
    return StepResult(fresh, ledger, verdict)


def tally_alerts(window: WindowCounts, alerts: list[Alert], event_id: str) -> list[Alert]:
    """Count each of ``alerts`` as one more occurrence of its dedup key in ``window`` (unless ``event_id``
    was already counted for it) and return them with ``count``, ``raised_at`` (first occurrence) and
    ``last_raised_at`` set. Mutates ``window``."""
    out: list[Alert] = []
    for alert in alerts:
        tally = window.alert_tally.get(alert.dedup_key)
        if tally is None and alert.dedup_key in window.alerts_raised:  # state from before tallies: seen once
            tally = AlertTally(count=1, first=alert.raised_at)
        if tally is not None and event_id in tally.recent:
            continue
        if tally is None:
            tally = AlertTally(count=0, first=alert.raised_at)
            window.alerts_raised.append(alert.dedup_key)
        tally.count += 1
        tally.recent = [*tally.recent, event_id][-RECENT_KEPT:]
        window.alert_tally[alert.dedup_key] = tally
        out.append(alert.model_copy(update={"count": tally.count, "raised_at": tally.first,
                                            "last_raised_at": alert.raised_at}))
    return out


def ledger_record(
    update: ExportUpdate,
    pack: ExportRulePack,
    window: WindowCounts,
    verdict: FlowVerdict,
    registry: RegistryEntry | None,
    now: datetime,
) -> LedgerRecord:
    """The ``LedgerRecord`` of ``window`` with the progress towards each volume threshold of ``pack``."""
    values = {"persons": window.persons, "sensitive_persons": window.sensitive_persons, "all_persons": window.persons}
    thresholds = [
        ThresholdProgress(name=t.id, counter=t.metric, threshold=t.at_least, value=values.get(t.metric, 0),
                          reached=values.get(t.metric, 0) >= t.at_least, article=t.legal_basis.article)
        for t in pack.volume_thresholds
    ]  # fmt: skip
    return LedgerRecord(
        id=derived_id("export-ledger/v1", update.processor_id, window.window_id),
        processor_id=update.processor_id,
        processor_name=update.processor_name,
        pack_id=pack.id,
        window_id=window.window_id,
        window_start=window_start(pack, update.occurred_at),
        persons=window.persons,
        sensitive_persons=window.sensitive_persons,
        sensitive_basis="declared" if window.declared_sensitive_categories else "counted",
        declared_sensitive_categories=window.declared_sensitive_categories,
        flows=window.flows,
        required_mechanism=verdict.requirement.required.value,
        required_reasons=verdict.requirement.reasons,
        mechanisms_on_file=[m.id for m in registry.mechanisms] if registry else [],
        thresholds=thresholds,
        retention=retention_note(),
        updated_at=now,
    )
