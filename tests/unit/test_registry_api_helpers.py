"""The registry and export-ledger API's pure parts and request validation, without Kafka or Elasticsearch:
the registry key, the entry a registration produces, write permissions, nested filters, current windows;
PUT routes through a fake producer (the principal injected), so bodies, roles and 503s are checked here."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.testclient import TestClient
from pydantic import ValidationError

from flowwatch.apikeys import Role
from flowwatch.registry.models import RESTRICTIONS_KEY, RegistryEntry, RestrictionList
from flowwatch.rules.export_pack import load_export_packs
from flowwatch.settings import ApiSettings
from flowwatch_api.app import create_app
from flowwatch_api.auth import Principal, app_es, current_principal
from flowwatch_api.exports import check_may_read, current_window_ids
from flowwatch_api.producer import BrokerUnavailable
from flowwatch_api.registry import (
    Registration,
    build_entry,
    check_may_write,
    mechanism_filter,
    registry_key,
)

NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
PROFILE = {"processor_id": "p-bank", "gba_city": "Shenzhen"}
MECHANISM = {"id": "sc-1", "type": "standard_contract", "issued_on": "2026-01-05", "expires_on": "2028-01-04"}

ADMIN = Principal(key_id="k1", role=Role.ADMIN, name="admin-1")
SOC = Principal(key_id="k2", role=Role.SOC_ANALYST, name="analyst")
REGULATOR = Principal(key_id="k3", role=Role.REGULATOR)
BANK = Principal(key_id="k4", role=Role.PLATFORM, processor_id="p-bank")
SHOP = Principal(key_id="k5", role=Role.PLATFORM, processor_id="p-shop", name="shop-ops")


# ---------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------


def test_registry_key_is_the_json_string() -> None:
    assert registry_key("p-bank") == '"p-bank"'
    assert registry_key(RESTRICTIONS_KEY).encode() == json.dumps(RESTRICTIONS_KEY).encode()
    assert json.loads(registry_key("平台 \"x\"")) == "平台 \"x\""


def test_build_entry() -> None:
    body = Registration.model_validate({"profile": {**PROFILE, "gba_city": "深圳市"}, "mechanisms": [MECHANISM]})
    got = build_entry("p-bank", body, "admin-1", NOW)
    assert got == RegistryEntry(processor_id="p-bank", profile=body.profile, mechanisms=body.mechanisms,
                                updated_at=NOW, updated_by="admin-1")
    assert got.profile.gba_city == "Shenzhen"  # canonical
    with pytest.raises(RequestValidationError) as err:  # answered 422 with FastAPI's error shape
        build_entry("p-shop", body, "x", NOW)
    assert "p-shop" in err.value.errors()[0]["msg"]
    reserved = Registration.model_validate({"profile": {"processor_id": RESTRICTIONS_KEY}})
    with pytest.raises(RequestValidationError):
        build_entry(RESTRICTIONS_KEY, reserved, "x", NOW)


@pytest.mark.parametrize(
    "body",
    [
        {"profile": PROFILE, "mechanisms": [MECHANISM, MECHANISM]},  # duplicate mechanism id
        {"profile": PROFILE, "extra": 1},
        {"profile": {**PROFILE, "gba_city": "Taipei"}},
        {"profile": {**PROFILE, "colour": "red"}},
        {"profile": PROFILE, "mechanisms": [{**MECHANISM, "type": "none"}]},
        {"profile": PROFILE, "mechanisms": [{**MECHANISM, "type": "handshake"}]},
        {"profile": PROFILE, "mechanisms": [{**MECHANISM, "expires_on": "2025-01-01"}]},
        {"profile": PROFILE, "mechanisms": [{**MECHANISM, "status": "paused"}]},
        {"mechanisms": []},
    ],
    ids=["duplicate-ids", "extra-field", "not-gba", "profile-extra", "type-none", "unknown-type", "expiry-before-issue",
         "bad-status", "no-profile"],
)
def test_invalid_registrations(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Registration.model_validate(body)


def test_write_permissions() -> None:
    check_may_write(ADMIN, "p-shop")
    check_may_write(BANK, "p-bank")
    for principal, processor in [(BANK, "p-shop"), (SOC, "p-bank"), (REGULATOR, "p-bank"),
                                 (Principal(key_id="k", role=Role.PLATFORM), "p-bank")]:
        with pytest.raises(HTTPException) as err:
            check_may_write(principal, processor)
        assert err.value.status_code == 403


def test_read_permissions_of_the_current_ledger() -> None:
    for principal in (ADMIN, SOC, REGULATOR, BANK):
        check_may_read(principal, "p-bank")
    with pytest.raises(HTTPException) as err:
        check_may_read(SHOP, "p-bank")
    assert err.value.status_code == 404


def test_mechanism_filter_shapes() -> None:
    assert mechanism_filter(None, None) == []
    [clause] = mechanism_filter(["security_assessment"], True)  # type: ignore[list-item]
    assert clause["nested"]["path"] == "mechanisms"
    assert clause["nested"]["query"]["bool"]["filter"] == [
        {"terms": {"mechanisms.type": ["security_assessment"]}}, {"term": {"mechanisms.status": "active"}},
    ]


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 6, 1, tzinfo=UTC), ["cn_export_2024:2026"]),
        (datetime(2025, 12, 31, 16, 0, tzinfo=UTC), ["cn_export_2024:2026"]),  # 00:00 on 1 Jan in Shanghai
        (datetime(2025, 12, 31, 15, 59, tzinfo=UTC), ["cn_export_2024:2025"]),
        (datetime(2024, 3, 20, 12, 0, tzinfo=UTC), ["cn_export_2022:2023-2024"]),  # before the 2024 Provisions
    ],
)
def test_current_window_ids(now: datetime, expected: list[str]) -> None:
    assert current_window_ids(now) == expected
    assert current_window_ids(now, tuple(load_export_packs())) == expected


# ---------------------------------------------------------------------------------------------------
# PUT routes: validation, roles, what is produced, 503
# ---------------------------------------------------------------------------------------------------


class FakeProducer:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, bytes]] = []
        self.fail = fail

    def send(self, key: str, value: bytes) -> None:
        if self.fail:
            raise BrokerUnavailable("down")
        self.sent.append((key, value))

    def close(self) -> None:
        pass


class FakeEs:
    """Stands in for Elasticsearch: records the audit records the routes write."""

    def __init__(self) -> None:
        self.indexed: list[tuple[str, dict[str, Any]]] = []

    def index(self, index: str, id: str, document: dict[str, Any], **_kw: Any) -> None:
        self.indexed.append((index, document))


class Api:
    def __init__(self, client: TestClient, producer: FakeProducer, es: FakeEs) -> None:
        self.client, self.producer, self.es = client, producer, es
        self.principal = ADMIN

    def put(self, path: str, body: Any, principal: Principal) -> Any:
        self.principal = principal
        return self.client.put(path, json=body)


@pytest.fixture
def api() -> Iterator[Api]:
    app = create_app(ApiSettings(es_url="http://127.0.0.1:9", kafka_bootstrap="127.0.0.1:9"))
    producer = FakeProducer()
    with TestClient(app) as client:
        app.state.registry_producer = producer
        es = FakeEs()
        holder = Api(client, producer, es)
        app.dependency_overrides[current_principal] = lambda: holder.principal
        app.dependency_overrides[app_es] = lambda: es
        yield holder


def test_put_processor_produces_the_entry(api: Api) -> None:
    resp = api.put("/v1/processors/p-bank", {"profile": PROFILE, "mechanisms": [MECHANISM]}, BANK)
    assert resp.status_code == 202, resp.text
    [(key, value)] = api.producer.sent
    assert key == '"p-bank"'
    produced = RegistryEntry.model_validate_json(value)
    assert produced == RegistryEntry.model_validate(resp.json())
    assert produced.updated_by == "key:k4" and produced.mechanisms[0].id == "sc-1"
    assert abs((produced.updated_at - datetime.now(UTC)).total_seconds()) < 60
    [(index, audit)] = api.es.indexed  # and audited: who, what, which processor
    assert index.endswith("-audit") and audit["action"] == "processor.put" and audit["target_id"] == "p-bank"
    assert audit["actor"]["key_id"] == "k4" and audit["details"]["mechanisms"] == ["sc-1"]


@pytest.mark.parametrize(
    ("path", "body", "principal", "code"),
    [
        ("/v1/processors/p-bank", {"profile": PROFILE}, SHOP, 403),
        ("/v1/processors/p-bank", {"profile": PROFILE}, SOC, 403),
        ("/v1/processors/p-bank", {"profile": PROFILE}, REGULATOR, 403),
        ("/v1/processors/p-shop", {"profile": PROFILE}, ADMIN, 422),  # profile of another processor
        ("/v1/processors/p-bank", {"profile": PROFILE, "mechanisms": [{"id": "x"}]}, ADMIN, 422),
        ("/v1/processors/p-bank", {"profile": {**PROFILE, "gba_city": "Paris"}}, BANK, 422),
        ("/v1/processors/p-bank", [], ADMIN, 422),
        (f"/v1/processors/{RESTRICTIONS_KEY}", {"profile": {"processor_id": RESTRICTIONS_KEY}}, ADMIN, 422),
        ("/v1/restrictions", {"recipients": [{"name": "X"}]}, SOC, 403),
        ("/v1/restrictions", {"recipients": [{"name": "X"}]}, BANK, 403),
        ("/v1/restrictions", {"recipients": [{"name": ""}]}, ADMIN, 422),
        ("/v1/restrictions", {"recipients": [{"name": "X", "why": "y"}]}, ADMIN, 422),
        ("/v1/restrictions", {}, ADMIN, 422),
    ],
    ids=["other-platform", "soc", "regulator", "profile-mismatch", "bad-mechanism", "not-gba", "not-object",
         "reserved-key", "restrictions-soc", "restrictions-platform", "empty-name", "extra-field", "no-recipients"],
)
def test_put_refusals(api: Api, path: str, body: Any, principal: Principal, code: int) -> None:
    resp = api.put(path, body, principal)
    assert resp.status_code == code, resp.text
    assert api.producer.sent == []


def test_put_restrictions_produces_the_list(api: Api) -> None:
    body = {"recipients": [{"name": "Blocked Corp", "reason": "PIPL Art. 42", "source": "CAC list 2026-1"},
                           {"name": "某某数据公司"}]}
    resp = api.put("/v1/restrictions", body, ADMIN)
    assert resp.status_code == 202, resp.text
    [(key, value)] = api.producer.sent
    assert key == json.dumps(RESTRICTIONS_KEY)
    produced = RestrictionList.model_validate_json(value)
    assert produced == RestrictionList.model_validate(resp.json()) and produced.updated_by == "admin-1"
    assert [r.name for r in produced.recipients] == ["Blocked Corp", "某某数据公司"]


def test_put_answers_503_when_kafka_is_down(api: Api) -> None:
    api.producer.fail = True
    for path, body in [("/v1/processors/p-bank", {"profile": PROFILE}), ("/v1/restrictions", {"recipients": []})]:
        resp = api.put(path, body, ADMIN)
        assert resp.status_code == 503 and resp.headers["retry-after"] == "5"
        assert resp.json()["detail"] == "event bus unavailable; nothing recorded"
