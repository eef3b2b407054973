"""The same pipeline on Tansu, a second Kafka implementation: nothing depends on one broker's quirks."""

from __future__ import annotations

import random

import pytest

from flowwatch.es_indices import findings_index
from flowwatch.ids import finding_id
from flowwatch.stored_form import FINDING, unpack
from flowwatch_tools.replay import account, produce
from tests.flows import INVALID, at, encode, event
from tests.integration.conftest import es_of

pytestmark = pytest.mark.integration


def test_pipeline_on_tansu(make_stack) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack(broker="tansu", workers=2, api=False)
    assert stack.state.kafka_engine == "tansu"
    es = es_of(stack)
    prefix = stack.state.index_prefix
    rng = random.Random(3)
    docs = [event(i, f"t-{i % 4}", rng) for i in range(400)]
    expected = produce(stack.state.kafka_bootstrap, stack.topics().flow_events, [encode(d) for d in docs] + INVALID)

    findings, dead, missing = account(es, prefix, expected, timeout=240)

    assert missing == []
    assert len(findings) == 400 and len(dead) == len(INVALID)
    fid = finding_id("t-1", docs[1]["event_id"])
    got = unpack(es.get(index=findings_index(prefix, at(docs[1])), id=fid)["_source"], FINDING)
    assert got["entity_counts"] == {"CN_BANK_CARD": 1, "CN_MOBILE_PHONE": 1, "CN_RESIDENT_ID": 1, "EMAIL_ADDRESS": 1}
