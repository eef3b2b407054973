"""``bench.chaos.Result.only_engine_drops``: a scenario's losses count as the engine's (noida-db dropping
records it had acknowledged, docs/faults.md) only when each lost event is accounted for by a drop, and
nothing else failed. The integration test xfails on that and fails otherwise, so this rule decides whether a
Flowwatch loss could hide."""

from __future__ import annotations

from bench.chaos import Result

SIGKILL_CHECKS = frozenset({"SIGKILL all: replay complete", "SIGKILL all: ledger exact"})


def stack_restart(**kw: object) -> Result:
    checks = {"down/up: replay complete": True, "SIGKILL all: replay complete": False,
              "SIGKILL all: ledger exact": False, "SIGKILL all: API keys": True}
    return Result("stack-restart", sent=3000, lost=1500, ledger_short=1500, checks=checks,
                  engine_drop_checks=SIGKILL_CHECKS, **kw)  # type: ignore[arg-type]


def test_inputs_the_engine_no_longer_holds_are_its_drops() -> None:
    assert stack_restart(engine_dropped_inputs=1500).only_engine_drops
    mixed = stack_restart(engine_dropped_inputs=1000, engine_dropped_findings=500)
    mixed.ledger_short = 1000  # the 500 handled events were counted: their export updates are in Kafka
    assert mixed.only_engine_drops


def test_a_lost_event_whose_input_is_still_there_and_was_not_handled_is_ours() -> None:
    assert not stack_restart(engine_dropped_inputs=1499).only_engine_drops


def test_a_ledger_short_by_more_than_the_drops_is_ours() -> None:
    result = stack_restart(engine_dropped_inputs=1500)
    result.ledger_short = 1501
    assert not result.only_engine_drops


def test_any_other_failed_check_or_a_duplicate_is_ours() -> None:
    other = stack_restart(engine_dropped_inputs=1500)
    other.checks["SIGKILL all: API keys"] = False
    assert not other.only_engine_drops
    assert not stack_restart(engine_dropped_inputs=1500, duplicated=1).only_engine_drops


def test_broker_restart_keeps_its_own_rule() -> None:
    result = Result("broker-restart", sent=1858, lost=104, engine_dropped_findings=104,
                    checks={"ledger counts every flow once": True})
    assert result.only_engine_drops
    result.checks["services survived (same pids)"] = False
    assert not result.only_engine_drops


def test_an_alert_counted_twice_is_never_the_engine() -> None:
    result = stack_restart(engine_dropped_inputs=1500)
    result.checks["SIGKILL all: no alert occurrence counted twice"] = False
    assert not result.only_engine_drops
