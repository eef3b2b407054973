"""The agents' batch-record log (``flowwatch_detector.batched_state``) over a dict standing in for the Faust
table: one record per flush with the members packed, the newest window state wins on rebuild, records of the
earlier format are read, and the ledger counts through it equal the counts through a plain dict."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from typing import Any

from flowwatch.exports.ledger import WindowCounts, apply_flow
from flowwatch.person_sets import member_of, unpack
from flowwatch_detector.batched_state import RECORD_PREFIX, SetLog

SECRET = b"unit-test-secret"


def h(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()


def window(pid: str = "p") -> WindowCounts:
    return WindowCounts(processor_id=pid, pack_id="cn_export_2024", window_id="2026", years=[2026])


def flush(log: SetLog, partition: int) -> bool:
    """Run ``log.flush`` and its acknowledgement; True when a record was written."""
    async def go() -> bool:
        ack = await log.flush(partition)
        if ack is not None:
            await ack
        return ack is not None
    return asyncio.run(go())


def test_one_record_per_flush_with_members_and_windows() -> None:
    table: dict[str, Any] = {}
    log = SetLog(table, SECRET)
    w = window()
    assert apply_flow(log.keys, [w], "e1", 2026, [h(1), h(2)], [h(2)])
    assert apply_flow(log.keys, [w], "e2", 2026, [h(2), h(3)], [])
    log.windows["p\x1f2026"] = w.model_dump(mode="json")
    assert table == {}  # nothing written before the flush
    assert flush(log, partition=3)
    assert flush(log, partition=3) is False  # nothing new
    (key, record), = table.items()
    assert key.startswith(RECORD_PREFIX) and record["p"] == 3 and record["seq"] == 1
    members = unpack(base64.b64decode(record["sets"]["p\x1f2026\x1fn"]))
    assert sorted(int(m) for m in members) == sorted(int(x[:16], 16) for x in (h(1), h(2), h(3)))
    events = unpack(base64.b64decode(record["sets"]["p\x1fevent"]))
    assert sorted(int(m) for m in events) == sorted(member_of(e, SECRET) for e in ("e1", "e2"))
    assert record["windows"]["p\x1f2026"]["persons"] == 3 and record["windows"]["p\x1f2026"]["sensitive_persons"] == 1


def test_rebuild_takes_the_newest_window_and_every_member() -> None:
    table: dict[str, Any] = {}
    log = SetLog(table, SECRET)
    for i, n in enumerate((1, 5, 2)):
        log.keys[f"p\x1f2026\x1fn\x1f{h(i)}"] = 1
        log.windows["w"] = {"persons": n}
        flush(log, partition=0)
    fresh = SetLog(table, SECRET)  # a restarted worker recovering the same table
    assert fresh.windows["w"] == {"persons": 2}  # seq 3 wins, whatever the dict order
    assert all(f"p\x1f2026\x1fn\x1f{h(i)}" in fresh.keys for i in range(3))
    assert fresh.size("p\x1f2026\x1fn") == 3
    fresh.keys["p\x1f2026\x1fn\x1f" + h(9)] = 1
    flush(fresh, partition=0)
    assert max(r["seq"] for r in table.values()) == 4  # the partition's sequence goes on


def test_a_different_secret_does_not_recognise_event_ids() -> None:
    table: dict[str, Any] = {}
    log = SetLog(table, SECRET)
    log.keys["p\x1fevent\x1fe-1"] = 1
    log.keys["p\x1f2026\x1fn\x1f" + h(1)] = 1
    flush(log, partition=0)
    other = SetLog(table, b"another deployment")
    assert "p\x1fevent\x1fe-1" not in other.keys  # event ids are hashed with the deployment's key
    assert "p\x1f2026\x1fn\x1f" + h(1) in other.keys  # person keys are already keyed hashes


def test_counts_match_a_plain_dict_store() -> None:
    plain: dict[str, int] = {}
    log = SetLog({}, SECRET)
    w_plain, w_log = window(), window()
    for flow in range(50):
        persons = [h(n) for n in range(flow * 7, flow * 7 + 15)]
        apply_flow(plain, [w_plain], f"e{flow}", 2026, persons, persons[::4])  # type: ignore[arg-type]
        apply_flow(log.keys, [w_log], f"e{flow}", 2026, persons, persons[::4])
        if flow % 9 == 0:
            flush(log, partition=1)
    assert not apply_flow(log.keys, [w_log], "e3", 2026, [h(10_000)], [])  # a replayed event: no change
    assert (w_log.persons, w_log.sensitive_persons, w_log.flows) == (w_plain.persons, w_plain.sensitive_persons, 50)
    assert w_plain.persons == 7 * 49 + 15


def test_invalidate_drops_what_was_not_flushed() -> None:
    table: dict[str, Any] = {}
    log = SetLog(table, SECRET)
    log.keys["a\x1fb"] = 1
    flush(log, partition=0)
    log.keys["a\x1fc"] = 1
    log.windows["w"] = {"persons": 1}
    log.invalidate()  # the batch failed: it will be applied again after the replay
    assert "a\x1fb" in log.keys and "a\x1fc" not in log.keys and "w" not in log.windows
    assert log.pending_keys == 0


def test_records_of_the_earlier_format_are_read() -> None:
    """The 2026-12-03 format kept 32-hex-digit hashes and event ids as text under ``keys``."""
    table: dict[str, Any] = {f"{RECORD_PREFIX}0\x1f000000000001": {
        "p": 0, "seq": 1, "keys": {"p\x1f2026\x1fn": [h(1)[:32]], "p\x1fevent": ["e1"]},
        "windows": {"w": {"persons": 1}},
    }}  # fmt: skip
    log = SetLog(table, SECRET)
    assert "p\x1f2026\x1fn\x1f" + h(1) in log.keys and "p\x1fevent\x1fe1" in log.keys
    assert log.windows["w"] == {"persons": 1}
    log.keys["p\x1f2026\x1fn\x1f" + h(2)] = 1
    flush(log, partition=0)
    assert max(r["seq"] for r in table.values()) == 2


def test_the_next_source_offset_is_recorded_and_a_gap_is_told() -> None:
    table: dict[str, Any] = {}
    log = SetLog(table, SECRET)
    assert log.check_offset(0, 500) is None  # nothing recorded yet: nothing to compare with
    log.keys["a\x1fb"] = 1
    asyncio.run(_flush_at(log, 0, 120))
    fresh = SetLog(table, SECRET)  # after a restart
    assert fresh.check_offset(0, 100) is None  # a replay starts before the recorded offset
    assert fresh.check_offset(0, 120) is None
    assert fresh.check_offset(0, 150) == 120  # 30 updates never delivered
    asyncio.run(_flush_at(fresh, 0, 130))  # nothing new, but the offset moved: still one record
    assert SetLog(table, SECRET).check_offset(0, 131) == 130


async def _flush_at(log: SetLog, partition: int, offset: int) -> None:
    ack = await log.flush(partition, offset)
    if ack is not None:
        await ack


def test_rollback_removes_the_failed_batch_records_and_the_retry_counts_once() -> None:
    from flowwatch_detector import batched_state

    table: dict[str, Any] = {}
    log = SetLog(table, SECRET)
    w = window()
    apply_flow(log.keys, [w], "e1", 2026, [h(1)], [])
    log.windows["p\x1f2026"] = w.model_dump(mode="json")
    flush(log, partition=0)
    log.settle()  # acknowledged
    tries: list[int] = []

    async def attempt() -> None:
        wb = WindowCounts.model_validate(log.windows["p\x1f2026"])
        apply_flow(log.keys, [wb], "e2", 2026, [h(2), h(3)], [])
        log.windows["p\x1f2026"] = wb.model_dump(mode="json")
        ack = await log.flush(0)
        tries.append(len(table))
        if len(tries) == 1:
            raise ConnectionError("broker went away before the acknowledgement")
        assert ack is not None
        await ack
        log.settle()

    old = batched_state.RETRY_FIRST
    batched_state.RETRY_FIRST = 0.01
    try:
        asyncio.run(batched_state.until_applied(attempt, log.rollback, "test batch"))
    finally:
        batched_state.RETRY_FIRST = old
    assert tries == [2, 2]  # the failed record was removed before the retry wrote it again
    fresh = SetLog(table, SECRET)
    assert fresh.windows["p\x1f2026"]["persons"] == 3 and fresh.windows["p\x1f2026"]["flows"] == 2
