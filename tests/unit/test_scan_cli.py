"""Offline scan: chunked text streaming equals a whole-text scan; the `flowwatch scan` command."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import pytest
from stdnum import luhn
from typer.testing import CliRunner

from flowwatch.detection.context import default_rules
from flowwatch.detection.scanner import default_scanner
from flowwatch_tools.cli import scan as scan_mod
from flowwatch_tools.cli.main import app
from flowwatch_tools.cli.scan import scan_text_stream
from flowwatch_tools.samples import checksums as ck

KNOWN_ID = "11010519491231002X"
CARD_19 = "6222021234567890128"
MOBILE = "13812345678"


def luhn_card(body: str) -> str:
    return body + luhn.calc_check_digit(body)


def _filler_alphabet() -> str:
    """Chinese characters that occur in no context word (so filler never changes a score)."""
    rules = default_rules()
    words = [w for ws in rules.positive.values() for w in ws] + list(rules.negative)
    banned = set("".join(words))
    chars = (chr(c) for c in range(0x4E00, 0x4E00 + 3000))  # the first 3000 CJK unified ideographs
    alphabet = "".join(sorted({c for c in chars if c not in banned}))
    assert len(alphabet) > 300
    return alphabet


FILLER = _filler_alphabet()


def _filler(rng: random.Random, n: int) -> str:
    """Exactly ``n`` characters of Chinese text with short digit runs inside (never touching either end)."""
    out: list[str] = []
    size = 0
    while size < n:
        if 2 <= size < n - 10 and rng.random() < 0.08:
            run = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 6)))
            out.append(run + rng.choice(FILLER))
            size += len(run) + 1
        else:
            out.append(rng.choice(FILLER))
            size += 1
    text = "".join(out)
    assert len(text) == n
    return text


def _item(rng: random.Random) -> tuple[str, str, str | None]:
    """(context prefix, value, expected entity or None when the prefix suppresses it)."""
    kind = rng.randrange(10)
    if kind == 0:
        return "身份证号", ck.resident_id(rng), "CN_RESIDENT_ID"
    if kind == 1:
        return "", ck.resident_id(rng), "CN_RESIDENT_ID"
    if kind == 2:
        number = ck.bank_card(rng)
        if rng.random() < 0.5:
            number = " ".join(number[i : i + 4] for i in range(0, len(number), 4))
        return "卡号", number, "CN_BANK_CARD"
    if kind == 3:  # needs its context word to be reported
        return "卡号", luhn_card("8" + "".join(rng.choice("0123456789") for _ in range(14))), "CN_BANK_CARD"
    if kind == 4:
        return "", luhn_card("8" + "".join(rng.choice("0123456789") for _ in range(14))), None
    if kind == 5:
        return "订单号", luhn_card("62" + "".join(rng.choice("0123456789") for _ in range(16))), None
    if kind == 6:
        m = ck.mobile(rng)
        return "手机", rng.choice([m, f"+86 {m[:3]} {m[3:7]} {m[7:]}", f"0086-{m}", f"{m[:3]}-{m[3:7]}-{m[7:]}"]), \
            "CN_MOBILE_PHONE"
    if kind == 7:
        return "流水号", ck.mobile(rng), None
    if kind == 8:
        local = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(1, 12)))
        return "", f"{local}.{rng.randint(1, 99)}@example{rng.randint(1, 9)}.com.cn", "EMAIL_ADDRESS"
    near_miss = ck.near_miss_resident_id(rng)
    while default_scanner().scan_text(near_miss):  # Luhn-valid digits are a (low-score) card
        near_miss = ck.near_miss_resident_id(rng)
    return "", near_miss, None


def _boundaries(size: int) -> list[int]:
    """Offsets where the stream scanner changes buffers: read boundaries, report limits, context carry."""
    out: set[int] = set()
    for chunk in (64, 200):
        for k in range(1, size // chunk + 2):
            read_end = k * chunk
            limit = read_end - scan_mod.OVERLAP_CHARS
            out.update({read_end, limit, limit - scan_mod.CONTEXT_CARRY_CHARS})
    return sorted(b for b in out if 0 < b < size)


def planted_text(seed: int, size: int = 50_000) -> tuple[str, list[tuple[str, int, int]]]:
    """About ``size`` characters of text with PI planted across every kind of boundary; expected spans."""
    rng = random.Random(seed)
    parts: list[str] = []
    expected: list[tuple[str, int, int]] = []
    pos = 0
    for b in _boundaries(size):
        prefix, value, entity = _item(rng)
        if prefix and rng.random() < 0.5:  # the context word further back, still inside the window
            prefix += "".join(rng.choice(FILLER) for _ in range(rng.randint(1, default_rules().window - 6)))
        item = prefix + value
        # place the item so that the boundary falls anywhere from just before the prefix to its end
        start = b - rng.randint(0, len(item))
        gap = start - pos
        if gap < 30:  # too close to the previous item (context words must not reach the next one)
            continue
        parts.append(_filler(rng, gap))
        parts.append(item)
        if entity:
            expected.append((entity, start + len(prefix), start + len(item)))
        pos = start + len(item)
    parts.append(_filler(rng, 40))
    text = "".join(parts)
    return text, expected


@pytest.fixture(scope="module")
def long_text() -> tuple[str, list[tuple[str, int, int]]]:
    return planted_text(20261121)


def test_planted_text_is_as_expected(long_text) -> None:
    text, expected = long_text
    assert 48_000 <= len(text) <= 52_000
    assert len(expected) > 200
    assert {e for e, _, _ in expected} == {"CN_RESIDENT_ID", "CN_BANK_CARD", "CN_MOBILE_PHONE", "EMAIL_ADDRESS"}
    whole = default_scanner().scan_text(text)
    assert [(m.type, m.start, m.end) for m in whole] == expected


@pytest.mark.parametrize("chunk", [64, 200, 1000, 4096])
def test_stream_equals_whole_text_scan(long_text, chunk: int) -> None:
    text, _ = long_text
    whole = default_scanner().scan_text(text)
    streamed = list(scan_text_stream(default_scanner(), io.StringIO(text), chunk=chunk))
    assert [(m.type, m.start, m.end) for m in streamed] == [(m.type, m.start, m.end) for m in whole]
    assert streamed == whole  # same scores and values too
    for m in streamed:
        assert text[m.start : m.end] == m.value


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("chunk", [64, 200])
def test_stream_equals_whole_text_scan_other_seeds(seed: int, chunk: int) -> None:
    text, expected = planted_text(seed, size=12_000)
    streamed = list(scan_text_stream(default_scanner(), io.StringIO(text), chunk=chunk))
    assert [(m.type, m.start, m.end) for m in streamed] == expected


@pytest.mark.parametrize("chunk", [64, 200])
def test_context_word_around_buffer_boundaries(chunk: int) -> None:
    card = luhn_card("8" + "1" * 14)  # needs 卡号 to pass the threshold
    context = "卡号" + "的" * (default_rules().window - 2)  # "卡号" at the far edge of the window
    boundaries = [chunk * 12, chunk * 12 - scan_mod.OVERLAP_CHARS,
                  chunk * 12 - scan_mod.OVERLAP_CHARS - scan_mod.CONTEXT_CARRY_CHARS]
    for b in boundaries:
        for start in range(b - len(context) - 2, b + 3):  # the card starts anywhere around the boundary
            head = "的" * (start - len(context))
            text = head + context + card + "。"
            streamed = [(m.type, m.start, m.end, m.score)
                        for m in scan_text_stream(default_scanner(), io.StringIO(text), chunk=chunk)]
            assert streamed == [("CN_BANK_CARD", start, start + 16, 0.55)], (chunk, b, start)


def test_stream_short_and_empty_inputs() -> None:
    assert list(scan_text_stream(default_scanner(), io.StringIO(""), chunk=64)) == []
    text = f"手机{MOBILE}"
    assert [(m.type, m.start, m.end) for m in scan_text_stream(default_scanner(), io.StringIO(text))] == [
        ("CN_MOBILE_PHONE", 2, 13)
    ]


# ---------------------------------------------------------------------------------------------------
# The CLI
# ---------------------------------------------------------------------------------------------------

runner = CliRunner()
CLI_TEXT = f"张三的身份证号是{KNOWN_ID}，手机+86 138 1234 5678，银行卡{CARD_19}，邮箱zhang.san@example.com。"


def _json_lines(output: str) -> list[dict]:
    lines = output.splitlines()
    assert lines, "no output"
    return [json.loads(line) for line in lines]


def test_cli_scan_stdin_json() -> None:
    result = runner.invoke(app, ["scan", "-", "--json"], input=CLI_TEXT)
    assert result.exit_code == 0, result.output
    rows = _json_lines(result.stdout)
    mobile = "+86 138 1234 5678"
    expected = [
        ("CN_RESIDENT_ID", KNOWN_ID, 1.0, "general", "110105********002X"),
        ("CN_MOBILE_PHONE", mobile, 0.95, "general", "138****5678"),
        ("CN_BANK_CARD", CARD_19, 1.0, "financial_account", "622202*********0128"),
        ("EMAIL_ADDRESS", "zhang.san@example.com", 1.0, "general", "z***@example.com"),
    ]
    assert [set(r) for r in rows] == [{"type", "start", "end", "score", "category", "masked"}] * 4
    for row, (entity, raw, score, category, masked) in zip(rows, expected, strict=True):
        start = CLI_TEXT.index(raw)  # a character offset, after Chinese text
        assert row == {"type": entity, "start": start, "end": start + len(raw), "score": score,
                       "category": category, "masked": masked}
        assert raw not in result.stdout
    assert rows[0]["start"] == 8  # 8 characters before it, 24 bytes in UTF-8


def test_cli_scan_reveal_adds_value() -> None:
    result = runner.invoke(app, ["scan", "-", "--json", "--reveal"], input=CLI_TEXT)
    assert result.exit_code == 0, result.output
    rows = _json_lines(result.stdout)
    assert [r["value"] for r in rows] == [KNOWN_ID, "+86 138 1234 5678", CARD_19, "zhang.san@example.com"]
    for r in rows:
        assert CLI_TEXT[r["start"] : r["end"]] == r["value"]
        assert r["masked"] != r["value"]


def test_cli_scan_human_output_is_masked() -> None:
    result = runner.invoke(app, ["scan", "-"], input=CLI_TEXT)
    assert result.exit_code == 0, result.output
    for raw in (KNOWN_ID, CARD_19, "zhang.san@example.com", "1234 5678"):
        assert raw not in result.stdout
    assert "110105********002X" in result.stdout
    assert "622202*********0128" in result.stdout
    assert "4 entities" in result.stderr


def test_cli_scan_jsonl_file_reports_field_and_record(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    path.write_text(
        json.dumps([{"姓名": "张三", "身份证号": KNOWN_ID}, {"备注": f"手机号码{MOBILE}"}], ensure_ascii=False)
        + "\n\n"
        + json.dumps({"银行卡": CARD_19, "vip": True}, ensure_ascii=False)
        + "\n",
        "utf-8",
    )
    result = runner.invoke(app, ["scan", str(path), "--json"])
    assert result.exit_code == 0, result.output
    rows = _json_lines(result.stdout)
    assert [(r["type"], r["field"], r["record"], r["start"], r["end"], r["masked"]) for r in rows] == [
        ("PERSON", "姓名", 0, 0, 2, "张*"),
        ("CN_RESIDENT_ID", "身份证号", 0, 0, 18, "110105********002X"),
        ("CN_MOBILE_PHONE", "备注", 1, 4, 15, "138****5678"),
        ("CN_BANK_CARD", "银行卡", 2, 0, 19, "622202*********0128"),
    ]
    assert all("value" not in r for r in rows)
    for raw in (KNOWN_ID, MOBILE, CARD_19):
        assert raw not in result.stdout


def test_cli_scan_json_flow_event(tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    text = "请联系客服邮箱kefu@example.com"
    doc = {"event_id": "e1", "records": [{"手机": MOBILE}], "text": text}
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2), "utf-8")
    result = runner.invoke(app, ["scan", str(path), "--json", "--reveal"])
    assert result.exit_code == 0, result.output
    rows = _json_lines(result.stdout)
    assert rows == [
        {"type": "CN_MOBILE_PHONE", "start": 0, "end": 11, "score": 0.95, "category": "general",
         "masked": "138****5678", "field": "手机", "record": 0, "value": MOBILE},
        {"type": "EMAIL_ADDRESS", "start": 7, "end": 23, "score": 1.0, "category": "general",
         "masked": "k***@example.com", "value": "kefu@example.com"},
    ]


def test_cli_scan_jsonl_record_index_identifies_the_line(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    path.write_text("".join(json.dumps({"tel": f"1381234567{i}"}) + "\n" for i in range(3)), "utf-8")
    result = runner.invoke(app, ["scan", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert [r["record"] for r in _json_lines(result.stdout)] == [0, 1, 2]


def test_cli_scan_records_flag_on_stdin_single_line() -> None:
    doc = json.dumps([{"tel": MOBILE}, {"id": KNOWN_ID}])
    result = runner.invoke(app, ["scan", "-", "--records", "--json"], input=doc)
    assert result.exit_code == 0, result.output
    rows = _json_lines(result.stdout)
    assert [(r["type"], r["field"], r["record"]) for r in rows] == [
        ("CN_MOBILE_PHONE", "tel", 0), ("CN_RESIDENT_ID", "id", 1),
    ]  # fmt: skip


def test_cli_scan_records_flag_on_stdin_multiline_json() -> None:
    doc = json.dumps([{"tel": MOBILE}, {"id": KNOWN_ID}], indent=2)
    result = runner.invoke(app, ["scan", "-", "--records", "--json"], input=doc)
    assert result.exit_code == 0, result.output
    assert [r["type"] for r in _json_lines(result.stdout)] == ["CN_MOBILE_PHONE", "CN_RESIDENT_ID"]


def test_cli_scan_bad_json_fails(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("{not json\n", "utf-8")
    result = runner.invoke(app, ["scan", str(path), "--json"])
    assert result.exit_code == 2  # input error (issue 16: exit 1 now means "--fail-on matched")
    assert "not JSON" in result.stderr


def test_cli_scan_long_stdin_offsets(long_text) -> None:
    text, expected = long_text
    result = runner.invoke(app, ["scan", "-", "--json"], input=text)
    assert result.exit_code == 0
    rows = _json_lines(result.stdout)
    assert [(r["type"], r["start"], r["end"]) for r in rows] == expected
    for r in rows:
        assert r["masked"] != text[r["start"] : r["end"]]
        assert text[r["start"] : r["end"]] not in result.stdout
