"""``python -m flowwatch_detector`` = ``faust -A flowwatch_detector.app worker`` with our defaults."""

from __future__ import annotations

import sys


def main() -> None:
    """Start one detector worker (extra arguments go to ``faust worker``).

    First checks the Kafka settings and the brokers' answer to them: settings that cannot work, or credentials /
    TLS the brokers refuse, end the process with exit code 2 and one line naming the setting to fix (no traceback);
    an unreachable broker does not (the worker waits for it).
    """
    from flowwatch.kafka_client import security_problem, settings_problem
    from flowwatch.settings import DetectorSettings

    settings, problem = settings_problem(DetectorSettings)
    if settings is not None:
        problem = security_problem(settings)
    if problem:
        sys.stderr.write(f"error: {problem}\n")
        raise SystemExit(2)
    from flowwatch_detector.app import app

    sys.argv = [sys.argv[0], "worker", "--without-web", *sys.argv[1:]]
    app.main()


if __name__ == "__main__":
    main()
