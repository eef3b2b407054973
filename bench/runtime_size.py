"""Installed size of the images' Python set, before and after the extras split (issue 13, point 5).

"before": what the images installed until the split: requirements.lock of ``--base`` (default ``main``) minus the
``dev`` extra's direct packages (the old rule of docker/runtime-requirements.py, run from that revision).
"after": docker/requirements-runtime.txt of the work tree. Sizes are the bytes each distribution occupies once
installed, summed from its RECORD in this venv (``make install`` installs every package of the lock with the same
wheels the images install on linux/amd64); the venv's own pip/setuptools and the base image are the same in both
and left out. Prints one line per set, the ratio, and the ten largest packages that left.

Usage: ``.venv/bin/python bench/runtime_size.py [--base main]``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name(line: str) -> str:
    return re.sub(r"[-_.]+", "-", re.split(r"[<>=!~;\[ ]", line.strip(), maxsplit=1)[0]).lower()


def installed_bytes(name: str) -> int:
    """Bytes of the files of distribution ``name`` as installed (RECORD sizes; files without one are stat'ed)."""
    dist = importlib.metadata.distribution(name)
    total = 0
    for f in dist.files or []:
        if f.size is not None:
            total += int(f.size)
        else:
            path = Path(str(f.locate()))
            if path.is_file():
                total += path.stat().st_size
    return total


def names(text: str) -> set[str]:
    return {_name(line) for line in text.splitlines() if line.strip() and not line.startswith("#")}


def before_set(base: str) -> set[str]:
    """The old images' set: ``base``'s runtime-requirements.py on ``base``'s lock and pyproject."""
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for rel in ("docker/runtime-requirements.py", "requirements.lock", "pyproject.toml"):
            path = Path(tmp) / Path(rel).name
            path.write_text(subprocess.run(["git", "show", f"{base}:{rel}"], cwd=ROOT, check=True,
                                           capture_output=True, text=True).stdout, encoding="utf-8")
            files[rel] = str(path)
        out = subprocess.run([sys.executable, files["docker/runtime-requirements.py"], files["requirements.lock"],
                              files["pyproject.toml"], "--keep", "httpx"], check=True, capture_output=True,
                             text=True, env={**os.environ, "PYTHONPATH": ""}).stdout
    return names(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="main", help="git revision of the 'before' set")
    args = parser.parse_args()
    before = before_set(args.base)
    after = names((ROOT / "docker" / "requirements-runtime.txt").read_text(encoding="utf-8"))
    sizes = {n: installed_bytes(n) for n in before | after}
    b, a = sum(sizes[n] for n in before), sum(sizes[n] for n in after)
    mib = 1024 * 1024
    print(f"before ({args.base}, lock minus dev tools): {len(before):3d} packages, {b / mib:8.1f} MiB installed")
    print(f"after  (docker/requirements-runtime.txt):  {len(after):3d} packages, {a / mib:8.1f} MiB installed")
    print(f"ratio after/before: {a / b:.3f}  ({(b - a) / mib:.1f} MiB less)")
    gone = sorted(before - after, key=lambda n: -sizes[n])
    print("largest packages no longer in the images: "
          + ", ".join(f"{n} {sizes[n] / mib:.1f} MiB" for n in gone[:10]))
    added = sorted(after - before)
    if added:
        print("in the images now but not before: " + ", ".join(added))


if __name__ == "__main__":
    main()
