"""Issue 16 point 2: allow/deny lists and custom YAML recognizers — loading, validation, effect, reload."""

from __future__ import annotations

from pathlib import Path

import pytest
from stdnum import luhn

from flowwatch.detection.config import ConfigError, load_config, normalise, parse_config, value_hash
from flowwatch.detection.custom import LiveSettings, category_table, configured_scanner
from flowwatch.detection.scanner import default_scanner

TEXT = "测试账号13800138000，客户手机13912345678，卡号6222021234567890128。"


def found(config: dict[str, object] | None, text: str = TEXT, processor: str | None = None) -> list[tuple[str, str]]:
    scanner = configured_scanner(parse_config(config) if config is not None else None, processor)
    return [(m.type, m.value) for m in scanner.scan_text(text)]


def test_without_settings_the_default_scanner_is_used() -> None:
    assert configured_scanner(None) is default_scanner()
    assert configured_scanner(parse_config({})) is default_scanner()
    assert ("CN_MOBILE_PHONE", "13800138000") in found(None)


def test_allow_value_is_hashed_and_never_kept() -> None:
    config = parse_config({"allow": [{"value": "138-0013-8000", "note": "test account"}]})
    stored = config.stored()
    assert "13800138000" not in repr(stored) and "138-0013-8000" not in repr(stored)
    assert stored["allow"][0]["sha256"] == value_hash("13800138000")
    assert normalise("１３８ 0013-8000") == "13800138000"


@pytest.mark.parametrize(
    "entry",
    [
        {"value": "13800138000"},
        {"value": "13800138000", "entity": "CN_MOBILE_PHONE"},
        {"sha256": value_hash("13800138000")},
        {"pattern": r"1380013\d{4}", "entity": "CN_MOBILE_PHONE"},
    ],
)
def test_allow_list_suppresses_only_the_listed_value(entry: dict[str, str]) -> None:
    result = found({"allow": [entry]})
    assert ("CN_MOBILE_PHONE", "13800138000") not in result
    assert ("CN_MOBILE_PHONE", "13912345678") in result
    assert ("CN_BANK_CARD", "6222021234567890128") in result


def test_allow_entry_of_another_entity_does_not_apply() -> None:
    assert ("CN_MOBILE_PHONE", "13800138000") in found({"allow": [{"value": "13800138000", "entity": "EMAIL_ADDRESS"}]})


def test_processor_lists_apply_to_that_processor_only() -> None:
    config = {"processors": {"shopfast": {"allow": [{"value": "13800138000"}]}}}
    assert ("CN_MOBILE_PHONE", "13800138000") not in found(config, processor="shopfast")
    assert ("CN_MOBILE_PHONE", "13800138000") in found(config, processor="other")
    assert ("CN_MOBILE_PHONE", "13800138000") in found(config)


def test_deny_pattern_is_reported_as_its_entity() -> None:
    deny = {"deny": [{"pattern": r"内部编号\d{6}", "entity": "INTERNAL_ID", "score": 0.8}]}
    result = found(deny, "见内部编号123456。")
    assert result == [("INTERNAL_ID", "内部编号123456")]


def test_deny_value_reports_a_candidate_below_the_threshold() -> None:
    visa = "411111111111111"
    visa += luhn.calc_check_digit(visa)  # Luhn-valid, non-UnionPay: 0.45 alone, needs a context word
    text = f"参考值{visa}。"
    assert not found(None, text)
    assert found({"deny": [{"value": visa}]}, text) == [("CN_BANK_CARD", visa)]


def test_custom_recognizer_with_context_checksum_and_category() -> None:
    body = "12345678901234"
    good = "M" + body + luhn.calc_check_digit(body)
    bad = "M" + body + str((int(luhn.calc_check_digit(body)) + 1) % 10)
    config = parse_config({"recognizers": [
        {"entity": "EMPLOYEE_ID", "pattern": r"EMP\d{6}", "context": ["工号"], "score": 0.4},
        {"entity": "MEMBER_CARD", "pattern": r"M\d{15}", "checksum": "luhn", "category": "financial_account",
         "score": 0.7},
    ]})  # fmt: skip
    scanner = configured_scanner(config)
    text = f"工号EMP123456；会员卡{good}，旧卡{bad}；另见EMP654321"
    values = [(m.type, m.value) for m in scanner.scan_text(text)]
    assert ("EMPLOYEE_ID", "EMP123456") in values  # 0.4 + context boost
    assert ("EMPLOYEE_ID", "EMP654321") not in values  # no context word within the window: 0.4 < 0.5
    assert ("MEMBER_CARD", good) in values and ("MEMBER_CARD", bad) not in values
    assert category_table(config).category("MEMBER_CARD") == "financial_account"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"allow": [{"value": "1", "pattern": "1"}]}, "allow[0]: give exactly one of value, sha256, pattern"),
        ({"allow": [{"sha256": "abc"}]}, "allow[0].sha256: sha256 must be 64 lower-case hex characters"),
        ({"deny": [{"pattern": "x+"}]}, "deny[0]: a deny pattern needs the entity"),
        ({"recognizers": [{"entity": "X_ID", "pattern": "("}]}, "recognizers[0].pattern: pattern does not compile"),
        ({"recognizers": [{"entity": "X_ID", "pattern": "a*"}]}, "matches the empty string"),
        ({"recognizers": [{"entity": "x", "pattern": "a"}]}, "recognizers[0].entity: entity 'x' must be UPPER_SNAKE"),
        ({"recognizers": [{"entity": "X_ID", "pattern": "a", "checksum": "crc"}]}, "unknown checksum 'crc'"),
        ({"recognizers": [{"entity": "X_ID", "pattern": "a", "score": 2}]}, "recognizers[0].score"),
        ({"recognizers": [{"entity": "X_ID", "pattern": "a"}] * 2}, "defined twice: X_ID"),
        ({"alow": []}, "alow: Extra inputs are not permitted"),
        ([1, 2], "must be a mapping"),
    ],
)
def test_invalid_documents_are_refused_with_the_path(document: object, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(document)
    assert message in str(err.value), str(err.value)


def test_builtin_entity_names_and_unknown_categories_are_refused() -> None:
    with pytest.raises(ConfigError, match="CN_MOBILE_PHONE' is a built-in entity"):
        configured_scanner(parse_config({"recognizers": [{"entity": "CN_MOBILE_PHONE", "pattern": "1"}]}))
    with pytest.raises(ConfigError, match="unknown category 'secret'"):
        configured_scanner(parse_config({"recognizers": [{"entity": "X_ID", "pattern": "1", "category": "secret"}]}))


def test_yaml_file_loads_and_bad_yaml_is_a_clear_error(tmp_path: Path) -> None:
    good = tmp_path / "detection.yaml"
    good.write_text(
        'allow:\n  - {value: "13800138000", note: test}\nrecognizers:\n'
        '  - {entity: EMPLOYEE_ID, pattern: "EMP\\\\d{6}", context: [工号], score: 0.9}\n',
        "utf-8",
    )
    config = load_config(good)
    assert [(m.type, m.value) for m in configured_scanner(config).scan_text("工号EMP123456，13800138000")] == [
        ("EMPLOYEE_ID", "EMP123456")
    ]
    bad = tmp_path / "bad.yaml"
    bad.write_text("allow: [unclosed\n", "utf-8")
    with pytest.raises(ConfigError, match=str(bad)):
        load_config(bad)


def test_live_settings_swap_whole_and_keep_the_previous_on_error() -> None:
    live = LiveSettings()
    assert ("CN_MOBILE_PHONE", "13800138000") in [(m.type, m.value) for m in live.scanner().scan_text(TEXT)]
    assert live.install({"allow": [{"value": "13800138000"}]}) is True
    assert live.install({"allow": [{"value": "13800138000"}]}) is False  # same document: no rebuild
    assert ("CN_MOBILE_PHONE", "13800138000") not in [(m.type, m.value) for m in live.scanner().scan_text(TEXT)]
    live.refresh({"recognizers": [{"entity": "bad", "pattern": "("}]})  # refused, logged
    assert live.config is not None and len(live.config.allow) == 1
    live.install(None)  # no document: back to the fallback (none)
    assert live.config is None
