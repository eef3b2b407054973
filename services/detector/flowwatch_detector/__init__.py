"""Detector service: one Faust app (``app``) with three agents, each declared by its module's ``register()``:
the pii agent (``pii_agent``: flow events → findings, dead letters, incident and export updates), the incident
agent (``incidents``: obligations and deadline alerts) and the egress agent (``egress``: the cross-border
export ledger). ``processing`` is the pure, pool-safe batch scan; ``batched_state`` the person-set records;
``gap_reader`` repairs input the Faust consumer skipped after a restart."""
