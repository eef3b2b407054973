"""``/v1/detection-config``: allow/deny lists and custom recognizers, hot-reloaded by the detector (issue 16).

``PUT`` validates the whole settings document (``flowwatch.detection.config``; 422 lists every problem with
its path), replaces plain list values by their SHA-256, produces the result to the compacted
``detection-settings`` topic (``flowwatch.detection.settings_topic``) and writes an audit record; every
detector worker follows the topic and uses the new settings from its next batch on. ``PUT
…/processors/{processor_id}`` replaces one processor's lists (admin, or that processor's platform key).
``GET`` reads the record back from the topic. Plain list values never reach Kafka, the audit log or a
response.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Annotated, Any

from confluent_kafka import KafkaException
from elasticsearch import Elasticsearch
from fastapi import APIRouter, Body, HTTPException, Path, Request, status
from fastapi.exceptions import RequestValidationError

from flowwatch.apikeys import Role
from flowwatch.audit import AuditRecord, write_audit
from flowwatch.cluster import ClusterError, ensure_topics
from flowwatch.detection.categories import default_table
from flowwatch.detection.config import ConfigError, DetectionConfig, Lists, parse_config
from flowwatch.detection.custom import BUILTIN_ENTITIES
from flowwatch.detection.settings_topic import SETTINGS_KEY, SETTINGS_TOPIC, encoded_key, read_latest
from flowwatch.settings import ApiSettings
from flowwatch_api.auth import BAD_REQUEST, AuthFirstRoute, Principal, actor_of
from flowwatch_api.deps import AdminPrincipal, AllTenantsReader, EsDep, PublisherPrincipal, SettingsDep
from flowwatch_api.producer import BrokerUnavailable, UpdateProducer

router = APIRouter(tags=["detection"], route_class=AuthFirstRoute, responses=BAD_REQUEST)
RETRY_AFTER_SECONDS = "5"
_lock = threading.Lock()  # read-modify-write of the per-processor route


def _unavailable(what: str) -> HTTPException:
    return HTTPException(status_code=status.HTTP_503_SERVICE_UNAVAILABLE, detail=f"{what}; nothing recorded",
                         headers={"Retry-After": RETRY_AFTER_SECONDS})  # fmt: skip


def validated(document: Any) -> DetectionConfig:
    """The settings of ``document``, checked against the built-in entities and the category table.
    Raises RequestValidationError: a 422 in FastAPI's documented shape, one item per problem with its path
    (``loc`` ``["body", "recognizers[0].pattern"]``, ``msg`` "pattern does not compile: …")."""
    try:
        config = parse_config(document, "body")
        config.check_against(set(BUILTIN_ENTITIES), default_table())
    except ConfigError as exc:
        errors = []
        for problem in exc.problems:
            where, _, msg = problem.partition(": ")
            errors.append({"type": "value_error", "loc": ("body", where), "msg": msg or where, "input": None})
        raise RequestValidationError(errors) from None
    return config


def _publish(request: Request, config: DetectionConfig, by: str) -> dict[str, Any]:
    """Produce ``config`` (stamped now, by ``by``) and return the stored form. Raises HTTPException 503."""
    settings: ApiSettings = request.app.state.settings
    stamped = config.model_copy(update={"updated_at": datetime.now(UTC).isoformat(), "updated_by": by})
    stored = stamped.stored()
    producer = UpdateProducer(settings.kafka_bootstrap, SETTINGS_TOPIC)  # settings change rarely: one per write
    try:
        ensure_topics(settings.kafka_bootstrap, {SETTINGS_TOPIC: 1}, timeout=10)
        producer.send(encoded_key().decode(), DetectionConfig.model_validate(stored).model_dump_json(
            exclude_none=True).encode())
    except (ClusterError, BrokerUnavailable) as exc:
        raise _unavailable(f"event bus unavailable ({exc})") from exc
    finally:
        producer.close()
    return stored


def _latest(request: Request) -> dict[str, Any] | None:
    settings: ApiSettings = request.app.state.settings
    try:
        return read_latest(settings.kafka_bootstrap, SETTINGS_TOPIC)
    except KafkaException as exc:
        raise HTTPException(status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
                            detail=f"event bus unavailable ({exc})") from exc  # fmt: skip


def _by(principal: Principal) -> str:
    return principal.name or f"key:{principal.key_id}"


def _audit(es: Elasticsearch, prefix: str, principal: Principal, action: str, target: str,
           stored: dict[str, Any], processor_id: str | None = None) -> None:  # fmt: skip
    details = {
        "allow": len(stored.get("allow", [])), "deny": len(stored.get("deny", [])),
        "processors": sorted(stored.get("processors", {})),
        "recognizers": [r["entity"] for r in stored.get("recognizers", [])],
        "updated_at": stored.get("updated_at"),
    }  # fmt: skip
    write_audit(es, prefix, AuditRecord(actor=actor_of(principal), action=action, target_type="detection_config",
                                        target_id=target, processor_id=processor_id, details=details))  # fmt: skip


@router.get("/v1/detection-config", summary="The detection settings in force (hashes only)",
            responses={403: {"description": "Platform keys."},
                       404: {"description": "No settings recorded through the API."},
                       503: {"description": "Kafka unavailable."}})  # fmt: skip
def get_detection_config(
    request: Request, principal: AllTenantsReader
) -> dict[str, Any]:
    """The last settings document recorded through the API, as workers read it: allow/deny entries as
    SHA-256 or patterns, custom recognizers, ``updated_at``/``updated_by``. Admin, SOC analyst, regulator.
    Raises 403, 404, 503."""
    latest = _latest(request)
    if latest is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="no detection settings recorded")
    return latest


@router.put(
    "/v1/detection-config",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Replace the detection settings (allow/deny lists, custom recognizers); hot-reloaded by workers",
    responses={403: {"description": "Only admin keys."}, 422: {"description": "Invalid settings: every problem."},
               503: {"description": "Kafka unavailable; nothing recorded."}},
)  # fmt: skip
def put_detection_config(
    request: Request,
    body: Annotated[dict[str, Any], Body()],
    principal: AdminPrincipal,
    es: EsDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Validate the document (shape in ``docs/detection.md``), hash plain list values, produce it to
    ``detection-settings`` and audit ``detection_config.put``; answers 202 with the stored form. Workers
    apply it from their next batch on. Raises 403, 422, 503."""
    with _lock:
        stored = _publish(request, validated(body), _by(principal))
    _audit(es, settings.es_index_prefix, principal, "detection_config.put", SETTINGS_KEY, stored)
    return stored


@router.put(
    "/v1/detection-config/processors/{processor_id}",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Replace one processor's allow/deny lists",
    responses={403: {"description": "SOC, regulator, or another processor's platform key."},
               422: {"description": "Invalid lists."}, 503: {"description": "Kafka unavailable."}},
)  # fmt: skip
def put_processor_lists(
    request: Request,
    processor_id: Annotated[str, Path(min_length=1, max_length=200)],
    body: Annotated[dict[str, Any], Body()],
    principal: PublisherPrincipal,
    es: EsDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """``{"allow": [...], "deny": [...]}`` becomes ``processors[processor_id]`` of the settings in force;
    admin for any processor, a platform key for its own only. Audited as ``detection_config.processor.put``.
    Answers 202 with that processor's lists only (``processor_id``, ``allow``, ``deny``, ``updated_at``,
    ``updated_by``). Raises 403, 422, 503."""
    if principal.role is Role.PLATFORM and principal.processor_id != processor_id:
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="this key may not write this processor")
    lists = Lists.model_validate(validated({"processors": {processor_id: body}}).processors[processor_id])
    with _lock:
        current = _latest(request) or {}
        processors = dict(current.get("processors", {}))
        processors[processor_id] = lists.model_dump(mode="json", exclude_none=True)
        stored = _publish(request, validated({**current, "processors": processors}), _by(principal))
    _audit(es, settings.es_index_prefix, principal, "detection_config.processor.put", processor_id, stored,
           processor_id)  # fmt: skip
    # only this processor's lists: a platform key must not see another processor's
    return {"processor_id": processor_id, **stored["processors"][processor_id],
            "updated_at": stored.get("updated_at"), "updated_by": stored.get("updated_by")}  # fmt: skip
