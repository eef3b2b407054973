"""Incident obligations: the incident update of an event (``from_event``), aggregation per incident
(``aggregate``), deadline alerts (``alerts``) and the incident record with its regulator report and notice to
individuals (``report``, ``models``); the rules themselves are the packs of ``flowwatch.rules``."""
