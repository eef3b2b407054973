"""Hand-made flow events with known PI, for asserting exact findings."""

from __future__ import annotations

import json
import random
from datetime import datetime
from typing import Any

from flowwatch_tools.samples.checksums import bank_card, mobile, resident_id


def event(i: int, processor: str, rng: random.Random, region: str = "US") -> dict:
    """A transfer event with one record holding an ID, a card and a mobile, and text with an e-mail."""
    return {
        "schema_version": "1.0",
        "event_id": f"{processor}-evt-{i:06d}",
        "kind": "transfer",
        "occurred_at": "2026-11-20T09:30:00+08:00",
        "processor": {"id": processor, "name": f"平台{processor}"},
        "source": {"region": "CN"},
        "destination": {"region": region, "recipient": "Acme Inc."},
        "activity": "export",
        "records": [{"身份证号": resident_id(rng), "银行卡号": bank_card(rng), "手机号": mobile(rng),
                     "订单号": f"DD{i:012d}"}],
        "text": f"请联系客服邮箱 user{i}@example.com。",
    }


def encode(doc: dict) -> bytes:
    """UTF-8 JSON bytes of a document."""
    return json.dumps(doc, ensure_ascii=False).encode()


INVALID = [
    b"{not json",
    json.dumps({"schema_version": "1.0", "event_id": "bad-1", "kind": "transfer",
                "occurred_at": "yesterday", "processor": {"id": "p-a"}}).encode(),
    json.dumps({"schema_version": "1.0", "event_id": "bad-2", "kind": "incident",
                "occurred_at": "2026-11-20T09:30:00+08:00", "processor": {"id": "p-a"}}).encode(),
]


def at(doc: dict[str, Any]) -> datetime:
    """The ``occurred_at`` of a flow event document as an aware datetime (its findings' daily index)."""
    return datetime.fromisoformat(str(doc["occurred_at"]).replace("Z", "+00:00"))
