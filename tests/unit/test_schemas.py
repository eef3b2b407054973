"""The JSON Schemas in schemas/ and the Python models agree: same files, same verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from pydantic import ValidationError

from flowwatch.models import INPUT_MODELS, OUTPUT_MODELS, FlowEvent, json_schema_of
from flowwatch_tools.samples.generator import generate

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


@pytest.mark.parametrize("filename", sorted({**INPUT_MODELS, **OUTPUT_MODELS}))
def test_committed_schema_equals_model(filename: str) -> None:
    committed = json.loads((SCHEMAS / filename).read_text())
    model = {**INPUT_MODELS, **OUTPUT_MODELS}[filename]
    assert committed == json_schema_of(model), f"run `flowwatch schemas schemas` and commit {filename}"


def _schema_accepts(validator: Draft202012Validator, raw: bytes) -> bool:
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError:
        return False
    return validator.is_valid(doc)


def _model_accepts(raw: bytes) -> bool:
    try:
        FlowEvent.model_validate_json(raw)
    except ValidationError:
        return False
    return True


def test_schema_and_model_give_the_same_verdict_on_the_sample_flows() -> None:
    schema = json.loads((SCHEMAS / "flow-event.v1.json").read_text())
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    verdicts = {"both": 0, "neither": 0}
    for raw in generate(1500, seed=99):
        model, spec = _model_accepts(raw), _schema_accepts(validator, raw)
        assert model == spec, raw[:300]
        verdicts["both" if model else "neither"] += 1
    assert verdicts["both"] > 1000 and verdicts["neither"] > 0


HAND_MADE = [
    ({"kind": "incident"}, False),  # incident without its object
    ({"processor": {"id": "has space"}}, False),
    ({"destination": {"region": "China"}}, False),
    ({"destination": {"region": "CN-GD"}}, True),
    ({"subjects": {"keys": ["a" * 64], "scheme": "md5"}}, False),
    ({"records": [{"a": {"nested": 1}}]}, False),  # records are flat
    ({"unknown_field": 1}, False),
    ({"occurred_at": "2026-11-20T10:00:00"}, False),  # no offset: not RFC 3339
    ({"dataset": {"record_count": -1}}, False),
    ({"occurred_at": 1795000000}, False),  # epoch numbers are refused by both
]


@pytest.mark.parametrize(("patch", "valid"), HAND_MADE)
def test_hand_made_edge_cases_agree(patch: dict, valid: bool) -> None:  # type: ignore[type-arg]
    base = {"schema_version": "1.0", "event_id": "e1", "kind": "transfer",
            "occurred_at": "2026-11-20T10:00:00+08:00", "processor": {"id": "p1"}}
    raw = json.dumps({**base, **patch}).encode()
    validator = Draft202012Validator(json.loads((SCHEMAS / "flow-event.v1.json").read_text()),
                                     format_checker=FormatChecker())
    assert _model_accepts(raw) is valid
    assert _schema_accepts(validator, raw) is valid
