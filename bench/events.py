"""Benchmark events: valid flow events of about 1 KB each with PI in records and text."""

from __future__ import annotations

import json
import random

from flowwatch.samples.checksums import bank_card, resident_id

TARGET_BYTES = 1024
FILLER = "本次数据传输用于订单履约与售后服务，接收方已签署数据处理协议并承诺按约定目的使用。"


def make_event(i: int, run: str, rng: random.Random) -> bytes:
    """One ~1 KB flow event (UTF-8 JSON); ``run`` makes event ids unique per benchmark run."""
    processor = f"bench-{i % 16}"
    doc = {
        "schema_version": "1.0",
        "event_id": f"{run}-{i:08d}",
        "kind": "transfer",
        "occurred_at": "2026-11-20T09:30:00+08:00",
        "processor": {"id": processor, "name": "基准平台"},
        "source": {"region": "CN", "system": "orders"},
        "destination": {"region": "SG", "recipient": "Fulfilment Pte. Ltd."},
        "activity": "export",
        "records": [
            {"姓名": "王小明", "身份证号": resident_id(rng), "手机号": f"139{rng.randrange(10**8):08d}",
             "银行卡号": bank_card(rng), "订单号": f"DD{rng.randrange(10**12):012d}", "金额": "128.50"},
            {"姓名": "李华", "手机号": f"137{rng.randrange(10**8):08d}", "email": f"user{i}@example.cn"},
        ],
        "text": "",
    }
    base = len(json.dumps(doc, ensure_ascii=False).encode())
    room = max(0, TARGET_BYTES - base)
    doc["text"] = (FILLER * (room // len(FILLER.encode()) + 1)).encode()[:room].decode(errors="ignore")
    return json.dumps(doc, ensure_ascii=False).encode()
