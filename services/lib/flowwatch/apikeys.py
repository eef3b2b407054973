"""API keys of the query service: generation, storage (SHA-256 hashes only), lookup, revocation, caching.

A key looks like ``fw_<key_id>_<secret>``: ``key_id`` is 16 lowercase hex characters (public, safe to log
and to name in ``revoke``), ``secret`` is ``secrets.token_urlsafe(32)`` (43 characters, 256 bits). Only the
SHA-256 hex digest of the whole key is stored, as the document id of index ``api_keys_index(prefix)``;
the key itself is shown once, at creation. A plain (fast) hash is enough because the secret has 256 bits
of entropy: there is nothing to brute-force.

Roles (docs/api.md, "Roles"): ``admin``, ``soc_analyst``, ``platform`` (bound to exactly one processor id,
the tenant whose data it may read) and ``regulator``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from elasticsearch import Elasticsearch, NotFoundError
from pydantic import AwareDatetime, BaseModel, ConfigDict

from flowwatch.es_indices import api_keys_index, ensure_templates
from flowwatch.models import Processor, utc_now

KEY_PREFIX = "fw"
KEY_ID_BYTES = 8
"""Random bytes of the public key id (16 hex characters)."""
SECRET_BYTES = 32
"""Random bytes of the secret part (``token_urlsafe`` → 43 characters)."""
_KEY_RE = re.compile(r"^fw_(?P<key_id>[0-9a-f]{16})_(?P<secret>[A-Za-z0-9_-]{32,128})$")


class Role(StrEnum):
    """What an API key may do. ``platform`` keys are bound to one processor (tenant)."""

    ADMIN = "admin"
    SOC_ANALYST = "soc_analyst"
    PLATFORM = "platform"
    REGULATOR = "regulator"


class ApiKeyRecord(BaseModel):
    """The stored form of an API key (document of ``api_keys_index``; the key itself is never stored).

    ``key_hash`` = SHA-256 hex of the full key (also the document id); ``processor_id`` is set for
    ``platform`` keys only; ``revoked_at`` is set once the key is revoked.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    key_hash: str
    key_id: str
    role: Role
    processor_id: str | None = None
    name: str | None = None
    created_at: AwareDatetime
    revoked_at: AwareDatetime | None = None

    @property
    def revoked(self) -> bool:
        """True once the key has been revoked."""
        return self.revoked_at is not None


# ---------------------------------------------------------------------------------------------------
# Pure parts
# ---------------------------------------------------------------------------------------------------


def generate_key() -> tuple[str, str]:
    """Return a new random ``(key, key_id)``; ``key`` = ``fw_<key_id>_<secret>``."""
    key_id = secrets.token_hex(KEY_ID_BYTES)
    return f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(SECRET_BYTES)}", key_id


def hash_key(key: str) -> str:
    """SHA-256 hex digest (64 characters) of the full key string, as stored."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def parse_key_id(key: str) -> str | None:
    """The ``key_id`` of a well-formed key, or None when ``key`` does not have the key format."""
    match = _KEY_RE.match(key)
    return match.group("key_id") if match else None


def check_binding(role: Role | str, processor_id: str | None) -> Role:
    """Validate the role and its processor binding; return the role as ``Role``.

    Raises ValueError when the role is unknown, a ``platform`` key has no processor id (or an invalid
    one), or another role is given a processor id (it would look scoped but read every tenant).
    """
    try:
        role = Role(role)
    except ValueError:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(Role)}") from None
    if role is Role.PLATFORM:
        if not processor_id:
            raise ValueError("a platform key must be bound to exactly one processor id")
        Processor(id=processor_id)  # pydantic ValidationError is a ValueError
    elif processor_id is not None:
        raise ValueError(f"role {role.value!r} is not bound to a processor; only platform keys are")
    return role


# ---------------------------------------------------------------------------------------------------
# Elasticsearch-backed store
# ---------------------------------------------------------------------------------------------------


def create_key(
    es: Elasticsearch, prefix: str, role: Role | str, processor_id: str | None = None, name: str | None = None
) -> tuple[str, ApiKeyRecord]:
    """Create and store a new API key; return ``(key, record)``. The key is not recoverable later.

    Ensures the index templates first, then writes with ``refresh=wait_for`` so the key works at once.
    Raises ValueError for a bad role/processor binding (see ``check_binding``) before touching
    Elasticsearch, and elasticsearch errors when the store cannot be written.
    """
    role = check_binding(role, processor_id)
    key, key_id = generate_key()
    record = ApiKeyRecord(
        key_hash=hash_key(key), key_id=key_id, role=role, processor_id=processor_id, name=name,
        created_at=utc_now(),
    )
    ensure_templates(es, prefix)
    es.index(
        index=api_keys_index(prefix), id=record.key_hash, document=record.model_dump(mode="json"),
        op_type="create", refresh="wait_for",
    )
    return key, record


def revoke_key(es: Elasticsearch, prefix: str, key_id: str) -> bool:
    """Revoke the key with public id ``key_id``; return True if it exists (revoked now or before).

    Idempotent: an already revoked key keeps its first ``revoked_at``. Returns False for an unknown key
    id. Written with ``refresh=wait_for``; a query service may still accept the key for up to its key
    cache lifetime (``ApiSettings.key_cache_seconds``). Raises elasticsearch errors other than a missing
    index.
    """
    try:
        resp = es.search(index=api_keys_index(prefix), query={"term": {"key_id": key_id}}, size=10)
    except NotFoundError:
        return False
    hits: list[dict[str, Any]] = resp["hits"]["hits"]
    now = utc_now().isoformat()
    index = api_keys_index(prefix)
    for hit in hits:
        if not hit["_source"].get("revoked_at"):
            es.update(index=index, id=hit["_id"], doc={"revoked_at": now}, refresh="wait_for")
    return bool(hits)


def get_key_record(es: Elasticsearch, prefix: str, key: str) -> ApiKeyRecord | None:
    """The stored record of ``key`` (revoked or not), or None when unknown or malformed.

    Raises elasticsearch errors other than not-found (e.g. ``ConnectionError`` when ES is down).
    """
    key_id = parse_key_id(key)
    if key_id is None:
        return None
    try:
        resp = es.get(index=api_keys_index(prefix), id=hash_key(key))
    except NotFoundError:
        return None
    record = ApiKeyRecord.model_validate(resp["_source"])
    return record if record.key_id == key_id else None


def lookup_key(es: Elasticsearch, prefix: str, key: str) -> ApiKeyRecord | None:
    """The record of a valid key, or None when the key is malformed, unknown or revoked.

    Raises elasticsearch errors other than not-found (callers map them to 503).
    """
    record = get_key_record(es, prefix, key)
    return None if record is None or record.revoked else record


class KeyCache:
    """Thread-safe TTL cache of key lookups, keyed by the key's hash (never the key itself).

    Caches both hits and misses for ``ttl`` seconds (0 disables caching); holds at most ``max_entries``
    entries, evicting the oldest. ``clock`` returns seconds (monotonic), injectable for tests.
    """

    def __init__(
        self, ttl: float, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[float, ApiKeyRecord | None]] = OrderedDict()

    def get_or_load(self, key: str, load: Callable[[str], ApiKeyRecord | None]) -> ApiKeyRecord | None:
        """Cached result for ``key``, or ``load(key)`` (then cached). Exceptions of ``load`` propagate
        and are not cached."""
        if self.ttl <= 0:
            return load(key)
        digest = hash_key(key)
        now = self._clock()
        with self._lock:
            entry = self._entries.get(digest)
            if entry is not None and entry[0] > now:
                return entry[1]
        record = load(key)
        with self._lock:
            self._entries[digest] = (now + self.ttl, record)
            self._entries.move_to_end(digest)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return record

    def cached_valid(self, key: str) -> bool:
        """Whether ``key`` is cached (not expired) as a valid key; no lookup, nothing changes."""
        if self.ttl <= 0:
            return False
        digest = hash_key(key)
        with self._lock:
            entry = self._entries.get(digest)
            return entry is not None and entry[0] > self._clock() and entry[1] is not None

    def clear(self) -> None:
        """Forget every cached lookup."""
        with self._lock:
            self._entries.clear()
