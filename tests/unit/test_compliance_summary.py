"""The demo's compliance summary helpers."""

from __future__ import annotations

from flowwatch_tools.compliance_summary import alert_counts, obligation_counts


def test_counts() -> None:
    incidents = [
        {"obligations": [{"id": "regulator_report", "status": "overdue", "triggered": True},
                         {"id": "followup_report", "status": "not_applicable", "triggered": False}]},
        {"obligations": [{"id": "regulator_report", "status": "done", "triggered": True}]},
    ]  # fmt: skip
    assert obligation_counts(incidents) == {"regulator_report/overdue": 1, "regulator_report/done": 1}
    alerts = [{"type": "obligation_overdue", "severity": "critical"}] * 2 + [{"type": "x", "severity": "low"}]
    assert alert_counts(alerts).most_common(1) == [("obligation_overdue (critical)", 2)]
