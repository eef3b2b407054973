"""Cross-border export detection and the export ledger (issue 5)."""
