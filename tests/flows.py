"""Hand-made flow events with known PI, for asserting exact findings."""

from __future__ import annotations

import json
import random

from stdnum import luhn
from stdnum.cn import ric


def resident_id(rng: random.Random, region: str = "110105", birth: str = "19850612") -> str:
    """A valid 18-character resident ID (MOD 11-2) with a random sequence number."""
    body = f"{region}{birth}{rng.randrange(1000):03d}"
    return body + ric.calc_check_digit(body + "0")  # stdnum expects the check position present


def unionpay_card(rng: random.Random, length: int = 19) -> str:
    """A Luhn-valid UnionPay card number (prefix 62)."""
    body = "62" + "".join(str(rng.randrange(10)) for _ in range(length - 3))
    return body + luhn.calc_check_digit(body)


def mobile(rng: random.Random) -> str:
    """A valid mainland mobile number (139 range)."""
    return "139" + "".join(str(rng.randrange(10)) for _ in range(8))


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
        "records": [{"身份证号": resident_id(rng), "银行卡号": unionpay_card(rng), "手机号": mobile(rng),
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
