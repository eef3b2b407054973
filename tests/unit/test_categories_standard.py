"""Issue 16 point 3: sensitive categories follow PIPL Art. 28 / GB/T 45574-2025 and are overridable data."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from flowwatch.detection.categories import default_table, load_table
from flowwatch.detection.recognizers import ALL_RECOGNIZERS

IDENTITY_DOCUMENTS = ["CN_RESIDENT_ID", "CN_PASSPORT", "HK_ID", "MO_ID", "TW_ID", "CN_HMT_PERMIT"]


def test_every_entity_has_a_category_and_a_cited_basis() -> None:
    table = load_table()
    for cls in ALL_RECOGNIZERS:
        assert cls.entity in table.by_entity, cls.entity
        assert table.basis[cls.entity], f"{cls.entity} has no basis"
    for category, why in yaml.safe_load(
        (Path(__file__).parents[2] / "services/lib/flowwatch/detection/categories.yaml").read_text("utf-8")
    )["sensitive_categories"].items():
        assert "PIPL Art. 28" in why, category
        assert category == "minor_under_14" or "GB/T 45574-2025 6." in why, category


@pytest.mark.parametrize("entity", IDENTITY_DOCUMENTS)
def test_identity_document_numbers_are_general_not_specific_identity(entity: str) -> None:
    table = load_table()
    assert table.category(entity) == "general"
    assert "45574" in table.basis[entity] or "CN_RESIDENT_ID" in table.basis[entity]


def test_sensitive_mapping() -> None:
    table = load_table()
    assert table.category("CN_BANK_CARD") == "financial_account"
    assert table.category("GEO_COORDINATE") == "location_tracking"
    assert table.category("IP_ADDRESS") == "general"
    assert all(table.is_sensitive(c) for c in ("financial_account", "location_tracking", "medical_health"))


def test_a_deployment_overrides_the_mapping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = yaml.safe_load((Path(__file__).parents[2] / "services/lib/flowwatch/detection/categories.yaml")
                          .read_text("utf-8"))  # fmt: skip
    data["entities"]["CN_RESIDENT_ID"] = {"category": "specific_identity", "basis": "sector rule X"}
    path = tmp_path / "categories.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    monkeypatch.setenv("FLOWWATCH_CATEGORIES_FILE", str(path))
    default_table.cache_clear()
    try:
        table = default_table()
        assert table.category("CN_RESIDENT_ID") == "specific_identity" and table.is_sensitive("specific_identity")
        assert table.basis["CN_RESIDENT_ID"] == "sector rule X"
    finally:
        monkeypatch.delenv("FLOWWATCH_CATEGORIES_FILE")
        default_table.cache_clear()
