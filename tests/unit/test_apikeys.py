"""Unit tests of the pure parts of ``flowwatch.apikeys``: key format, hashing, role binding, cache."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

import pytest

from flowwatch.apikeys import (
    ApiKeyRecord,
    KeyCache,
    Role,
    check_binding,
    create_key,
    generate_key,
    hash_key,
    parse_key_id,
)

KEY_RE = re.compile(r"^fw_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$")


def test_generated_key_format_and_id() -> None:
    key, key_id = generate_key()
    assert KEY_RE.match(key), key
    assert key.startswith(f"fw_{key_id}_")
    assert parse_key_id(key) == key_id


def test_generated_keys_are_unique() -> None:
    keys = {generate_key()[0] for _ in range(200)}
    ids = {parse_key_id(k) for k in keys}
    assert len(keys) == 200 and len(ids) == 200


@pytest.mark.parametrize(
    "bad",
    ["", "fw_", "fw_0123456789abcdef", "fw_0123456789abcdef_short", "xx_0123456789abcdef_" + "a" * 43,
     "fw_0123456789ABCDEF_" + "a" * 43, "fw_0123456789abcdef_" + "a" * 42 + "!", "Bearer fw_x_y"],
)
def test_parse_rejects_malformed(bad: str) -> None:
    assert parse_key_id(bad) is None


def test_secret_may_contain_underscores() -> None:
    key = "fw_0123456789abcdef_" + "a_b-" * 11
    assert parse_key_id(key) == "0123456789abcdef"


def test_hash_is_sha256_hex_of_whole_key() -> None:
    key, _ = generate_key()
    assert hash_key(key) == hashlib.sha256(key.encode()).hexdigest()
    assert len(hash_key(key)) == 64
    assert hash_key(key) != hash_key(key + "x")


def test_platform_role_needs_a_processor() -> None:
    with pytest.raises(ValueError, match="processor"):
        check_binding(Role.PLATFORM, None)
    with pytest.raises(ValueError, match="processor"):
        check_binding("platform", "")
    assert check_binding("platform", "acme-cn") is Role.PLATFORM


def test_platform_processor_id_must_be_valid() -> None:
    with pytest.raises(ValueError):
        check_binding(Role.PLATFORM, "has space")


@pytest.mark.parametrize("role", [Role.ADMIN, Role.SOC_ANALYST, Role.REGULATOR])
def test_other_roles_refuse_a_processor(role: Role) -> None:
    assert check_binding(role.value, None) is role
    with pytest.raises(ValueError, match="only platform"):
        check_binding(role, "acme-cn")


def test_unknown_role() -> None:
    with pytest.raises(ValueError, match="unknown role"):
        check_binding("root", None)


def test_create_key_validates_before_touching_elasticsearch() -> None:
    class NoES:
        def __getattr__(self, name: str) -> object:
            raise AssertionError(f"Elasticsearch used: {name}")

    with pytest.raises(ValueError):
        create_key(NoES(), "t", Role.PLATFORM)  # type: ignore[arg-type]


def _record(key: str) -> ApiKeyRecord:
    return ApiKeyRecord(key_hash=hash_key(key), key_id=parse_key_id(key) or "", role=Role.ADMIN,
                        created_at=datetime(2024, 1, 1, tzinfo=UTC))


def test_key_cache_ttl_and_misses() -> None:
    now = [0.0]
    cache = KeyCache(ttl=5.0, clock=lambda: now[0])
    key, _ = generate_key()
    loads: list[str] = []

    def load(k: str) -> ApiKeyRecord | None:
        loads.append(k)
        return _record(k) if k == key else None

    assert cache.get_or_load(key, load) is not None
    assert cache.get_or_load(key, load) is not None
    assert cache.get_or_load("bogus", load) is None
    assert cache.get_or_load("bogus", load) is None
    assert loads == [key, "bogus"]
    now[0] = 5.1
    cache.get_or_load(key, load)
    assert loads == [key, "bogus", key]


def test_key_cache_disabled_and_bounded() -> None:
    calls: list[str] = []
    off = KeyCache(ttl=0)
    off.get_or_load("a", lambda k: calls.append(k))  # type: ignore[func-returns-value]
    off.get_or_load("a", lambda k: calls.append(k))  # type: ignore[func-returns-value]
    assert calls == ["a", "a"]
    small = KeyCache(ttl=60, max_entries=2)
    for k in "abc":
        small.get_or_load(k, lambda _k: None)
    assert len(small._entries) == 2


def test_key_cache_does_not_cache_errors() -> None:
    cache = KeyCache(ttl=60)

    def boom(_k: str) -> ApiKeyRecord | None:
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        cache.get_or_load("a", boom)
    assert cache.get_or_load("a", lambda _k: None) is None
