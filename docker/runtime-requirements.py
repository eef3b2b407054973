"""Print requirements.lock without the project's development-only packages (pyproject's ``dev`` extra).

Used by the Dockerfiles: the images install the pinned runtime set only (no pytest, ruff, mypy, helan, Helm
SDK ...). ``--keep NAME`` keeps a dev-extra package that the services import at run time (``httpx``: the
``flowwatch`` CLI imports it through ``flowwatch.stack``). Standard library only.

Usage: ``python runtime-requirements.py requirements.lock pyproject.toml [--keep NAME ...]``.
"""

from __future__ import annotations

import re
import sys
import tomllib


def _name(requirement: str) -> str:
    """Normalised distribution name of a requirement line (PEP 503)."""
    return re.sub(r"[-_.]+", "-", re.split(r"[<>=!~;\[ ]", requirement.strip(), maxsplit=1)[0]).lower()


def main(lock_path: str, pyproject_path: str, keep: set[str]) -> None:
    with open(pyproject_path, "rb") as fh:
        project = tomllib.load(fh)["project"]
    dev_only = {_name(r) for r in project.get("optional-dependencies", {}).get("dev", [])}
    runtime = {_name(r) for r in project.get("dependencies", [])}
    dev_only -= runtime | {_name(k) for k in keep}
    with open(lock_path, encoding="utf-8") as fh:
        for line in fh:
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            if _name(text) not in dev_only:
                sys.stdout.write(text + "\n")


if __name__ == "__main__":
    args = sys.argv[1:]
    kept = {args[i + 1] for i, a in enumerate(args) if a == "--keep" and i + 1 < len(args)}
    main(args[0], args[1], kept)
