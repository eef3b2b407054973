"""Incident obligations pipeline: aggregation per incident, deadline alerts, regulator reports (issue 4)."""
