"""The egress agent's batch-record log (``flowwatch_detector.batched_state``) over a dict standing in for
the Faust table: one record per flush, keys compacted, the newest window state wins on rebuild, and the
ledger counts through it equal the counts through a plain dict."""

from __future__ import annotations

import hashlib
from typing import Any

from flowwatch.exports.ledger import WindowCounts, apply_flow
from flowwatch_detector.batched_state import RECORD_PREFIX, LedgerLog, compact_key


def h(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()


def window(pid: str = "p") -> WindowCounts:
    return WindowCounts(processor_id=pid, pack_id="cn_export_2024", window_id="2026", years=[2026])


def test_one_record_per_flush_with_keys_and_windows() -> None:
    table: dict[str, Any] = {}
    log = LedgerLog(table)
    w = window()
    assert apply_flow(log.keys, [w], "e1", 2026, [h(1), h(2)], [h(2)])
    assert apply_flow(log.keys, [w], "e2", 2026, [h(2), h(3)], [])
    log.windows["p\x1f2026"] = w.model_dump(mode="json")
    assert table == {}  # nothing written before the flush
    assert log.flush(partition=3)
    assert log.flush(partition=3) is False  # nothing new
    (key, record), = table.items()
    assert key.startswith(RECORD_PREFIX) and record["p"] == 3 and record["seq"] == 1
    person_group = record["keys"]["p\x1f2026\x1fn"]
    assert sorted(person_group) == sorted(x[:32] for x in (h(1), h(2), h(3)))
    assert record["keys"]["p\x1fevent"] == ["e1", "e2"]
    assert record["windows"]["p\x1f2026"]["persons"] == 3 and record["windows"]["p\x1f2026"]["sensitive_persons"] == 1


def test_rebuild_takes_the_newest_window_and_every_key() -> None:
    table: dict[str, Any] = {}
    log = LedgerLog(table)
    for i, n in enumerate((1, 5, 2)):
        log.keys[f"p\x1f2026\x1fn\x1f{h(i)}"] = 1
        log.windows["w"] = {"persons": n}
        log.flush(partition=0)
    fresh = LedgerLog(table)  # a restarted worker recovering the same table
    assert fresh.windows["w"] == {"persons": 2}  # seq 3 wins, whatever the dict order
    assert all(f"p\x1f2026\x1fn\x1f{h(i)}" in fresh.keys for i in range(3))
    fresh.keys["p\x1f2026\x1fn\x1f" + h(9)] = 1
    fresh.flush(partition=0)
    assert max(r["seq"] for r in table.values()) == 4  # the partition's sequence goes on


def test_counts_match_a_plain_dict_store() -> None:
    plain: dict[str, int] = {}
    log = LedgerLog({})
    w_plain, w_log = window(), window()
    for flow in range(50):
        persons = [h(n) for n in range(flow * 7, flow * 7 + 15)]
        apply_flow(plain, [w_plain], f"e{flow}", 2026, persons, persons[::4])  # type: ignore[arg-type]
        apply_flow(log.keys, [w_log], f"e{flow}", 2026, persons, persons[::4])
        if flow % 9 == 0:
            log.flush(partition=1)
    assert not apply_flow(log.keys, [w_log], "e3", 2026, [h(10_000)], [])  # a replayed event: no change
    assert (w_log.persons, w_log.sensitive_persons, w_log.flows) == (w_plain.persons, w_plain.sensitive_persons, 50)
    assert w_plain.persons == 7 * 49 + 15


def test_invalidate_drops_what_was_not_flushed() -> None:
    table: dict[str, Any] = {}
    log = LedgerLog(table)
    log.keys["a\x1fb"] = 1
    log.flush(partition=0)
    log.keys["a\x1fc"] = 1
    log.windows["w"] = {"persons": 1}
    log.invalidate()  # the batch failed: it will be applied again after the replay
    assert "a\x1fb" in log.keys and "a\x1fc" not in log.keys and "w" not in log.windows


def test_compact_key_cuts_only_person_hashes() -> None:
    assert compact_key("p\x1f2026\x1fn\x1f" + h(1)) == "p\x1f2026\x1fn\x1f" + h(1)[:32]
    assert compact_key("p\x1fevent\x1f" + "x" * 64) == "p\x1fevent\x1f" + "x" * 64
    assert compact_key("p\x1fevent\x1fe-1") == "p\x1fevent\x1fe-1"
