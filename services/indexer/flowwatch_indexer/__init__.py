"""Indexer service: consumes findings, dead letters, incidents, alerts, export-ledger records and the
processor registry from Kafka and bulk-writes them to Elasticsearch by deterministic id (``documents``:
one bulk action per record; ``worker``: the consumer loop, commits after Elasticsearch accepted the bulk)."""
