"""Cost of judging an incident by the law in force beside the policy pack (issue 14).

The incident agent calls ``flowwatch.incidents.report.build_record`` on every incident update and tick.
Before issue 14 it evaluated one pack (the draft's clocks); now it evaluates every applicable pack (PIPL
Art. 57, Decree 790, the 2025 Reporting Measures and the policy pack). In one process this script builds
``--records`` records of one incident state (1,000,000 declared persons, harm to individuals, handling done)
with (a) the policy pack alone — the baseline, what the agent did before — and (b) all packs, and prints
records per second of each and their ratio, measured in the same run. Calendar lookups of the estimated
year 2027 are included (the incident is dated 2026-12-30).

    .venv/bin/python bench/law_obligations.py --records 5000
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flowwatch.exports.rules import ProcessorProfile
from flowwatch.incidents.aggregate import IncidentState, SetPersonStore
from flowwatch.incidents.models import IncidentUpdate
from flowwatch.incidents.report import build_record
from flowwatch.rules.incident_pack import IncidentRulePack, load_packs

SH = ZoneInfo("Asia/Shanghai")


def state() -> IncidentState:
    """One incident: 2026-12-30, 1,000,000 declared persons, harm, handling completed the next day."""
    t0 = datetime(2026, 12, 30, 10, 0, tzinfo=SH)
    u = IncidentUpdate(processor_id="p-bench", incident_id="inc-1", update_id="e1", source="event", received_at=t0,
                       occurred_at=t0, detected_at=t0 + timedelta(minutes=30), harm_to_individuals=True,
                       affected_subject_count=1_000_000, handling_completed_at=t0 + timedelta(days=1))
    s = IncidentState.new(u)
    s.apply(u, SetPersonStore())
    return s


def rate(packs: list[IncidentRulePack], n: int, profile: ProcessorProfile) -> tuple[float, int]:
    """Records per second over ``n`` builds, and the obligations per record."""
    s, now = state(), datetime(2026, 12, 30, 12, 0, tzinfo=SH)
    record = build_record(s, packs, now, profile)  # warm caches (calendar, lunar tables)
    start = time.perf_counter()
    for _ in range(n):
        build_record(s, packs, now, profile)
    return n / (time.perf_counter() - start), len(record.obligations)


def main() -> None:
    """Print both rates and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=5000)
    args = parser.parse_args()
    every = load_packs(include_policy=True)
    policy = [p for p in every if p.kind == "policy"]
    profile = ProcessorProfile(processor_id="p-bench", ciio=True)
    base, base_n = rate(policy, args.records, profile)
    law, law_n = rate(every, args.records, profile)
    print(f"baseline (policy pack only, {base_n} obligations): {base:,.0f} records/s")
    print(f"law + policy ({len(every)} packs, {law_n} obligations): {law:,.0f} records/s")
    print(f"ratio law+policy / baseline: {law / base:.2f}")


if __name__ == "__main__":
    main()
