"""Indexer service: consumes findings and dead letters from Kafka and bulk-writes them to Elasticsearch."""
