"""The incident agent's batch fold (``flowwatch_detector.incidents.fold_updates``) over a dict standing in for
the Faust table: a batch of large events is split into records that each hold the persons and the states
that count them, replays change nothing, and a crash after any record followed by a replay of the input from
that record's source offset ``"o"`` counts every person exactly once."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime
from typing import Any

from flowwatch.incidents.aggregate import IncidentState
from flowwatch.incidents.models import IncidentUpdate
from flowwatch_detector.batched_state import RECORD_KEYS, RECORD_PREFIX, SetLog
from flowwatch_detector.incidents import fold_updates, members_of, parse_update

SECRET = b"unit-test-secret"
KEY = "p-bank\x1finc-1"
PER_EVENT = 10_000


def person(n: int) -> str:
    return hashlib.sha256(f"person-{n}".encode()).hexdigest()


def update(i: int) -> IncidentUpdate:
    """Event ``i``: persons 5,000 i .. 5,000 i + 9,999 (half shared with event i - 1), every tenth sensitive."""
    now = datetime(2026, 12, 4, tzinfo=UTC)
    keys = [person(n) for n in range(5_000 * i, 5_000 * i + PER_EVENT)]
    return IncidentUpdate.model_validate({
        "processor_id": "p-bank", "incident_id": "inc-1", "update_id": f"e-{i}", "source": "event",
        "received_at": now, "occurred_at": now, "detected_at": now, "type": "leak",
        "person_keys": keys, "sensitive_person_keys": keys[::10],
    })  # fmt: skip


def apply_batch(log: SetLog, updates: list[tuple[int, str, IncidentUpdate | None]]) -> int:
    """What the agent does with one partition's batch: fold, write the changed states, flush the last
    record with the offset after the batch. Returns the records written."""
    async def go() -> int:
        folded, acks = await fold_updates(log, 0, updates)
        for key, incident in folded.items():
            if incident.changed or incident.new:
                log.windows[key] = incident.state.model_dump(mode="json")
        if (ack := await log.flush(0, updates[-1][0] + 1)) is not None:
            acks.append(ack)
        for ack in acks:
            await ack
        log.settle()
        return len(acks)
    return asyncio.run(go())


def state_of(log: SetLog) -> IncidentState:
    return IncidentState.model_validate(log.windows[KEY])


def records(table: dict[str, Any]) -> list[dict[str, Any]]:
    return [table[k] for k in sorted(table) if k.startswith(RECORD_PREFIX)]


BATCH = [(offset, KEY, update(i)) for offset, i in enumerate((0, 1, 2, 1, 3))]  # event 1 twice
WANT_PERSONS, WANT_SENSITIVE = 5_000 * 3 + PER_EVENT, (5_000 * 3 + PER_EVENT) // 10


def test_a_batch_is_split_into_records_of_at_most_record_keys_members_each_with_its_states() -> None:
    table: dict[str, Any] = {}
    log = SetLog(table, SECRET)
    assert members_of(update(0)) == 12_000 and 2 * members_of(update(0)) > RECORD_KEYS
    written = apply_batch(log, list(BATCH))
    state = state_of(log)
    assert (state.persons_counted, state.sensitive_persons) == (WANT_PERSONS, WANT_SENSITIVE)
    assert state.update_ids == ["e-0", "e-1", "e-2", "e-3"]
    held = records(table)
    # event 0 adds 11,000 members; 1 and 2 5,500 each; 3 5,500: records before events 1 and 3, and the last
    assert written == len(held) == 3
    assert [r["o"] for r in held] == [1, 4, 5]
    for record in held:  # the states of each record count the persons of the records up to it
        assert record["windows"], record["o"]
    counted = [IncidentState.model_validate(r["windows"][KEY]).persons_counted for r in held]
    assert counted == [10_000, 20_000, 25_000]


def test_a_replayed_batch_changes_nothing_and_writes_only_the_offset() -> None:
    table: dict[str, Any] = {}
    log = SetLog(table, SECRET)
    apply_batch(log, list(BATCH))
    before = state_of(log).model_dump()
    apply_batch(log, [(offset + 5, key, u) for offset, key, u in BATCH])  # the same updates again, later
    assert state_of(log).model_dump() == before
    assert records(table)[-1]["sets"] == {} and records(table)[-1]["windows"] == {}


def test_a_crash_after_any_record_and_a_replay_from_its_offset_counts_each_person_once() -> None:
    full: dict[str, Any] = {}
    apply_batch(SetLog(full, SECRET), list(BATCH))
    keys = sorted(k for k in full if k.startswith(RECORD_PREFIX))
    for landed in range(len(keys) + 1):  # the records that reached the broker before the SIGKILL
        resumes = {0, full[keys[landed - 1]]["o"] if landed else 0}  # Faust's commit is at or before "o"
        for resume in resumes:
            table = {k: full[k] for k in keys[:landed]}
            log = SetLog(table, SECRET)  # the restarted worker rebuilds its index from them
            if rest := [u for u in BATCH if u[0] >= resume]:
                apply_batch(log, rest)
            state = state_of(log)
            assert (state.persons_counted, state.sensitive_persons) == (WANT_PERSONS, WANT_SENSITIVE), landed
            assert log.size(f"{KEY}\x1fp") == WANT_PERSONS


def test_ticks_of_unknown_incidents_are_ignored_and_parse_tells_ticks_from_updates() -> None:
    log = SetLog({}, SECRET)
    folded, acks = asyncio.run(fold_updates(log, 0, [(0, "p-bank\x1fgone", None)]))
    assert folded == {} and acks == []
    assert parse_update(b'{"tick": "inc-1", "processor_id": "p-bank", "at": "2026-12-04T00:00:00+00:00"}') == (
        KEY, None)
    key, parsed = parse_update(update(0).model_dump_json().encode())
    assert key == KEY and parsed is not None and parsed.update_id == "e-0"
