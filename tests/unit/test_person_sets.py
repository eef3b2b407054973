"""64-bit person sets (``flowwatch.person_sets``): the same answers as a Python set, across merges of the
recent additions into the sorted array, and members derived as documented."""

from __future__ import annotations

import hashlib

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from flowwatch import person_sets
from flowwatch.person_sets import GroupedSets, U64Set, member_of, pack, split_key, unpack


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=2**64 - 1) | st.integers(min_value=0, max_value=50), max_size=300),
       st.lists(st.integers(min_value=0, max_value=2**64 - 1), max_size=50))
def test_u64set_behaves_as_a_set(adds: list[int], loaded: list[int]) -> None:
    old = person_sets.MERGE_MIN
    person_sets.MERGE_MIN = 7  # merge often
    try:
        s, ref = U64Set(np.array(loaded, dtype=np.uint64)), set(loaded)
        for x in adds:
            assert s.add(x) == (x not in ref)
            ref.add(x)
            assert x in s
        assert len(s) == len(ref) and set(s) == ref
        assert all((x in s) == (x in ref) for x in range(60))
    finally:
        person_sets.MERGE_MIN = old


def test_members_of_hashes_and_of_other_text() -> None:
    digest = hashlib.sha256(b"x").hexdigest()
    assert member_of(digest, b"k") == int(digest[:16], 16)  # a keyed hash: its first 64 bits
    assert member_of("event-1", b"k") != member_of("event-1", b"other")  # other text: keyed BLAKE2b-64
    assert 0 <= member_of("event-1", b"k") < 2**64
    assert member_of(digest.upper(), b"k") != int(digest[:16], 16)  # not lower-case hex: hashed as text
    assert split_key(f"p\x1f2026\x1fn\x1f{digest}", b"k") == ("p\x1f2026\x1fn", int(digest[:16], 16))


def test_grouped_sets_keep_namespaces_apart() -> None:
    g = GroupedSets(b"k")
    digest = hashlib.sha256(b"x").hexdigest()
    assert g.add_key(f"a\x1f{digest}") is not None
    assert g.add_key(f"a\x1f{digest}") is None
    assert f"b\x1f{digest}" not in g and f"a\x1f{digest}" in g
    assert g.size("a") == 1 and g.size("b") == 0 and len(g) == 1


def test_pack_round_trip_and_bad_length() -> None:
    members = [0, 1, 2**64 - 1, 12345678901234567890]
    assert [int(m) for m in unpack(pack(members))] == members
    assert len(pack(members)) == 8 * len(members)
    try:
        unpack(b"1234567")
    except ValueError as exc:
        assert "8 bytes" in str(exc)
    else:
        raise AssertionError("a truncated record must be refused")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=2**64 - 1) | st.integers(min_value=0, max_value=9), max_size=200))
def test_sorted_unique_matches_sorted_set(values: list[int]) -> None:
    from flowwatch.person_sets import sorted_unique

    got = sorted_unique(np.array(values, dtype=np.uint64))
    assert [int(v) for v in got] == sorted(set(values)) and got.dtype == np.uint64
