"""``python -m flowwatch_indexer`` / ``flowwatch-indexer``: run one indexer."""

from flowwatch_indexer.worker import main

if __name__ == "__main__":
    main()
