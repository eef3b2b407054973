"""``python -m flowwatch_detector`` = ``faust -A flowwatch_detector.app worker`` with our defaults."""

from __future__ import annotations

import sys


def main() -> None:
    """Start one detector worker (extra arguments go to ``faust worker``)."""
    from flowwatch_detector.app import app

    sys.argv = [sys.argv[0], "worker", "--without-web", *sys.argv[1:]]
    app.main()


if __name__ == "__main__":
    main()
