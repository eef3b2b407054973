"""The short version of ``make chaos`` (issue 17 point 5) in CI: each ``bench/chaos.py --quick`` scenario
against the real noida-db stack, asserting no event lost, none duplicated, and every state check of the
scenario (readiness during the outage, services that survived, dead-letter reasons, API keys, registry,
export ledger). Measured ≈ 6 minutes in all on the shared 2-core machine (poison ≈ 40 s).

broker-restart and stack-restart on noida-db xfail (instead of failing) only when every loss is the engine's:
noida-db drops records it had acknowledged when it stops (docs/faults.md), and the scenarios count the flow
events the engine no longer holds and the events the detector handled whose finding or export update the
engine then dropped (``Result.only_engine_drops``). A lost event whose input is still in Kafka and that the
detector never handled, a ledger short by more, or any other failed check fails the test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.chaos import scenario_broker_restart, scenario_poison, scenario_stack_restart

pytestmark = pytest.mark.integration

ENGINE_DROPS = (
    "engine quirk (docs/faults.md, 'noida-db drops acknowledged records when it stops'; bench/noida_ack_loss.py): "
    "noida-db dropped records it had acknowledged (acks=all) before the stop: {r.engine_dropped_inputs} flow "
    "events, {r.engine_dropped_findings} findings and {r.engine_dropped_updates} export updates of events the "
    "detector had handled; {r.notes}")


@pytest.mark.parametrize("scenario", [scenario_poison, scenario_broker_restart, scenario_stack_restart],
                         ids=["poison", "broker-restart", "stack-restart"])
def test_chaos_quick(tmp_path: Path, scenario) -> None:  # type: ignore[no-untyped-def]
    result = scenario(tmp_path / "stack", True)
    print(result)  # shown in full on a failure (the assertion message is cut)
    failed = [name for name, ok in result.checks.items() if not ok]
    if scenario is not scenario_poison and (result.lost or failed) and result.only_engine_drops:
        # every loss is a record the engine acknowledged and then dropped; a lost event the detector never
        # handled, or any other failed check, fails below
        pytest.xfail(ENGINE_DROPS.format(r=result))
    assert result.sent > 0 and result.lost == 0 and result.duplicated == 0, (result, result.notes)
    assert not failed, (failed, result.notes)
