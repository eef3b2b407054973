"""Issue 19: runtime check digits live in ``flowwatch.detection.checksums``; the samples module re-exports them."""

from __future__ import annotations

from stdnum.cn import ric

from flowwatch.detection import checksums
from flowwatch_tools.samples import checksums as samples


def test_samples_re_export_the_same_functions() -> None:
    for name in ("hk_id_check_char", "tw_id_check_digit", "resident_id_check_char"):
        assert getattr(samples, name) is getattr(checksums, name)
        assert name in samples.__all__


def test_check_digits() -> None:
    assert checksums.hk_id_check_char("B", "974925") == "5"  # HKIDB974925(5), issue 16
    assert checksums.hk_id_check_char("A", "123456") == "3"  # A123456(3), the documented example
    assert checksums.tw_id_check_digit("A12345678") == "9"  # A123456789
    assert checksums.resident_id_check_char("11010519491231002") == "X"  # the GB 11643 sample number
    assert ric.is_valid("11010519491231002X")
