"""Issue 16 point 4: ``flowwatch scan`` for CI — exit codes, --fail-on, SARIF, JSON lines, directories/globs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flowwatch_tools.cli.main import app
from flowwatch_tools.cli.scan import LineIndex, expand_inputs

runner = CliRunner()
KNOWN_ID = "11010519491231002X"
CARD = "6222021234567890128"
MOBILE = "13812345678"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "logs" / "2026").mkdir(parents=True)
    (tmp_path / "logs" / "a.txt").write_text(f"客户手机{MOBILE}\n第二行：身份证{KNOWN_ID}\n", "utf-8")
    (tmp_path / "logs" / "2026" / "b.txt").write_text(f"退款卡号{CARD}", "utf-8")
    (tmp_path / "logs" / "clean.txt").write_text("今天天气很好。", "utf-8")
    (tmp_path / "logs" / "blob.bin").write_bytes(b"\x00\x01" + MOBILE.encode())
    (tmp_path / "logs" / ".hidden").write_text(MOBILE, "utf-8")
    (tmp_path / "rec.jsonl").write_text(json.dumps({"tel": MOBILE}) + "\n", "utf-8")
    return tmp_path


def test_expand_inputs_directories_globs_and_missing(tree: Path) -> None:
    paths, errors = expand_inputs([str(tree / "logs"), str(tree / "**" / "*.jsonl"), str(tree / "nope.txt")])
    names = [Path(p).relative_to(tree).as_posix() for p in paths]
    assert names == ["logs/2026/b.txt", "logs/a.txt", "logs/blob.bin", "logs/clean.txt", "rec.jsonl"]
    assert [e.where for e in errors] == [str(tree / "nope.txt")]


def test_line_index() -> None:
    index = LineIndex()
    for chunk in ("ab\nc", "d\n", "\nxyz"):
        index.feed(chunk)
    positions = [index.position(i) for i in (0, 2, 3, 4, 6, 7, 9)]
    assert positions == [(1, 1), (1, 3), (2, 1), (2, 2), (3, 1), (4, 1), (4, 3)]


def test_jsonl_over_a_directory_names_files_and_lines(tree: Path) -> None:
    result = runner.invoke(app, ["scan", str(tree / "logs"), "--format", "jsonl"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    got = [(Path(r["file"]).name, r["type"], r["line"], r["column"]) for r in rows]
    assert got == [("b.txt", "CN_BANK_CARD", 1, 5), ("a.txt", "CN_MOBILE_PHONE", 1, 5),
                   ("a.txt", "CN_RESIDENT_ID", 2, 8)]  # fmt: skip  (binary and hidden files skipped)
    assert MOBILE not in result.stdout and CARD not in result.stdout


@pytest.mark.parametrize(
    ("fail_on", "code"),
    [([], 0), (["financial_account"], 1), (["sensitive"], 1), (["CN_RESIDENT_ID"], 1), (["medical_health"], 0),
     (["EMAIL_ADDRESS", "biometric"], 0)],
)  # fmt: skip
def test_fail_on_sets_the_exit_code(tree: Path, fail_on: list[str], code: int) -> None:
    args = ["scan", str(tree / "logs"), "--json"] + [a for v in fail_on for a in ("--fail-on", v)]
    assert runner.invoke(app, args).exit_code == code


def test_fail_on_unknown_value_is_a_usage_error() -> None:
    result = runner.invoke(app, ["scan", "-", "--fail-on", "passwords"], input="x")
    assert result.exit_code == 2 and "not an entity type, a category or 'sensitive'" in result.stderr


def test_missing_input_is_reported_and_the_rest_scanned(tree: Path) -> None:
    result = runner.invoke(app, ["scan", str(tree / "missing.txt"), str(tree / "logs" / "a.txt"), "--json"])
    assert result.exit_code == 2
    assert "missing.txt: no such file or directory" in result.stderr
    assert [json.loads(line)["type"] for line in result.stdout.splitlines()] == ["CN_MOBILE_PHONE", "CN_RESIDENT_ID"]


def test_sarif_output(tree: Path) -> None:
    result = runner.invoke(app, ["scan", str(tree / "logs"), str(tree / "rec.jsonl"), "--format", "sarif",
                                 "--fail-on", "sensitive"])  # fmt: skip
    assert result.exit_code == 1, result.output
    log = json.loads(result.stdout)
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")
    run = log["runs"][0]
    assert run["columnKind"] == "unicodeCodePoints"
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} == {"CN_BANK_CARD", "CN_MOBILE_PHONE", "CN_RESIDENT_ID"}
    card = next(r for r in run["results"] if r["ruleId"] == "CN_BANK_CARD")
    assert card["level"] == "error"
    assert card["message"]["text"] == "CN_BANK_CARD (financial_account): 622202*********0128"
    region = card["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 1, "startColumn": 5, "endLine": 1, "endColumn": 24}
    mobile = next(r for r in run["results"]
                  if r["ruleId"] == "CN_MOBILE_PHONE" and "logicalLocations" in r["locations"][0])  # fmt: skip
    assert mobile["level"] == "warning"
    assert mobile["locations"][0]["logicalLocations"] == [{"fullyQualifiedName": "record[0].tel"}]
    assert CARD not in result.stdout and KNOWN_ID not in result.stdout
    assert run["invocations"][0]["executionSuccessful"] is True


def test_config_allow_list_and_custom_recognizer(tree: Path) -> None:
    settings = tree / "detection.yaml"
    settings.write_text(
        f'allow:\n  - {{value: "{MOBILE}"}}\nrecognizers:\n'
        '  - {entity: EMPLOYEE_ID, pattern: "EMP\\\\d{6}", score: 0.9, category: general}\n',
        "utf-8",
    )
    text = f"手机{MOBILE}，工号EMP123456"
    result = runner.invoke(app, ["scan", "-", "--json", "--config", str(settings), "--fail-on", "EMPLOYEE_ID"],
                           input=text)  # fmt: skip
    assert result.exit_code == 1, result.output
    assert [json.loads(line)["type"] for line in result.stdout.splitlines()] == ["EMPLOYEE_ID"]
    bad = tree / "bad.yaml"
    bad.write_text("recognizers:\n  - {entity: X_ID, pattern: '('}\n", "utf-8")
    result = runner.invoke(app, ["scan", "-", "--config", str(bad)], input=text)
    assert result.exit_code == 2 and "recognizers[0].pattern: pattern does not compile" in result.stderr


def test_progress_is_shown_on_request(tree: Path) -> None:
    result = runner.invoke(app, ["scan", str(tree / "logs"), "--progress"])
    assert result.exit_code == 0
    assert "3 entities in 4 inputs" in result.stderr
