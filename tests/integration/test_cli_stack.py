"""The CLI's stack lifecycle: up is idempotent, status tells the truth, replay accounts for every event,
down stops exactly what up started (by process id)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from flowwatch_tools.engines import pid_alive
from tests.flows import INVALID, encode, event

pytestmark = pytest.mark.integration


def cli(home: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLOWWATCH_HOME": str(home)}
    for var in ("FLOWWATCH_KAFKA_BOOTSTRAP", "FLOWWATCH_ES_URL"):
        env.pop(var, None)
    return subprocess.run([sys.executable, "-m", "flowwatch_tools.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_up_status_replay_down(tmp_path: Path) -> None:
    home = tmp_path / "fw"
    assert cli(home, "up", "--workers", "1").returncode == 0
    try:
        status = json.loads(cli(home, "status", "--json").stdout)
        assert status["running"] is True and status["api_url"].startswith("http://127.0.0.1:")
        pids = {name: c["pid"] for name, c in status["components"].items()}
        assert set(pids) == {"engine-noida", "detector-1", "indexer", "notifier", "api"}

        again = cli(home, "up", "--workers", "1")  # idempotent: nothing new started
        assert again.returncode == 0
        assert {n: c["pid"] for n, c in json.loads(cli(home, "status", "--json").stdout)["components"].items()} == pids

        flows = tmp_path / "flows.jsonl"
        rng = random.Random(5)
        flows.write_bytes(b"\n".join([encode(event(i, "cli-p", rng)) for i in range(30)] + INVALID) + b"\n")
        replay = cli(home, "replay", str(flows), "--json", "--timeout", "180")
        assert replay.returncode == 0, replay.stderr
        summary = json.loads(replay.stdout)
        assert (summary["events"], summary["findings"], summary["dead_letters"], summary["missing"]) == (33, 30, 3, 0)
        assert summary["findings_by_entity_type"]["CN_RESIDENT_ID"] == 30

        key = json.loads(cli(home, "keys", "create", "--role", "admin", "--json").stdout)["key"]
        assert key.startswith("fw_")
    finally:
        down = cli(home, "down")
    assert down.returncode == 0
    assert not any(pid_alive(pid) for pid in pids.values())
    assert json.loads(cli(home, "status", "--json").stdout)["running"] is False
