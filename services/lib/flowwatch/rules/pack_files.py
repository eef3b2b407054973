"""Loading of rule-pack YAML files (incident and export packs share it): validation with a pydantic
model, clear errors naming the file and field, duplicate ids refused, packs sorted by ``effective_from``."""

from __future__ import annotations

from collections.abc import Iterable
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError


class PackError(ValueError):
    """A rule pack file is unreadable, invalid, or duplicates another pack's id."""


P = TypeVar("P", bound=BaseModel)


def load_file(entry: Traversable | Path, model: type[P], what: str) -> P:
    """Validate one YAML file with ``model``. Raises :class:`PackError` (``what``: "rule pack", …)."""
    name = str(entry)
    try:
        raw = yaml.safe_load(entry.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PackError(f"{name}: cannot read {what}: {exc}") from exc
    if not isinstance(raw, dict):
        raise PackError(f"{name}: a {what} must be a YAML mapping")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"field '{'.'.join(str(p) for p in err['loc']) or '<root>'}': {err['msg']}" for err in exc.errors()
        )
        raise PackError(f"{name}: invalid {what}: {problems}") from exc


def yaml_entries(directory: Traversable | Path, what: str) -> list[Traversable | Path]:
    """The ``*.yaml``/``*.yml`` files of ``directory``, by name. Raises :class:`PackError` if it is missing."""
    if not directory.is_dir():
        raise PackError(f"{directory}: {what} directory does not exist")
    return sorted(
        (e for e in directory.iterdir() if e.is_file() and e.name.endswith((".yaml", ".yml"))),
        key=lambda e: e.name,
    )


def load_pack_dirs(
    builtin: Traversable,
    directory: str | Path | Iterable[str | Path] | None,
    include_builtin: bool,
    model: type[P],
    what: str,
) -> list[P]:
    """Packs of the packaged folder ``builtin`` (unless ``include_builtin`` is false) and of ``directory``
    (one or several extra folders), sorted by ``(effective_from, id)``. Raises :class:`PackError`."""
    if directory is None:
        extra: list[Path] = []
    elif isinstance(directory, str | Path):
        extra = [Path(directory)]
    else:
        extra = [Path(d) for d in directory]
    dirs: list[Traversable | Path] = ([builtin] if include_builtin else []) + list(extra)
    packs: list[P] = []
    seen: dict[str, str] = {}
    for d in dirs:
        for entry in yaml_entries(d, what):
            pack = load_file(entry, model, what)
            pack_id = str(getattr(pack, "id"))  # noqa: B009 — every pack model has an id
            if pack_id in seen:
                kind = what.removesuffix("rule pack") + "pack"  # "pack", "export pack"
                raise PackError(f"{entry}: duplicate {kind} id '{pack_id}' (also in {seen[pack_id]})")
            seen[pack_id] = str(entry)
            packs.append(pack)
    return sorted(packs, key=lambda p: (getattr(p, "effective_from"), getattr(p, "id")))  # noqa: B009
