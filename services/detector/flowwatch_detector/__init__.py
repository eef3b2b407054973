"""Detector service: Faust workers running the pii agent (later: incident and egress agents)."""
