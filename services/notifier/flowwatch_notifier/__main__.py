"""``python -m flowwatch_notifier`` / ``flowwatch-notifier``: run one notifier."""

from flowwatch_notifier.worker import main

if __name__ == "__main__":
    main()
