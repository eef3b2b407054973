"""Benchmark events: valid flow events of about 1 KB each with PI in records and text."""

from __future__ import annotations

import json
import random

from flowwatch_tools.samples.checksums import bank_card, resident_id

TARGET_BYTES = 1024
FILLER = "本次数据传输用于订单履约与售后服务，接收方已签署数据处理协议并承诺按约定目的使用。"


def dense_text(size: int, rng: random.Random) -> str:
    """About ``size`` bytes (UTF-8) of PII-dense Chinese text: a resident ID, a mobile number and a bank card
    in every line of ~110 bytes."""
    lines = []
    total = 0
    while total < size:
        line = (f"客户{rng.randrange(10**4)}身份证号{resident_id(rng)}，手机号139{rng.randrange(10**8):08d}，"
                f"银行卡{bank_card(rng)}。")
        lines.append(line)
        total += len(line.encode())
    return "".join(lines)


def make_event(i: int, run: str, rng: random.Random, size: int = TARGET_BYTES, dense: bool = False) -> bytes:
    """One flow event of about ``size`` bytes (UTF-8 JSON; default ~1 KB); ``run`` makes event ids unique per
    benchmark run. ``dense``: the padding text is PII-dense (``dense_text``) instead of plain prose."""
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
    room = max(0, size - base)
    if dense and room:
        doc["text"] = dense_text(room, rng).encode()[:room].decode(errors="ignore")
    else:
        doc["text"] = (FILLER * (room // len(FILLER.encode()) + 1)).encode()[:room].decode(errors="ignore")
    return json.dumps(doc, ensure_ascii=False).encode()
