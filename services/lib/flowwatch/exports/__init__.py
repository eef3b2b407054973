"""Cross-border exports (2024 Provisions on Promoting and Regulating Cross-Border Data Flows; docs/law.md):
the export update of an event (``from_event``), the threshold rules and mechanisms (``rules``), their
evaluation against a processor's counting window (``evaluate``, ``step``) and the ledger records (``ledger``,
``models``)."""
