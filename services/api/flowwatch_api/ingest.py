"""``POST /v1/events``: event ingest over HTTP, for platforms that do not write to Kafka themselves.

The body is one flow event (a JSON object), a JSON array of events, or NDJSON (one event per line), at most
``MAX_EVENTS`` events and ``MAX_BODY_BYTES``. Each event is checked against the v1 contract
(``FlowEvent``) for an immediate answer, and then **every** event, valid or not, is produced to
``flow-events`` keyed by its ``processor.id``: the detector treats them exactly like events written to Kafka
directly, so an invalid one lands in the dead-letter topic with its reason (nothing is dropped). An event
over 1 MB (the contract's limit, Kafka's default message size) cannot be produced and is refused alone.

Roles: ``admin`` (any processor) and ``platform`` (only events whose ``processor.id`` is its own: any other
→ 403 and nothing is produced). Answers 202 when every event is valid, 422 when some are not (the body
lists them, with the error and whether they went to the dead-letter topic), 413 for an oversized body,
429 when the key's event budget is spent (``flowwatch_api.abuse``: a batch costs its event count, all or
nothing), 503 when Kafka does not acknowledge.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from flowwatch.apikeys import Role
from flowwatch.models import MAX_EVENT_BYTES, FlowEvent
from flowwatch.validation import Rejected as EventRejected
from flowwatch.validation import parse_event
from flowwatch_api.abuse import rate_limits_of
from flowwatch_api.deps import EventsProducerDep, PublisherPrincipal
from flowwatch_api.producer import BrokerUnavailable

router = APIRouter(prefix="/v1/events", tags=["ingest"])

MAX_EVENTS = 1000
MAX_BODY_BYTES = 16_000_000
RETRY_AFTER_SECONDS = "5"


class Rejected(BaseModel):
    """An event of the request that breaks the contract."""

    index: int
    event_id: str | None
    error: str
    dead_lettered: bool


class IngestResult(BaseModel):
    """What happened to the request's events (``accepted``: ids of the valid events, in order)."""

    accepted: list[str]
    rejected: list[Rejected]


def split_body(body: bytes, content_type: str) -> list[bytes]:
    """The raw events of a request body (object, array or NDJSON). Raises HTTPException 400/413."""
    if "ndjson" in content_type or "jsonl" in content_type:
        return [line for line in body.splitlines() if line.strip()]
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise HTTPException(status_code=status.HTTP_400_BAD_REQUEST, detail=f"body is not JSON: {exc}") from None
    if isinstance(doc, list):
        return [orjson.dumps(item) for item in doc]
    return [body]


def add_event_schema(openapi: dict[str, Any]) -> dict[str, Any]:
    """Put ``FlowEventIn`` (the v1 flow-event contract) and its sub-schemas in ``openapi``'s components
    (the ingest route parses the raw body itself, so FastAPI does not add them)."""
    schema = FlowEvent.model_json_schema(ref_template="#/components/schemas/{model}", mode="validation")
    components = openapi.setdefault("components", {}).setdefault("schemas", {})
    for name, sub in schema.pop("$defs", {}).items():
        components.setdefault(name, sub)
    components["FlowEventIn"] = schema
    return openapi


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=IngestResult,
    summary="Send flow events (one, a JSON array, or NDJSON) into the pipeline",
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"oneOf": [{"$ref": "#/components/schemas/FlowEventIn"},
                                                  {"type": "array", "maxItems": MAX_EVENTS,
                                                   "items": {"$ref": "#/components/schemas/FlowEventIn"}}]}},
        "application/x-ndjson": {"schema": {"type": "string", "description": "One flow event per line."}},
    }}},
    responses={
        400: {"description": "The body is not JSON."},
        403: {"description": "Not an admin or platform key, or an event of another processor."},
        413: {"description": "Body over 16 MB (FLOWWATCH_API_MAX_BODY_INGEST) or more than 1,000 events."},
        429: {"description": "The API key's event budget (FLOWWATCH_API_RATE_INGEST_EVENTS per second, counted "
              "in events) is spent; nothing of the batch was accepted; retry after `Retry-After` seconds."},
        422: {"model": IngestResult, "description": "Some events break the contract; they were sent to the "
              "dead-letter topic with the reason (unless over 1 MB), the valid ones were accepted."},
        503: {"description": "Kafka did not acknowledge; send the request again (events are idempotent by "
              "event_id)."},
    },
)
async def ingest(
    request: Request,
    principal: PublisherPrincipal,
    producer: EventsProducerDep,
) -> Any:
    """Validate and produce the events (see module doc)."""
    body = await request.body()  # at most FLOWWATCH_API_MAX_BODY_INGEST bytes (flowwatch_api.abuse.RequestLimits)
    max_bytes = min(MAX_BODY_BYTES, request.app.state.settings.api_max_body_ingest)
    if len(body) > max_bytes:
        raise HTTPException(status_code=status.HTTP_413_CONTENT_TOO_LARGE,
                            detail=f"request body over {max_bytes:,} bytes")
    raws = split_body(body, request.headers.get("content-type", ""))
    if not raws:
        raise HTTPException(status_code=status.HTTP_400_BAD_REQUEST, detail="no events in the body")
    if len(raws) > MAX_EVENTS:
        raise HTTPException(status_code=status.HTTP_413_CONTENT_TOO_LARGE,
                            detail=f"more than {MAX_EVENTS} events in one request")
    limits = rate_limits_of(request)
    if limits is not None:
        limits.take_events(principal.key_id, len(raws))  # 429 for the whole batch: nothing produced
    records: list[tuple[str, bytes]] = []
    result = IngestResult(accepted=[], rejected=[])
    for index, raw in enumerate(raws):
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            doc = None
        processor = doc.get("processor", {}).get("id") if isinstance(doc, dict) and isinstance(
            doc.get("processor"), dict) else None
        event_id = doc.get("event_id") if isinstance(doc, dict) and isinstance(doc.get("event_id"), str) else None
        if principal.role is Role.PLATFORM:
            if processor is not None and processor != principal.processor_id:
                raise HTTPException(status_code=status.HTTP_403_FORBIDDEN,
                                    detail=f"event {index} belongs to another processor; nothing was accepted")
            processor = principal.processor_id
        key = processor if isinstance(processor, str) and processor else "unknown"
        error: str | None = None
        if len(raw) > MAX_EVENT_BYTES:
            result.rejected.append(Rejected(index=index, event_id=event_id, dead_lettered=False,
                                            error=f"{len(raw)} bytes > {MAX_EVENT_BYTES}: split the batch"))
            continue
        try:
            parse_event(raw)  # the detector's verdict: strict JSON (no NaN, no key twice), v1 contract
        except EventRejected as exc:
            error = f"{exc.reason}: {exc.error}"
        records.append((key, raw))
        if error is None:
            result.accepted.append(str(event_id))
        else:
            result.rejected.append(Rejected(index=index, event_id=event_id, error=error, dead_lettered=True))
    try:
        if records:
            producer.send_many(records)
    except BrokerUnavailable as exc:
        raise HTTPException(status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
                            detail="event bus unavailable; send again", headers={"Retry-After": RETRY_AFTER_SECONDS},
                            ) from exc
    code = status.HTTP_202_ACCEPTED if not result.rejected else status.HTTP_422_UNPROCESSABLE_ENTITY
    return JSONResponse(status_code=code, content=result.model_dump(mode="json"))
